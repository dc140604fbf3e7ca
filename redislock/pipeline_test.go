package redislock_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/stripe"
	"gateway/redislock"
	"gateway/redislock/redistest"
	"gateway/store"
	"gateway/store/storetest"
)

const whsec = "whsec_lock_tests_0123456789abcdef"

func newStripe(t testing.TB) *stripe.Provider {
	t.Helper()
	p, err := stripe.New(stripe.Config{Secrets: []string{whsec}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// payment is a signed Stripe payment_intent.succeeded for an order.
func payment(t testing.TB, orderNo string, amount int64) callbacks.Inbound {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"id": "evt_" + orderNo, "object": "event", "type": "payment_intent.succeeded",
		"data": map[string]any{"object": map[string]any{
			"id": "pi_" + orderNo, "object": "payment_intent", "amount": amount, "amount_received": amount,
			"currency": "usd", "status": "succeeded", "metadata": map[string]string{"order_no": orderNo},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Stripe-Signature", stripe.Sign(whsec, time.Now(), body))
	return callbacks.Inbound{Provider: "stripe", Header: h, Body: body}
}

func txnID(orderNo string) string { return callbacks.Key("pi_"+orderNo, ledger.KindPaymentSucceeded) }

func newOrder(t testing.TB, db *store.DB, orderNo string) {
	t.Helper()
	_, _, err := ledger.NewService(db).Create(context.Background(),
		ledger.NewOrder{OrderNo: orderNo, Price: ledger.Money{Amount: 2500, Currency: "USD"}})
	if err != nil {
		t.Fatal(err)
	}
}

// paidOnce checks the order was paid by exactly one posting.
func paidOnce(t testing.TB, db *store.DB, orderNo string) {
	t.Helper()
	ctx := context.Background()
	o, err := db.Order(ctx, orderNo)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := db.Entries(ctx, orderNo)
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != ledger.StatusPaid || o.Version != 2 || o.PaidAmount != 2500 || len(entries) != 2 || !ledger.Balanced(entries) {
		t.Fatalf("order %s: status %s version %d paid %d, %d ledger legs; want paid once (v2, 2500, 2 balanced legs)",
			orderNo, o.Status, o.Version, o.PaidAmount, len(entries))
	}
}

// gatedStore wraps the database so a test can stop the first delivery at
// a chosen point of its work ("tx": before its transaction; "order": inside
// it, having read the order) and count transactions and receipt reads.
type gatedStore struct {
	*store.DB
	stage    string
	once     sync.Once
	entered  chan struct{}
	release  chan struct{}
	txs      atomic.Int64
	reads    atomic.Int64
	onReadsN int64
	readsHit chan struct{}
}

func newGatedStore(db *store.DB, stage string) *gatedStore {
	return &gatedStore{DB: db, stage: stage, entered: make(chan struct{}), release: make(chan struct{}),
		readsHit: make(chan struct{})}
}

func (g *gatedStore) hold(stage string) {
	if stage != g.stage {
		return
	}
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.entered)
		<-g.release
	}
}

func (g *gatedStore) Receipt(ctx context.Context, provider, txnID string) (callbacks.Receipt, error) {
	if n := g.reads.Add(1); n == g.onReadsN {
		close(g.readsHit)
	}
	return g.DB.Receipt(ctx, provider, txnID)
}

func (g *gatedStore) Receipts(ctx context.Context, provider string, txnIDs []string) (map[string]callbacks.Receipt, error) {
	for range txnIDs {
		if n := g.reads.Add(1); n == g.onReadsN {
			close(g.readsHit)
		}
	}
	return g.DB.Receipts(ctx, provider, txnIDs)
}

func (g *gatedStore) InTx(ctx context.Context, fn func(callbacks.Tx) error) error {
	g.txs.Add(1)
	g.hold("tx")
	return g.DB.InTx(ctx, func(tx callbacks.Tx) error { return fn(gatedTx{tx, g}) })
}

type gatedTx struct {
	callbacks.Tx
	g *gatedStore
}

func (t gatedTx) Order(ctx context.Context, orderNo string) (ledger.Order, error) {
	o, err := t.Tx.Order(ctx, orderNo)
	t.g.hold("order")
	return o, err
}

type handled struct {
	ack  callbacks.Ack
	outs []callbacks.Outcome
	err  error
}

func handle(svc *callbacks.Service, in callbacks.Inbound) handled {
	ack, outs, err := svc.Handle(context.Background(), in)
	return handled{ack, outs, err}
}

// newPipeline is a callback pipeline over st with the Stripe provider.
func newPipeline(tb testing.TB, st callbacks.Store, cfg callbacks.Config) *callbacks.Service {
	tb.Helper()
	svc := callbacks.NewService(st, []callbacks.Provider{newStripe(tb)}, cfg, quiet)
	tb.Cleanup(func() { svc.Close(context.Background()) })
	return svc
}

// holdLock takes the lock of an order's payment by hand, as another
// delivery would, until the test ends.
func holdLock(t *testing.T, prefix, orderNo string) {
	t.Helper()
	unlock, err := newLocker(t, redistest.Addr(t), prefix, time.Minute).Lock(context.Background(), "stripe:"+txnID(orderNo))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
}

// appliedOnce checks that one delivery applied the event, the other was
// answered as its duplicate, and both got the same acknowledgement.
func appliedOnce(t *testing.T, applied, dup handled) {
	t.Helper()
	if applied.err != nil || dup.err != nil {
		t.Fatalf("errors reached the provider: %v, %v", applied.err, dup.err)
	}
	if a := applied.outs[0]; a.Duplicate || a.Receipt.Status != callbacks.StatusApplied {
		t.Fatalf("delivery that should apply: %+v", a)
	}
	if d := dup.outs[0]; !d.Duplicate || d.Receipt.ID != applied.outs[0].Receipt.ID {
		t.Fatalf("delivery that should be a duplicate of receipt %d: %+v", applied.outs[0].Receipt.ID, d)
	}
	if diff := cmp.Diff(applied.ack, dup.ack); diff != "" {
		t.Errorf("acknowledgements differ (-applied +duplicate):\n%s", diff)
	}
}

// A lock whose TTL runs out while its holder is stuck mid-work lets a second
// delivery in; the unique key and the version check still leave one effect.
func TestLockExpiresDuringSlowApply(t *testing.T) {
	cases := []struct {
		name, stage string
		dialects    []string
	}{
		{"stuck before its transaction", "tx", storetest.Dialects},
		// Inside a transaction only on MySQL: SQLite has one connection, so
		// the second delivery could not start while the first holds it.
		{"stuck inside its transaction after reading the order", "order", []string{"mysql"}},
	}
	for _, tc := range cases {
		for _, dialect := range tc.dialects {
			t.Run(tc.name+"/"+dialect, func(t *testing.T) {
				db := storetest.New(t, dialect)
				prefix, rc := redistest.Prefix(t), redistest.Client(t)
				newOrder(t, db, "O1")
				gs := newGatedStore(db, tc.stage)
				l := newLocker(t, redistest.Addr(t), prefix, 50*time.Millisecond)
				svc := newPipeline(t, gs, callbacks.Config{Locker: l, LockWait: time.Minute})
				in := payment(t, "O1", 2500)

				// The second delivery reaches another replica: in one
				// process it would wait for the first (singleflight).
				other := newPipeline(t, gs, callbacks.Config{Locker: l, LockWait: time.Minute})
				first := make(chan handled, 1)
				go func() { first <- handle(svc, in) }()
				<-gs.entered                                  // the first holds the lock and is stuck
				waitGone(t, rc, prefix+"stripe:"+txnID("O1")) // its lock has expired
				second := handle(other, in)                   // takes the lock afresh and applies
				close(gs.release)
				got := <-first

				appliedOnce(t, second, got)
				paidOnce(t, db, "O1")
			})
		}
	}
}

// A delivery that finds the lock held waits for the holder's receipt and
// answers as its duplicate.
func TestHeldLockWaitsForTheHolder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		prefix := redistest.Prefix(t)
		newOrder(t, db, "O1")
		in := payment(t, "O1", 2500)
		holdLock(t, prefix, "O1")

		gs := newGatedStore(db, "")
		gs.onReadsN = 3 // its first read, then two polls: it is waiting
		waiter := newPipeline(t, gs,
			callbacks.Config{Locker: newLocker(t, redistest.Addr(t), prefix, time.Minute), LockWait: time.Minute})
		holder := newPipeline(t, db, callbacks.Config{})

		res := make(chan handled, 1)
		go func() { res <- handle(waiter, in) }()
		<-gs.readsHit
		h := handle(holder, in)
		appliedOnce(t, h, <-res)
		if got := gs.txs.Load(); got != 0 {
			t.Errorf("the waiter ran %d transactions, want 0", got)
		}
		paidOnce(t, db, "O1")
	})
}

