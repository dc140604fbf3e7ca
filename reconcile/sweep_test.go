package reconcile_test

import (
	"context"
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/reconcile"
	"gateway/report"
	"gateway/store"
	"gateway/store/storetest"
)

// sweepRow reads an order's sweep bookkeeping.
func sweepRow(t *testing.T, db *store.DB, orderNo string) (checks int, next *time.Time, result string) {
	t.Helper()
	var n sql.NullTime
	if err := db.SQL().QueryRow("SELECT attempts, next_check_at, result FROM order_sweeps WHERE order_no = ?", orderNo).Scan(&checks, &n, &result); err != nil {
		t.Fatalf("sweep row of %s: %v", orderNo, err)
	}
	if n.Valid {
		next = &n.Time
	}
	return checks, next, result
}

// TestSweep asks Stripe (a fake of its PaymentIntent API) about orders
// that are still created: a payment found there is applied under its
// callback's key and the callback, when it comes, is a duplicate; a
// cancelled PaymentIntent closes the order; no outcome or a failing API
// is asked again on the schedule; young orders and orders without a
// provider reference are left alone.
func TestSweep(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		api := newFakeAPI(t)
		e := newEnv(t, db, api, reconcile.Config{})
		for _, o := range []struct{ no, answer string }{{"S-paid", "paid"}, {"S-closed", "closed"}, {"S-pending", "pending"}, {"S-down", ""}} {
			e.order(t, o.no, 1500, "stripe", "pi_"+o.no)
			a := fakeAnswer{Status: o.answer, OrderNo: o.no, Amount: 1500, Currency: "USD", Fail: o.answer == ""}
			api.set("pi_"+o.no, a)
		}
		e.order(t, "S-noref", 1500, "stripe", "")
		e.clock.Add(10 * time.Minute)
		e.order(t, "S-young", 1500, "stripe", "pi_S-young")
		api.set("pi_S-young", fakeAnswer{Status: "paid", OrderNo: "S-young", Amount: 1500, Currency: "USD"})
		e.clock.Add(10 * time.Minute) // the first four are 20 minutes old, S-young 10

		sum := e.run(t)
		want := reconcile.Summary{SweepCandidates: 4, Swept: 4, SweepPaid: 1, SweepClosed: 1, SweepOpen: 2}
		if diff := cmp.Diff(want, sum); diff != "" {
			t.Fatalf("first sweep (-want +got):\n%s", diff)
		}
		for no, status := range map[string]ledger.Status{"S-paid": ledger.StatusPaid, "S-closed": ledger.StatusClosed,
			"S-pending": ledger.StatusCreated, "S-down": ledger.StatusCreated, "S-noref": ledger.StatusCreated, "S-young": ledger.StatusCreated} {
			if o, _ := e.orderState(t, no); o.Status != status {
				t.Errorf("order %s: %s, want %s", no, o.Status, status)
			}
		}
		for _, ref := range []string{"pi_S-young", "pi_S-noref", ""} {
			if n := api.asked(ref); n != 0 {
				t.Errorf("%q asked %d times", ref, n)
			}
		}
		paid, ok := e.receiptByKey(t, "stripe", "pi_S-paid:payment.succeeded")
		paid = e.receipt(t, paid.ID) // with its raw body
		if !ok || paid.Status != callbacks.StatusApplied || paid.EventType != "sweep:payment.succeeded" || paid.Verified != callbacks.VerifiedQuery ||
			paid.Money != (ledger.Money{Amount: 1500, Currency: "USD"}) || !strings.Contains(string(paid.RawBody), `"event_type":"payment_intent.succeeded"`) {
			t.Errorf("sweep receipt: %+v", paid)
		}
		if closed, ok := e.receiptByKey(t, "stripe", "pi_S-closed:payment.closed"); !ok || closed.Status != callbacks.StatusApplied {
			t.Errorf("close receipt: %+v", closed)
		}
		if _, _, res := sweepRow(t, db, "S-paid"); !strings.HasPrefix(res, "paid at the provider") {
			t.Errorf("sweep result of S-paid: %q", res)
		}

		// The report's "paid at the provider but not locally" line.
		rep, err := report.NewService(db, discard()).Reconciliation(ctx, report.Period{From: e.clock.Now().Add(-time.Hour), To: e.clock.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		var swept []string
		for _, p := range rep.Providers {
			for _, s := range p.PaidAtProviderNotLocally {
				swept = append(swept, p.Provider+" "+s.OrderNo+" "+s.TxnID)
			}
		}
		if diff := cmp.Diff([]string{"stripe S-paid pi_S-paid:payment.succeeded"}, swept); diff != "" {
			t.Errorf("paid_at_provider_not_locally (-want +got):\n%s", diff)
		}

		// Stripe's callback arrives late: a duplicate, answered as one.
		before := storetest.Counts(t, db)
		ack, outs, err := e.svc.Handle(ctx, e.stripePaid("S-paid", 1500))
		if err != nil || ack.Status != http.StatusOK || len(outs) != 1 || !outs[0].Duplicate || outs[0].Receipt.ID != paid.ID {
			t.Fatalf("late callback: %d %v %+v", ack.Status, err, outs)
		}
		if diff := cmp.Diff(before, storetest.Counts(t, db)); diff != "" {
			t.Errorf("late callback wrote rows (-before +after):\n%s", diff)
		}
		if _, legs := e.orderState(t, "S-paid"); len(legs) != 2 {
			t.Errorf("S-paid has %d ledger legs, want 2", len(legs))
		}

		// Asked again only at the next check, on the schedule; S-young is
		// old enough by then.
		checks, next, res := sweepRow(t, db, "S-pending")
		if checks != 1 || next == nil || res != "no outcome yet" {
			t.Fatalf("S-pending sweep row: %d checks, next %v, %q", checks, next, res)
		}
		within(t, "S-pending's next check", next.Sub(e.clock.Now()), testBackoff[1])
		if _, _, res := sweepRow(t, db, "S-down"); !strings.HasPrefix(res, "question failed:") {
			t.Errorf("S-down result: %q", res)
		}
		if sum := e.run(t); sum.SweepCandidates != 0 {
			t.Errorf("swept again before the next check: %+v", sum)
		}
		e.clock.Add(testBackoff[1] * 11 / 10)
		if sum := e.run(t); sum.Swept != 3 || sum.SweepPaid != 1 || api.asked("pi_S-pending") != 2 || api.asked("pi_S-down") != 2 ||
			api.asked("pi_S-paid") != 1 || api.asked("pi_S-young") != 1 {
			t.Errorf("second sweep: %+v; asked pending %d, down %d, paid %d, young %d", sum, api.asked("pi_S-pending"),
				api.asked("pi_S-down"), api.asked("pi_S-paid"), api.asked("pi_S-young"))
		}
	})
}

