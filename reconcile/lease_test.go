package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/reconcile"
	"gateway/store"
	"gateway/store/storetest"
)

// TestLeases checks the store's lease rules on both databases: a valid
// lease is never taken, an expired one is, and once taken over the former
// owner's writes are refused.
func TestLeases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		api := newFakeAPI(t)
		e := newEnv(t, db, api, reconcile.Config{})
		id := e.deliver(t, fakeEvent{ID: "l1", Kind: ledger.KindPaymentSucceeded, Ref: "tx_l1", OrderNo: "L1", Amount: 10, Currency: "USD"}).Receipt.ID
		t0 := e.clock.Now().Add(testBackoff[0])
		ttl := 5 * time.Minute

		if err := db.ClaimReceipt(ctx, id, "A", t0.Add(-time.Second), t0.Add(ttl)); !errors.Is(err, reconcile.ErrNotClaimed) {
			t.Fatalf("claim before the check is due: %v", err)
		}
		if err := db.ClaimReceipt(ctx, id, "A", t0, t0.Add(ttl)); err != nil {
			t.Fatalf("claim: %v", err)
		}
		for _, at := range []time.Time{t0, t0.Add(ttl - time.Millisecond), t0.Add(ttl)} {
			if err := db.ClaimReceipt(ctx, id, "B", at, at.Add(ttl)); !errors.Is(err, reconcile.ErrNotClaimed) {
				t.Fatalf("B claimed A's valid ttl at %v: %v", at, err)
			}
			if due, err := db.DueReceipts(ctx, at, 10); err != nil || len(due) != 0 {
				t.Fatalf("leased receipt listed as due at %v: %v %v", at, due, err)
			}
		}
		expired := t0.Add(ttl + time.Millisecond)
		if due, err := db.DueReceipts(ctx, expired, 10); err != nil || len(due) != 1 || due[0] != (reconcile.Due{ID: id, Provider: "fakepay"}) {
			t.Fatalf("expired ttl not listed as due: %v %v", due, err)
		}
		if err := db.ClaimReceipt(ctx, id, "B", expired, expired.Add(ttl)); err != nil {
			t.Fatalf("B could not take over A's expired ttl: %v", err)
		}
		// A comes back from a pause: every write of its is refused.
		for name, write := range map[string]func() error{
			"reschedule": func() error { return db.RescheduleReceipt(ctx, id, "A", expired.Add(time.Hour)) },
			"escalate":   func() error { return db.EscalateReceipt(ctx, id, "A", "A thinks so") },
			"release":    func() error { return db.ReleaseReceipt(ctx, id, "A", true) },
		} {
			if err := write(); !errors.Is(err, reconcile.ErrLeaseLost) {
				t.Errorf("A's %s after the take-over: %v, want ErrLeaseLost", name, err)
			}
		}
		r := e.receipt(t, id)
		if owner, _ := lease(t, db, id); owner != "B" || r.Status != callbacks.StatusUnknown || r.Attempts != 0 {
			t.Fatalf("after A's refused writes: owner %q, %s, %d attempts", owner, r.Status, r.Attempts)
		}
		if err := db.RescheduleReceipt(ctx, id, "B", expired.Add(time.Hour)); err != nil {
			t.Fatalf("B's reschedule: %v", err)
		}
		r = e.receipt(t, id)
		if owner, until := lease(t, db, id); owner != "" || until != nil || r.Attempts != 1 || !r.NextCheckAt.Equal(expired.Add(time.Hour)) {
			t.Errorf("after B's reschedule: owner %q until %v, %d attempts, next %v", owner, until, r.Attempts, r.NextCheckAt)
		}
		// A status guard as well: an escalation needs the receipt unknown.
		at := expired.Add(time.Hour)
		if err := db.ClaimReceipt(ctx, id, "C", at, at.Add(ttl)); err != nil {
			t.Fatal(err)
		}
		storetest.Exec(t, db, "UPDATE callback_receipts SET status = 'applied' WHERE id = ?", id)
		if err := db.EscalateReceipt(ctx, id, "C", "late"); !errors.Is(err, reconcile.ErrLeaseLost) {
			t.Errorf("escalating an applied receipt: %v", err)
		}

		// The sweep's leases follow the same rules.
		so := func(owner string, at time.Time) error {
			_, err := db.ClaimSweep(ctx, "S1", "fakepay", owner, at, at.Add(ttl))
			return err
		}
		if err := so("A", t0); err != nil {
			t.Fatalf("first sweep claim: %v", err)
		}
		if err := so("B", t0.Add(ttl-time.Millisecond)); !errors.Is(err, reconcile.ErrNotClaimed) {
			t.Fatalf("B took A's valid sweep ttl: %v", err)
		}
		if err := so("B", expired); err != nil {
			t.Fatalf("B could not take over A's expired sweep ttl: %v", err)
		}
		next := expired.Add(time.Hour)
		if err := db.FinishSweep(ctx, "S1", "A", &next, "A's answer"); !errors.Is(err, reconcile.ErrLeaseLost) {
			t.Errorf("A's finish after the take-over: %v", err)
		}
		if err := db.FinishSweep(ctx, "S1", "B", &next, "B's answer"); err != nil {
			t.Fatal(err)
		}
		if err := so("C", next.Add(-time.Millisecond)); !errors.Is(err, reconcile.ErrNotClaimed) {
			t.Errorf("claimed before the next check: %v", err)
		}
		if checks, err := db.ClaimSweep(ctx, "S1", "fakepay", "C", next, next.Add(ttl)); err != nil || checks != 1 {
			t.Errorf("claim at the next check: %d checks, %v", checks, err)
		}
		if err := db.FinishSweep(ctx, "S1", "C", nil, "done"); err != nil {
			t.Fatal(err)
		}
		if err := so("D", next.Add(1000*time.Hour)); !errors.Is(err, reconcile.ErrNotClaimed) {
			t.Errorf("a finished sweep was claimed again: %v", err)
		}
	})
}

