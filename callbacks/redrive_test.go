package callbacks_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/callbacks/callbackstest"
	"gateway/ledger"
	"gateway/providers/standardwebhooks"
	"gateway/store"
	"gateway/store/storetest"
)

func order(t *testing.T, e *callbackstest.Env, orderNo string) (ledger.Order, []ledger.Entry) {
	t.Helper()
	o, entries, err := e.Orders.Get(context.Background(), orderNo)
	if err != nil {
		t.Fatalf("get order %s: %v", orderNo, err)
	}
	return o, entries
}

func receipt(t *testing.T, db *store.DB, id int64) callbacks.Receipt {
	t.Helper()
	r, err := db.ReceiptByID(context.Background(), id)
	if err != nil {
		t.Fatalf("receipt %d: %v", id, err)
	}
	return r
}

func redrive(t *testing.T, e *callbackstest.Env, id int64, dry bool) callbacks.Redrive {
	t.Helper()
	res, err := e.Callbacks.Redrive(context.Background(), id, dry)
	if err != nil {
		t.Fatalf("redrive %d (dry run %t): %v", id, dry, err)
	}
	return res
}

func TestRedriveAppliedIsNoop(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := callbackstest.New(t, db, callbacks.Config{})
		e.Order(t, "O1", 2000, "USD")
		out := e.Pay(t, "O1", 2000, "USD")
		if out.Receipt.Status != callbacks.StatusApplied {
			t.Fatalf("payment: %s (%s)", out.Receipt.Status, out.Receipt.Reason)
		}
		before := storetest.Counts(t, db)
		o1, l1 := order(t, e, "O1")
		e.Clock.Add(72 * time.Hour)

		res := redrive(t, e, out.Receipt.ID, false)

		if res.Action != callbacks.ActionNoop || res.Changed || res.Receipt.Status != callbacks.StatusApplied {
			t.Errorf("redrive of an applied receipt: action %s changed %t status %s, want noop", res.Action, res.Changed, res.Receipt.Status)
		}
		o2, l2 := order(t, e, "O1")
		if diff := cmp.Diff(o1, o2); diff != "" {
			t.Errorf("order changed (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(l1, l2); diff != "" {
			t.Errorf("ledger changed (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(before, storetest.Counts(t, db)); diff != "" {
			t.Errorf("rows written (-before +after):\n%s", diff)
		}
	})
}

func TestRedriveUnknownAppliesOnceAfterOrderExists(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := callbackstest.New(t, db, callbacks.Config{})
		out := e.Pay(t, "O2", 1500, "EUR")
		if out.Receipt.Status != callbacks.StatusUnknown || out.Receipt.NextCheckAt == nil {
			t.Fatalf("payment before its order: %s next check %v, want unknown with a next check", out.Receipt.Status, out.Receipt.NextCheckAt)
		}
		id := out.Receipt.ID

		// Still no order: the receipt stays unknown and nothing is written.
		before := storetest.Counts(t, db)
		res := redrive(t, e, id, false)
		if res.Action != callbacks.ActionUnknown || res.Changed {
			t.Errorf("redrive without an order: action %s changed %t, want unknown, unchanged", res.Action, res.Changed)
		}
		if diff := cmp.Diff(before, storetest.Counts(t, db)); diff != "" {
			t.Errorf("rows written (-before +after):\n%s", diff)
		}

		e.Order(t, "O2", 1500, "EUR")
		e.Clock.Add(time.Hour)
		res = redrive(t, e, id, false)
		if res.Action != callbacks.ActionApplied || !res.Changed || res.Previous != callbacks.StatusUnknown {
			t.Fatalf("redrive after the order exists: action %s changed %t previous %s", res.Action, res.Changed, res.Previous)
		}
		if res.OrderBefore == nil || res.OrderAfter == nil || res.OrderBefore.Status != ledger.StatusCreated || res.OrderAfter.Status != ledger.StatusPaid {
			t.Errorf("order before/after: %+v / %+v", res.OrderBefore, res.OrderAfter)
		}
		got := receipt(t, db, id)
		if got.Status != callbacks.StatusApplied || got.NextCheckAt != nil {
			t.Errorf("stored receipt: %s next check %v, want applied without a next check", got.Status, got.NextCheckAt)
		}
		o, entries := order(t, e, "O2")
		if o.Status != ledger.StatusPaid || o.PaidAmount != 1500 || o.Version != 2 {
			t.Errorf("order: %s paid %d version %d, want paid 1500 at version 2", o.Status, o.PaidAmount, o.Version)
		}
		wantLegs := []ledger.Entry{
			{OrderNo: "O2", Account: "clearing:stripe", Amount: 1500, Currency: "EUR", Provider: "stripe", TxnID: "pi_O2:payment.succeeded", CreatedAt: e.Clock.Now()},
			{OrderNo: "O2", Account: "sales", Amount: -1500, Currency: "EUR", Provider: "stripe", TxnID: "pi_O2:payment.succeeded", CreatedAt: e.Clock.Now()},
		}
		if diff := cmp.Diff(wantLegs, entries); diff != "" {
			t.Errorf("ledger (-want +got):\n%s", diff)
		}

		// Again: a no-op. And the provider's late retry is a duplicate.
		if res := redrive(t, e, id, false); res.Action != callbacks.ActionNoop {
			t.Errorf("second redrive: %s, want noop", res.Action)
		}
		if late := e.Pay(t, "O2", 1500, "EUR"); !late.Duplicate || late.Receipt.ID != id {
			t.Errorf("late delivery: duplicate %t receipt %d, want a duplicate of %d", late.Duplicate, late.Receipt.ID, id)
		}
		if _, entries := order(t, e, "O2"); len(entries) != 2 {
			t.Errorf("ledger has %d legs, want 2", len(entries))
		}
	})
}

func TestRedriveDryRunWritesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := callbackstest.New(t, db, callbacks.Config{})
		id := e.Pay(t, "O3", 990, "USD").Receipt.ID
		e.Order(t, "O3", 990, "USD")
		before := storetest.Counts(t, db)
		stored := receipt(t, db, id)

		res := redrive(t, e, id, true)

		if !res.DryRun || res.Action != callbacks.ActionApplied || !res.Changed {
			t.Errorf("dry run: dry %t action %s changed %t, want a dry run that would apply", res.DryRun, res.Action, res.Changed)
		}
		if res.OrderBefore == nil || res.OrderAfter == nil {
			t.Fatalf("dry run shows no order before/after")
		}
		if res.OrderBefore.Status != ledger.StatusCreated || res.OrderAfter.Status != ledger.StatusPaid ||
			res.OrderAfter.PaidAmount != 990 || res.OrderAfter.Version != res.OrderBefore.Version+1 {
			t.Errorf("dry run order: before %+v after %+v", *res.OrderBefore, *res.OrderAfter)
		}
		if len(res.Legs) != 2 || !ledger.Balanced(res.Legs) || res.Legs[0].Amount != 990 {
			t.Errorf("dry run legs: %+v", res.Legs)
		}
		if diff := cmp.Diff(before, storetest.Counts(t, db)); diff != "" {
			t.Errorf("dry run wrote rows (-before +after):\n%s", diff)
		}
		if diff := cmp.Diff(stored, receipt(t, db, id)); diff != "" {
			t.Errorf("dry run changed the receipt (-before +after):\n%s", diff)
		}
		if o, _ := order(t, e, "O3"); o.Status != ledger.StatusCreated || o.Version != 1 {
			t.Errorf("dry run changed the order: %s v%d", o.Status, o.Version)
		}
	})
}

// TestRedriveConcurrentReplaysApplyOnce: of many concurrent replays of one
// unknown receipt exactly one applies it. For a payment the order's version
// and the receipt's status guard both stand in the way of a second effect;
// a failed payment changes no order, so there the status guard alone does.
func TestRedriveConcurrentReplaysApplyOnce(t *testing.T) {
	for _, tc := range []struct {
		name, typ string
		legs      int
		status    ledger.Status
	}{
		{"payment", "payment_intent.succeeded", 2, ledger.StatusPaid},
		{"failed payment", "payment_intent.payment_failed", 0, ledger.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				obs := &recorder{}
				e := callbackstest.New(t, db, callbacks.Config{Observer: obs, MaxAttempts: 50})
				id := e.Deliver(t, callbackstest.Event{ID: "evt_O4", Type: tc.typ, ObjectID: "pi_O4", OrderNo: "O4",
					Amount: 5000, Currency: "JPY"}).Receipt.ID
				e.Order(t, "O4", 5000, "JPY")

				const n = 12
				var wg sync.WaitGroup
				start := make(chan struct{})
				results := make([]callbacks.Redrive, n)
				errs := make([]error, n)
				for i := range n {
					wg.Go(func() {
						<-start
						results[i], errs[i] = e.Callbacks.Redrive(context.Background(), id, false)
					})
				}
				close(start)
				wg.Wait()

				actions := map[callbacks.Action]int{}
				for i := range n {
					if errs[i] != nil {
						t.Fatalf("replay %d: %v", i, errs[i])
					}
					actions[results[i].Action]++
				}
				if diff := cmp.Diff(map[callbacks.Action]int{callbacks.ActionApplied: 1, callbacks.ActionNoop: n - 1}, actions); diff != "" {
					t.Errorf("actions (-want +got):\n%s", diff)
				}
				o, entries := order(t, e, "O4")
				if o.Status != tc.status || len(entries) != tc.legs {
					t.Errorf("order %s with %d legs, want %s with %d", o.Status, len(entries), tc.status, tc.legs)
				}
				t.Logf("retries seen: %d", obs.retries())
			})
		})
	}
}

