package callbacks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gateway/ledger"
)

// fakeTxStore logs the statements a batch makes and fails where told.
type fakeTxStore struct {
	mu        sync.Mutex
	commits   int
	undone    bool   // RollbackTo fails, as after a deadlock
	conflict  string // an order whose update finds another version
	commitErr error
	log       []string
	nextID    int64
}

func (f *fakeTxStore) Receipt(context.Context, string, string) (Receipt, error) {
	return Receipt{}, ErrNotFound
}
func (f *fakeTxStore) Receipts(context.Context, string, []string) (map[string]Receipt, error) {
	return nil, nil
}
func (f *fakeTxStore) ReceiptByID(context.Context, int64) (Receipt, error) {
	return Receipt{}, ErrNotFound
}
func (f *fakeTxStore) AddDeliveries(context.Context, map[int64]Delivery) error { return nil }
func (f *fakeTxStore) InTx(ctx context.Context, fn func(Tx) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, "begin")
	if err := fn(fakeTx{f}); err != nil {
		f.log = append(f.log, "rollback")
		return err
	}
	f.commits++
	f.log = append(f.log, "commit")
	return f.commitErr
}

type fakeTx struct{ f *fakeTxStore }

func (t fakeTx) add(s string) { t.f.log = append(t.f.log, s) }

func order(no string) ledger.Order {
	return ledger.Order{OrderNo: no, Price: ledger.Money{Amount: 100, Currency: "USD"}, Status: ledger.StatusCreated, Version: 1}
}

func (t fakeTx) Order(_ context.Context, no string) (ledger.Order, error) {
	t.add("order " + no)
	return order(no), nil
}
func (t fakeTx) Orders(_ context.Context, nos []string) (map[string]ledger.Order, error) {
	t.add("orders " + strings.Join(nos, ","))
	m := map[string]ledger.Order{}
	for _, no := range nos {
		if no != "missing" {
			m[no] = order(no)
		}
	}
	return m, nil
}
func (t fakeTx) UpdateOrder(ctx context.Context, next ledger.Order, v int64) error {
	return t.UpdateOrders(ctx, []OrderUpdate{{next, v}})
}
func (t fakeTx) UpdateOrders(_ context.Context, ups []OrderUpdate) error {
	var nos []string
	for _, u := range ups {
		nos = append(nos, u.Next.OrderNo)
		if u.Next.OrderNo == t.f.conflict {
			return ledger.ErrVersionConflict
		}
	}
	t.add("update " + strings.Join(nos, ","))
	return nil
}
func (t fakeTx) Post(_ context.Context, legs []ledger.Entry) error {
	t.add(fmt.Sprintf("post %d", len(legs)))
	return nil
}
func (t fakeTx) InsertReceipt(ctx context.Context, r *Receipt) error {
	return t.InsertReceipts(ctx, []*Receipt{r})
}
func (t fakeTx) InsertReceipts(_ context.Context, rs []*Receipt) error {
	var keys []string
	for _, r := range rs {
		t.f.nextID++
		r.ID = t.f.nextID
		keys = append(keys, r.TxnID)
	}
	t.add("insert " + strings.Join(keys, ","))
	return nil
}
func (t fakeTx) UpdateReceipt(context.Context, Receipt, Status) error { return nil }
func (t fakeTx) Savepoint(_ context.Context, name string) error {
	t.add("sp " + name)
	return nil
}
func (t fakeTx) RollbackTo(_ context.Context, name string) error {
	if t.f.undone {
		return errors.New("savepoint does not exist")
	}
	t.add("rollback " + name)
	return nil
}

var errJob = errors.New("job failed")

// payJob pays order no by the pipeline's own steps; fail makes it fail
// after its order update, so its writes must vanish.
func payJob(no, txn string, fail bool, rec *Receipt) *job {
	*rec = Receipt{Provider: "p", TxnID: txn, OrderNo: no}
	return &job{orderNo: no, done: make(chan struct{}), fn: func(ctx context.Context, tx Tx) error {
		rec.ID = 0
		o, err := tx.Order(ctx, no)
		if errors.Is(err, ledger.ErrNotFound) {
			rec.Status = StatusUnknown
			return tx.InsertReceipt(ctx, rec)
		}
		if err != nil {
			return err
		}
		next := o
		next.Status = ledger.StatusPaid
		if err := tx.UpdateOrder(ctx, next, o.Version); err != nil {
			return err
		}
		if fail {
			return errJob
		}
		legs := []ledger.Entry{{OrderNo: no, Amount: 100, Currency: "USD"}, {OrderNo: no, Amount: -100, Currency: "USD"}}
		if err := tx.Post(ctx, legs); err != nil {
			return err
		}
		rec.Status = StatusApplied
		return tx.InsertReceipt(ctx, rec)
	}}
}

