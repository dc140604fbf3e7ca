package reconcile_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/callbacks/callbackstest"
	"gateway/ledger"
	"gateway/ops"
	"gateway/reconcile"
	"gateway/report"
	"gateway/store"
	"gateway/store/storetest"
)

// escalatedIn is a provider's escalated count in a report.
func escalatedIn(r report.Report, provider string) int64 {
	for _, p := range r.Providers {
		if p.Provider == provider {
			return p.Escalated
		}
	}
	return 0
}

// eachDB runs fn as a subtest on a fresh database of every dialect.
func eachDB(t *testing.T, name string, fn func(t *testing.T, dialect string)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		for _, d := range storetest.Dialects {
			t.Run(d, func(t *testing.T) { fn(t, d) })
		}
	})
}

// TestResolveQueryOutcomes parks a receipt as unknown, lets the provider's
// status API answer one way, runs the reconciler at the first check and
// looks at the receipt, the order, the ledger and the next check.
func TestResolveQueryOutcomes(t *testing.T) {
	const amount = 2500
	pending := fakeEvent{ID: "ev_pending", Kind: ledger.KindPaymentPending, Ref: "tx_1", OrderNo: "Q1", Amount: amount, Currency: "USD"}
	refund := fakeEvent{ID: "ev_refund", Kind: ledger.KindRefundSucceeded, Ref: "tx_1", RefundID: "rf_1", OrderNo: "Q1", Amount: amount, Currency: "USD"}
	type want struct {
		status      callbacks.Status // of the parked receipt after the run
		reason      string           // its reason starts with this
		order       ledger.Status
		legs        int
		learned     string // the key of a receipt recorded from the answer ("" for none)
		rescheduled bool   // next check at +Backoff[1], one check counted
		result      string // what the observer was told
	}
	for _, tc := range []struct {
		name   string
		event  fakeEvent
		answer fakeAnswer
		want   want
	}{
		{"paid", pending, fakeAnswer{Status: "paid", OrderNo: "Q1", Amount: amount, Currency: "USD"},
			want{status: callbacks.StatusApplied, reason: "accepted; order unchanged", order: ledger.StatusPaid, legs: 2,
				learned: "tx_1:payment.succeeded", result: reconcile.ResultApplied}},
		{"still pending", pending, fakeAnswer{Status: "pending", OrderNo: "Q1", Amount: amount, Currency: "USD"},
			want{status: callbacks.StatusUnknown, reason: "outcome undecided: provider reports the payment pending", order: ledger.StatusCreated, rescheduled: true,
				result: reconcile.ResultRescheduled}},
		{"closed", pending, fakeAnswer{Status: "closed", OrderNo: "Q1", Amount: amount, Currency: "USD"},
			want{status: callbacks.StatusApplied, reason: "accepted; order unchanged", order: ledger.StatusClosed,
				learned: "tx_1:payment.closed", result: reconcile.ResultApplied}},
		{"failed", pending, fakeAnswer{Status: "failed", OrderNo: "Q1", Amount: amount, Currency: "USD"},
			want{status: callbacks.StatusApplied, reason: "superseded: the provider's final event for tx_1 is payment.failed",
				order: ledger.StatusCreated, learned: "tx_1:payment.failed", result: reconcile.ResultApplied}},
		// A refund parked before its payment: the provider says the trade
		// was paid (and refunded); the payment is applied under its
		// callback's key, then the refund.
		{"refunded", refund, fakeAnswer{Status: "refunded", OrderNo: "Q1", Amount: amount, Currency: "USD"},
			want{status: callbacks.StatusApplied, order: ledger.StatusRefunded, legs: 4,
				learned: "tx_1:payment.succeeded", result: reconcile.ResultApplied}},
		// The provider has a payment the order does not explain: it is
		// recorded, rejected (for people to settle), and it answers the
		// pending question.
		{"amount differs", pending, fakeAnswer{Status: "paid", OrderNo: "Q1", Amount: amount + 1, Currency: "USD"},
			want{status: callbacks.StatusApplied, reason: "superseded: the provider's final event for tx_1 is payment.succeeded",
				order: ledger.StatusCreated, learned: "tx_1:payment.succeeded", result: reconcile.ResultApplied}},
		{"provider error", pending, fakeAnswer{Fail: true},
			want{status: callbacks.StatusUnknown, reason: "outcome undecided: provider reports the payment pending", order: ledger.StatusCreated, rescheduled: true,
				result: reconcile.ResultRescheduled}},
		{"provider timeout", pending, fakeAnswer{Hang: true},
			want{status: callbacks.StatusUnknown, reason: "outcome undecided: provider reports the payment pending", order: ledger.StatusCreated, rescheduled: true,
				result: reconcile.ResultRescheduled}},
	} {
		eachDB(t, tc.name, func(t *testing.T, dialect string) {
			api := newFakeAPI(t)
			e := newEnv(t, storetest.New(t, dialect), api, reconcile.Config{QueryTimeout: 200 * time.Millisecond})
			e.order(t, "Q1", amount, "fakepay", "tx_1")
			parked := e.deliver(t, tc.event).Receipt
			if parked.Status != callbacks.StatusUnknown {
				t.Fatalf("delivery: %s (%s), want unknown", parked.Status, parked.Reason)
			}
			api.set("tx_1", tc.answer)

			// Not due before its first check.
			e.clock.Add(testBackoff[0] - time.Second)
			if sum := e.run(t); sum.Due != 0 || api.requests.Load() != 0 {
				t.Fatalf("before the first check: %+v, %d questions", sum, api.requests.Load())
			}
			e.clock.Add(2 * time.Second)
			sum := e.run(t)
			if sum.Due != 1 || sum.Claimed != 1 || api.requests.Load() != 1 {
				t.Fatalf("first check: %+v, %d questions; want one receipt claimed and one question", sum, api.requests.Load())
			}

			got := e.receipt(t, parked.ID)
			if got.Status != tc.want.status || !strings.HasPrefix(got.Reason, tc.want.reason) {
				t.Errorf("receipt: %s %q, want %s %q…", got.Status, got.Reason, tc.want.status, tc.want.reason)
			}
			o, legs := e.orderState(t, "Q1")
			if o.Status != tc.want.order || len(legs) != tc.want.legs || !ledger.Balanced(legs) {
				t.Errorf("order %s with %d legs (balanced %t), want %s with %d", o.Status, len(legs), ledger.Balanced(legs), tc.want.order, tc.want.legs)
			}
			if paid, refunded := ledger.Totals(legs); paid != o.PaidAmount || refunded != o.RefundedAmount {
				t.Errorf("order totals %d/%d, ledger %d/%d", o.PaidAmount, o.RefundedAmount, paid, refunded)
			}
			if tc.want.learned != "" {
				l, ok := e.receiptByKey(t, "fakepay", tc.want.learned)
				if !ok || l.EventType != callbacks.SweepEventType(l.Kind) || l.Verified != callbacks.VerifiedQuery {
					t.Errorf("answer's receipt %s: found %t, event type %q, verified %q", tc.want.learned, ok, l.EventType, l.Verified)
				}
			}
			if owner, until := lease(t, e.db, parked.ID); owner != "" || until != nil {
				t.Errorf("lease left: %q until %v", owner, until)
			}
			if got.Attempts != 1 {
				t.Errorf("attempts %d, want 1", got.Attempts)
			}
			if tc.want.rescheduled {
				if got.NextCheckAt == nil {
					t.Fatal("rescheduled receipt without a next check")
				}
				within(t, "after the first check", got.NextCheckAt.Sub(e.clock.Now()), testBackoff[1])
			} else if got.NextCheckAt != nil {
				t.Errorf("settled receipt keeps a next check at %v", got.NextCheckAt)
			}
			if n := e.obs.count("fakepay", tc.want.result); n != 1 {
				t.Errorf("observer: %d %s, want 1 (%v)", n, tc.want.result, e.obs.n)
			}

			// Asking again changes nothing: the answer's key is a duplicate.
			if tc.want.rescheduled {
				before := storetest.Counts(t, e.db)
				e.clock.Set(*got.NextCheckAt)
				e.run(t)
				if diff := cmp.Diff(before, storetest.Counts(t, e.db)); diff != "" {
					t.Errorf("second check wrote rows (-before +after):\n%s", diff)
				}
				if again := e.receipt(t, parked.ID); again.Attempts != 2 || again.Status != callbacks.StatusUnknown {
					t.Errorf("second check: %s, %d attempts", again.Status, again.Attempts)
				}
			}
		})
	}
}

