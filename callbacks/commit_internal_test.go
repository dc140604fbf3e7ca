package callbacks

import (
	"context"
	"errors"
	"sync"
	"testing"

	"gateway/ledger"
)

// fakeTxStore records savepoints and lets a job fail or undo the batch.
type fakeTxStore struct {
	mu        sync.Mutex
	commits   int
	undone    bool // RollbackTo fails, as after a deadlock
	commitErr error
	log       []string
}

func (f *fakeTxStore) Receipt(context.Context, string, string) (Receipt, error) {
	return Receipt{}, ErrNotFound
}
func (f *fakeTxStore) ReceiptByID(context.Context, int64) (Receipt, error) {
	return Receipt{}, ErrNotFound
}
func (f *fakeTxStore) AddDeliveries(context.Context, map[int64]Delivery) error { return nil }
func (f *fakeTxStore) InTx(ctx context.Context, fn func(Tx) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := fn(fakeTx{f}); err != nil {
		return err
	}
	f.commits++
	return f.commitErr
}

type fakeTx struct{ f *fakeTxStore }

func (t fakeTx) Order(context.Context, string) (ledger.Order, error)    { return ledger.Order{}, nil }
func (t fakeTx) UpdateOrder(context.Context, ledger.Order, int64) error { return nil }
func (t fakeTx) Post(context.Context, []ledger.Entry) error             { return nil }
func (t fakeTx) InsertReceipt(context.Context, *Receipt) error          { return nil }
func (t fakeTx) UpdateReceipt(context.Context, Receipt, Status) error   { return nil }
func (t fakeTx) Savepoint(_ context.Context, name string) error {
	t.f.log = append(t.f.log, "sp "+name)
	return nil
}
func (t fakeTx) RollbackTo(_ context.Context, name string) error {
	if t.f.undone {
		return errors.New("savepoint does not exist")
	}
	t.f.log = append(t.f.log, "rollback "+name)
	return nil
}

func TestCommitterBatch(t *testing.T) {
	errJob := errors.New("job failed")
	cases := []struct {
		name      string
		undone    bool
		commitErr error
		want      []error // per job
	}{
		{"one failure is its own", false, nil, []error{nil, errJob, nil}},
		{"undone batch fails all", true, nil, []error{errJob, errJob, errJob}},
		{"failed commit fails all", false, errors.New("commit: bad connection"), []error{errJob, errJob, errJob}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeTxStore{undone: tc.undone, commitErr: tc.commitErr}
			c := &committer{store: f, timeout: 1e9}
			batch := make([]*job, 3)
			for i := range batch {
				fail := i == 1
				batch[i] = &job{done: make(chan struct{}), fn: func(context.Context, Tx) error {
					if fail {
						return errJob
					}
					return nil
				}}
			}
			c.run(batch)
			for i, j := range batch {
				<-j.done
				if (j.err == nil) != (tc.want[i] == nil) {
					t.Fatalf("job %d: err %v, want error: %v", i, j.err, tc.want[i] != nil)
				}
			}
			if !tc.undone && tc.commitErr == nil && f.commits != 1 {
				t.Fatalf("commits = %d, want 1 for the whole batch", f.commits)
			}
		})
	}
}
