package ledger_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/ledger"
)

var (
	created = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now     = created.Add(time.Hour)
)

// errorClasses are the sentinel errors Apply may return; a result must
// wrap exactly the one expected.
var errorClasses = []error{ledger.ErrInvalid, ledger.ErrNotFound, ledger.ErrExists, ledger.ErrVersionConflict,
	ledger.ErrTransition, ledger.ErrMismatch, ledger.ErrOverRefund, ledger.ErrUndecided}

// checkErrorClass fails unless err wraps want and no other class (or is nil
// when want is nil).
func checkErrorClass(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("error %v, want none", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %v", want)
	}
	for _, c := range errorClasses {
		if errors.Is(err, c) != (c == want) {
			t.Fatalf("error %q: errors.Is(%v) = %v", err, c, errors.Is(err, c))
		}
	}
}

// order is order O1 of 20.00 USD in the given state.
func order(status ledger.Status, paid, refunded int64) ledger.Order {
	return ledger.Order{ID: 7, OrderNo: "O1", Price: ledger.Money{Amount: 2000, Currency: "USD"}, Status: status,
		Version: 3, PaidAmount: paid, RefundedAmount: refunded, Provider: "stripe", ProviderRef: "pi_1",
		CreatedAt: created, UpdatedAt: created}
}

func event(kind ledger.Kind, amount int64) ledger.Event {
	return ledger.Event{Kind: kind, Provider: "stripe", TxnID: "pi_1:" + string(kind),
		Money: ledger.Money{Amount: amount, Currency: "USD"}}
}

// legs are the two legs of a posting of amount from debit to credit.
func legs(txnID, debit, credit string, amount int64, currency string) []ledger.Entry {
	leg := func(account string, a int64) ledger.Entry {
		return ledger.Entry{OrderNo: "O1", Account: account, Amount: a, Currency: currency,
			Provider: "stripe", TxnID: txnID, CreatedAt: now}
	}
	return []ledger.Entry{leg(debit, amount), leg(credit, -amount)}
}