// When the holder produces nothing within LockWait the provider is told to
// retry later, and nothing is written.
func TestHeldLockAnswersRetryLater(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		prefix := redistest.Prefix(t)
		newOrder(t, db, "O1")
		holdLock(t, prefix, "O1")
		svc := newPipeline(t, db, callbacks.Config{
			Locker: newLocker(t, redistest.Addr(t), prefix, time.Minute), LockWait: 20 * time.Millisecond})

		got := handle(svc, payment(t, "O1", 2500))
		if !errors.Is(got.err, callbacks.ErrTransient) || got.ack.Status != http.StatusServiceUnavailable {
			t.Fatalf("Handle = %d, %v; want 503 and ErrTransient", got.ack.Status, got.err)
		}
		if _, err := db.Receipt(context.Background(), "stripe", txnID("O1")); !errors.Is(err, callbacks.ErrNotFound) {
			t.Fatalf("a receipt was written: %v", err)
		}
		o, err := db.Order(context.Background(), "O1")
		if err != nil || o.Status != ledger.StatusCreated {
			t.Fatalf("order = %+v, %v; want it untouched", o, err)
		}
	})
}

// Without Redis the pipeline carries on: each event still applies once.
func TestUnreachableRedisStillExactlyOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := newPipeline(t, db, callbacks.Config{Locker: newLocker(t, redistest.ClosedAddr(t), "gwtest:", time.Second)})
		before := testutil.ToFloat64(redislock.Degraded)
		newOrder(t, db, "O1")
		in := payment(t, "O1", 2500)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() { errs <- handle(svc, in).err })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("an error reached the provider: %v", err)
			}
		}
		if testutil.ToFloat64(redislock.Degraded) == before {
			t.Error("gateway_lock_degraded_total did not move")
		}
		paidOnce(t, db, "O1")
	})
}

