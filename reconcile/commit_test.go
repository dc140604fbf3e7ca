package reconcile_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/callbacks/callbackstest"
	"gateway/ledger"
	"gateway/providers/query"
	"gateway/providers/stripe"
	"gateway/reconcile"
	"gateway/store"
	"gateway/store/storetest"
)

// fault is a failure of the connection at COMMIT.
type fault int32

const (
	noFault fault = iota
	// afterCommit: the transaction committed, then the connection broke
	// before the answer came back — the gateway cannot know it committed.
	afterCommit
	// beforeCommit: the connection broke before COMMIT reached the
	// server: nothing was written.
	beforeCommit
)

// faultyStore is the real store whose next InTx fails at COMMIT. The
// failure is reported as the driver's bad connection, either as it is
// (final: the pipeline answers 5xx) or marked temporary as store.classify
// marks it (the pipeline retries at once).
type faultyStore struct {
	*store.DB
	next      atomic.Int32
	temporary bool
	injected  atomic.Int32
}

// errLost stands for the connection lost before COMMIT (it rolls back).
var errLost = errors.New("connection lost before COMMIT")

type temporaryErr struct{ error }

func (temporaryErr) Temporary() bool { return true }
func (e temporaryErr) Unwrap() error { return e.error }
func (f *faultyStore) arm(ft fault)  { f.next.Store(int32(ft)) }
func (f *faultyStore) report(err error) error {
	f.injected.Add(1)
	if f.temporary {
		return temporaryErr{err}
	}
	return err
}

func (f *faultyStore) InTx(ctx context.Context, fn func(callbacks.Tx) error) error {
	switch fault(f.next.Swap(int32(noFault))) {
	case afterCommit:
		if err := f.DB.InTx(ctx, fn); err != nil {
			return err
		}
		return f.report(fmt.Errorf("commit: %w", driver.ErrBadConn))
	case beforeCommit:
		err := f.DB.InTx(ctx, func(tx callbacks.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			return errLost
		})
		if errors.Is(err, errLost) {
			return f.report(fmt.Errorf("commit: %w", driver.ErrBadConn))
		}
		return err
	}
	return f.DB.InTx(ctx, fn)
}

// TestCommitOutcomeUnknown breaks the database connection at the COMMIT of
// a payment callback — after the commit, or before it — and shows that the
// payment ends up applied exactly once: by the provider's next delivery,
// by the pipeline's own retry, by the sweep, or by the reconciler.
func TestCommitOutcomeUnknown(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fault     fault
		temporary bool
		orderLate bool // the order is created after the callback (it is parked unknown)
		redeliver bool // the provider delivers again after the 5xx
		firstAck  int
		// settles says what applies the payment in the end.
		settles string
	}{
		{"after commit, the provider re-delivers", afterCommit, false, false, true, http.StatusServiceUnavailable, "committed"},
		{"before commit, the provider re-delivers", beforeCommit, false, false, true, http.StatusServiceUnavailable, "redelivery"},
		{"after commit, reported temporary", afterCommit, true, false, false, http.StatusOK, "committed"},
		{"before commit, reported temporary", beforeCommit, true, false, false, http.StatusOK, "retry"},
		{"before commit, never re-delivered", beforeCommit, false, false, false, http.StatusServiceUnavailable, "sweep"},
		{"after commit as unknown", afterCommit, false, true, true, http.StatusServiceUnavailable, "reconciler"},
	} {
		eachDB(t, tc.name, func(t *testing.T, dialect string) {
			ctx := context.Background()
			db := storetest.New(t, dialect)
			api := newFakeAPI(t)
			faulty := &faultyStore{DB: db, temporary: tc.temporary}
			st, err := stripe.New(stripe.Config{Name: "stripe", Secrets: []string{callbackstest.StripeSecret},
				APIKey: "sk_test_reconcile", APIBase: api.srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			e := newEnvWith(t, db, faulty, api, reconcile.Config{}, st, &fakePay{api: query.New(api.srv.URL, nil)})
			if !tc.orderLate {
				e.order(t, "C1", 4200, "stripe", "pi_C1")
			}
			api.set("pi_C1", fakeAnswer{Status: "paid", OrderNo: "C1", Amount: 4200, Currency: "USD"})
			before := storetest.Counts(t, db)

			faulty.arm(tc.fault)
			ack, outs, err := e.svc.Handle(ctx, e.stripePaid("C1", 4200))
			if ack.Status != tc.firstAck || faulty.injected.Load() != 1 {
				t.Fatalf("first delivery: ack %d (err %v, %d faults), want %d", ack.Status, err, faulty.injected.Load(), tc.firstAck)
			}
			if tc.firstAck != http.StatusOK && !errors.Is(err, callbacks.ErrTransient) {
				t.Errorf("first delivery: error %v, want a transient one", err)
			}
			if tc.fault == beforeCommit && tc.firstAck != http.StatusOK {
				if diff := cmp.Diff(before, storetest.Counts(t, db)); diff != "" {
					t.Errorf("a failure before COMMIT wrote rows (-before +after):\n%s", diff)
				}
			}
			if tc.firstAck == http.StatusOK && (len(outs) != 1 || outs[0].Duplicate != (tc.settles == "committed")) {
				t.Errorf("first delivery outcomes: %+v", outs)
			}

			if tc.redeliver {
				e.clock.Add(time.Minute)
				ack, outs, err := e.svc.Handle(ctx, e.stripePaid("C1", 4200))
				if err != nil || ack.Status != http.StatusOK || len(outs) != 1 || outs[0].Duplicate != (tc.settles != "redelivery") {
					t.Fatalf("re-delivery: ack %d, %v, %+v", ack.Status, err, outs)
				}
			}
			switch tc.settles {
			case "sweep":
				e.clock.Add(20 * time.Minute)
				if sum := e.run(t); sum.SweepPaid != 1 {
					t.Fatalf("sweep: %+v", sum)
				}
				// The callback the provider finally sends is a duplicate.
				ack, outs, err := e.svc.Handle(ctx, e.stripePaid("C1", 4200))
				if err != nil || ack.Status != http.StatusOK || !outs[0].Duplicate {
					t.Errorf("late callback after the sweep: %d %v %+v", ack.Status, err, outs)
				}
			case "reconciler":
				e.order(t, "C1", 4200, "stripe", "pi_C1")
				e.clock.Add(testBackoff[0])
				if sum := e.run(t); sum.Applied != 1 {
					t.Fatalf("reconciler: %+v", sum)
				}
			}
			o, legs := e.orderState(t, "C1")
			if o.Status != ledger.StatusPaid || o.PaidAmount != 4200 || len(legs) != 2 {
				t.Errorf("order %s paid %d with %d legs; want paid 4200 with one posting", o.Status, o.PaidAmount, len(legs))
			}
			if n := postings(t, db); n != 1 {
				t.Errorf("%d postings, want exactly 1", n)
			}
			var receipts int
			if err := db.SQL().QueryRow("SELECT COUNT(*) FROM callback_receipts").Scan(&receipts); err != nil || receipts != 1 {
				t.Errorf("%d receipts (%v), want 1", receipts, err)
			}
			// Nothing is left for the reconciler, whatever the clock says.
			e.clock.Add(48 * time.Hour)
			if sum := e.run(t); sum.Due != 0 || sum.Swept != 0 {
				t.Errorf("leftover work: %+v", sum)
			}
		})
	}
}