// claimLog wraps an instance's store and records its successful claims.
type claimLog struct {
	*store.DB
	mu  *sync.Mutex
	log map[int64][]string
}

func (c claimLog) ClaimReceipt(ctx context.Context, id int64, owner string, now, until time.Time) error {
	err := c.DB.ClaimReceipt(ctx, id, owner, now, until)
	if err == nil {
		c.mu.Lock()
		c.log[id] = append(c.log[id], owner)
		c.mu.Unlock()
	}
	return err
}

// TestReplicas runs three reconciler instances — three gateways with their
// own connection pools, pipelines and owners — at once on one database
// with 500 unknown receipts: half are payments whose orders now exist
// (settled by a re-drive), half "pending" receipts the provider now says
// are paid (settled by asking). Twenty carry the expired lease of a
// crashed instance; ten more the valid lease of a live one. (SQLite is one
// gateway process's database: there the three instances share its one
// connection.)
func TestReplicas(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			const n, crashed, alive = 500, 20, 10
			ctx := context.Background()
			driver, dsn := storetest.DSN(t, dialect)
			api := newFakeAPI(t)
			var mu sync.Mutex
			claims := map[int64][]string{}
			var envs []*env
			var db *store.DB
			for i := range 3 {
				if i == 0 || dialect == "mysql" {
					pool, err := store.Open(ctx, driver, dsn, store.Options{MaxOpenConns: 8})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { pool.Close() })
					db = pool
					if _, err := db.Migrate(ctx); err != nil {
						t.Fatal(err)
					}
				}
				cfg := reconcile.Config{Owner: fmt.Sprintf("instance-%d", i), Workers: 4}
				e := newEnv(t, db, api, cfg)
				e.rec = reconcile.New(e.svc, claimLog{DB: db, mu: &mu, log: claims}, cfg, e.obs, discard())
				e.rec.Now = e.clock.Now
				envs = append(envs, e)
			}
			e0 := envs[0]
			ids := make([]int64, 0, n+alive)
			for i := range n + alive {
				no := fmt.Sprintf("P%04d", i)
				ref := "tx_" + no
				ev := fakeEvent{ID: "ev_" + no, Kind: ledger.KindPaymentSucceeded, Ref: ref, OrderNo: no, Amount: int64(100 + i), Currency: "USD"}
				if i%2 == 1 {
					e0.order(t, no, ev.Amount, "fakepay", ref)
					ev.Kind = ledger.KindPaymentPending
					api.set(ref, fakeAnswer{Status: "paid", OrderNo: no, Amount: ev.Amount, Currency: "USD"})
				}
				ids = append(ids, e0.deliver(t, ev).Receipt.ID)
			}
			for i := 0; i < n+alive; i += 2 {
				no := fmt.Sprintf("P%04d", i)
				e0.order(t, no, int64(100+i), "", "")
			}
			start := e0.clock.Now().Add(testBackoff[0])
			for _, e := range envs {
				e.clock.Set(start)
			}
			for _, id := range ids[:crashed] {
				storetest.Exec(t, e0.db, "UPDATE callback_receipts SET lease_owner = 'crashed', lease_until = ? WHERE id = ?", start.Add(-time.Second), id)
			}
			for _, id := range ids[n:] {
				storetest.Exec(t, e0.db, "UPDATE callback_receipts SET lease_owner = 'alive', lease_until = ? WHERE id = ?", start.Add(time.Minute), id)
			}

			sums := make([]reconcile.Summary, len(envs))
			errs := make([]error, len(envs))
			var wg sync.WaitGroup
			for i, e := range envs {
				wg.Go(func() { sums[i], errs[i] = e.rec.Resolve(ctx) })
			}
			wg.Wait()
			var total reconcile.Summary
			for i := range envs {
				if errs[i] != nil {
					t.Fatalf("instance %d: %v", i, errs[i])
				}
				t.Logf("instance %d: due %d, claimed %d, lost %d, applied %d", i, sums[i].Due, sums[i].Claimed, sums[i].Lost, sums[i].Applied)
				total.Claimed += sums[i].Claimed
				total.Applied += sums[i].Applied
				total.Errors += sums[i].Errors
			}
			if total.Claimed != n || total.Applied != n || total.Errors != 0 {
				t.Errorf("claimed %d, applied %d, errors %d; want %d, %d, 0", total.Claimed, total.Applied, total.Errors, n, n)
			}
			for i, id := range ids {
				r := e0.receipt(t, id)
				owner, _ := lease(t, e0.db, id)
				switch {
				case i < n && (r.Status != callbacks.StatusApplied || len(claims[id]) != 1 || owner != ""):
					t.Errorf("receipt %d: %s, claimed by %v, lease %q; want applied after exactly one claim", id, r.Status, claims[id], owner)
				case i >= n && (r.Status != callbacks.StatusUnknown || len(claims[id]) != 0 || owner != "alive"):
					t.Errorf("live-leased receipt %d: %s, claimed by %v, lease %q; want untouched", id, r.Status, claims[id], owner)
				}
			}
			if got := postings(t, e0.db); got != n {
				t.Errorf("%d postings, want %d: one per payment", got, n)
			}
			var legs, unbalanced int
			if err := e0.db.SQL().QueryRow("SELECT COUNT(*) FROM ledger_entries").Scan(&legs); err != nil || legs != 2*n {
				t.Errorf("%d ledger legs (%v), want %d", legs, err, 2*n)
			}
			if err := e0.db.SQL().QueryRow(`SELECT COUNT(*) FROM orders o WHERE o.paid_amount <> o.amount OR o.status <> 'paid'`).Scan(&unbalanced); err != nil ||
				unbalanced != alive {
				t.Errorf("%d orders not paid in full (%v), want only the %d with a live lease", unbalanced, err, alive)
			}
		})
	}
}

