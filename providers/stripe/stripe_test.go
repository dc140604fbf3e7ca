package stripe_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stripe/stripe-go/v84/webhook"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/providertest"
	"gateway/providers/query"
	"gateway/providers/stripe"
)

const (
	secret    = "whsec_test_endpoint_secret_0001"
	oldSecret = "whsec_test_endpoint_secret_old0"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newProvider(t testing.TB, cfg stripe.Config) *stripe.Provider {
	t.Helper()
	p, err := stripe.New(cfg)
	if err != nil {
		t.Fatalf("stripe.New: %v", err)
	}
	return p
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stripeHeader is the Stripe-Signature stripe-go computes for body at ts.
func stripeHeader(body []byte, sec string, ts time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: sec, Timestamp: ts}).Header
}

// v1 is the hex signature alone.
func v1(body []byte, sec string, ts time.Time) string {
	return hex.EncodeToString(webhook.ComputeSignature(ts, body, sec))
}

func inbound(header string, body []byte) callbacks.Inbound {
	h := http.Header{}
	if header != "" {
		h.Set("Stripe-Signature", header)
	}
	return callbacks.Inbound{Provider: "stripe", Header: h, Body: body}
}

func TestVerify(t *testing.T) {
	body := readFile(t, "payment_intent.succeeded.json")
	tampered := bytes.Replace(body, []byte(`"amount_received": 2000`), []byte(`"amount_received": 2001`), 1)
	ts := strconv.FormatInt(now.Unix(), 10)
	for _, tc := range []struct {
		name    string
		secrets []string
		// tolerance configures the provider (default 5m).
		tolerance time.Duration
		header    string
		body      []byte
		replay    bool
		// wantErr is the exact error, empty for success; every error
		// wraps callbacks.ErrSignature.
		wantErr string
	}{
		{name: "valid, signed by stripe-go", header: stripeHeader(body, secret, now)},
		{name: "valid, signed by our Sign", header: stripe.Sign(secret, now, body)},
		{name: "tampered body", header: stripeHeader(body, secret, now), body: tampered,
			wantErr: "signature verification failed: no v1 signature matches"},
		{name: "wrong secret", header: stripeHeader(body, "whsec_someone_else", now),
			wantErr: "signature verification failed: no v1 signature matches"},
		{name: "secret without its whsec_ prefix", header: stripeHeader(body, strings.TrimPrefix(secret, "whsec_"), now),
			wantErr: "signature verification failed: no v1 signature matches"},
		{name: "rotation: the second configured secret signs", secrets: []string{oldSecret, secret}, header: stripeHeader(body, secret, now)},
		{name: "rotation: the first configured secret signs", secrets: []string{oldSecret, secret}, header: stripeHeader(body, oldSecret, now)},
		{name: "rotation: neither configured secret signs", secrets: []string{oldSecret, secret}, header: stripeHeader(body, "whsec_x", now),
			wantErr: "signature verification failed: no v1 signature matches"},
		{name: "several v1, the second matches", header: "t=" + ts + ",v1=" + v1(body, oldSecret, now) + ",v1=" + v1(body, secret, now)},
		{name: "several v1, the first matches", header: "t=" + ts + ",v1=" + v1(body, secret, now) + ",v1=" + v1(body, oldSecret, now)},
		{name: "several v1, none matches", header: "t=" + ts + ",v1=" + v1(body, oldSecret, now) + ",v1=" + v1(tampered, secret, now),
			wantErr: "signature verification failed: no v1 signature matches"},
		{name: "v0 scheme alongside v1", header: "t=" + ts + ",v1=" + v1(body, secret, now) + ",v0=" + v1(body, "whsec_x", now)},
		{name: "spaces after commas", header: "t=" + ts + ", v1=" + v1(body, secret, now)},
		{name: "upper-case hex", header: "t=" + ts + ",v1=" + strings.ToUpper(v1(body, secret, now))},
		{name: "signature for another timestamp", header: "t=" + ts + ",v1=" + v1(body, secret, now.Add(-time.Second)),
			wantErr: "signature verification failed: no v1 signature matches"},
		{name: "stale timestamp", header: stripeHeader(body, secret, now.Add(-5*time.Minute-time.Second)),
			wantErr: "signature verification failed: timestamp 1767322744 outside the 5m0s window"},
		{name: "oldest accepted timestamp", header: stripeHeader(body, secret, now.Add(-5*time.Minute))},
		{name: "future timestamp", header: stripeHeader(body, secret, now.Add(5*time.Minute+time.Second)),
			wantErr: "signature verification failed: timestamp 1767323346 outside the 5m0s window"},
		{name: "latest accepted timestamp", header: stripeHeader(body, secret, now.Add(5*time.Minute))},
		{name: "configured tolerance", tolerance: time.Minute, header: stripeHeader(body, secret, now.Add(-61*time.Second)),
			wantErr: "signature verification failed: timestamp 1767322984 outside the 1m0s window"},
		{name: "year-long stale timestamp", header: stripeHeader(body, secret, now.AddDate(-1, 0, 0)),
			wantErr: "signature verification failed: timestamp 1735787045 outside the 5m0s window"},
		{name: "missing header", header: "",
			wantErr: "signature verification failed: missing Stripe-Signature header"},
		{name: "no t", header: "v1=" + v1(body, secret, now),
			wantErr: "signature verification failed: Stripe-Signature has no valid timestamp"},
		{name: "t not a number", header: "t=yesterday,v1=" + v1(body, secret, now),
			wantErr: "signature verification failed: Stripe-Signature has no valid timestamp"},
		{name: "no v1", header: "t=" + ts,
			wantErr: "signature verification failed: Stripe-Signature has no v1 signature"},
		{name: "v0 only", header: "t=" + ts + ",v0=" + v1(body, secret, now),
			wantErr: "signature verification failed: Stripe-Signature has no v1 signature"},
		{name: "non-hex v1", header: "t=" + ts + ",v1=" + strings.Repeat("zz", 32),
			wantErr: "signature verification failed: Stripe-Signature has no v1 signature"},
		{name: "truncated v1", header: "t=" + ts + ",v1=" + v1(body, secret, now)[:62],
			wantErr: "signature verification failed: Stripe-Signature has no v1 signature"},
		{name: "garbage", header: "not a signature",
			wantErr: "signature verification failed: Stripe-Signature has no valid timestamp"},
		{name: "replay skips the window", replay: true, header: stripeHeader(body, secret, now.AddDate(0, 0, -3))},
		{name: "replay still checks the signature", replay: true, header: stripeHeader(body, secret, now.AddDate(0, 0, -3)), body: tampered,
			wantErr: "signature verification failed: no v1 signature matches"},
		{name: "replay still checks the secret", replay: true, header: stripeHeader(body, "whsec_x", now.AddDate(0, 0, -3)),
			wantErr: "signature verification failed: no v1 signature matches"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secrets := tc.secrets
			if secrets == nil {
				secrets = []string{secret}
			}
			p := newProvider(t, stripe.Config{Secrets: secrets, Tolerance: tc.tolerance})
			b := body
			if tc.body != nil {
				b = tc.body
			}
			in := inbound(tc.header, b)
			in.Replay = tc.replay
			providertest.CheckError(t, p.Verify(in, now), tc.wantErr, callbacks.ErrSignature)
		})
	}
}