func TestRedriveReverifiesStoredBytes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := callbackstest.New(t, db, callbacks.Config{})
		ok := e.Pay(t, "O5", 700, "USD").Receipt.ID
		bad := e.Pay(t, "O6", 700, "USD").Receipt.ID
		e.Order(t, "O5", 700, "USD")
		e.Order(t, "O6", 700, "USD")
		// Three days later the signature's timestamp is far outside
		// Stripe's window: a replay checks the signature, not the window.
		e.Clock.Add(72 * time.Hour)
		if res := redrive(t, e, ok, false); res.Action != callbacks.ActionApplied {
			t.Errorf("old but genuine bytes: %s, want applied", res.Action)
		}
		// Bytes altered in the database do not verify: nothing is written.
		storetest.Exec(t, db, "UPDATE callback_receipts SET raw_body = ? WHERE id = ?",
			[]byte(string(callbackstest.Event{ID: "evt_pay_O6", Type: "payment_intent.succeeded", ObjectID: "pi_O6",
				OrderNo: "O6", Amount: 1, Currency: "USD"}.Body())), bad)
		before := storetest.Counts(t, db)
		_, err := e.Callbacks.Redrive(context.Background(), bad, false)
		if !errors.Is(err, callbacks.ErrNotReplayable) {
			t.Errorf("tampered bytes: %v, want ErrNotReplayable", err)
		}
		if diff := cmp.Diff(before, storetest.Counts(t, db)); diff != "" {
			t.Errorf("rows written (-before +after):\n%s", diff)
		}
		if o, _ := order(t, e, "O6"); o.Status != ledger.StatusCreated {
			t.Errorf("order O6 is %s, want created", o.Status)
		}
	})
}

func TestRedriveRefusals(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := callbackstest.New(t, db, callbacks.Config{})
		e.Order(t, "O7", 100, "USD")
		orig := e.Pay(t, "O7", 100, "USD")
		// The same key with other facts: a conflict, kept as evidence.
		conflict := e.Deliver(t, callbackstest.Event{ID: "evt_other", Type: "payment_intent.succeeded", ObjectID: "pi_O7",
			OrderNo: "O7", Amount: 999, Currency: "USD"})
		if conflict.Receipt.Status != callbacks.StatusConflict {
			t.Fatalf("setup: %s, want conflict", conflict.Receipt.Status)
		}
		for _, tc := range []struct {
			name string
			id   int64
			want error
		}{
			{"conflict", conflict.Receipt.ID, callbacks.ErrNotReplayable},
			{"missing", orig.Receipt.ID + 1000, callbacks.ErrNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := storetest.Counts(t, db)
				if _, err := e.Callbacks.Redrive(context.Background(), tc.id, false); !errors.Is(err, tc.want) {
					t.Errorf("redrive: %v, want %v", err, tc.want)
				}
				if diff := cmp.Diff(before, storetest.Counts(t, db)); diff != "" {
					t.Errorf("rows written (-before +after):\n%s", diff)
				}
			})
		}
	})
}

func TestRedriveRejectedAndEscalated(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := callbackstest.New(t, db, callbacks.Config{})
		e.Order(t, "O8", 100, "USD")
		rejected := e.Pay(t, "O8", 150, "USD").Receipt
		if rejected.Status != callbacks.StatusRejected {
			t.Fatalf("setup: %s, want rejected", rejected.Status)
		}
		escalated := e.Pay(t, "O9", 300, "USD").Receipt
		storetest.Exec(t, db, "UPDATE callback_receipts SET status = 'escalated' WHERE id = ?", escalated.ID)

		t.Run("rejected stays rejected", func(t *testing.T) {
			before := storetest.Counts(t, db)
			res := redrive(t, e, rejected.ID, false)
			if res.Action != callbacks.ActionRejected || res.Changed || res.Receipt.Reason != rejected.Reason {
				t.Errorf("action %s changed %t reason %q", res.Action, res.Changed, res.Receipt.Reason)
			}
			if diff := cmp.Diff(before, storetest.Counts(t, db)); diff != "" {
				t.Errorf("rows written (-before +after):\n%s", diff)
			}
		})
		t.Run("escalated and still undecided stays escalated", func(t *testing.T) {
			res := redrive(t, e, escalated.ID, false)
			if res.Action != callbacks.ActionEscalated || receipt(t, db, escalated.ID).Status != callbacks.StatusEscalated {
				t.Errorf("action %s, want escalated", res.Action)
			}
		})
		t.Run("escalated applies once its order exists", func(t *testing.T) {
			e.Order(t, "O9", 300, "USD")
			res := redrive(t, e, escalated.ID, false)
			if res.Action != callbacks.ActionApplied || receipt(t, db, escalated.ID).Status != callbacks.StatusApplied {
				t.Errorf("action %s, want applied", res.Action)
			}
			if o, entries := order(t, e, "O9"); o.Status != ledger.StatusPaid || len(entries) != 2 {
				t.Errorf("order %s with %d legs", o.Status, len(entries))
			}
		})
	})
}

