package standardwebhooks_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	sw "github.com/standard-webhooks/standard-webhooks/libraries/go"
	svix "github.com/svix/svix-webhooks/go"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/providertest"
	"gateway/providers/standardwebhooks"
)

// The known-answer vector of PROVIDERS.md (the Standard Webhooks spec's).
const (
	katSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	katID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	katTimestamp = 1614265330
	katBody      = `{"test": 2432232314}`
	katSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

	otherSecret = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tMDE=" // "second-secret-for-rotation-01"
)

var (
	katTime = time.Unix(katTimestamp, 0)
	fields  = standardwebhooks.Fields{TxnID: "data.id", EventType: "type", OrderNo: "data.order_no",
		Amount: "data.amount", Currency: "data.currency"}
)

func newProvider(t testing.TB, cfg standardwebhooks.Config) *standardwebhooks.Provider {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "acme"
	}
	if cfg.Secrets == nil {
		cfg.Secrets = []string{katSecret}
	}
	if cfg.Fields == (standardwebhooks.Fields{}) {
		cfg.Fields = fields
	}
	p, err := standardwebhooks.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// libSign signs as a sender using the Standard Webhooks library.
func libSign(t testing.TB, secret, id string, ts time.Time, body string) string {
	t.Helper()
	h, err := sw.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.Sign(id, ts, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// headers builds the three headers with the given prefix ("webhook" or "svix").
func headers(prefix, id string, ts int64, sig string) http.Header {
	h := http.Header{}
	for k, v := range map[string]string{"id": id, "timestamp": strconv.FormatInt(ts, 10), "signature": sig} {
		if v != "" {
			h.Set(prefix+"-"+k, v)
		}
	}
	return h
}

func TestKnownAnswer(t *testing.T) {
	got, err := standardwebhooks.Sign(katSecret, katID, katTime, []byte(katBody))
	if err != nil || got != katSignature {
		t.Fatalf("Sign = %q, %v; want %q", got, err, katSignature)
	}
	p := newProvider(t, standardwebhooks.Config{})
	in := callbacks.Inbound{Header: headers("webhook", katID, katTimestamp, katSignature), Body: []byte(katBody)}
	if err := p.Verify(in, katTime.Add(10*time.Second)); err != nil {
		t.Fatalf("Verify of the known answer: %v", err)
	}
}

func TestVerify(t *testing.T) {
	const id, body = "msg_2Lk7", `{"type":"payment.succeeded","data":{"id":"pay_1","order_no":"O1","amount":2000,"currency":"USD"}}`
	now := katTime
	ts := now.Unix()
	good := libSign(t, katSecret, id, now, body)
	for _, tc := range []struct {
		name      string
		secrets   []string
		tolerance time.Duration
		header    http.Header
		body      string
		replay    bool
		// wantErr is the exact error, empty for success; every error
		// wraps callbacks.ErrSignature.
		wantErr string
	}{
		{name: "valid, signed by the library", header: headers("webhook", id, ts, good)},
		{name: "valid, signed by our Sign", header: headers("webhook", id, ts, must(standardwebhooks.Sign(katSecret, id, now, []byte(body))))},
		{name: "svix headers", header: headers("svix", id, ts, good)},
		{name: "tampered body", header: headers("webhook", id, ts, good), body: strings.Replace(body, "2000", "2001", 1),
			wantErr: "signature verification failed: no signature matches"},
		{name: "another message id", header: headers("webhook", "msg_other", ts, good),
			wantErr: "signature verification failed: no signature matches"},
		{name: "another timestamp in the header", header: headers("webhook", id, ts+1, good),
			wantErr: "signature verification failed: no signature matches"},
		{name: "wrong key", header: headers("webhook", id, ts, libSign(t, otherSecret, id, now, body)),
			wantErr: "signature verification failed: no signature matches"},
		{name: "rotation: the second configured secret signs", secrets: []string{katSecret, otherSecret},
			header: headers("webhook", id, ts, libSign(t, otherSecret, id, now, body))},
		{name: "rotation: the first configured secret signs", secrets: []string{otherSecret, katSecret},
			header: headers("webhook", id, ts, good)},
		{name: "several signatures, the second matches",
			header: headers("webhook", id, ts, libSign(t, otherSecret, id, now, body)+" "+good)},
		{name: "several signatures, none matches",
			header:  headers("webhook", id, ts, libSign(t, otherSecret, id, now, body)+" v1,AAAA"),
			wantErr: "signature verification failed: no signature matches"},
		{name: "unknown version only", header: headers("webhook", id, ts, "v2,"+strings.TrimPrefix(good, "v1,")),
			wantErr: "signature verification failed: no signature matches"},
		{name: "bare signature without version", header: headers("webhook", id, ts, strings.TrimPrefix(good, "v1,")),
			wantErr: "signature verification failed: no signature matches"},
		{name: "stale timestamp", header: headers("webhook", id, ts-301, libSign(t, katSecret, id, now.Add(-301*time.Second), body)),
			wantErr: "signature verification failed: timestamp 1614265029 outside the 5m0s window"},
		{name: "oldest accepted timestamp", header: headers("webhook", id, ts-300, libSign(t, katSecret, id, now.Add(-300*time.Second), body))},
		{name: "future timestamp", header: headers("webhook", id, ts+301, libSign(t, katSecret, id, now.Add(301*time.Second), body)),
			wantErr: "signature verification failed: timestamp 1614265631 outside the 5m0s window"},
		{name: "latest accepted timestamp", header: headers("webhook", id, ts+300, libSign(t, katSecret, id, now.Add(300*time.Second), body))},
		{name: "configured tolerance", tolerance: 30 * time.Second,
			header:  headers("webhook", id, ts-31, libSign(t, katSecret, id, now.Add(-31*time.Second), body)),
			wantErr: "signature verification failed: timestamp 1614265299 outside the 30s window"},
		{name: "missing id", header: headers("webhook", "", ts, good),
			wantErr: "signature verification failed: missing webhook-id, webhook-timestamp or webhook-signature"},
		{name: "missing signature", header: headers("webhook", id, ts, ""),
			wantErr: "signature verification failed: missing webhook-id, webhook-timestamp or webhook-signature"},
		{name: "missing timestamp", header: func() http.Header { h := headers("webhook", id, ts, good); h.Del("Webhook-Timestamp"); return h }(),
			wantErr: "signature verification failed: missing webhook-id, webhook-timestamp or webhook-signature"},
		{name: "no headers", header: http.Header{},
			wantErr: "signature verification failed: missing webhook-id, webhook-timestamp or webhook-signature"},
		{name: "timestamp not a number", header: func() http.Header { h := headers("webhook", id, ts, good); h.Set("Webhook-Timestamp", "now"); return h }(),
			wantErr: "signature verification failed: webhook-timestamp is not a number"},
		{name: "replay skips the window", replay: true,
			header: headers("webhook", id, ts-86400, libSign(t, katSecret, id, now.Add(-24*time.Hour), body))},
		{name: "replay still checks the signature", replay: true, body: strings.Replace(body, "2000", "2001", 1),
			header:  headers("webhook", id, ts-86400, libSign(t, katSecret, id, now.Add(-24*time.Hour), body)),
			wantErr: "signature verification failed: no signature matches"},
		{name: "replay still checks the key", replay: true,
			header:  headers("webhook", id, ts-86400, libSign(t, otherSecret, id, now.Add(-24*time.Hour), body)),
			wantErr: "signature verification failed: no signature matches"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t, standardwebhooks.Config{Secrets: tc.secrets, Tolerance: tc.tolerance})
			b := body
			if tc.body != "" {
				b = tc.body
			}
			err := p.Verify(callbacks.Inbound{Header: tc.header, Body: []byte(b), Replay: tc.replay}, now)
			providertest.CheckError(t, err, tc.wantErr, callbacks.ErrSignature)
		})
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

// TestCrossCheck: Svix's and the Standard Webhooks reference libraries
// accept what we sign, and we accept what Svix signs.
func TestCrossCheck(t *testing.T) {
	const id, body = "msg_cross_1", `{"type":"payment.succeeded","data":{"id":"pay_9"}}`
	now := time.Now() // both libraries check against the real clock
	ours := must(standardwebhooks.Sign(katSecret, id, now, []byte(body)))

	sx, err := svix.NewWebhook(katSecret)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"svix", "webhook"} {
		if err := sx.Verify([]byte(body), headers(prefix, id, now.Unix(), ours)); err != nil {
			t.Errorf("svix refuses our signature with %s-* headers: %v", prefix, err)
		}
	}
	ref, err := sw.NewWebhook(katSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := ref.Verify([]byte(body), headers("webhook", id, now.Unix(), ours)); err != nil {
		t.Errorf("the reference library refuses our signature: %v", err)
	}
	// Oracle sanity: svix refuses a signature under another key.
	if err := sx.Verify([]byte(body), headers("svix", id, now.Unix(), libSign(t, otherSecret, id, now, body))); err == nil {
		t.Error("svix accepts a signature under another key")
	}

	theirs, err := sx.Sign(id, now, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, standardwebhooks.Config{})
	if err := p.Verify(callbacks.Inbound{Header: headers("svix", id, now.Unix(), theirs), Body: []byte(body)}, now); err != nil {
		t.Errorf("we refuse Svix's signature: %v", err)
	}
}

func TestParse(t *testing.T) {
	usd := func(a int64) ledger.Money { return ledger.Money{Amount: a, Currency: "USD"} }
	hdr := headers("webhook", "msg_1", katTimestamp, "v1,x")
	pay := func(amount string, currency string) string {
		return `{"type":"payment.succeeded","data":{"id":"pay_1","order_no":"O1","amount":` + amount + `,"currency":"` + currency + `"}}`
	}
	paid := func(m ledger.Money) []callbacks.Notification {
		return []callbacks.Notification{{TxnID: "pay_1:payment.succeeded", EventID: "msg_1", EventType: "payment.succeeded",
			Kind: ledger.KindPaymentSucceeded, OrderNo: "O1", Reference: "pay_1", Money: m}}
	}
	invoiceEvents := map[string]string{"invoice.paid": "payment.succeeded", "invoice.refunded": "refund.succeeded"}
	for _, tc := range []struct {
		name   string
		events map[string]string
		fields standardwebhooks.Fields
		header http.Header
		body   string
		want   []callbacks.Notification
		// wantErr, when set, is a part of the ErrMalformed error.
		wantErr string
	}{
		{name: "integer amount", body: pay("2000", "USD"), want: paid(usd(2000))},
		{name: "lower-case currency", body: pay("2000", "usd"), want: paid(usd(2000))},
		{name: "decimal string amount", body: pay(`"20.00"`, "USD"), want: paid(usd(2000))},
		{name: "decimal string, one decimal", body: pay(`"20.5"`, "USD"), want: paid(usd(2050))},
		{name: "decimal string in yen", body: pay(`"1500"`, "JPY"), want: paid(ledger.Money{Amount: 1500, Currency: "JPY"})},
		{name: "decimal string in dinar", body: pay(`"1.234"`, "KWD"), want: paid(ledger.Money{Amount: 1234, Currency: "KWD"})},
		{name: "decimal string with too many decimals", body: pay(`"20.001"`, "USD"), wantErr: `more than 2 decimals`},
		{name: "float amount", body: pay("20.5", "USD"), wantErr: `must be an integer in minor units or a decimal string`},
		{name: "exponent amount", body: pay("2e3", "USD"), wantErr: `must be an integer in minor units or a decimal string`},
		{name: "boolean amount", body: pay("true", "USD"), wantErr: `must be an integer in minor units or a decimal string`},
		{name: "integer amount beyond int64", body: pay("92233720368547758070", "USD"), wantErr: `amount 92233720368547758070`},
		{name: "negative integer amount", body: pay("-5", "USD"), wantErr: `amount -5 is negative`},
		{name: "missing amount", body: `{"type":"payment.succeeded","data":{"id":"pay_1","order_no":"O1","currency":"USD"}}`,
			wantErr: `amount at "data.amount" must be an integer`},
		{name: "missing currency", body: `{"type":"payment.succeeded","data":{"id":"pay_1","order_no":"O1","amount":2000}}`,
			wantErr: `no currency at "data.currency"`},
		{name: "missing order number", body: `{"type":"payment.succeeded","data":{"id":"pay_1","amount":2000,"currency":"USD"}}`,
			wantErr: `no order number at "data.order_no"`},
		{name: "missing transaction reference", body: `{"type":"payment.succeeded","data":{"order_no":"O1","amount":2000,"currency":"USD"}}`,
			wantErr: `no transaction reference at "data.id"`},
		{name: "missing event type", body: `{"data":{"id":"pay_1","order_no":"O1","amount":2000,"currency":"USD"}}`,
			wantErr: `no event type at "type"`},
		{name: "not JSON", body: `{"type":`, wantErr: `body is not UTF-8 JSON`},
		{name: "refund", body: `{"type":"refund.succeeded","data":{"id":"rf_1","order_no":"O1","amount":500,"currency":"USD"}}`,
			want: []callbacks.Notification{{TxnID: "rf_1:refund.succeeded", EventID: "msg_1", EventType: "refund.succeeded",
				Kind: ledger.KindRefundSucceeded, OrderNo: "O1", Reference: "rf_1", Money: usd(500)}}},
		{name: "unmapped event type", body: `{"type":"invoice.created","data":{"id":"in_1","order_no":"O1","amount":2000,"currency":"USD"}}`,
			want: []callbacks.Notification{{TxnID: "msg_1:unsupported", EventID: "msg_1", EventType: "invoice.created",
				OrderNo: "O1", Reference: "in_1", Money: ledger.Money{Currency: "USD"}, Unsupported: "unsupported event type invoice.created"}}},
		{name: "events map", events: invoiceEvents,
			body: `{"type":"invoice.paid","data":{"id":"in_1","order_no":"O1","amount":"20.00","currency":"USD"}}`,
			want: []callbacks.Notification{{TxnID: "in_1:payment.succeeded", EventID: "msg_1", EventType: "invoice.paid",
				Kind: ledger.KindPaymentSucceeded, OrderNo: "O1", Reference: "in_1", Money: usd(2000)}}},
		{name: "events map is the whole list", events: invoiceEvents, body: pay("2000", "USD"),
			want: []callbacks.Notification{{TxnID: "msg_1:unsupported", EventID: "msg_1", EventType: "payment.succeeded",
				OrderNo: "O1", Reference: "pay_1", Money: ledger.Money{Currency: "USD"}, Unsupported: "unsupported event type payment.succeeded"}}},
		{name: "event id from the payload",
			fields: standardwebhooks.Fields{TxnID: "data.id", EventType: "type", OrderNo: "data.order_no", Amount: "data.amount", Currency: "data.currency", EventID: "id"},
			body:   `{"id":"evt_77","type":"payment.succeeded","data":{"id":"pay_1","order_no":"O1","amount":2000,"currency":"USD"}}`,
			want: []callbacks.Notification{{TxnID: "pay_1:payment.succeeded", EventID: "evt_77", EventType: "payment.succeeded",
				Kind: ledger.KindPaymentSucceeded, OrderNo: "O1", Reference: "pay_1", Money: usd(2000)}}},
		{name: "event id from svix-id", header: headers("svix", "msg_svix", katTimestamp, "v1,x"), body: pay("2000", "USD"),
			want: []callbacks.Notification{{TxnID: "pay_1:payment.succeeded", EventID: "msg_svix", EventType: "payment.succeeded",
				Kind: ledger.KindPaymentSucceeded, OrderNo: "O1", Reference: "pay_1", Money: usd(2000)}}},
		{name: "unsupported without any event id", header: http.Header{},
			body: `{"type":"invoice.created","data":{"id":"in_1"}}`, wantErr: `no event id`},
		{name: "nested paths",
			fields: standardwebhooks.Fields{TxnID: "data.object.payment.ref", EventType: "event", OrderNo: "data.object.meta.order",
				Amount: "data.object.total.minor", Currency: "data.object.total.ccy"},
			body: `{"event":"payment.succeeded","data":{"object":{"payment":{"ref":"p-9"},"meta":{"order":"O1"},"total":{"minor":2000,"ccy":"USD"}}}}`,
			want: []callbacks.Notification{{TxnID: "p-9:payment.succeeded", EventID: "msg_1", EventType: "payment.succeeded",
				Kind: ledger.KindPaymentSucceeded, OrderNo: "O1", Reference: "p-9", Money: usd(2000)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t, standardwebhooks.Config{Events: tc.events, Fields: tc.fields})
			h := hdr
			if tc.header != nil {
				h = tc.header
			}
			got, err := p.Parse(callbacks.Inbound{Header: h, Body: []byte(tc.body)})
			if tc.wantErr != "" {
				if !errors.Is(err, callbacks.ErrMalformed) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse = %+v, %v; want ErrMalformed with %q", got, err, tc.wantErr)
				}
				return
			}
			providertest.CheckNotifications(t, tc.want, got, err)
		})
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  standardwebhooks.Config
		want string
	}{
		{"no name", standardwebhooks.Config{Secrets: []string{katSecret}, Fields: fields}, "standardwebhooks: no name"},
		{"no secret", standardwebhooks.Config{Name: "acme", Secrets: []string{}, Fields: fields}, "standardwebhooks acme: no secret"},
		{"missing fields", standardwebhooks.Config{Name: "acme", Secrets: []string{katSecret}, Fields: standardwebhooks.Fields{TxnID: "id"}},
			"standardwebhooks acme: fields txn_id, event_type, order_no, amount and currency are required"},
		{"secret without whsec_", standardwebhooks.Config{Name: "acme", Secrets: []string{katSecret, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, Fields: fields},
			"standardwebhooks acme: secret 2 does not start with whsec_"},
		{"secret not base64", standardwebhooks.Config{Name: "acme", Secrets: []string{"whsec_not base64!"}, Fields: fields},
			"standardwebhooks acme: secret 1 is not base64 after whsec_"},
		{"empty key", standardwebhooks.Config{Name: "acme", Secrets: []string{"whsec_"}, Fields: fields},
			"standardwebhooks acme: secret 1 is empty after whsec_"},
		{"event mapped to an unknown kind", standardwebhooks.Config{Name: "acme", Secrets: []string{katSecret}, Fields: fields,
			Events: map[string]string{"invoice.paid": "paid"}}, `standardwebhooks acme: event "invoice.paid" maps to unknown kind "paid"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := standardwebhooks.New(tc.cfg)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("New = %v, %v; want error %q", p, err, tc.want)
			}
		})
	}
}

func TestQueryAndAck(t *testing.T) {
	p := newProvider(t, standardwebhooks.Config{})
	if p.Name() != "acme" {
		t.Errorf("Name = %q", p.Name())
	}
	if _, err := p.Query(context.Background(), callbacks.StatusQuery{OrderNo: "O1"}); !errors.Is(err, callbacks.ErrQueryUnsupported) {
		t.Errorf("Query = %v, want ErrQueryUnsupported", err)
	}
	if a := p.Ack(nil); a.Status != 200 || string(a.Body) != `{"received":true}` {
		t.Errorf("Ack(nil) = %d %q", a.Status, a.Body)
	}
	if a := p.Ack(callbacks.ErrSignature); a.Status != 401 {
		t.Errorf("Ack(ErrSignature) = %d", a.Status)
	}
}

// FuzzParse: no body makes Parse panic; it returns ErrMalformed or one
// notification with a key, and a supported one passes the pipeline's checks
// but for the amount's range.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"type":"payment.succeeded","data":{"id":"pay_1","order_no":"O1","amount":2000,"currency":"USD"}}`))
	f.Add([]byte(`{"type":"invoice.paid","data":{"id":"in_1","order_no":"O1","amount":"20.00","currency":"usd"}}`))
	f.Add([]byte(`{"type":"refund.succeeded","data":{"id":"rf_1","order_no":"O1","amount":"1.234","currency":"KWD"}}`))
	f.Add([]byte(katBody))
	p := newProvider(f, standardwebhooks.Config{Events: map[string]string{"invoice.paid": "payment.succeeded",
		"payment.succeeded": "payment.succeeded", "refund.succeeded": "refund.succeeded"}})
	hdr := headers("webhook", "msg_1", katTimestamp, "v1,x")
	f.Fuzz(func(t *testing.T, body []byte) {
		ns, err := p.Parse(callbacks.Inbound{Header: hdr, Body: body})
		if err != nil {
			if !errors.Is(err, callbacks.ErrMalformed) {
				t.Fatalf("Parse error %v is not ErrMalformed", err)
			}
			return
		}
		if len(ns) != 1 || ns[0].TxnID == "" || ns[0].EventID == "" {
			t.Fatalf("Parse = %+v", ns)
		}
		if n := ns[0]; n.Unsupported == "" && (n.Reference == "" || n.OrderNo == "" || !n.Kind.Valid() || n.Money.Amount < 0) {
			t.Fatalf("supported notification missing facts: %+v", n)
		}
	})
}

// FuzzVerify: no headers make Verify panic; our own signature always
// verifies; and what Verify accepts, Svix's verifier accepts too.
func FuzzVerify(f *testing.F) {
	f.Add(katID, "1614265330", katSignature, []byte(katBody))
	f.Add("msg_1", "-1", "v1,AAAA v2,BBBB", []byte("{}"))
	f.Add("", "", "", []byte(nil))
	p := newProvider(f, standardwebhooks.Config{Secrets: []string{otherSecret, katSecret}})
	sx, err := svix.NewWebhook(katSecret)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		if id != "" && !strings.ContainsAny(id, "\r\n\x00") {
			own := must(standardwebhooks.Sign(katSecret, id, katTime, body))
			h := http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {strconv.FormatInt(katTimestamp, 10)}, "Webhook-Signature": {own}}
			if err := p.Verify(callbacks.Inbound{Header: h, Body: body}, katTime); err != nil {
				t.Fatalf("our own signature for id %q does not verify: %v", id, err)
			}
		}
		h := http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {sig}}
		if p.Verify(callbacks.Inbound{Header: h, Body: body, Replay: true}, katTime) != nil {
			return
		}
		if sx.VerifyIgnoringTimestamp(body, h) != nil {
			// It may be signed under the other configured secret.
			other, _ := svix.NewWebhook(otherSecret)
			if other.VerifyIgnoringTimestamp(body, h) != nil {
				t.Fatalf("Verify accepts id %q ts %q sig %q; Svix does not", id, ts, sig)
			}
		}
	})
}
