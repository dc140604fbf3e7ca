package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/providers/standardwebhooks"
	"gateway/providers/stripe"
	"gateway/store"
	"gateway/store/storetest"
)

// The bad-input catalogue: every case is one line of the table in
// TestBadInputCatalogue, sent to the whole program (run) over HTTP. Each
// gets a clear 4xx (or the provider's own refusal), writes nothing — except
// the documented cases that DESIGN says are acknowledged and recorded (an
// unknown event type is a rejected receipt; a signed event for an order
// that does not exist is parked as unknown) — and the gateway stays healthy.
//
// A new provider adds a signer (like stripeAt or acmeAt), a request builder
// (like stripeCB or acmeCB) and its cases, one line each.

const (
	catStripe    = "whsec_catalogue_stripe_secret"
	catStripeOld = "whsec_catalogue_stripe_previous"
	catAcme      = "whsec_Y2F0YWxvZ3VlLWFjbWUta2V5LTAxMjM0NTY3ODk="
	catAPI       = "shop:catalogue-api-token-0123456789"
	catAdmin     = "ops:catalogue-admin-token-0123456789"
	catMaxBody   = 65536
)

const catConfig = `
http:
  max_body_bytes: 65536
  trusted_proxies: ["127.0.0.1/32", "::1/128"]
providers:
  stripe:
    webhook_secrets: ["` + catStripe + `", "` + catStripeOld + `"]
  acme:
    type: standardwebhooks
    secrets: ["` + catAcme + `"]
    fields: {txn_id: data.id, event_type: type, order_no: data.order_no, amount: data.amount, currency: data.currency}
  locked:
    type: stripe
    webhook_secrets: ["` + catStripe + `"]
    allow_ips: ["203.0.113.0/24"]
`

// request is one HTTP request of the catalogue, built when it is sent so
// that signatures carry the current time.
type request struct {
	method, path string
	header       http.Header
	body         []byte
}

type badInput struct {
	name string
	req  func() request
	want int
	// code is the error code of the JSON error body; "body:TEXT" for a
	// provider whose refusal is not a JSON error (TEXT must appear in the
	// body); "" when the answer is not the gateway's (net/http's 431) or
	// is a success.
	code string
	// receipt, when set, is the documented case: acknowledged and recorded
	// as exactly one receipt of this status, nothing else written.
	receipt callbacks.Status
}

// signer returns the signature headers of a provider for a body.
type signer func(body []byte) http.Header

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// stripeAt signs as Stripe does, with secret, at now+offset.
func stripeAt(secret string, offset time.Duration) signer {
	return func(body []byte) http.Header {
		return hdr("Stripe-Signature", stripe.Sign(secret, time.Now().Add(offset), body))
	}
}

// stripeFor signs another body: a valid signature, for different bytes.
func stripeFor(other []byte) signer {
	return func([]byte) http.Header { return stripeAt(catStripe, 0)(other) }
}

// stripeRaw sends the Stripe-Signature header as given ("" = none).
func stripeRaw(v string) signer {
	return func([]byte) http.Header {
		if v == "" {
			return http.Header{}
		}
		return hdr("Stripe-Signature", v)
	}
}

// acmeAt signs as a Standard Webhooks sender does.
func acmeAt(secret string, offset time.Duration) signer {
	return func(body []byte) http.Header {
		id, ts := fmt.Sprintf("msg_cat_%d", time.Now().UnixNano()), time.Now().Add(offset)
		sig, err := standardwebhooks.Sign(secret, id, ts, body)
		if err != nil {
			panic(err)
		}
		return hdr("Webhook-Id", id, "Webhook-Timestamp", strconv.FormatInt(ts.Unix(), 10), "Webhook-Signature", sig)
	}
}

func acmeFor(other []byte) signer {
	return func([]byte) http.Header { return acmeAt(catAcme, 0)(other) }
}