// flaky fails the first calls of ClaimReceipt and RescheduleReceipt the
// way a deadlock does (a temporary error), then lets them through.
type flaky struct {
	*store.DB
	claims, reschedules atomic.Int32
}

type deadlock struct{}

func (deadlock) Error() string   { return "Error 1213: Deadlock found when trying to get lock" }
func (deadlock) Temporary() bool { return true }

func (f *flaky) ClaimReceipt(ctx context.Context, id int64, owner string, now, until time.Time) error {
	if f.claims.Add(1) <= 2 {
		return deadlock{}
	}
	return f.DB.ClaimReceipt(ctx, id, owner, now, until)
}

func (f *flaky) RescheduleReceipt(ctx context.Context, id int64, owner string, next time.Time) error {
	if f.reschedules.Add(1) <= 2 {
		return deadlock{}
	}
	return f.DB.RescheduleReceipt(ctx, id, owner, next)
}

// TestStoreRetries: a claim or a reschedule that meets a deadlock is tried
// again; a run goes through.
func TestStoreRetries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		api := newFakeAPI(t)
		e := newEnv(t, db, api, reconcile.Config{})
		f := &flaky{DB: db}
		e.rec = reconcile.New(e.svc, f, reconcile.Config{}, e.obs, discard())
		e.rec.Now = e.clock.Now
		id := e.deliver(t, fakeEvent{ID: "d1", Kind: ledger.KindPaymentSucceeded, Ref: "tx_d1", OrderNo: "D1", Amount: 10, Currency: "USD"}).Receipt.ID
		e.clock.Add(testBackoff[0])
		if sum := e.run(t); sum.Claimed != 1 || sum.Rescheduled != 1 || f.claims.Load() != 3 || f.reschedules.Load() != 3 {
			t.Errorf("run: %+v after %d claims and %d reschedules", sum, f.claims.Load(), f.reschedules.Load())
		}
		if r := e.receipt(t, id); r.Attempts != 1 || r.Status != callbacks.StatusUnknown {
			t.Errorf("receipt: %s, %d attempts", r.Status, r.Attempts)
		}
	})
}