func TestApply(t *testing.T) {
	const clearing = "clearing:stripe"
	paymentLegs := legs("pi_1:payment.succeeded", clearing, ledger.AccountSales, 2000, "USD")
	refundLegs := func(amount int64) []ledger.Entry {
		return legs("pi_1:refund.succeeded", ledger.AccountRefunds, clearing, amount, "USD")
	}
	with := func(e ledger.Event, f func(*ledger.Event)) ledger.Event { f(&e); return e }
	cumulative := func(e *ledger.Event) { e.Cumulative = true }
	inEUR := func(e *ledger.Event) { e.Money.Currency = "EUR" }

	for _, tc := range []struct {
		name  string
		order ledger.Order
		event ledger.Event
		// want is the next order's status, paid and refunded totals when
		// the event changes it; nil when the order must stay as it is.
		want     *ledger.Order
		wantLegs []ledger.Entry
		wantErr  error
	}{
		// payment.succeeded
		{name: "payment on created", order: order(ledger.StatusCreated, 0, 0), event: event(ledger.KindPaymentSucceeded, 2000),
			want: ptr(order(ledger.StatusPaid, 2000, 0)), wantLegs: paymentLegs},
		{name: "payment on paid", order: order(ledger.StatusPaid, 2000, 0), event: event(ledger.KindPaymentSucceeded, 2000),
			wantErr: ledger.ErrTransition},
		{name: "payment on closed", order: order(ledger.StatusClosed, 0, 0), event: event(ledger.KindPaymentSucceeded, 2000),
			wantErr: ledger.ErrTransition},
		{name: "payment on shipped", order: order(ledger.StatusShipped, 2000, 0), event: event(ledger.KindPaymentSucceeded, 2000),
			wantErr: ledger.ErrTransition},
		{name: "payment on refunded", order: order(ledger.StatusRefunded, 2000, 2000), event: event(ledger.KindPaymentSucceeded, 2000),
			wantErr: ledger.ErrTransition},
		{name: "payment short by one cent", order: order(ledger.StatusCreated, 0, 0), event: event(ledger.KindPaymentSucceeded, 1999),
			wantErr: ledger.ErrMismatch},
		{name: "payment over by one cent", order: order(ledger.StatusCreated, 0, 0), event: event(ledger.KindPaymentSucceeded, 2001),
			wantErr: ledger.ErrMismatch},
		{name: "payment in another currency", order: order(ledger.StatusCreated, 0, 0),
			event: with(event(ledger.KindPaymentSucceeded, 2000), inEUR), wantErr: ledger.ErrMismatch},
		{name: "payment of zero", order: order(ledger.StatusCreated, 0, 0), event: event(ledger.KindPaymentSucceeded, 0),
			wantErr: ledger.ErrMismatch},

		// payment.failed, refund.failed: recorded, order untouched
		{name: "payment failed on created", order: order(ledger.StatusCreated, 0, 0), event: event(ledger.KindPaymentFailed, 2000)},
		{name: "payment failed on paid", order: order(ledger.StatusPaid, 2000, 0), event: event(ledger.KindPaymentFailed, 2000)},
		{name: "refund failed on paid", order: order(ledger.StatusPaid, 2000, 0), event: event(ledger.KindRefundFailed, 500)},

		// payment.pending
		{name: "pending on created", order: order(ledger.StatusCreated, 0, 0), event: event(ledger.KindPaymentPending, 2000),
			wantErr: ledger.ErrUndecided},
		{name: "stale pending on paid", order: order(ledger.StatusPaid, 2000, 0), event: event(ledger.KindPaymentPending, 2000)},
		{name: "stale pending on closed", order: order(ledger.StatusClosed, 0, 0), event: event(ledger.KindPaymentPending, 2000)},

		// payment.closed
		{name: "closed on created", order: order(ledger.StatusCreated, 0, 0), event: event(ledger.KindPaymentClosed, 2000),
			want: ptr(order(ledger.StatusClosed, 0, 0))},
		{name: "closed on closed", order: order(ledger.StatusClosed, 0, 0), event: event(ledger.KindPaymentClosed, 2000)},
		{name: "closed after full refund", order: order(ledger.StatusRefunded, 2000, 2000), event: event(ledger.KindPaymentClosed, 2000)},
		{name: "closed on paid", order: order(ledger.StatusPaid, 2000, 0), event: event(ledger.KindPaymentClosed, 2000),
			wantErr: ledger.ErrUndecided},
		{name: "closed on received", order: order(ledger.StatusReceived, 2000, 0), event: event(ledger.KindPaymentClosed, 2000),
			wantErr: ledger.ErrUndecided},

		// refund.succeeded, one refund at a time
		{name: "partial refund", order: order(ledger.StatusPaid, 2000, 0), event: event(ledger.KindRefundSucceeded, 500),
			want: ptr(order(ledger.StatusPaid, 2000, 500)), wantLegs: refundLegs(500)},
		{name: "second partial refund reaching the total", order: order(ledger.StatusPaid, 2000, 500), event: event(ledger.KindRefundSucceeded, 1500),
			want: ptr(order(ledger.StatusRefunded, 2000, 2000)), wantLegs: refundLegs(1500)},
		{name: "full refund", order: order(ledger.StatusPaid, 2000, 0), event: event(ledger.KindRefundSucceeded, 2000),
			want: ptr(order(ledger.StatusRefunded, 2000, 2000)), wantLegs: refundLegs(2000)},
		{name: "full refund of a shipped order", order: order(ledger.StatusShipped, 2000, 0), event: event(ledger.KindRefundSucceeded, 2000),
			want: ptr(order(ledger.StatusRefunded, 2000, 2000)), wantLegs: refundLegs(2000)},
		{name: "partial refund of a received order", order: order(ledger.StatusReceived, 2000, 0), event: event(ledger.KindRefundSucceeded, 700),
			want: ptr(order(ledger.StatusReceived, 2000, 700)), wantLegs: refundLegs(700)},
		{name: "over-refund", order: order(ledger.StatusPaid, 2000, 1500), event: event(ledger.KindRefundSucceeded, 501),
			wantErr: ledger.ErrOverRefund},
		{name: "refund larger than the payment", order: order(ledger.StatusPaid, 2000, 0), event: event(ledger.KindRefundSucceeded, 2001),
			wantErr: ledger.ErrOverRefund},
		{name: "refund of a refunded order", order: order(ledger.StatusRefunded, 2000, 2000), event: event(ledger.KindRefundSucceeded, 1),
			wantErr: ledger.ErrOverRefund},
		{name: "refund before payment", order: order(ledger.StatusCreated, 0, 0), event: event(ledger.KindRefundSucceeded, 500),
			wantErr: ledger.ErrUndecided},
		{name: "refund of a closed order", order: order(ledger.StatusClosed, 0, 0), event: event(ledger.KindRefundSucceeded, 500),
			wantErr: ledger.ErrTransition},
		{name: "refund of zero", order: order(ledger.StatusPaid, 2000, 0), event: event(ledger.KindRefundSucceeded, 0),
			wantErr: ledger.ErrMismatch},
		{name: "negative refund", order: order(ledger.StatusPaid, 2000, 500), event: event(ledger.KindRefundSucceeded, -500),
			wantErr: ledger.ErrMismatch},
		{name: "refund in another currency", order: order(ledger.StatusPaid, 2000, 0),
			event: with(event(ledger.KindRefundSucceeded, 500), inEUR), wantErr: ledger.ErrMismatch},

		// refund.succeeded with a cumulative total (Stripe charge.refunded)
		{name: "cumulative first refund", order: order(ledger.StatusPaid, 2000, 0),
			event: with(event(ledger.KindRefundSucceeded, 500), cumulative),
			want:  ptr(order(ledger.StatusPaid, 2000, 500)), wantLegs: refundLegs(500)},
		{name: "cumulative new total posts the difference", order: order(ledger.StatusPaid, 2000, 500),
			event: with(event(ledger.KindRefundSucceeded, 1200), cumulative),
			want:  ptr(order(ledger.StatusPaid, 2000, 1200)), wantLegs: refundLegs(700)},
		{name: "cumulative total reaching the payment", order: order(ledger.StatusShipped, 2000, 500),
			event: with(event(ledger.KindRefundSucceeded, 2000), cumulative),
			want:  ptr(order(ledger.StatusRefunded, 2000, 2000)), wantLegs: refundLegs(1500)},
		{name: "cumulative older total is a no-op", order: order(ledger.StatusPaid, 2000, 1200),
			event: with(event(ledger.KindRefundSucceeded, 500), cumulative)},
		{name: "cumulative same total is a no-op", order: order(ledger.StatusPaid, 2000, 1200),
			event: with(event(ledger.KindRefundSucceeded, 1200), cumulative)},
		{name: "cumulative older total after a full refund", order: order(ledger.StatusRefunded, 2000, 2000),
			event: with(event(ledger.KindRefundSucceeded, 1500), cumulative)},
		{name: "cumulative over-refund", order: order(ledger.StatusPaid, 2000, 500),
			event: with(event(ledger.KindRefundSucceeded, 2001), cumulative), wantErr: ledger.ErrOverRefund},
		{name: "cumulative refund before payment", order: order(ledger.StatusCreated, 0, 0),
			event: with(event(ledger.KindRefundSucceeded, 500), cumulative), wantErr: ledger.ErrUndecided},

		{name: "unknown kind", order: order(ledger.StatusCreated, 0, 0), event: event("payment.maybe", 2000),
			wantErr: ledger.ErrTransition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, gotLegs, changed, err := ledger.Apply(tc.order, tc.event, now)
			checkErrorClass(t, err, tc.wantErr)
			want := tc.order
			if tc.want != nil {
				want = *tc.want
				want.UpdatedAt = now
			}
			if diff := cmp.Diff(want, next); diff != "" {
				t.Errorf("next order (-want +got):\n%s", diff)
			}
			if changed != (tc.want != nil) {
				t.Errorf("changed = %v, want %v", changed, tc.want != nil)
			}
			if diff := cmp.Diff(tc.wantLegs, gotLegs); diff != "" {
				t.Errorf("legs (-want +got):\n%s", diff)
			}
			if !ledger.Balanced(gotLegs) {
				t.Errorf("legs do not balance: %+v", gotLegs)
			}
			paid, refunded := ledger.Totals(gotLegs)
			if paid != next.PaidAmount-tc.order.PaidAmount || refunded != next.RefundedAmount-tc.order.RefundedAmount {
				t.Errorf("legs move paid %d, refunded %d; the order moved paid %d, refunded %d",
					paid, refunded, next.PaidAmount-tc.order.PaidAmount, next.RefundedAmount-tc.order.RefundedAmount)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestApplyJPY: the legs carry the order's currency and zero-decimal amounts.
func TestApplyJPY(t *testing.T) {
	o := ledger.Order{OrderNo: "O1", Price: ledger.Money{Amount: 1500, Currency: "JPY"}, Status: ledger.StatusCreated, Version: 1}
	e := ledger.Event{Kind: ledger.KindPaymentSucceeded, Provider: "stripe", TxnID: "pi_1:payment.succeeded",
		Money: ledger.Money{Amount: 1500, Currency: "JPY"}}
	_, got, _, err := ledger.Apply(o, e, now)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(legs("pi_1:payment.succeeded", "clearing:stripe", ledger.AccountSales, 1500, "JPY"), got); diff != "" {
		t.Errorf("legs (-want +got):\n%s", diff)
	}
}

// TestApplySequence applies a payment and refunds one after the other, as
// the pipeline does, and checks that the order's totals equal its ledger.
func TestApplySequence(t *testing.T) {
	o := order(ledger.StatusCreated, 0, 0)
	var all []ledger.Entry
	steps := []struct {
		event   ledger.Event
		status  ledger.Status
		wantErr error
	}{
		{event(ledger.KindPaymentSucceeded, 2000), ledger.StatusPaid, nil},
		{event(ledger.KindRefundSucceeded, 300), ledger.StatusPaid, nil},
		{event(ledger.KindRefundSucceeded, 1800), ledger.StatusPaid, ledger.ErrOverRefund},
		{event(ledger.KindRefundSucceeded, 1700), ledger.StatusRefunded, nil},
		{event(ledger.KindRefundSucceeded, 1), ledger.StatusRefunded, ledger.ErrOverRefund},
	}
	for i, s := range steps {
		next, l, _, err := ledger.Apply(o, s.event, now)
		checkErrorClass(t, err, s.wantErr)
		if err == nil {
			o = next
			all = append(all, l...)
		}
		if o.Status != s.status {
			t.Fatalf("step %d: status %s, want %s", i, o.Status, s.status)
		}
		paid, refunded := ledger.Totals(all)
		if paid != o.PaidAmount || refunded != o.RefundedAmount || !ledger.Balanced(all) {
			t.Fatalf("step %d: ledger says paid %d refunded %d (balanced %v); order says %d, %d",
				i, paid, refunded, ledger.Balanced(all), o.PaidAmount, o.RefundedAmount)
		}
	}
	if len(all) != 6 {
		t.Errorf("%d legs, want 6", len(all))
	}
}

func TestTotalsAndBalanced(t *testing.T) {
	leg := func(account string, amount int64, currency string) ledger.Entry {
		return ledger.Entry{Account: account, Amount: amount, Currency: currency}
	}
	for _, tc := range []struct {
		name           string
		entries        []ledger.Entry
		paid, refunded int64
		balanced       bool
	}{
		{"none", nil, 0, 0, true},
		{"payment", []ledger.Entry{leg("clearing:stripe", 2000, "USD"), leg("sales", -2000, "USD")}, 2000, 0, true},
		{"payment and refund", []ledger.Entry{leg("clearing:stripe", 2000, "USD"), leg("sales", -2000, "USD"),
			leg("refunds", 500, "USD"), leg("clearing:stripe", -500, "USD")}, 2000, 500, true},
		{"one leg", []ledger.Entry{leg("sales", -2000, "USD")}, 2000, 0, false},
		{"legs in two currencies", []ledger.Entry{leg("clearing:a", 100, "USD"), leg("sales", -100, "EUR")}, 100, 0, false},
		{"two balanced currencies", []ledger.Entry{leg("clearing:a", 100, "USD"), leg("sales", -100, "USD"),
			leg("clearing:b", 9, "JPY"), leg("sales", -9, "JPY")}, 109, 0, true},
		{"clearing only", []ledger.Entry{leg("clearing:a", 100, "USD"), leg("clearing:b", -100, "USD")}, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			paid, refunded := ledger.Totals(tc.entries)
			if paid != tc.paid || refunded != tc.refunded {
				t.Errorf("Totals = %d, %d; want %d, %d", paid, refunded, tc.paid, tc.refunded)
			}
			if got := ledger.Balanced(tc.entries); got != tc.balanced {
				t.Errorf("Balanced = %v, want %v", got, tc.balanced)
			}
		})
	}
}

func TestCanTransition(t *testing.T) {
	all := []ledger.Status{ledger.StatusCreated, ledger.StatusPaid, ledger.StatusShipped, ledger.StatusReceived,
		ledger.StatusClosed, ledger.StatusRefunded}
	allowed := map[[2]ledger.Status]bool{
		{ledger.StatusCreated, ledger.StatusPaid}:      true,
		{ledger.StatusCreated, ledger.StatusClosed}:    true,
		{ledger.StatusPaid, ledger.StatusShipped}:      true,
		{ledger.StatusPaid, ledger.StatusRefunded}:     true,
		{ledger.StatusShipped, ledger.StatusReceived}:  true,
		{ledger.StatusShipped, ledger.StatusRefunded}:  true,
		{ledger.StatusReceived, ledger.StatusRefunded}: true,
	}
	for _, from := range append(all, "bogus") {
		for _, to := range append(all, "bogus") {
			if got, want := ledger.CanTransition(from, to), allowed[[2]ledger.Status{from, to}]; got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
}

func TestKindValid(t *testing.T) {
	for _, k := range []ledger.Kind{ledger.KindPaymentSucceeded, ledger.KindPaymentFailed, ledger.KindPaymentPending,
		ledger.KindPaymentClosed, ledger.KindRefundSucceeded, ledger.KindRefundFailed} {
		if !k.Valid() {
			t.Errorf("%q not valid", k)
		}
	}
	for _, k := range []ledger.Kind{"", "payment", "PAYMENT.SUCCEEDED", "refund.pending"} {
		if k.Valid() {
			t.Errorf("%q valid", k)
		}
	}
}
