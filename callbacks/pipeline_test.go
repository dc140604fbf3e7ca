package callbacks_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/store"
	"gateway/store/storetest"
)

// TestConcurrentDuplicates: 50 concurrent deliveries of one event are all
// acknowledged and post exactly once (P2).
func TestConcurrentDuplicates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		h.createOrder("O-50", 2000, "USD")
		body := h.stripeEvent("payment_intent.succeeded", paymentIntent("pi_50", "O-50", 2000, "usd"))
		const n = 50
		acks := make([]callbacks.Ack, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				acks[i], _, errs[i] = h.deliverStripe(body)
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil || acks[i].Status != http.StatusOK {
				t.Fatalf("delivery %d: ack %d %s, err %v", i, acks[i].Status, acks[i].Body, errs[i])
			}
			if string(acks[i].Body) != `{"received":true}` {
				t.Fatalf("delivery %d: ack body %q", i, acks[i].Body)
			}
		}
		if got := h.txs.n.Load(); got != 1 {
			t.Errorf("%d write transactions for %d copies of one event, want 1: copies wait for the first", got, n)
		}
		o, entries := h.order("O-50")
		if o.Status != ledger.StatusPaid || o.PaidAmount != 2000 || o.Version != 2 {
			t.Fatalf("order = %+v, want paid 2000 at version 2", o)
		}
		if len(entries) != 2 || !ledger.Balanced(entries) {
			t.Fatalf("ledger = %+v, want one balanced posting", entries)
		}
		if err := h.svc.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		r := h.receipt("stripe", "pi_50:payment.succeeded")
		if r.Status != callbacks.StatusApplied || r.Deliveries != n {
			t.Fatalf("receipt status %s deliveries %d, want applied %d", r.Status, r.Deliveries, n)
		}
	})
}

// TestOneBusinessFactTwoEvents: payment_intent.succeeded and charge.succeeded
// mean one payment; racing or in sequence, money moves once.
func TestOneBusinessFactTwoEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		h.createOrder("O-2E", 1500, "EUR")
		events := [][]byte{
			h.stripeEvent("payment_intent.succeeded", paymentIntent("pi_2e", "O-2E", 1500, "eur")),
			h.stripeEvent("charge.succeeded", charge("ch_2e", "pi_2e", "O-2E", 1500, 0, "eur")),
		}
		var wg sync.WaitGroup
		errs := make([]error, 20)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var ack callbacks.Ack
				ack, _, errs[i] = h.deliverStripe(events[i%2])
				if errs[i] == nil && ack.Status != http.StatusOK {
					errs[i] = fmt.Errorf("ack %d", ack.Status)
				}
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("delivery %d: %v", i, err)
			}
		}
		o, entries := h.order("O-2E")
		if o.Status != ledger.StatusPaid || len(entries) != 2 {
			t.Fatalf("order %+v with %d legs, want paid with one posting", o, len(entries))
		}
		if c := h.counts(); c["callback_receipts"] != 1 {
			t.Fatalf("receipts = %d, want 1 (one business event)", c["callback_receipts"])
		}
	})
}

// TestRefusedWritesNothing: a bad signature or timestamp is a 4xx and no
// row is written in any table (P3).
func TestRefusedWritesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		h.createOrder("O-BAD", 1000, "USD")
		body := h.stripeEvent("payment_intent.succeeded", paymentIntent("pi_bad", "O-BAD", 1000, "usd"))
		tampered := func() callbacks.Inbound {
			in := stripeDelivery(body, stripeSecret, h.now)
			in.Body = []byte(strings.Replace(string(body), `"amount":1000`, `"amount":1`, 1))
			return in
		}
		noSig := stripeDelivery(body, stripeSecret, h.now)
		noSig.Header.Del("Stripe-Signature")
		cases := []struct {
			name string
			in   callbacks.Inbound
		}{
			{"tampered body", tampered()},
			{"wrong secret", stripeDelivery(body, "whsec_someone_else", h.now)},
			{"stale timestamp", stripeDelivery(body, stripeSecret, h.now.Add(-6*time.Minute))},
			{"future timestamp", stripeDelivery(body, stripeSecret, h.now.Add(6*time.Minute))},
			{"missing signature", noSig},
			{"acme wrong secret", func() callbacks.Inbound {
				in := h.acmeDelivery("msg_1", "payment.succeeded", "tx_1", "O-BAD", 1000, "USD")
				in.Header.Set("Webhook-Signature", "v1,"+strings.Repeat("A", 43)+"=")
				return in
			}()},
		}
		before := h.counts()
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ack, outs, err := h.deliver(tc.in)
				if ack.Status != http.StatusUnauthorized || err == nil || len(outs) != 0 {
					t.Fatalf("ack %d %s, err %v, outcomes %d; want 401 and an error", ack.Status, ack.Body, err, len(outs))
				}
				if diff := cmp.Diff(before, h.counts()); diff != "" {
					t.Fatalf("rows written (-before +after):\n%s", diff)
				}
			})
		}
		if o, _ := h.order("O-BAD"); o.Version != 1 || o.Status != ledger.StatusCreated {
			t.Fatalf("order changed: %+v", o)
		}
	})
}