// TestOrderNotFoundYet: a payment whose order does not exist is re-driven
// on schedule without asking the provider (the order is ours to create),
// and applied once the order is there.
func TestOrderNotFoundYet(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		api := newFakeAPI(t)
		e := newEnv(t, db, api, reconcile.Config{})
		parked := e.deliver(t, fakeEvent{ID: "ev1", Kind: ledger.KindPaymentSucceeded, Ref: "tx_9", OrderNo: "N1", Amount: 700, Currency: "USD"}).Receipt
		if parked.Status != callbacks.StatusUnknown || parked.Reason != "order not found yet" {
			t.Fatalf("delivery: %s %q", parked.Status, parked.Reason)
		}
		e.clock.Add(testBackoff[0])
		if sum := e.run(t); sum.Rescheduled != 1 || api.requests.Load() != 0 {
			t.Fatalf("first check: %+v, %d questions; want rescheduled without asking", sum, api.requests.Load())
		}
		e.order(t, "N1", 700, "", "")
		e.clock.Set(*e.receipt(t, parked.ID).NextCheckAt)
		if sum := e.run(t); sum.Applied != 1 {
			t.Fatalf("second check: %+v", sum)
		}
		if o, legs := e.orderState(t, "N1"); o.Status != ledger.StatusPaid || len(legs) != 2 {
			t.Errorf("order %s with %d legs", o.Status, len(legs))
		}
		if r := e.receipt(t, parked.ID); r.Status != callbacks.StatusApplied || r.Attempts != 2 {
			t.Errorf("receipt %s after %d checks", r.Status, r.Attempts)
		}
		// The provider's next delivery is a duplicate with the same answer.
		ack, outs, err := e.svc.Handle(context.Background(), fakeInbound(fakeEvent{ID: "ev1", Kind: ledger.KindPaymentSucceeded,
			Ref: "tx_9", OrderNo: "N1", Amount: 700, Currency: "USD"}))
		if err != nil || ack.Status != 200 || !outs[0].Duplicate {
			t.Errorf("late delivery: %d %v %+v", ack.Status, err, outs)
		}
		if n := postings(t, db); n != 1 {
			t.Errorf("%d postings, want 1", n)
		}
	})
}

