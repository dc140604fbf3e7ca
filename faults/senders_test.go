//go:build faults

package faults_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gateway/ledger"
	"gateway/providers/standardwebhooks"
	"gateway/providers/stripe"
)

// A sender simulates one provider: its configuration section, how it signs
// a delivery, the acknowledgement it waits for, and the events it sends
// about an order. Adding a provider to the harness is one more entry in
// senders(); the scenarios and the checks are shared.
type sender struct {
	name   string
	config string // the YAML of providers.<name>, indented by four spaces
	// ackStatus and ack are the acknowledgement of a delivery taken: the
	// status and the exact body.
	ackStatus int
	ack       string
	// currencies are the ones its orders are in (nil: USD, EUR, JPY, GBP).
	currencies []string
	// secrets are searched for in the gateway's logs.
	secrets []string
	sign    func(ev *event, at time.Time) http.Header
	// batch, when set, makes one delivery of several events (an Adyen
	// batch); a step of several events is then sent as one batch half of
	// the time.
	batch func(evs []*event) *event

	// payment is required; every other builder may be nil, and the
	// scenarios that need it then play a plain payment instead.
	payment func(o order) *event
	// samePayment is another event of the payment's business fact (its
	// dedup key is the payment's); nil when the provider has none.
	samePayment func(o order) *event
	// refund is the n-th refund of amount; total is the refunded total
	// after it, for providers that report cumulative totals.
	refund      func(o order, n int, amount, total int64) *event
	unsupported func(o order) *event
	// conflicting carries the payment's dedup key with different facts.
	conflicting func(o order) *event
}

// order is one merchant order of the workload.
type order struct {
	i        int
	no       string
	amount   int64
	currency string
}

// event is one business event as a provider sends it: the same bytes on
// every retry, signed again at each attempt.
type event struct {
	sender *sender
	id     string // the provider's event or message id
	body   []byte
	// key is the (provider, key) the gateway must record it under; a
	// conflicting event is recorded as key#conflict:….
	key      string
	conflict bool
	want     string // the receipt status it must end in
	// items are the events a batch delivery carries (nil: the delivery is
	// one event, itself).
	items []*event
}

// facts are the business events a delivery carries.
func (e *event) facts() []*event {
	if e.items != nil {
		return e.items
	}
	return []*event{e}
}

const (
	faultStripeSecret = "whsec_fault_harness_stripe_secret"
	faultAcmeSecret   = "whsec_ZmF1bHQtaGFybmVzcy1hY21lLWtleS0wMTIzNDU2Nzg5"
	faultAPIToken     = "harness:fault-harness-api-token-0123456789"
)