// TestSignAcceptedByStripeGo: what our Sign produces, stripe-go's own
// verifier accepts (and its verifier does refuse a wrong secret, so the
// oracle is not blind).
func TestSignAcceptedByStripeGo(t *testing.T) {
	for _, name := range []string{"payment_intent.succeeded.json", "charge.refunded.json", "payment_intent.succeeded.old_api.json"} {
		t.Run(name, func(t *testing.T) {
			body := readFile(t, name)
			header := stripe.Sign(secret, time.Now(), body) // stripe-go checks against the real clock
			ev, err := webhook.ConstructEventWithOptions(body, header, secret, webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
			if err != nil {
				t.Fatalf("stripe-go refuses our signature: %v", err)
			}
			var want struct{ ID string }
			if err := json.Unmarshal(body, &want); err != nil {
				t.Fatal(err)
			}
			if ev.ID != want.ID {
				t.Errorf("stripe-go event id %q, want %q", ev.ID, want.ID)
			}
			if _, err := webhook.ConstructEventWithOptions(body, header, oldSecret, webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true}); err == nil {
				t.Error("stripe-go accepts our signature under another secret")
			}
		})
	}
	if got, want := stripe.Sign(secret, now, []byte("{}")), stripeHeader([]byte("{}"), secret, now); got != want {
		t.Errorf("Sign = %q, stripe-go computes %q", got, want)
	}
}