// TestOutOfOrder: a refund before its payment waits as unknown and is
// applied after the payment arrives; a "pending" after "paid" is accepted
// and changes nothing; a refund for a closed order is rejected with its
// reason.
func TestOutOfOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		api := newFakeAPI(t)
		e := newEnv(t, db, api, reconcile.Config{})
		e.order(t, "R1", 900, "fakepay", "tx_r1")
		refund := e.deliver(t, fakeEvent{ID: "e1", Kind: ledger.KindRefundSucceeded, Ref: "tx_r1", RefundID: "rf_r1", OrderNo: "R1", Amount: 900, Currency: "USD"}).Receipt
		if refund.Status != callbacks.StatusUnknown || !strings.Contains(refund.Reason, "refund before payment") {
			t.Fatalf("early refund: %s %q", refund.Status, refund.Reason)
		}
		if pay := e.deliver(t, fakeEvent{ID: "e2", Kind: ledger.KindPaymentSucceeded, Ref: "tx_r1", OrderNo: "R1", Amount: 900, Currency: "USD"}).Receipt; pay.Status != callbacks.StatusApplied {
			t.Fatalf("payment: %s %q", pay.Status, pay.Reason)
		}
		late := e.deliver(t, fakeEvent{ID: "e3", Kind: ledger.KindPaymentPending, Ref: "tx_r1", OrderNo: "R1", Amount: 900, Currency: "USD"}).Receipt
		if late.Status != callbacks.StatusApplied || late.Reason != "accepted; order unchanged" {
			t.Errorf("pending after paid: %s %q", late.Status, late.Reason)
		}
		e.clock.Add(testBackoff[0])
		if sum := e.run(t); sum.Applied != 1 || api.requests.Load() != 0 {
			t.Fatalf("run: %+v, %d questions; want the refund applied by its re-drive alone", sum, api.requests.Load())
		}
		o, legs := e.orderState(t, "R1")
		if o.Status != ledger.StatusRefunded || o.RefundedAmount != 900 || len(legs) != 4 {
			t.Errorf("order %s refunded %d, %d legs", o.Status, o.RefundedAmount, len(legs))
		}

		e.order(t, "R2", 500, "fakepay", "tx_r2")
		e.deliver(t, fakeEvent{ID: "e4", Kind: ledger.KindPaymentClosed, Ref: "tx_r2", OrderNo: "R2", Amount: 500, Currency: "USD"})
		rej := e.deliver(t, fakeEvent{ID: "e5", Kind: ledger.KindRefundSucceeded, Ref: "tx_r2", RefundID: "rf_r2", OrderNo: "R2", Amount: 500, Currency: "USD"}).Receipt
		if rej.Status != callbacks.StatusRejected || !strings.Contains(rej.Reason, "refund for a closed order") {
			t.Errorf("refund for a closed order: %s %q", rej.Status, rej.Reason)
		}
	})
}