func senders() []*sender {
	return []*sender{stripeSender(), acmeSender(), wechatpaySender(), alipaySender(), adyenSender(), paypalSender()}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// stripeSender is Stripe: PaymentIntent and Charge events signed with
// Stripe-Signature; refunds as charge.refunded with the cumulative total.
func stripeSender() *sender {
	s := &sender{name: "stripe", ackStatus: http.StatusOK, ack: `{"received":true}`, secrets: []string{faultStripeSecret},
		config: "    webhook_secrets: [\"" + faultStripeSecret + "\"]\n"}
	s.sign = func(ev *event, at time.Time) http.Header {
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("Stripe-Signature", stripe.Sign(faultStripeSecret, at, ev.body))
		return h
	}
	ev := func(id, typ string, obj map[string]any, key, want string) *event {
		body := mustJSON(map[string]any{"id": id, "object": "event", "type": typ, "api_version": "2025-09-30.clover",
			"created": time.Now().Unix(), "livemode": false, "data": map[string]any{"object": obj}})
		return &event{sender: s, id: id, body: body, key: key, want: want}
	}
	pi := func(o order, amount int64) map[string]any {
		return map[string]any{"id": fmt.Sprintf("pi_%d", o.i), "object": "payment_intent", "amount": amount,
			"amount_received": amount, "currency": strings.ToLower(o.currency), "status": "succeeded",
			"metadata": map[string]string{"order_no": o.no}}
	}
	charge := func(o order, refunded int64) map[string]any {
		return map[string]any{"id": fmt.Sprintf("ch_%d", o.i), "object": "charge", "amount": o.amount,
			"amount_captured": o.amount, "captured": true, "amount_refunded": refunded, "refunded": refunded == o.amount,
			"currency": strings.ToLower(o.currency), "payment_intent": fmt.Sprintf("pi_%d", o.i), "status": "succeeded",
			"metadata": map[string]string{"order_no": o.no}}
	}
	payKey := func(o order) string { return fmt.Sprintf("pi_%d:payment.succeeded", o.i) }
	s.payment = func(o order) *event {
		return ev(fmt.Sprintf("evt_%d_pi", o.i), "payment_intent.succeeded", pi(o, o.amount), payKey(o), "applied")
	}
	s.samePayment = func(o order) *event {
		return ev(fmt.Sprintf("evt_%d_ch", o.i), "charge.succeeded", charge(o, 0), payKey(o), "applied")
	}
	s.refund = func(o order, n int, _, total int64) *event {
		return ev(fmt.Sprintf("evt_%d_rf%d", o.i, n), "charge.refunded", charge(o, total),
			fmt.Sprintf("ch_%d:refund.succeeded:%d", o.i, total), "applied")
	}
	s.unsupported = func(o order) *event {
		id := fmt.Sprintf("evt_%d_cus", o.i)
		return ev(id, "customer.updated", map[string]any{"id": fmt.Sprintf("cus_%d", o.i), "object": "customer"},
			id+":unsupported", "rejected")
	}
	s.conflicting = func(o order) *event {
		e := ev(fmt.Sprintf("evt_%d_pi_other", o.i), "payment_intent.succeeded", pi(o, o.amount+1), payKey(o), "conflict")
		e.conflict = true
		return e
	}
	return s
}

// acmeSender is a Standard Webhooks sender wired from configuration; its
// amounts are minor units or decimal strings, by turns.
func acmeSender() *sender {
	s := &sender{name: "acme", ackStatus: http.StatusOK, ack: `{"received":true}`,
		secrets: []string{faultAcmeSecret, strings.TrimPrefix(faultAcmeSecret, "whsec_")},
		config: "    type: standardwebhooks\n    secrets: [\"" + faultAcmeSecret + "\"]\n" +
			"    fields: {txn_id: data.id, event_type: type, order_no: data.order_no, amount: data.amount, currency: data.currency}\n"}
	s.sign = func(ev *event, at time.Time) http.Header {
		sig, err := standardwebhooks.Sign(faultAcmeSecret, ev.id, at, ev.body)
		if err != nil {
			panic(err)
		}
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		h.Set("Webhook-Id", ev.id)
		h.Set("Webhook-Timestamp", strconv.FormatInt(at.Unix(), 10))
		h.Set("Webhook-Signature", sig)
		return h
	}
	amount := func(o order, a int64) any {
		if o.i%2 == 0 {
			return ledger.FormatDecimal(a, o.currency)
		}
		return a
	}
	ev := func(id, typ, ref string, o order, a int64, key, want string) *event {
		body := mustJSON(map[string]any{"type": typ, "timestamp": time.Now().UTC().Format(time.RFC3339),
			"data": map[string]any{"id": ref, "order_no": o.no, "amount": amount(o, a), "currency": o.currency}})
		return &event{sender: s, id: id, body: body, key: key, want: want}
	}
	s.payment = func(o order) *event {
		ref := fmt.Sprintf("acp_%d", o.i)
		return ev("msg_"+ref, "payment.succeeded", ref, o, o.amount, ref+":payment.succeeded", "applied")
	}
	s.refund = func(o order, n int, a, _ int64) *event {
		ref := fmt.Sprintf("acr_%d_%d", o.i, n)
		return ev("msg_"+ref, "refund.succeeded", ref, o, a, ref+":refund.succeeded", "applied")
	}
	s.unsupported = func(o order) *event {
		id := fmt.Sprintf("msg_acu_%d", o.i)
		return ev(id, "customer.updated", fmt.Sprintf("cus_%d", o.i), o, 0, id+":unsupported", "rejected")
	}
	s.conflicting = func(o order) *event {
		ref := fmt.Sprintf("acp_%d", o.i)
		e := ev("msg_"+ref+"_other", "payment.succeeded", ref, o, o.amount+1, ref+":payment.succeeded", "conflict")
		e.conflict = true
		return e
	}
	return s
}