// TestRejectedAndConflict: amount or currency mismatch is acknowledged and
// rejected; the same key with different facts is a conflict (P6).
func TestRejectedAndConflict(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		h.createOrder("O-AMT", 1000, "USD")
		h.createOrder("O-CUR", 1000, "USD")
		h.createOrder("O-CON", 1000, "USD")
		for _, tc := range []struct{ order, pi, currency string }{
			{"O-AMT", "pi_amt", "usd"}, {"O-CUR", "pi_cur", "eur"},
		} {
			amount := int64(1000)
			if tc.order == "O-AMT" {
				amount = 999
			}
			ack, outs, err := h.deliverStripe(h.stripeEvent("payment_intent.succeeded", paymentIntent(tc.pi, tc.order, amount, tc.currency)))
			if err != nil || ack.Status != http.StatusOK {
				t.Fatalf("%s: ack %d err %v", tc.order, ack.Status, err)
			}
			if r := outs[0].Receipt; r.Status != callbacks.StatusRejected || !strings.Contains(r.Reason, "mismatch") {
				t.Fatalf("%s: receipt %s %q, want rejected mismatch", tc.order, r.Status, r.Reason)
			}
			if o, entries := h.order(tc.order); o.Status != ledger.StatusCreated || o.Version != 1 || len(entries) != 0 {
				t.Fatalf("%s: order touched: %+v %v", tc.order, o, entries)
			}
		}

		// The same key with different facts.
		if _, _, err := h.deliverStripe(h.stripeEvent("payment_intent.succeeded", paymentIntent("pi_con", "O-CON", 1000, "usd"))); err != nil {
			t.Fatal(err)
		}
		ack, outs, err := h.deliverStripe(h.stripeEvent("payment_intent.succeeded", paymentIntent("pi_con", "O-CON", 5000, "usd")))
		if err != nil || ack.Status != http.StatusOK {
			t.Fatalf("conflict delivery: ack %d err %v", ack.Status, err)
		}
		c := outs[0].Receipt
		if c.Status != callbacks.StatusConflict || c.ConflictOf == nil || c.Money.Amount != 5000 {
			t.Fatalf("conflict receipt = %+v", c)
		}
		// Its evidence survives and a repeat of it is a duplicate of the conflict.
		_, outs, err = h.deliverStripe(h.stripeEvent("payment_intent.succeeded", paymentIntent("pi_con", "O-CON", 5000, "usd")))
		if err != nil || !outs[0].Duplicate || outs[0].Receipt.ID != c.ID {
			t.Fatalf("repeat conflict: %+v err %v", outs, err)
		}
		o, entries := h.order("O-CON")
		if o.PaidAmount != 1000 || len(entries) != 2 {
			t.Fatalf("conflict applied something: %+v %v", o, entries)
		}
	})
}