// TestEscalation: a receipt still undecided at its last check is
// escalated — counted, listed by status, in the report — and is not
// worked again. The provider's own schedule replaces the default.
func TestEscalation(t *testing.T) {
	custom := []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute}
	for _, tc := range []struct {
		name     string
		schedule []time.Duration // fakepay's own schedule; nil for the default
	}{
		{"default schedule", nil},
		{"provider schedule", custom},
	} {
		eachDB(t, tc.name, func(t *testing.T, dialect string) {
			api := newFakeAPI(t)
			cfg := reconcile.Config{}
			if tc.schedule != nil {
				cfg.Providers = map[string][]time.Duration{"fakepay": tc.schedule}
			}
			db := storetest.New(t, dialect)
			e := newEnv(t, db, api, cfg)
			schedule := cfg.Schedule("fakepay")
			e.order(t, "E1", 100, "fakepay", "tx_e1")
			api.set("tx_e1", fakeAnswer{Status: "pending", OrderNo: "E1", Amount: 100, Currency: "USD"})
			parked := e.deliver(t, fakeEvent{ID: "e1", Kind: ledger.KindPaymentPending, Ref: "tx_e1", OrderNo: "E1", Amount: 100, Currency: "USD"}).Receipt
			if want := e.clock.Now().Add(schedule[0]); !parked.NextCheckAt.Equal(want) {
				t.Fatalf("parked until %v, want %v (the schedule's first step)", parked.NextCheckAt, want)
			}
			for check := 1; check <= len(schedule); check++ {
				e.clock.Set(*e.receipt(t, parked.ID).NextCheckAt)
				sum := e.run(t)
				r := e.receipt(t, parked.ID)
				if r.Attempts != check {
					t.Fatalf("check %d: attempts %d", check, r.Attempts)
				}
				if check < len(schedule) {
					if sum.Rescheduled != 1 || r.Status != callbacks.StatusUnknown {
						t.Fatalf("check %d: %+v, %s", check, sum, r.Status)
					}
					within(t, "after check", r.NextCheckAt.Sub(e.clock.Now()), schedule[check])
					continue
				}
				if sum.Escalated != 1 || r.Status != callbacks.StatusEscalated || r.NextCheckAt != nil ||
					!strings.HasPrefix(r.Reason, "escalated after "+strconv.Itoa(check)+" checks") ||
					!strings.Contains(r.Reason, "provider reports the payment pending") {
					t.Fatalf("last check: %+v, %s %q next %v", sum, r.Status, r.Reason, r.NextCheckAt)
				}
			}
			if n := e.obs.count("fakepay", reconcile.ResultEscalated); n != 1 {
				t.Errorf("escalations observed: %d", n)
			}
			listed, err := db.ListReceipts(context.Background(), ops.ReceiptFilter{Status: callbacks.StatusEscalated, Limit: 10})
			if err != nil || len(listed) != 1 || listed[0].ID != parked.ID {
				t.Errorf("admin list by status escalated: %v %v", listed, err)
			}
			rep, err := report.NewService(db, slog.New(slog.DiscardHandler)).Reconciliation(context.Background(),
				report.Period{From: callbackstest.Start.Add(-time.Hour), To: e.clock.Now().Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if n := escalatedIn(rep, "fakepay"); n != 1 {
				t.Errorf("report: %d escalated for fakepay, want 1", n)
			}
			// Escalated receipts are for people: never worked again.
			questions := api.requests.Load()
			e.clock.Add(1000 * time.Hour)
			if sum := e.run(t); sum.Due != 0 || api.requests.Load() != questions {
				t.Errorf("after escalation: %+v", sum)
			}
		})
	}
}
