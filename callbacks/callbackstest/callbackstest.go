// Package callbackstest drives the callback pipeline in tests: a Stripe
// provider with a known secret, correctly signed Stripe events, a settable
// clock, and a service wired to a test database.
package callbackstest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/stripe"
	"gateway/store"
)

// StripeSecret is the webhook secret of the test Stripe provider.
const StripeSecret = "whsec_callbackstest_0123456789abcdef"

// Stripe returns a Stripe provider named "stripe" that trusts StripeSecret.
func Stripe(tb testing.TB) callbacks.Provider {
	tb.Helper()
	p, err := stripe.New(stripe.Config{Name: "stripe", Secrets: []string{StripeSecret}})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t.UTC()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t.UTC()
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Event is a Stripe event to sign.
type Event struct {
	ID       string // evt_…
	Type     string // payment_intent.succeeded, charge.refunded, …
	ObjectID string // pi_… or ch_…
	OrderNo  string
	Amount   int64 // amount and amount_received (amount_refunded for charge.refunded)
	Currency string
}

// Body is the event as Stripe sends it.
func (e Event) Body() []byte {
	obj := map[string]any{"id": e.ObjectID, "amount": e.Amount, "amount_received": e.Amount,
		"currency": strings.ToLower(e.Currency), "status": "succeeded", "metadata": map[string]string{"order_no": e.OrderNo}}
	if e.Type == "charge.refunded" {
		obj["object"], obj["amount_refunded"], obj["captured"] = "charge", e.Amount, true
	}
	b, err := json.Marshal(map[string]any{"id": e.ID, "object": "event", "type": e.Type,
		"api_version": "2025-09-30.clover", "data": map[string]any{"object": obj}})
	if err != nil {
		panic(err)
	}
	return b
}

// Inbound is body signed with StripeSecret at t, as a delivery to "stripe".
func Inbound(body []byte, t time.Time) callbacks.Inbound {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Stripe-Signature", stripe.Sign(StripeSecret, t, body))
	return callbacks.Inbound{Provider: "stripe", Header: h, Body: body}
}

// Env is a pipeline and an order service over a test database, on a clock.
type Env struct {
	DB        *store.DB
	Callbacks *callbacks.Service
	Orders    *ledger.Service
	Clock     *Clock
}

// Start is where an Env's clock starts.
var Start = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

// New returns an Env with the Stripe provider and any others, closed at
// the test's end.
func New(tb testing.TB, db *store.DB, cfg callbacks.Config, others ...callbacks.Provider) *Env {
	tb.Helper()
	clock := NewClock(Start)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := callbacks.NewService(db, append([]callbacks.Provider{Stripe(tb)}, others...), cfg, log)
	svc.Now = clock.Now
	orders := ledger.NewService(db)
	orders.Now = clock.Now
	tb.Cleanup(func() { _ = svc.Close(context.Background()) })
	return &Env{DB: db, Callbacks: svc, Orders: orders, Clock: clock}
}

// Order creates an order.
func (e *Env) Order(tb testing.TB, orderNo string, amount int64, currency string) ledger.Order {
	tb.Helper()
	o, _, err := e.Orders.Create(context.Background(), ledger.NewOrder{OrderNo: orderNo, Price: ledger.Money{Amount: amount, Currency: currency}})
	if err != nil {
		tb.Fatalf("create order %s: %v", orderNo, err)
	}
	return o
}

// Deliver signs ev at the clock's time and runs it through the pipeline;
// the delivery must be acknowledged.
func (e *Env) Deliver(tb testing.TB, ev Event) callbacks.Outcome {
	tb.Helper()
	_, outs, err := e.Callbacks.Handle(context.Background(), Inbound(ev.Body(), e.Clock.Now()))
	if err != nil || len(outs) != 1 {
		tb.Fatalf("deliver %s %s: %d outcomes, %v", ev.Type, ev.ID, len(outs), err)
	}
	return outs[0]
}

// Pay delivers a payment_intent.succeeded for an order.
func (e *Env) Pay(tb testing.TB, orderNo string, amount int64, currency string) callbacks.Outcome {
	tb.Helper()
	return e.Deliver(tb, Event{ID: "evt_pay_" + orderNo, Type: "payment_intent.succeeded", ObjectID: "pi_" + orderNo,
		OrderNo: orderNo, Amount: amount, Currency: currency})
}

// Refund delivers a charge.refunded whose cumulative refunded total is total.
func (e *Env) Refund(tb testing.TB, orderNo string, total int64, currency string) callbacks.Outcome {
	tb.Helper()
	return e.Deliver(tb, Event{ID: fmt.Sprintf("evt_refund_%s_%d", orderNo, total), Type: "charge.refunded",
		ObjectID: "ch_" + orderNo, OrderNo: orderNo, Amount: total, Currency: currency})
}