// fixedHeaders sends the headers as given, whatever the body.
func fixedHeaders(kv ...string) signer { return func([]byte) http.Header { return hdr(kv...) } }

// svix sends the Svix spelling of the headers with a forged signature.
func svix(body []byte) http.Header {
	h := acmeAt(catAcme, 0)(body)
	return hdr("Svix-Id", h.Get("Webhook-Id"), "Svix-Timestamp", h.Get("Webhook-Timestamp"), "Svix-Signature", "v1,Zm9yZ2VkIHNpZ25hdHVyZQ==")
}

// callback is a POST to /callbacks/{provider} with a JSON content type.
func callback(provider string, body []byte, sign signer, extra ...string) func() request {
	return func() request {
		h := sign(body)
		h.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(extra); i += 2 {
			h.Set(extra[i], extra[i+1])
		}
		return request{http.MethodPost, "/callbacks/" + provider, h, body}
	}
}

func stripeCB(body []byte, sign signer, extra ...string) func() request {
	return callback("stripe", body, sign, extra...)
}

func acmeCB(body []byte, sign signer, extra ...string) func() request {
	return callback("acme", body, sign, extra...)
}

// stripeEvent is a Stripe event around a raw JSON object.
func stripeEvent(id, typ, object string) []byte {
	return []byte(`{"id":"` + id + `","object":"event","type":"` + typ + `","api_version":"2025-09-30.clover","data":{"object":` + object + `}}`)
}

// pi is a PaymentIntent; amount is raw JSON so that it can be anything.
func pi(id, orderNo, amount, currency string) string {
	return `{"id":"` + id + `","object":"payment_intent","amount":` + amount + `,"amount_received":` + amount +
		`,"currency":"` + currency + `","status":"succeeded","metadata":{"order_no":"` + orderNo + `"}}`
}

// acmeEvent is a Standard Webhooks payload; amount is raw JSON.
func acmeEvent(typ, id, orderNo, amount, currency string) []byte {
	return []byte(`{"type":"` + typ + `","data":{"id":"` + id + `","order_no":"` + orderNo + `","amount":` + amount + `,"currency":"` + currency + `"}}`)
}

// api is a merchant API request; token "" sends no Authorization header,
// and extra are header name/value pairs.
func api(method, path, token, contentType string, body []byte, extra ...string) func() request {
	return func() request {
		h := hdr(extra...)
		if token != "" {
			h.Set("Authorization", token)
		}
		if contentType != "" {
			h.Set("Content-Type", contentType)
		}
		return request{method, path, h, body}
	}
}

func order(fields string) []byte { return []byte(`{` + fields + `}`) }

const (
	jsonCT = "application/json"
	// catOrder is created before the catalogue runs, at version 1.
	catOrder = "CAT-1"
)

var (
	bearer    = "Bearer " + strings.SplitN(catAPI, ":", 2)[1]
	goodPI    = stripeEvent("evt_cat_good", "payment_intent.succeeded", pi("pi_cat_good", catOrder, "1000", "usd"))
	goodAcme  = acmeEvent("payment.succeeded", "acp_cat_good", catOrder, "1000", "USD")
	long      = strings.Repeat("x", 5000)
	invalid8  = "\xff\xfe\xc3("
	injection = `x' OR '1'='1'; DROP TABLE orders;--`
)