// benchConfig is the pipeline as served: with the Redis lock at its
// default settings (lock.ttl 10s), or without.
func benchConfig(b *testing.B, lock bool) callbacks.Config {
	b.Helper()
	if !lock {
		return callbacks.Config{}
	}
	l, err := redislock.New(redislock.Config{Addr: redistest.Addr(b), TTL: 10 * time.Second, Prefix: redistest.Prefix(b)}, quiet)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return callbacks.Config{Locker: l}
}

// BenchmarkDuplicateStorm: per op, one new event delivered 50 times at once,
// then 50 repeats at once, on MariaDB, with and without the Redis lock.
// tx/op counts the write transactions the storm cost.
func BenchmarkDuplicateStorm(b *testing.B) {
	const storm = 50
	for _, lock := range []bool{false, true} {
		b.Run(fmt.Sprintf("lock=%v", lock), func(b *testing.B) {
			db := storetest.New(b, "mysql")
			gs := newGatedStore(db, "")
			svc := newPipeline(b, gs, benchConfig(b, lock))
			var orders []string
			degraded := testutil.ToFloat64(redislock.Degraded)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				orderNo := fmt.Sprintf("B%d", i)
				newOrder(b, db, orderNo)
				in := payment(b, orderNo, 2500)
				orders = append(orders, orderNo)
				b.StartTimer()
				for range 2 { // the storm, then the repeats
					var wg sync.WaitGroup
					var failed atomic.Int64
					for range storm {
						wg.Go(func() {
							if handle(svc, in).err != nil {
								failed.Add(1)
							}
						})
					}
					wg.Wait()
					if n := failed.Load(); n > 0 {
						b.Fatalf("%d deliveries of %s answered with an error", n, orderNo)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(gs.txs.Load())/float64(b.N), "tx/op")
			b.ReportMetric((testutil.ToFloat64(redislock.Degraded)-degraded)/float64(b.N), "degraded/op")
			for _, o := range orders {
				paidOnce(b, db, o)
			}
		})
	}
}

// BenchmarkFirstDelivery: per op, one delivery of a new event, alone — the
// common case, where the lock can only cost (two Redis round trips).
func BenchmarkFirstDelivery(b *testing.B) {
	for _, lock := range []bool{false, true} {
		b.Run(fmt.Sprintf("lock=%v", lock), func(b *testing.B) {
			db := storetest.New(b, "mysql")
			svc := newPipeline(b, db, benchConfig(b, lock))
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				orderNo := fmt.Sprintf("F%d", i)
				newOrder(b, db, orderNo)
				in := payment(b, orderNo, 2500)
				b.StartTimer()
				if got := handle(svc, in); got.err != nil || got.outs[0].Duplicate {
					b.Fatalf("%s: %v", orderNo, got.err)
				}
			}
		})
	}
}
