package callbacks_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/store"
	"gateway/store/storetest"
)

// TestLearn records status answers as their callbacks would have been
// recorded: under the same key, exactly once, conflicts kept, undecided
// answers not recorded at all.
func TestLearn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		h := newHarness(t, db)
		learn := func(orderNo, ref string, kind ledger.Kind, amount int64) (callbacks.Outcome, error) {
			q := callbacks.StatusQuery{OrderNo: orderNo, Reference: ref, Kind: ledger.KindPaymentSucceeded}
			n := callbacks.Notification{TxnID: callbacks.Key(ref, kind), EventType: "payment_intent.x", Kind: kind,
				OrderNo: orderNo, Reference: ref, Money: ledger.Money{Amount: amount, Currency: "USD"}}
			return h.svc.Learn(ctx, "stripe", q, n)
		}
		h.createOrder("L1", 1000, "USD")

		out, err := learn("L1", "pi_L1", ledger.KindPaymentSucceeded, 1000)
		if err != nil || out.Duplicate {
			t.Fatalf("learn: %+v %v", out, err)
		}
		r := out.Receipt
		if r.Status != callbacks.StatusApplied || r.EventType != "sweep:payment.succeeded" || r.Verified != callbacks.VerifiedQuery ||
			r.Ack.Status != 0 || !strings.Contains(string(r.RawBody), `"query":{"order_no":"L1","reference":"pi_L1"`) {
			t.Errorf("learned receipt: %+v", r)
		}
		if o, legs := h.order("L1"); o.Status != ledger.StatusPaid || len(legs) != 2 {
			t.Errorf("order %s, %d legs", o.Status, len(legs))
		}

		// The same answer again, and the callback itself: duplicates.
		before := h.counts()
		if again, err := learn("L1", "pi_L1", ledger.KindPaymentSucceeded, 1000); err != nil || !again.Duplicate || again.Receipt.ID != r.ID {
			t.Errorf("same answer again: %+v %v", again, err)
		}
		ack, outs, err := h.deliverStripe(h.stripeEvent("payment_intent.succeeded", paymentIntent("pi_L1", "L1", 1000, "usd")))
		if err != nil || ack.Status != 200 || !outs[0].Duplicate || outs[0].Receipt.ID != r.ID {
			t.Errorf("callback after the answer: %d %v %+v", ack.Status, err, outs)
		}
		if diff := cmp.Diff(before, h.counts()); diff != "" {
			t.Errorf("duplicates wrote rows (-before +after):\n%s", diff)
		}

		// Other facts under the same key: a conflict, kept as evidence.
		c, err := learn("L1", "pi_L1", ledger.KindPaymentSucceeded, 999)
		if err != nil || c.Receipt.Status != callbacks.StatusConflict || c.Receipt.ConflictOf == nil || *c.Receipt.ConflictOf != r.ID {
			t.Errorf("conflicting answer: %+v %v", c, err)
		}

		// Undecided answers are not recorded.
		h.createOrder("L3", 500, "USD")
		before = h.counts()
		for name, call := range map[string]func() (callbacks.Outcome, error){
			"order not found": func() (callbacks.Outcome, error) { return learn("L2", "pi_L2", ledger.KindPaymentSucceeded, 500) },
			"pending":         func() (callbacks.Outcome, error) { return learn("L3", "pi_L3", ledger.KindPaymentPending, 500) },
		} {
			if out, err := call(); !errors.Is(err, callbacks.ErrUndecided) {
				t.Errorf("%s: %+v %v, want ErrUndecided", name, out, err)
			}
		}
		if diff := cmp.Diff(before, h.counts()); diff != "" {
			t.Errorf("undecided answers wrote rows (-before +after):\n%s", diff)
		}
		if _, err := h.svc.Learn(ctx, "nope", callbacks.StatusQuery{}, callbacks.Notification{}); !errors.Is(err, callbacks.ErrUnknownProvider) {
			t.Errorf("unknown provider: %v", err)
		}
		if _, err := learn("", "pi_L9", ledger.KindPaymentSucceeded, 1); !errors.Is(err, callbacks.ErrMalformed) {
			t.Errorf("answer without an order: %v", err)
		}

		// A rejected answer cannot be replayed: there are no signed bytes.
		h.createOrder("L4", 700, "USD")
		rej, err := learn("L4", "pi_L4", ledger.KindPaymentSucceeded, 701)
		if err != nil || rej.Receipt.Status != callbacks.StatusRejected {
			t.Fatalf("mismatched answer: %+v %v", rej, err)
		}
		if _, err := h.svc.Redrive(ctx, rej.Receipt.ID, false); !errors.Is(err, callbacks.ErrNotReplayable) || !strings.Contains(err.Error(), "status API") {
			t.Errorf("replay of an answer: %v", err)
		}
		if res, err := h.svc.Redrive(ctx, r.ID, false); err != nil || res.Action != callbacks.ActionNoop {
			t.Errorf("replay of an applied answer: %+v %v", res, err)
		}
	})
}

// TestRedriveSupersedesPending: a "pending" receipt whose order is still
// open is answered by the final event of the same transaction.
func TestRedriveSupersedesPending(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		h := newHarness(t, db)
		h.createOrder("P1", 300, "USD")
		_, outs, err := h.deliver(h.acmeDelivery("msg_1", "payment.pending", "tx_p1", "P1", 300, "USD"))
		if err != nil || outs[0].Receipt.Status != callbacks.StatusUnknown {
			t.Fatalf("pending: %+v %v", outs, err)
		}
		pending := outs[0].Receipt.ID
		if res, err := h.svc.Redrive(ctx, pending, false); err != nil || res.Receipt.Status != callbacks.StatusUnknown {
			t.Fatalf("re-drive without an answer: %+v %v", res, err)
		}
		_, outs, err = h.deliver(h.acmeDelivery("msg_2", "payment.failed", "tx_p1", "P1", 300, "USD"))
		if err != nil || outs[0].Receipt.Status != callbacks.StatusApplied {
			t.Fatalf("failed: %+v %v", outs, err)
		}
		res, err := h.svc.Redrive(ctx, pending, false)
		if err != nil || res.Receipt.Status != callbacks.StatusApplied || res.Receipt.NextCheckAt != nil ||
			!strings.HasPrefix(res.Receipt.Reason, "superseded: the provider's final event for tx_p1 is payment.failed") {
			t.Errorf("re-drive after the final event: %+v %v", res.Receipt, err)
		}
		if o, legs := h.order("P1"); o.Status != ledger.StatusCreated || len(legs) != 0 {
			t.Errorf("order %s with %d legs; a failed payment moves nothing", o.Status, len(legs))
		}
	})
}