func catalogue() []badInput {
	ship := "/api/orders/" + catOrder + "/ship"
	return append([]badInput{
		// Stripe callbacks.
		{"stripe: empty body unsigned", stripeCB(nil, stripeRaw("")), 401, "bad_signature", ""},
		{"stripe: empty body signed", stripeCB([]byte{}, stripeAt(catStripe, 0)), 400, "malformed", ""},
		{"stripe: oversized body", stripeCB(bytes.Repeat([]byte(" "), catMaxBody+1), stripeAt(catStripe, 0)), 413, "malformed", ""},
		{"stripe: truncated JSON", stripeCB(goodPI[:len(goodPI)/2], stripeAt(catStripe, 0)), 400, "malformed", ""},
		{"stripe: JSON array", stripeCB([]byte(`[`+string(goodPI)+`]`), stripeAt(catStripe, 0)), 400, "malformed", ""},
		{"stripe: form body signed", stripeCB([]byte("id=evt_1&type=payment_intent.succeeded"), stripeAt(catStripe, 0), "Content-Type", "application/x-www-form-urlencoded"), 400, "malformed", ""},
		{"stripe: wrong content type unsigned", stripeCB(goodPI, stripeRaw(""), "Content-Type", "text/plain"), 401, "bad_signature", ""},
		{"stripe: invalid UTF-8", stripeCB(stripeEvent("evt_cat_utf8", "payment_intent.succeeded", pi("pi_cat_utf8", "CAT-"+invalid8, "1000", "usd")), stripeAt(catStripe, 0)), 400, "malformed", ""},
		{"stripe: signature missing", stripeCB(goodPI, stripeRaw("")), 401, "bad_signature", ""},
		{"stripe: signature garbage", stripeCB(goodPI, stripeRaw("garbage")), 401, "bad_signature", ""},
		{"stripe: v1 not hex", stripeCB(goodPI, stripeRaw(fmt.Sprintf("t=%d,v1=zzzz", time.Now().Unix()))), 401, "bad_signature", ""},
		{"stripe: signature for another body", stripeCB(goodPI, stripeFor(append([]byte(nil), goodAcme...))), 401, "bad_signature", ""},
		{"stripe: signature with an unknown secret", stripeCB(goodPI, stripeAt("whsec_not_configured", 0)), 401, "bad_signature", ""},
		{"stripe: timestamp 10 minutes old", stripeCB(goodPI, stripeAt(catStripe, -10*time.Minute)), 401, "bad_signature", ""},
		{"stripe: timestamp 10 minutes ahead", stripeCB(goodPI, stripeAt(catStripe, 10*time.Minute)), 401, "bad_signature", ""},
		{"stripe: timestamp not a number", stripeCB(goodPI, stripeRaw("t=yesterday,v1="+strings.Repeat("ab", 32))), 401, "bad_signature", ""},
		{"stripe: event without id", stripeCB(stripeEvent("", "payment_intent.succeeded", pi("pi_cat_noid", catOrder, "1000", "usd")), stripeAt(catStripe, 0)), 400, "malformed", ""},
		{"stripe: object without id", stripeCB(stripeEvent("evt_cat_noobj", "payment_intent.succeeded", pi("", catOrder, "1000", "usd")), stripeAt(catStripe, 0)), 400, "malformed", ""},
		{"stripe: amount beyond int64", stripeCB(stripeEvent("evt_cat_huge", "payment_intent.succeeded", pi("pi_cat_huge", catOrder, "1e20", "usd")), stripeAt(catStripe, 0)), 400, "malformed", ""},
		{"stripe: amount beyond the limit", stripeCB(stripeEvent("evt_cat_big", "payment_intent.succeeded", pi("pi_cat_big", catOrder, "99999999999999999", "usd")), stripeAt(catStripe, 0)), 400, "malformed", ""},
		{"stripe: negative amount", stripeCB(stripeEvent("evt_cat_neg", "payment_intent.succeeded", pi("pi_cat_neg", catOrder, "-1000", "usd")), stripeAt(catStripe, 0)), 400, "malformed", ""},
		{"stripe: over-precise amount", stripeCB(stripeEvent("evt_cat_frac", "payment_intent.succeeded", pi("pi_cat_frac", catOrder, "10.005", "usd")), stripeAt(catStripe, 0)), 400, "malformed", ""},
		{"stripe: amount as a string", stripeCB(stripeEvent("evt_cat_str", "payment_intent.succeeded", pi("pi_cat_str", catOrder, `"1000"`, "usd")), stripeAt(catStripe, 0)), 400, "malformed", ""},
		{"stripe: unknown currency", stripeCB(stripeEvent("evt_cat_xyz", "payment_intent.succeeded", pi("pi_cat_xyz", catOrder, "1000", "xyz")), stripeAt(catStripe, 0)), 400, "malformed", ""},
		{"stripe: very long PaymentIntent id", stripeCB(stripeEvent("evt_cat_longpi", "payment_intent.succeeded", pi("pi_"+long, catOrder, "1000", "usd")), stripeAt(catStripe, 0)), 400, "malformed", ""},
		{"stripe: very long order number", stripeCB(stripeEvent("evt_cat_longorder", "payment_intent.succeeded", pi("pi_cat_longorder", long[:100], "1000", "usd")), stripeAt(catStripe, 0)), 400, "malformed", ""},
		{"stripe: unknown event type is recorded rejected", stripeCB(stripeEvent("evt_cat_unknown", "customer.created", `{"id":"cus_1","object":"customer"}`), stripeAt(catStripe, 0)), 200, "", callbacks.StatusRejected},
		{"stripe: markup in the event type is recorded rejected", stripeCB(stripeEvent("evt_cat_script", `<script>alert(1)</script>`, `{"id":"x"}`), stripeAt(catStripe, 0)), 200, "", callbacks.StatusRejected},
		{"stripe: uncaptured charge is recorded rejected", stripeCB(stripeEvent("evt_cat_auth", "charge.succeeded", `{"id":"ch_cat_auth","object":"charge","amount":1000,"captured":false,"currency":"usd","metadata":{"order_no":"`+catOrder+`"}}`), stripeAt(catStripe, 0)), 200, "", callbacks.StatusRejected},
		{"stripe: injection in the order number is parked as data", stripeCB(stripeEvent("evt_cat_inject", "payment_intent.succeeded", pi("pi_cat_inject", injection, "1000", "usd")), stripeAt(catStripe, 0)), 200, "", callbacks.StatusUnknown},

		// Standard Webhooks callbacks (acme).
		{"acme: headers missing", acmeCB(goodAcme, fixedHeaders()), 401, "bad_signature", ""},
		{"acme: timestamp not a number", acmeCB(goodAcme, fixedHeaders("Webhook-Id", "msg_1", "Webhook-Timestamp", "soon", "Webhook-Signature", "v1,AAAA")), 401, "bad_signature", ""},
		{"acme: timestamp 10 minutes old", acmeCB(goodAcme, acmeAt(catAcme, -10*time.Minute)), 401, "bad_signature", ""},
		{"acme: timestamp 10 minutes ahead", acmeCB(goodAcme, acmeAt(catAcme, 10*time.Minute)), 401, "bad_signature", ""},
		{"acme: signature for another body", acmeCB(goodAcme, acmeFor(goodPI)), 401, "bad_signature", ""},
		{"acme: signature garbage", acmeCB(goodAcme, fixedHeaders("Webhook-Id", "msg_1", "Webhook-Timestamp", strconv.FormatInt(time.Now().Unix(), 10), "Webhook-Signature", "v1,garbage")), 401, "bad_signature", ""},
		{"acme: signature with an unknown secret", acmeCB(goodAcme, acmeAt("whsec_bm90LWNvbmZpZ3VyZWQ=", 0)), 401, "bad_signature", ""},
		{"acme: forged svix headers", acmeCB(goodAcme, svix), 401, "bad_signature", ""},
		{"acme: empty body signed", acmeCB([]byte{}, acmeAt(catAcme, 0)), 400, "malformed", ""},
		{"acme: malformed JSON", acmeCB([]byte(`{"type":"payment.succeeded","data":{`), acmeAt(catAcme, 0)), 400, "malformed", ""},
		{"acme: invalid UTF-8", acmeCB(acmeEvent("payment.succeeded", "acp_cat_utf8", "CAT-"+invalid8, "1000", "USD"), acmeAt(catAcme, 0)), 400, "malformed", ""},
		{"acme: no event type", acmeCB([]byte(`{"data":{"id":"acp_cat_notype"}}`), acmeAt(catAcme, 0)), 400, "malformed", ""},
		{"acme: over-precise decimal amount", acmeCB(acmeEvent("payment.succeeded", "acp_cat_frac", catOrder, `"10.005"`, "USD"), acmeAt(catAcme, 0)), 400, "malformed", ""},
		{"acme: decimals for a zero-decimal currency", acmeCB(acmeEvent("payment.succeeded", "acp_cat_jpy", catOrder, `"10.5"`, "JPY"), acmeAt(catAcme, 0)), 400, "malformed", ""},
		{"acme: float amount", acmeCB(acmeEvent("payment.succeeded", "acp_cat_float", catOrder, "10.5", "USD"), acmeAt(catAcme, 0)), 400, "malformed", ""},
		{"acme: huge decimal amount", acmeCB(acmeEvent("payment.succeeded", "acp_cat_huge", catOrder, `"99999999999999999999"`, "USD"), acmeAt(catAcme, 0)), 400, "malformed", ""},
		{"acme: amount beyond int64", acmeCB(acmeEvent("payment.succeeded", "acp_cat_huge2", catOrder, "99999999999999999999", "USD"), acmeAt(catAcme, 0)), 400, "malformed", ""},
		{"acme: negative amount", acmeCB(acmeEvent("payment.succeeded", "acp_cat_neg", catOrder, "-500", "USD"), acmeAt(catAcme, 0)), 400, "malformed", ""},
		{"acme: negative decimal amount", acmeCB(acmeEvent("payment.succeeded", "acp_cat_neg2", catOrder, `"-5.00"`, "USD"), acmeAt(catAcme, 0)), 400, "malformed", ""},
		{"acme: amount missing", acmeCB([]byte(`{"type":"payment.succeeded","data":{"id":"acp_cat_noamt","order_no":"`+catOrder+`","currency":"USD"}}`), acmeAt(catAcme, 0)), 400, "malformed", ""},
		{"acme: unknown currency", acmeCB(acmeEvent("payment.succeeded", "acp_cat_xyz", catOrder, "1000", "XYZ"), acmeAt(catAcme, 0)), 400, "malformed", ""},
		{"acme: very long transaction id", acmeCB(acmeEvent("payment.succeeded", long, catOrder, "1000", "USD"), acmeAt(catAcme, 0)), 400, "malformed", ""},
		{"acme: unknown event type is recorded rejected", acmeCB(acmeEvent("customer.updated", "cus_cat", catOrder, "0", "USD"), acmeAt(catAcme, 0)), 200, "", callbacks.StatusRejected},
		{"acme: injection in the transaction id is parked as data", acmeCB(acmeEvent("payment.succeeded", injection, "CAT-NONE", "1000", "USD"), acmeAt(catAcme, 0)), 200, "", callbacks.StatusUnknown},

		// Allow-listed provider (locked: 203.0.113.0/24; 127.0.0.1 is a trusted proxy).
		{"locked: sender not allowed", callback("locked", goodPI, stripeAt(catStripe, 0)), 403, "address_not_allowed", ""},
		{"locked: forged left-most forwarded-for", callback("locked", goodPI, stripeAt(catStripe, 0), "X-Forwarded-For", "203.0.113.5, 198.51.100.1"), 403, "address_not_allowed", ""},
		{"locked: garbage forwarded-for", callback("locked", goodPI, stripeAt(catStripe, 0), "X-Forwarded-For", "203.0.113.5, <script>"), 403, "address_not_allowed", ""},

		// Routing.
		{"unknown provider", callback("square", goodPI, stripeAt(catStripe, 0)), 404, "unknown_provider", ""},
		{"very long provider name", callback(long[:1000], goodPI, stripeAt(catStripe, 0)), 404, "unknown_provider", ""},
		{"provider name with dots", callback("..", goodPI, stripeAt(catStripe, 0)), 404, "", ""},
		{"GET on a callback route", api(http.MethodGet, "/callbacks/stripe", "", "", nil), 405, "method_not_allowed", ""},
		{"DELETE an order", api(http.MethodDelete, "/api/orders/"+catOrder, bearer, "", nil), 405, "method_not_allowed", ""},
		{"no such route", api(http.MethodGet, "/nope", "", "", nil), 404, "not_found", ""},
		{"headers over the limit", api(http.MethodGet, "/healthz", "", "", nil, "X-Padding", strings.Repeat("p", 80<<10)), 431, "body:Request Header Fields Too Large", ""},

		// Merchant API: authentication.
		{"api: no token", api(http.MethodPost, "/api/orders", "", jsonCT, order(`"order_no":"A1","amount":100,"currency":"USD"`)), 401, "unauthorized", ""},
		{"api: wrong token", api(http.MethodPost, "/api/orders", "Bearer wrong-token-0123456789abc", jsonCT, order(`"order_no":"A1","amount":100,"currency":"USD"`)), 401, "unauthorized", ""},
		{"api: other scheme", api(http.MethodPost, "/api/orders", "Basic "+strings.SplitN(catAPI, ":", 2)[1], jsonCT, order(`"order_no":"A1","amount":100,"currency":"USD"`)), 401, "unauthorized", ""},
		{"api: token with its name", api(http.MethodPost, "/api/orders", "Bearer "+catAPI, jsonCT, order(`"order_no":"A1","amount":100,"currency":"USD"`)), 401, "unauthorized", ""},
		{"api: no token on ship", api(http.MethodPost, ship, "", "", nil, "If-Match", "1"), 401, "unauthorized", ""},
		{"api: wrong token on get", api(http.MethodGet, "/api/orders/"+catOrder, "Bearer "+long[:64], "", nil), 401, "unauthorized", ""},

		// Merchant API: bodies.
		{"api: text/plain", api(http.MethodPost, "/api/orders", bearer, "text/plain", order(`"order_no":"A1","amount":100,"currency":"USD"`)), 400, "bad_request", ""},
		{"api: form body", api(http.MethodPost, "/api/orders", bearer, "application/x-www-form-urlencoded", []byte("order_no=A1&amount=100&currency=USD")), 400, "bad_request", ""},
		{"api: no content type", api(http.MethodPost, "/api/orders", bearer, "", order(`"order_no":"A1","amount":100,"currency":"USD"`)), 400, "bad_request", ""},
		{"api: empty body", api(http.MethodPost, "/api/orders", bearer, jsonCT, nil), 400, "bad_request", ""},
		{"api: truncated JSON", api(http.MethodPost, "/api/orders", bearer, jsonCT, []byte(`{"order_no":"A1","amount":`)), 400, "bad_request", ""},
		{"api: malformed JSON", api(http.MethodPost, "/api/orders", bearer, jsonCT, []byte(`{order_no: A1}`)), 400, "bad_request", ""},
		{"api: JSON array", api(http.MethodPost, "/api/orders", bearer, jsonCT, []byte(`[{"order_no":"A1","amount":100,"currency":"USD"}]`)), 400, "bad_request", ""},
		{"api: unknown field", api(http.MethodPost, "/api/orders", bearer, jsonCT, order(`"order_no":"A1","amount":100,"currency":"USD","status":"paid"`)), 400, "bad_request", ""},
		{"api: trailing data", api(http.MethodPost, "/api/orders", bearer, jsonCT, []byte(`{"order_no":"A1","amount":100,"currency":"USD"} {}`)), 400, "bad_request", ""},
		{"api: invalid UTF-8", api(http.MethodPost, "/api/orders", bearer, jsonCT, order(`"order_no":"A1","amount":100,"currency":"USD","provider_ref":"`+invalid8+`"`)), 400, "bad_request", ""},
		{"api: oversized body", api(http.MethodPost, "/api/orders", bearer, jsonCT, order(`"order_no":"A1","amount":100,"currency":"USD","provider_ref":"`+strings.Repeat("r", 70<<10)+`"`)), 413, "too_large", ""},
		{"api: float amount", api(http.MethodPost, "/api/orders", bearer, jsonCT, order(`"order_no":"A1","amount":10.5,"currency":"USD"`)), 400, "bad_request", ""},
		{"api: amount as a string", api(http.MethodPost, "/api/orders", bearer, jsonCT, order(`"order_no":"A1","amount":"100","currency":"USD"`)), 400, "bad_request", ""},
		{"api: amount beyond int64", api(http.MethodPost, "/api/orders", bearer, jsonCT, order(`"order_no":"A1","amount":1e20,"currency":"USD"`)), 400, "bad_request", ""},
		{"api: amount beyond the limit", api(http.MethodPost, "/api/orders", bearer, jsonCT, order(`"order_no":"A1","amount":99999999999999999,"currency":"USD"`)), 422, "invalid", ""},
		{"api: negative amount", api(http.MethodPost, "/api/orders", bearer, jsonCT, order(`"order_no":"A1","amount":-100,"currency":"USD"`)), 422, "invalid", ""},
		{"api: zero amount", api(http.MethodPost, "/api/orders", bearer, jsonCT, order(`"order_no":"A1","amount":0,"currency":"USD"`)), 422, "invalid", ""},
		{"api: unknown currency", api(http.MethodPost, "/api/orders", bearer, jsonCT, order(`"order_no":"A1","amount":100,"currency":"XYZ"`)), 422, "invalid", ""},
		{"api: lower-case currency", api(http.MethodPost, "/api/orders", bearer, jsonCT, order(`"order_no":"A1","amount":100,"currency":"usd"`)), 422, "invalid", ""},
		{"api: empty order number", api(http.MethodPost, "/api/orders", bearer, jsonCT, order(`"order_no":"","amount":100,"currency":"USD"`)), 422, "invalid", ""},
		{"api: very long order number", api(http.MethodPost, "/api/orders", bearer, jsonCT, order(`"order_no":"`+long[:65]+`","amount":100,"currency":"USD"`)), 422, "invalid", ""},
		{"api: injection in the order number", api(http.MethodPost, "/api/orders", bearer, jsonCT, order(`"order_no":"`+injection+`","amount":100,"currency":"USD"`)), 422, "invalid", ""},
		{"api: control characters in the order number", api(http.MethodPost, "/api/orders", bearer, jsonCT, order(`"order_no":"A\u0000\n1","amount":100,"currency":"USD"`)), 422, "invalid", ""},
		{"api: get with injection", api(http.MethodGet, "/api/orders/x'%20OR%20'1'='1", bearer, "", nil), 404, "order_not_found", ""},
		{"api: get a very long order number", api(http.MethodGet, "/api/orders/"+long[:2000], bearer, "", nil), 404, "order_not_found", ""},

		// Merchant API: If-Match.
		{"api: ship without If-Match", api(http.MethodPost, ship, bearer, "", nil), 428, "precondition_required", ""},
		{"api: If-Match not a number", api(http.MethodPost, ship, bearer, "", nil, "If-Match", `"abc"`), 400, "bad_request", ""},
		{"api: If-Match zero", api(http.MethodPost, ship, bearer, "", nil, "If-Match", "0"), 400, "bad_request", ""},
		{"api: If-Match negative", api(http.MethodPost, ship, bearer, "", nil, "If-Match", "-1"), 400, "bad_request", ""},
		{"api: If-Match beyond int64", api(http.MethodPost, ship, bearer, "", nil, "If-Match", "99999999999999999999"), 400, "bad_request", ""},
		{"api: If-Match wildcard", api(http.MethodPost, ship, bearer, "", nil, "If-Match", "*"), 400, "bad_request", ""},
		{"api: If-Match stale", api(http.MethodPost, ship, bearer, "", nil, "If-Match", `"7"`), 412, "version_conflict", ""},
		{"api: ship an unpaid order", api(http.MethodPost, ship, bearer, "", nil, "If-Match", `"1"`), 409, "invalid_transition", ""},
	}, providerCatalogue()...)
}