func TestCommitterBatch(t *testing.T) {
	type spec struct {
		no, txn string
		fail    bool
	}
	three := []spec{{"o1", "t1", false}, {"o2", "t2", false}, {"o3", "t3", false}}
	cases := []struct {
		name      string
		jobs      []spec
		undone    bool
		conflict  string
		commitErr error
		wantErr   []bool
		wantLog   string
	}{
		{name: "shared statements", jobs: three, wantErr: []bool{false, false, false},
			wantLog: "begin|orders o1,o2,o3|update o1,o2,o3|post 6|insert t1,t2,t3|commit"},
		{name: "a failure's writes are dropped", jobs: []spec{{"o1", "t1", false}, {"o2", "t2", true}, {"o3", "t3", false}},
			wantErr: []bool{false, true, false},
			wantLog: "begin|orders o1,o2,o3|update o1,o3|post 4|insert t1,t3|commit"},
		{name: "missing order", jobs: []spec{{"o1", "t1", false}, {"missing", "t2", false}}, wantErr: []bool{false, false},
			wantLog: "begin|orders o1,missing|update o1|post 2|insert t1,t2|commit"},
		{name: "same order runs apart after the shared statements",
			jobs: []spec{{"o1", "t1", false}, {"o1", "t2", false}, {"o2", "t3", false}}, wantErr: []bool{false, false, false},
			wantLog: "begin|orders o1,o2|update o1,o2|post 4|insert t1,t3|sp cb0|order o1|update o1|post 2|insert t2|commit"},
		{name: "same key runs apart", jobs: []spec{{"o1", "t1", false}, {"o2", "t1", false}}, wantErr: []bool{false, false},
			wantLog: "begin|orders o1,o2|update o1|post 2|insert t1|sp cb0|order o2|update o2|post 2|insert t1|commit"},
		{name: "a failed shared statement reruns the batch apart", jobs: three, conflict: "o2",
			wantErr: []bool{false, true, false},
			wantLog: "begin|orders o1,o2,o3|rollback|begin|sp cb0|order o1|update o1|post 2|insert t1|" +
				"sp cb1|order o2|rollback cb1|sp cb2|order o3|update o3|post 2|insert t3|commit"},
		{name: "undone batch fails all", jobs: three, conflict: "o2", undone: true, wantErr: []bool{true, true, true}},
		{name: "failed commit fails all", jobs: three, commitErr: errors.New("commit: bad connection"), wantErr: []bool{true, true, true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeTxStore{undone: tc.undone, conflict: tc.conflict, commitErr: tc.commitErr}
			c := &committer{store: f, timeout: 1e9}
			recs := make([]Receipt, len(tc.jobs))
			batch := make([]*job, len(tc.jobs))
			for i, s := range tc.jobs {
				batch[i] = payJob(s.no, s.txn, s.fail, &recs[i])
			}
			c.run(batch, func() {})
			for i, j := range batch {
				<-j.done
				if (j.err != nil) != tc.wantErr[i] {
					t.Fatalf("job %d: err %v, want error: %v", i, j.err, tc.wantErr[i])
				}
				if j.err == nil && recs[i].ID == 0 {
					t.Fatalf("job %d: committed receipt has no id", i)
				}
			}
			if tc.wantLog != "" {
				if got := strings.Join(f.log, "|"); got != tc.wantLog {
					t.Fatalf("statements:\n got %s\nwant %s", got, tc.wantLog)
				}
			}
			ids := map[int64]bool{}
			for i, r := range recs {
				if batch[i].err == nil && ids[r.ID] {
					t.Fatalf("receipt id %d given twice", r.ID)
				}
				ids[r.ID] = true
			}
			if !slices.Contains(tc.wantErr, false) && f.commits > 0 && tc.commitErr == nil {
				t.Fatalf("commits = %d with every job failed", f.commits)
			}
		})
	}
}

// plainTxStore runs transactions side by side (fakeTxStore runs one at a time).
type plainTxStore struct{ fakeTxStore }

func (p *plainTxStore) InTx(_ context.Context, fn func(Tx) error) error {
	return fn(fakeTx{&fakeTxStore{}})
}

// A batch stuck in its statements lets the other committers go after
// stageLimit: the next callback commits while it is still stuck.
func TestCommitterStuckBatch(t *testing.T) {
	c := newCommitter(&plainTxStore{}, 2, 32)
	defer c.stop()
	release := make(chan struct{})
	stuck := make(chan error, 1)
	entered := make(chan struct{})
	go func() {
		stuck <- c.do(context.Background(), "", func(context.Context, Tx) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	done := make(chan error, 1)
	go func() { done <- c.do(context.Background(), "", func(context.Context, Tx) error { return nil }) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a stuck batch holds up the other committers")
	}
	close(release)
	if err := <-stuck; err != nil {
		t.Fatal(err)
	}
}
