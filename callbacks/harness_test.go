package callbacks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v84/webhook"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/standardwebhooks"
	"gateway/providers/stripe"
	"gateway/store"
	"gateway/store/storetest"
)

const (
	stripeSecret = "whsec_test_secret_current"
	stripeOld    = "whsec_test_secret_previous"
	swSecret     = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// harness is a pipeline over a real database with Stripe and a Standard
// Webhooks sender ("acme") configured, and a fixed clock.
// countingStore counts the pipeline's write transactions.
type countingStore struct {
	*store.DB
	n atomic.Int64
}

func (c *countingStore) InTx(ctx context.Context, fn func(callbacks.Tx) error) error {
	c.n.Add(1)
	return c.DB.InTx(ctx, fn)
}

type harness struct {
	txs    *countingStore
	t      testing.TB
	db     *store.DB
	svc    *callbacks.Service
	orders *ledger.Service
	now    time.Time
	seq    atomic.Int64
}

func newHarness(t testing.TB, db *store.DB) *harness {
	t.Helper()
	st, err := stripe.New(stripe.Config{Secrets: []string{stripeSecret, stripeOld}})
	if err != nil {
		t.Fatal(err)
	}
	sw, err := standardwebhooks.New(standardwebhooks.Config{Name: "acme", Secrets: []string{swSecret},
		Fields: standardwebhooks.Fields{TxnID: "data.id", EventType: "type", OrderNo: "data.order_no",
			Amount: "data.amount", Currency: "data.currency"}})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, db: db, now: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h.txs = &countingStore{DB: db}
	h.svc = callbacks.NewService(h.txs, []callbacks.Provider{st, sw}, callbacks.Config{MaxAttempts: 50}, log)
	h.svc.Now = func() time.Time { return h.now }
	h.orders = ledger.NewService(db)
	h.orders.Now = h.svc.Now
	t.Cleanup(func() { h.svc.Close(context.Background()) })
	return h
}

func (h *harness) createOrder(no string, amount int64, currency string) ledger.Order {
	h.t.Helper()
	o, _, err := h.orders.Create(context.Background(), ledger.NewOrder{OrderNo: no, Price: ledger.Money{Amount: amount, Currency: currency}})
	if err != nil {
		h.t.Fatalf("create order %s: %v", no, err)
	}
	return o
}

func (h *harness) order(no string) (ledger.Order, []ledger.Entry) {
	h.t.Helper()
	o, entries, err := h.orders.Get(context.Background(), no)
	if err != nil {
		h.t.Fatalf("get order %s: %v", no, err)
	}
	return o, entries
}

// stripeEvent is a Stripe event of type typ around obj.
func (h *harness) stripeEvent(typ string, obj map[string]any) []byte {
	h.t.Helper()
	b, err := json.Marshal(map[string]any{
		"id":     fmt.Sprintf("evt_%d", h.seq.Add(1)),
		"object": "event", "type": typ, "api_version": "2019-02-19", "livemode": false,
		"data": map[string]any{"object": obj},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

func paymentIntent(id, orderNo string, amount int64, currency string) map[string]any {
	return map[string]any{"id": id, "object": "payment_intent", "amount": amount, "amount_received": amount,
		"currency": currency, "status": "succeeded", "metadata": map[string]string{"order_no": orderNo}}
}

func charge(id, pi, orderNo string, amount, refunded int64, currency string) map[string]any {
	return map[string]any{"id": id, "object": "charge", "amount": amount, "amount_captured": amount, "captured": true,
		"amount_refunded": refunded, "currency": currency, "payment_intent": pi, "status": "succeeded",
		"metadata": map[string]string{"order_no": orderNo}}
}

// stripeDelivery signs body as Stripe does (stripe-go is the oracle) at ts.
func stripeDelivery(body []byte, secret string, ts time.Time) callbacks.Inbound {
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: ts})
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Stripe-Signature", sp.Header)
	return callbacks.Inbound{Provider: "stripe", Header: hdr, Body: body}
}

func (h *harness) deliver(in callbacks.Inbound) (callbacks.Ack, []callbacks.Outcome, error) {
	return h.svc.Handle(context.Background(), in)
}

func (h *harness) deliverStripe(body []byte) (callbacks.Ack, []callbacks.Outcome, error) {
	return h.deliver(stripeDelivery(body, stripeSecret, h.now))
}

// acmeDelivery is a Standard Webhooks delivery from "acme".
func (h *harness) acmeDelivery(id, typ, ref, orderNo string, amount any, currency string) callbacks.Inbound {
	h.t.Helper()
	body, err := json.Marshal(map[string]any{"type": typ, "data": map[string]any{
		"id": ref, "order_no": orderNo, "amount": amount, "currency": currency}})
	if err != nil {
		h.t.Fatal(err)
	}
	sig, err := standardwebhooks.Sign(swSecret, id, h.now, body)
	if err != nil {
		h.t.Fatal(err)
	}
	hdr := http.Header{}
	hdr.Set("Webhook-Id", id)
	hdr.Set("Webhook-Timestamp", strconv.FormatInt(h.now.Unix(), 10))
	hdr.Set("Webhook-Signature", sig)
	return callbacks.Inbound{Provider: "acme", Header: hdr, Body: body}
}

// counts returns the number of rows in every table.
func (h *harness) counts() map[string]int64 {
	h.t.Helper()
	return storetest.Counts(h.t, h.db)
}

// receipts returns every receipt of the provider, by txn id.
func (h *harness) receipt(provider, txnID string) callbacks.Receipt {
	h.t.Helper()
	r, err := h.db.Receipt(context.Background(), provider, txnID)
	if err != nil {
		h.t.Fatalf("receipt %s/%s: %v", provider, txnID, err)
	}
	return r
}