// TestBadInputCatalogue sends every catalogue case to a whole gateway, on
// each database, and checks the answer, the rows of every table, and
// /healthz after each.
func TestBadInputCatalogue(t *testing.T) {
	cases := catalogue()
	if len(cases) < 40 {
		t.Fatalf("the catalogue has %d cases; the issue asks for at least 40", len(cases))
	}
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			driver, dsn := storetest.DSN(t, dialect)
			g := startGateway(t, map[string]string{
				"GATEWAY_CONFIG":            writeConfig(t, catConfig+catProvidersConfig),
				"GATEWAY_HTTP_ADDR":         "127.0.0.1:0",
				"GATEWAY_DATABASE_DRIVER":   driver,
				"GATEWAY_DATABASE_DSN":      dsn,
				"GATEWAY_AUTH_API_TOKENS":   catAPI,
				"GATEWAY_AUTH_ADMIN_TOKENS": catAdmin,
			})
			db, err := store.Open(context.Background(), driver, dsn, store.Options{MaxOpenConns: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if code, body := send(t, g, api(http.MethodPost, "/api/orders", bearer, jsonCT,
				order(`"order_no":"`+catOrder+`","amount":1000,"currency":"USD"`))()); code != 201 {
				t.Fatalf("create %s: %d %s", catOrder, code, body)
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					before := storetest.Counts(t, db)
					code, body := send(t, g, tc.req())
					if code != tc.want {
						t.Fatalf("status %d, want %d; body %.300s", code, tc.want, body)
					}
					if want, plain := strings.CutPrefix(tc.code, "body:"); plain && !strings.Contains(string(body), want) {
						t.Errorf("body %.300s, want it to contain %q", body, want)
					} else if !plain && tc.code != "" && !strings.Contains(string(body), `"code":"`+tc.code+`"`) {
						t.Errorf("body %.300s, want error code %q", body, tc.code)
					}
					want := before
					if tc.receipt != "" {
						want = cloneAdd(before, "callback_receipts", 1)
					}
					if diff := cmp.Diff(want, storetest.Counts(t, db)); diff != "" {
						t.Errorf("rows per table (-want +got):\n%s", diff)
					}
					if tc.receipt != "" {
						var status string
						if err := db.SQL().QueryRow("SELECT status FROM callback_receipts ORDER BY id DESC LIMIT 1").Scan(&status); err != nil {
							t.Fatal(err)
						}
						if status != string(tc.receipt) {
							t.Errorf("receipt status %s, want %s", status, tc.receipt)
						}
					}
					if code, body := send(t, g, api(http.MethodGet, "/healthz", "", "", nil)()); code != 200 {
						t.Fatalf("healthz after the case: %d %s", code, body)
					}
				})
			}
			if code, body := send(t, g, api(http.MethodGet, "/readyz", "", "", nil)()); code != 200 {
				t.Fatalf("readyz after the catalogue: %d %s", code, body)
			}
		})
	}
}

func send(t *testing.T, g *gateway, r request) (int, []byte) {
	t.Helper()
	h := make(map[string]string, len(r.header))
	for k := range r.header {
		h[k] = r.header.Get(k)
	}
	code, body, _ := g.do(t, r.method, r.path, "", r.body, h)
	return code, body
}

func cloneAdd(m map[string]int64, key string, n int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	out[key] += n
	return out
}