// TestSweepBounds: a run asks about at most SweepBatch orders; an order is
// asked at most once per step of its schedule and then left alone; a
// provider that cannot be asked is not asked again.
func TestSweepBounds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		api := newFakeAPI(t)
		schedule := []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute}
		e := newEnv(t, db, api, reconcile.Config{SweepBatch: 2, Providers: map[string][]time.Duration{"stripe": schedule}})
		for _, no := range []string{"B1", "B2", "B3", "B4", "B5"} {
			e.order(t, no, 100, "stripe", "pi_"+no)
			api.set("pi_"+no, fakeAnswer{Status: "pending", OrderNo: no, Amount: 100, Currency: "USD"})
		}
		e.clock.Add(16 * time.Minute)
		for i, want := range []int{2, 2, 1, 0} {
			if sum := e.run(t); sum.Swept != want {
				t.Errorf("run %d asked %d orders, want %d", i, sum.Swept, want)
			}
		}
		for check := 2; check <= len(schedule)+1; check++ {
			e.clock.Add(schedule[len(schedule)-1] * 11 / 10)
			e.run(t)
			e.run(t)
			e.run(t)
		}
		for _, no := range []string{"B1", "B5"} {
			checks, next, res := sweepRow(t, db, no)
			if checks != len(schedule) || next != nil || !strings.HasSuffix(res, "after 3 checks; not asked again") || api.asked("pi_"+no) != len(schedule) {
				t.Errorf("%s: %d checks, next %v, %q, asked %d times; want %d checks and done", no, checks, next, res, api.asked("pi_"+no), len(schedule))
			}
		}

		// fakepay without a status API: one look, then left to its callback.
		noAPI := newEnvWith(t, db, db, api, reconcile.Config{}, &fakePay{})
		noAPI.clock.Set(e.clock.Now())
		noAPI.order(t, "U1", 100, "fakepay", "tx_u1")
		noAPI.clock.Add(time.Hour)
		if sum := noAPI.run(t); sum.SweepDone != 1 {
			t.Errorf("unaskable provider: %+v", sum)
		}
		if _, next, res := sweepRow(t, db, "U1"); next != nil || !strings.Contains(res, "cannot ask") {
			t.Errorf("U1: next %v, %q", next, res)
		}
		noAPI.clock.Add(time.Hour)
		if sum := noAPI.run(t); sum.SweepCandidates != 0 {
			t.Errorf("unaskable provider asked again: %+v", sum)
		}
	})
}
