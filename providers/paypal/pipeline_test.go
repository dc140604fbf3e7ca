package paypal_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/paypal"
	"gateway/providers/providertest"
	"gateway/store"
	"gateway/store/storetest"
)

const received = `{"received":true}`

func harness(t *testing.T, db *store.DB) *providertest.Harness {
	t.Helper()
	return providertest.New(t, db, newProvider(t, paypal.Config{}), now)
}

func TestRefusedDeliveryWritesNothing(t *testing.T) {
	current, _, stranger, _ := pki(t)
	body := completed()
	good := current.sent(t, "t-1", now, body)
	const badSig = `{"error":{"code":"bad_signature","message":"signature verification failed: `
	tests := []struct {
		name   string
		header http.Header
		body   []byte
	}{
		{"tampered body", good, []byte(strings.Replace(string(body), `"O-1"`, `"O-2"`, 1))},
		{"wrong key", stranger.sent(t, "t-2", now, body), body},
		{"missing signature", with(good, "PAYPAL-TRANSMISSION-SIG", ""), body},
		{"out of window", current.sent(t, "t-3", now.Add(-10*time.Minute), body), body},
		{"no headers at all", nil, body},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := harness(t, db)
		h.CreateOrder(t, "O-1", 1099, "USD")
		h.CreateOrder(t, "O-2", 1099, "USD")
		before := providertest.RowCounts(t, db)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ack, outs, err := h.Deliver(tc.header, tc.body)
				if ack.Status != 401 || !strings.HasPrefix(string(ack.Body), badSig) || callbacks.Code(err) != "bad_signature" || len(outs) != 0 {
					t.Fatalf("ack %d %s (%v), %d outcomes; want 401 bad_signature and none", ack.Status, ack.Body, err, len(outs))
				}
				if diff := cmp.Diff(before, providertest.RowCounts(t, db)); diff != "" {
					t.Errorf("rows changed (-before +after):\n%s", diff)
				}
			})
		}
	})
}

func TestPipeline(t *testing.T) {
	current, next, _, _ := pki(t)
	pay := completed()
	refund1 := event("WH-R1", "PAYMENT.CAPTURE.REFUNDED", "refund", refund("R-1", "42311647XV020574X", "1.00", "USD", "O-1"))
	refund2 := event("WH-R2", "PAYMENT.CAPTURE.REFUNDED", "refund", refund("R-2", "42311647XV020574X", "9.99", "USD", "O-1"))
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := harness(t, db)
		h.CreateOrder(t, "O-1", 1099, "USD")

		outs := h.DeliverAck(t, current.sent(t, "t-1", now, pay), pay, 200, received)
		if len(outs) != 1 || outs[0].Receipt.Status != callbacks.StatusApplied {
			t.Fatalf("payment: %+v", outs)
		}
		o, entries := h.Order(t, "O-1")
		if o.Status != ledger.StatusPaid || o.PaidAmount != 1099 || len(entries) != 2 {
			t.Fatalf("after payment: %s paid %d, %d entries", o.Status, o.PaidAmount, len(entries))
		}
		// PayPal's retries are new transmissions of the same event.
		for i, s := range []struct {
			id string
			at time.Time
		}{{"t-2", now.Add(time.Minute)}, {"t-3", now.Add(2 * time.Minute)}} {
			signer := current
			if i == 1 {
				signer = next
			}
			outs := h.DeliverAck(t, signer.sent(t, s.id, s.at, pay), pay, 200, received)
			if len(outs) != 1 || !outs[0].Duplicate {
				t.Fatalf("retry %s not a duplicate: %+v", s.id, outs)
			}
		}
		if _, entries := h.Order(t, "O-1"); len(entries) != 2 {
			t.Fatalf("%d entries after retries, want one posting", len(entries))
		}

		h.DeliverAck(t, current.sent(t, "t-4", now, refund1), refund1, 200, received)
		h.DeliverAck(t, current.sent(t, "t-5", now, refund1), refund1, 200, received)
		if o, _ := h.Order(t, "O-1"); o.Status != ledger.StatusPaid || o.RefundedAmount != 100 {
			t.Fatalf("after a partial refund: %s refunded %d", o.Status, o.RefundedAmount)
		}
		h.DeliverAck(t, current.sent(t, "t-6", now, refund2), refund2, 200, received)
		o, entries = h.Order(t, "O-1")
		if o.Status != ledger.StatusRefunded || o.RefundedAmount != 1099 || len(entries) != 6 {
			t.Fatalf("after the last refund: %s refunded %d, %d entries", o.Status, o.RefundedAmount, len(entries))
		}
		if r := h.Receipt(t, "R-2:refund.succeeded"); r.EventID != "WH-R2" || r.Money.Amount != 999 {
			t.Errorf("refund receipt %+v", r)
		}
	})
}

// A pending capture is parked as unknown (P7); the completion applies.
func TestPipelinePendingThenCompleted(t *testing.T) {
	current, _, _, _ := pki(t)
	pending := event("WH-P", "PAYMENT.CAPTURE.PENDING", "capture", capture("CAP-P", "PENDING", "25.00", "EUR", "O-P", ""))
	done := event("WH-C", "PAYMENT.CAPTURE.COMPLETED", "capture", capture("CAP-P", "COMPLETED", "25.00", "EUR", "O-P", ""))
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := harness(t, db)
		h.CreateOrder(t, "O-P", 2500, "EUR")
		outs := h.DeliverAck(t, current.sent(t, "t-1", now, pending), pending, 200, received)
		if len(outs) != 1 || outs[0].Receipt.Status != callbacks.StatusUnknown {
			t.Fatalf("pending: %+v", outs)
		}
		h.DeliverAck(t, current.sent(t, "t-2", now, done), done, 200, received)
		if o, entries := h.Order(t, "O-P"); o.Status != ledger.StatusPaid || len(entries) != 2 {
			t.Fatalf("after completion: %s with %d entries", o.Status, len(entries))
		}
	})
}