func TestParse(t *testing.T) {
	usd := func(a int64) ledger.Money { return ledger.Money{Amount: a, Currency: "USD"} }
	for _, tc := range []struct {
		file string
		want []callbacks.Notification
	}{
		{"payment_intent.succeeded.json", []callbacks.Notification{{TxnID: "pi_3PI0001:payment.succeeded", EventID: "evt_3PI0001",
			EventType: "payment_intent.succeeded", Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1001", Reference: "pi_3PI0001", Money: usd(2000)}}},
		{"charge.succeeded.json", []callbacks.Notification{{TxnID: "pi_3PI0001:payment.succeeded", EventID: "evt_3CH0001",
			EventType: "charge.succeeded", Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1001", Reference: "pi_3PI0001", Money: usd(2000)}}},
		{"charge.succeeded.uncaptured.json", []callbacks.Notification{{TxnID: "evt_3CH0002:unsupported", EventID: "evt_3CH0002",
			EventType: "charge.succeeded", OrderNo: "O-1002", Money: ledger.Money{Currency: "USD"}, Unsupported: "charge authorized, not captured"}}},
		{"payment_intent.payment_failed.json", []callbacks.Notification{{TxnID: "pi_3PF0001:payment.failed", EventID: "evt_3PF0001",
			EventType: "payment_intent.payment_failed", Kind: ledger.KindPaymentFailed, OrderNo: "O-1003", Reference: "pi_3PF0001",
			Money: ledger.Money{Amount: 1500, Currency: "EUR"}}}},
		{"charge.refunded.json", []callbacks.Notification{{TxnID: "ch_3PI0001:refund.succeeded:500", EventID: "evt_3RF0001",
			EventType: "charge.refunded", Kind: ledger.KindRefundSucceeded, OrderNo: "O-1001", Reference: "pi_3PI0001",
			Money: usd(500), Cumulative: true}}},
		{"customer.created.json", []callbacks.Notification{{TxnID: "evt_3CU0001:unsupported", EventID: "evt_3CU0001",
			EventType: "customer.created", Unsupported: "unsupported event type customer.created"}}},
		{"payment_intent.succeeded.old_api.json", []callbacks.Notification{{TxnID: "pi_1OLD0001:payment.succeeded", EventID: "evt_1OLD0001",
			EventType: "payment_intent.succeeded", Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1004", Reference: "pi_1OLD0001",
			Money: ledger.Money{Amount: 500, Currency: "JPY"}}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := newProvider(t, stripe.Config{Secrets: []string{secret}}).Parse(inbound("", readFile(t, tc.file)))
			providertest.CheckNotifications(t, tc.want, got, err)
		})
	}
}

// TestParseSameFact: payment_intent.succeeded and charge.succeeded for one
// PaymentIntent are one business event: same key, same fingerprint, so
// money moves once and neither is a conflict.
func TestParseSameFact(t *testing.T) {
	p := newProvider(t, stripe.Config{Secrets: []string{secret}})
	pi, err := p.Parse(inbound("", readFile(t, "payment_intent.succeeded.json")))
	if err != nil {
		t.Fatal(err)
	}
	ch, err := p.Parse(inbound("", readFile(t, "charge.succeeded.json")))
	if err != nil {
		t.Fatal(err)
	}
	if pi[0].TxnID != ch[0].TxnID {
		t.Errorf("TxnID %q vs %q", pi[0].TxnID, ch[0].TxnID)
	}
	if pi[0].Fingerprint() != ch[0].Fingerprint() {
		t.Errorf("fingerprints differ: %+v vs %+v", pi[0], ch[0])
	}
	// A new cumulative refund total is a new event; the same total is not.
	body := readFile(t, "charge.refunded.json")
	r1, _ := p.Parse(inbound("", body))
	r2, _ := p.Parse(inbound("", bytes.Replace(body, []byte(`"amount_refunded": 500`), []byte(`"amount_refunded": 800`), 1)))
	if r1[0].TxnID == r2[0].TxnID {
		t.Errorf("refund totals 500 and 800 share the key %q", r1[0].TxnID)
	}
}

func TestParseMalformed(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"empty", ``},
		{"truncated", `{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"`},
		{"array", `[]`},
		{"null", `null`},
		{"no id", `{"type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}`},
		{"no type", `{"id":"evt_1","data":{"object":{"id":"pi_1"}}}`},
		{"object is a string", `{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":"pi_1"}}`},
		{"amount is a string", `{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","amount_received":"20.00"}}}`},
		{"metadata value not a string", `{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","metadata":{"order_no":7}}}}`},
		{"payment without an object id", `{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"amount_received":1}}}`},
		{"payment without an object", `{"id":"evt_1","type":"payment_intent.succeeded"}`},
		{"refund without a charge id", `{"id":"evt_1","type":"charge.refunded","data":{"object":{"amount_refunded":500}}}`},
		{"captured charge without any id", `{"id":"evt_1","type":"charge.succeeded","data":{"object":{"captured":true,"amount_captured":5}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := newProvider(t, stripe.Config{Secrets: []string{secret}}).Parse(inbound("", []byte(tc.body)))
			if !errors.Is(err, callbacks.ErrMalformed) {
				t.Fatalf("Parse = %+v, %v; want ErrMalformed", got, err)
			}
		})
	}
}

func TestNewAndAck(t *testing.T) {
	if _, err := stripe.New(stripe.Config{}); err == nil {
		t.Error("New without a secret succeeded")
	}
	if got := newProvider(t, stripe.Config{Secrets: []string{secret}}).Name(); got != "stripe" {
		t.Errorf("default name %q", got)
	}
	p := newProvider(t, stripe.Config{Name: "stripe-eu", Secrets: []string{secret}})
	if got := p.Name(); got != "stripe-eu" {
		t.Errorf("name %q", got)
	}
	for _, tc := range []struct {
		err    error
		status int
		body   string
	}{
		{nil, 200, `{"received":true}`},
		{callbacks.ErrSignature, 401, `{"error":{"code":"bad_signature","message":"signature verification failed"}}`},
		{callbacks.ErrMalformed, 400, `{"error":{"code":"malformed","message":"malformed notification"}}`},
		{errors.New("database down"), 503, `{"error":{"code":"unavailable","message":"temporary failure, retry later"}}`},
	} {
		a := p.Ack(tc.err)
		if a.Status != tc.status || string(a.Body) != tc.body || a.ContentType != "application/json; charset=utf-8" {
			t.Errorf("Ack(%v) = %d %s %q", tc.err, a.Status, a.ContentType, a.Body)
		}
	}
}

// fakeStripe answers the PaymentIntent API the way Stripe does, for the
// API key sk_test_query only.
func fakeStripe(t *testing.T) *httptest.Server {
	t.Helper()
	pi := func(id, status string, amount, received int64) string {
		return `{"id":"` + id + `","object":"payment_intent","amount":` + strconv.FormatInt(amount, 10) +
			`,"amount_received":` + strconv.FormatInt(received, 10) + `,"currency":"usd","status":"` + status +
			`","metadata":{"order_no":"O-1001"}}`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("method %s", r.Method)
		}
		if r.Header.Get("Authorization") != "Bearer sk_test_query" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}`))
			return
		}
		switch r.URL.Path {
		case "/v1/payment_intents/pi_ok":
			w.Write([]byte(pi("pi_ok", "succeeded", 2000, 2000)))
		case "/v1/payment_intents/pi_processing":
			w.Write([]byte(pi("pi_processing", "processing", 2000, 0)))
		case "/v1/payment_intents/pi_canceled":
			w.Write([]byte(pi("pi_canceled", "canceled", 2000, 0)))
		case "/v1/payment_intents/pi_boom":
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"error":{"type":"api_error","message":"Something went wrong"}}`))
		case "/v1/payment_intents/search":
			if got, want := r.URL.Query().Get("query"), `metadata['order_no']:'O\'1001'`; got != want {
				t.Errorf("search query %q, want %q", got, want)
			}
			w.Write([]byte(`{"object":"search_result","data":[` + pi("pi_a", "canceled", 2000, 0) + `,` + pi("pi_b", "succeeded", 2000, 2000) + `]}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestQuery(t *testing.T) {
	srv := fakeStripe(t)
	p := newProvider(t, stripe.Config{Secrets: []string{secret}, APIKey: "sk_test_query", APIBase: srv.URL, Client: srv.Client()})
	note := func(id, status string, kind ledger.Kind, amount int64) callbacks.Notification {
		return callbacks.Notification{TxnID: id + ":" + string(kind), EventType: "payment_intent." + status, Kind: kind,
			OrderNo: "O-1001", Reference: id, Money: ledger.Money{Amount: amount, Currency: "USD"}}
	}
	for _, tc := range []struct {
		name string
		q    callbacks.StatusQuery
		want []callbacks.Notification
	}{
		{"succeeded", callbacks.StatusQuery{Reference: "pi_ok"}, []callbacks.Notification{note("pi_ok", "succeeded", ledger.KindPaymentSucceeded, 2000)}},
		{"processing", callbacks.StatusQuery{Reference: "pi_processing"}, []callbacks.Notification{note("pi_processing", "processing", ledger.KindPaymentPending, 2000)}},
		{"canceled", callbacks.StatusQuery{Reference: "pi_canceled"}, []callbacks.Notification{note("pi_canceled", "canceled", ledger.KindPaymentClosed, 2000)}},
		{"search by order number", callbacks.StatusQuery{OrderNo: "O'1001"}, []callbacks.Notification{
			note("pi_a", "canceled", ledger.KindPaymentClosed, 2000), note("pi_b", "succeeded", ledger.KindPaymentSucceeded, 2000)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.Query(context.Background(), tc.q)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("notifications (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("server error", func(t *testing.T) {
		_, err := p.Query(context.Background(), callbacks.StatusQuery{Reference: "pi_boom"})
		if !errors.Is(err, query.ErrProvider) || !strings.Contains(err.Error(), ": 500 ") {
			t.Fatalf("Query = %v, want ErrProvider with the status", err)
		}
	})
	t.Run("wrong api key", func(t *testing.T) {
		p := newProvider(t, stripe.Config{Secrets: []string{secret}, APIKey: "sk_test_other", APIBase: srv.URL, Client: srv.Client()})
		_, err := p.Query(context.Background(), callbacks.StatusQuery{Reference: "pi_ok"})
		if !errors.Is(err, query.ErrProvider) || !strings.Contains(err.Error(), ": 401 ") {
			t.Fatalf("Query = %v, want ErrProvider 401", err)
		}
		if strings.Contains(err.Error(), "sk_test_other") {
			t.Errorf("error %q shows the API key", err)
		}
	})
	t.Run("no api key", func(t *testing.T) {
		p := newProvider(t, stripe.Config{Secrets: []string{secret}, APIBase: srv.URL})
		_, err := p.Query(context.Background(), callbacks.StatusQuery{Reference: "pi_ok"})
		if !errors.Is(err, callbacks.ErrQueryUnsupported) {
			t.Fatalf("Query = %v, want ErrQueryUnsupported", err)
		}
	})
}

// FuzzParse: no body makes Parse panic; it returns either ErrMalformed or
// notifications with a key, and a supported one names its reference.
func FuzzParse(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			f.Add(readFile(f, e.Name()))
		}
	}
	p := newProvider(f, stripe.Config{Secrets: []string{secret}})
	f.Fuzz(func(t *testing.T, body []byte) {
		ns, err := p.Parse(inbound("", body))
		if err != nil {
			if !errors.Is(err, callbacks.ErrMalformed) {
				t.Fatalf("Parse error %v is not ErrMalformed", err)
			}
			return
		}
		if len(ns) != 1 {
			t.Fatalf("%d notifications", len(ns))
		}
		n := ns[0]
		if n.TxnID == "" || n.EventID == "" || n.EventType == "" {
			t.Fatalf("notification without key, event id or type: %+v", n)
		}
		if n.Unsupported == "" && (n.Reference == "" || !n.Kind.Valid()) {
			t.Fatalf("supported notification without reference or kind: %+v", n)
		}
	})
}

// FuzzVerify: no header makes Verify panic; our own signature always
// verifies; and whatever Verify accepts, stripe-go's verifier accepts too
// when it can read the header.
func FuzzVerify(f *testing.F) {
	body := readFile(f, "payment_intent.succeeded.json")
	f.Add(stripe.Sign(secret, now, body), body, now.Unix())
	f.Add("t=1767323045,v1=00,v1=zz", []byte("{}"), int64(0))
	f.Add("", []byte(nil), int64(-1))
	p := newProvider(f, stripe.Config{Secrets: []string{oldSecret, secret}})
	f.Fuzz(func(t *testing.T, header string, body []byte, ts int64) {
		at := time.Unix(ts, 0)
		if err := p.Verify(inbound(stripe.Sign(secret, at, body), body), at); err != nil {
			t.Fatalf("our own signature at %d does not verify: %v", ts, err)
		}
		in := inbound(header, body)
		in.Replay = true
		if p.Verify(in, now) != nil {
			return
		}
		// We allow spaces around the parts; stripe-go does not.
		parts := strings.Split(header, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		var stripeErr error
		for _, s := range []string{oldSecret, secret} {
			if stripeErr = webhook.ValidatePayloadIgnoringTolerance(body, strings.Join(parts, ","), s); stripeErr == nil {
				return
			}
		}
		if errors.Is(stripeErr, webhook.ErrNoValidSignature) {
			t.Fatalf("Verify accepts %q, stripe-go finds no valid signature", header)
		}
	})
}