// TestRacingEventsOneOrder: different events for one order racing each
// other are all applied, one after another, through version retries (P4).
func TestRacingEventsOneOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		h.createOrder("O-RACE", 10000, "USD")
		if _, _, err := h.deliver(h.acmeDelivery("msg_pay", "payment.succeeded", "pay_1", "O-RACE", 10000, "USD")); err != nil {
			t.Fatal(err)
		}
		const n = 10
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				in := h.acmeDelivery(fmt.Sprintf("msg_r%d", i), "refund.succeeded", fmt.Sprintf("re_%d", i), "O-RACE", 300, "USD")
				var outs []callbacks.Outcome
				_, outs, errs[i] = h.deliver(in)
				if errs[i] == nil && outs[0].Receipt.Status != callbacks.StatusApplied {
					errs[i] = fmt.Errorf("refund %d: %s %s", i, outs[0].Receipt.Status, outs[0].Receipt.Reason)
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		o, entries := h.order("O-RACE")
		if o.RefundedAmount != n*300 || o.Version != 2+n || o.Status != ledger.StatusPaid {
			t.Fatalf("order = %+v, want refunded %d at version %d", o, n*300, 2+n)
		}
		paid, refunded := ledger.Totals(entries)
		if len(entries) != 2*(n+1) || !ledger.Balanced(entries) || paid != o.PaidAmount || refunded != o.RefundedAmount {
			t.Fatalf("ledger %d legs, paid %d refunded %d; order %+v", len(entries), paid, refunded, o)
		}
	})
}

// TestUnknownAndUnsupported: an order not yet known and a refund before its
// payment are parked as unknown; an unsupported event is acknowledged.
func TestUnknownAndUnsupported(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		cases := []struct {
			name       string
			in         callbacks.Inbound
			status     callbacks.Status
			nextCheck  bool
			reasonPart string
		}{
			{"order not found", stripeDelivery(h.stripeEvent("payment_intent.succeeded", paymentIntent("pi_nf", "O-NONE", 100, "usd")), stripeSecret, h.now),
				callbacks.StatusUnknown, true, "not found"},
			{"refund before payment", func() callbacks.Inbound {
				h.createOrder("O-EARLY", 500, "USD")
				return h.acmeDelivery("msg_e", "refund.succeeded", "re_early", "O-EARLY", 100, "USD")
			}(), callbacks.StatusUnknown, true, "before payment"},
			{"unsupported type", stripeDelivery(h.stripeEvent("customer.created", map[string]any{"id": "cus_1"}), stripeSecret, h.now),
				callbacks.StatusRejected, false, "unsupported"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ack, outs, err := h.deliver(tc.in)
				if err != nil || ack.Status != http.StatusOK {
					t.Fatalf("ack %d err %v", ack.Status, err)
				}
				r := outs[0].Receipt
				if r.Status != tc.status || !strings.Contains(r.Reason, tc.reasonPart) || (r.NextCheckAt != nil) != tc.nextCheck {
					t.Fatalf("receipt %s %q next %v", r.Status, r.Reason, r.NextCheckAt)
				}
				if tc.nextCheck && !r.NextCheckAt.After(h.now) {
					t.Fatalf("next check %v not after now %v", r.NextCheckAt, h.now)
				}
			})
		}
		if c := h.counts(); c["ledger_entries"] != 0 {
			t.Fatalf("ledger entries = %d, want 0", c["ledger_entries"])
		}
	})
}

// TestCumulativeRefunds: Stripe's charge.refunded carries the total to date;
// totals arriving out of order post each cent once.
func TestCumulativeRefunds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		h.createOrder("O-CR", 3000, "USD")
		if _, _, err := h.deliverStripe(h.stripeEvent("payment_intent.succeeded", paymentIntent("pi_cr", "O-CR", 3000, "usd"))); err != nil {
			t.Fatal(err)
		}
		for _, total := range []int64{2000, 1000, 2000, 3000} {
			if _, _, err := h.deliverStripe(h.stripeEvent("charge.refunded", charge("ch_cr", "pi_cr", "O-CR", 3000, total, "usd"))); err != nil {
				t.Fatal(err)
			}
		}
		o, entries := h.order("O-CR")
		_, refunded := ledger.Totals(entries)
		if o.RefundedAmount != 3000 || refunded != 3000 || o.Status != ledger.StatusRefunded {
			t.Fatalf("order %+v, ledger refunded %d; want fully refunded 3000", o, refunded)
		}
	})
}