// TestRedriveReprocessesUnsupported: an event type the gateway did not act
// on is rejected; once the configuration maps it, a replay processes the
// stored bytes under the key they now produce, exactly once.
func TestRedriveReprocessesUnsupported(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	acme := func(events map[string]string) callbacks.Provider {
		p, err := standardwebhooks.New(standardwebhooks.Config{Name: "acme", Secrets: []string{secret}, Events: events,
			Fields: standardwebhooks.Fields{TxnID: "data.id", EventType: "type", OrderNo: "data.order_no", Amount: "data.amount", Currency: "data.currency"}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		old := callbackstest.New(t, db, callbacks.Config{}, acme(map[string]string{"charge.done": "payment.succeeded"}))
		old.Order(t, "O10", 4200, "USD")
		body := []byte(`{"type":"charge.settled","data":{"id":"ch_10","order_no":"O10","amount":4200,"currency":"USD"}}`)
		sig, err := standardwebhooks.Sign(secret, "msg_10", old.Clock.Now(), body)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set("Webhook-Id", "msg_10")
		h.Set("Webhook-Timestamp", strconv.FormatInt(old.Clock.Now().Unix(), 10))
		h.Set("Webhook-Signature", sig)
		_, outs, err := old.Callbacks.Handle(context.Background(), callbacks.Inbound{Provider: "acme", Header: h, Body: body})
		if err != nil || outs[0].Receipt.Status != callbacks.StatusRejected {
			t.Fatalf("setup: %v %+v", err, outs)
		}
		id := outs[0].Receipt.ID

		upgraded := callbacks.NewService(db, []callbacks.Provider{acme(map[string]string{"charge.done": "payment.succeeded",
			"charge.settled": "payment.succeeded"})}, callbacks.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		t.Cleanup(func() { _ = upgraded.Close(context.Background()) })

		dry, err := upgraded.Redrive(context.Background(), id, true)
		if err != nil || dry.Action != callbacks.ActionReprocessed || len(dry.Reprocessed) != 1 ||
			dry.Reprocessed[0].Receipt.Status != callbacks.StatusApplied || dry.Reprocessed[0].Receipt.ID != 0 {
			t.Fatalf("dry run: %v %+v", err, dry)
		}
		for i, wantDup := range []bool{false, true} {
			res, err := upgraded.Redrive(context.Background(), id, false)
			if err != nil || res.Action != callbacks.ActionReprocessed || len(res.Reprocessed) != 1 {
				t.Fatalf("replay %d: %v %+v", i, err, res)
			}
			got := res.Reprocessed[0]
			if got.Duplicate != wantDup || got.Receipt.TxnID != "ch_10:payment.succeeded" || got.Receipt.Status != callbacks.StatusApplied {
				t.Errorf("replay %d: duplicate %t %s %s", i, got.Duplicate, got.Receipt.TxnID, got.Receipt.Status)
			}
		}
		if r := receipt(t, db, id); r.Status != callbacks.StatusRejected {
			t.Errorf("the original receipt is %s, want it kept rejected", r.Status)
		}
		if o, entries := order(t, old, "O10"); o.Status != ledger.StatusPaid || len(entries) != 2 {
			t.Errorf("order %s with %d legs, want paid with 2", o.Status, len(entries))
		}
	})
}

// recorder is an Observer that counts retries.
type recorder struct {
	mu sync.Mutex
	n  int
}

func (r *recorder) Delivered(string, []callbacks.Outcome, error, time.Duration) {}
func (r *recorder) Redriven(string, callbacks.Action, bool)                     {}
func (r *recorder) Retried(string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
}
func (r *recorder) retries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}
