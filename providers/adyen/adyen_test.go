package adyen_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/adyen/adyen-go-api-library/v16/src/hmacvalidator"
	"github.com/adyen/adyen-go-api-library/v16/src/webhook"
	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/adyen"
	"gateway/providers/providertest"
)

// Keys as Adyen shows them in the Customer Area: 64 hex digits.
const (
	key    = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"
	oldKey = "DFB1EB5485895CFA84146406857104ABB4CBCABDC8AAF103A624C8F6A3EAAB00"
	// stranger is nobody's key for this webhook.
	stranger = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// sdkItem is a NotificationRequestItem as the Adyen library models it.
func sdkItem(psp, original, event, success, orderNo string, value int64, currency string) webhook.NotificationRequestItem {
	at := now.Add(-time.Minute)
	return webhook.NotificationRequestItem{
		PspReference: psp, OriginalReference: original, MerchantAccountCode: "TestMerchant",
		MerchantReference: orderNo, EventCode: event, Success: success, EventDate: &at,
		Amount: webhook.Amount{Value: value, Currency: currency}, PaymentMethod: "visa", Reason: "046215:1111:03/2030",
	}
}

// sign sets additionalData.hmacSignature with the Adyen library's own
// CalculateHmac, as Adyen does before it sends an item.
func sign(t *testing.T, hexKey string, it webhook.NotificationRequestItem) webhook.NotificationRequestItem {
	t.Helper()
	sig, err := hmacvalidator.CalculateHmac(it, hexKey)
	if err != nil {
		t.Fatalf("CalculateHmac: %v", err)
	}
	it.AdditionalData = &map[string]interface{}{"hmacSignature": sig, "authCode": "046215"}
	return it
}

// body marshals items into the notification webhook JSON Adyen POSTs.
func body(t *testing.T, items ...webhook.NotificationRequestItem) []byte {
	t.Helper()
	ni := make([]webhook.NotificationItem, len(items))
	for i, it := range items {
		ni[i] = webhook.NotificationItem{NotificationRequestItem: it}
	}
	b, err := json.Marshal(webhook.Webhook{Live: "false", NotificationItems: &ni})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signedBody is a one-item delivery signed with key.
func signedBody(t *testing.T, it webhook.NotificationRequestItem) []byte {
	t.Helper()
	return body(t, sign(t, key, it))
}

func newProvider(t *testing.T, cfg adyen.Config) *adyen.Provider {
	t.Helper()
	if cfg.HMACKeys == nil {
		cfg.HMACKeys = []string{key, oldKey}
	}
	p, err := adyen.New(cfg)
	if err != nil {
		t.Fatalf("adyen.New: %v", err)
	}
	return p
}

// The known-answer vector from Adyen's documentation.
const (
	katString    = "7914073381342284::TestMerchant:TestPayment-1407325143704:1130:EUR:AUTHORISATION:true"
	katSignature = "coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0="
	katBody      = `{"live":"false","notificationItems":[{"NotificationRequestItem":{` +
		`"additionalData":{"hmacSignature":"coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0="},` +
		`"amount":{"currency":"EUR","value":1130},"eventCode":"AUTHORISATION","eventDate":"2014-08-06T13:39:04+02:00",` +
		`"merchantAccountCode":"TestMerchant","merchantReference":"TestPayment-1407325143704",` +
		`"operations":["CANCEL","CAPTURE","REFUND"],"paymentMethod":"visa","pspReference":"7914073381342284",` +
		`"reason":"1234:7777:12/2012","success":"true"}}]}`
)

func TestKnownAnswer(t *testing.T) {
	oracle, err := hmacvalidator.CalculateHmac(katString, key)
	if err != nil || oracle != katSignature {
		t.Fatalf("oracle CalculateHmac = %q, %v; want %q", oracle, err, katSignature)
	}
	got, err := adyen.Sign(key, katString)
	if err != nil || got != katSignature {
		t.Fatalf("Sign = %q, %v; want %q", got, err, katSignature)
	}
	p := newProvider(t, adyen.Config{HMACKeys: []string{key}})
	if err := p.Verify(callbacks.Inbound{Body: []byte(katBody)}, now); err != nil {
		t.Fatalf("Verify(known answer) = %v", err)
	}
	tampered := strings.Replace(katBody, `"value":1130`, `"value":1131`, 1)
	if err := p.Verify(callbacks.Inbound{Body: []byte(tampered)}, now); !errors.Is(err, callbacks.ErrSignature) {
		t.Fatalf("Verify(tampered known answer) = %v, want ErrSignature", err)
	}
}

func TestVerify(t *testing.T) {
	auth := sdkItem("8815000000000001", "", "AUTHORISATION", "true", "O-1", 1130, "EUR")
	valid := signedBody(t, auth)
	badItem := sign(t, stranger, sdkItem("8815000000000002", "", "AUTHORISATION", "true", "O-2", 500, "EUR"))
	noSig := auth
	noSig.AdditionalData = &map[string]interface{}{"authCode": "1"}
	nilData := auth // the library marshals a nil map as "additionalData":null
	tests := []struct {
		name    string
		keys    []string
		body    []byte
		wantErr error
	}{
		{"signed as Adyen does", nil, valid, nil},
		{"signed with the old key during rotation", nil, body(t, sign(t, oldKey, auth)), nil},
		{"old key no longer configured", []string{key}, body(t, sign(t, oldKey, auth)), callbacks.ErrSignature},
		{"batch of three", nil, body(t, sign(t, key, auth), sign(t, oldKey, sdkItem("8815000000000003", "8815000000000001", "CAPTURE", "true", "O-1", 1130, "EUR")),
			sign(t, key, sdkItem("8815000000000004", "8815000000000001", "REFUND", "true", "O-1", 130, "EUR"))), nil},
		{"wrong key", nil, body(t, sign(t, stranger, auth)), callbacks.ErrSignature},
		{"tampered amount", nil, []byte(strings.Replace(string(valid), `"value":1130`, `"value":113000`, 1)), callbacks.ErrSignature},
		{"tampered order number", nil, []byte(strings.Replace(string(valid), `"O-1"`, `"O-9"`, 1)), callbacks.ErrSignature},
		{"tampered success", nil, []byte(strings.Replace(string(valid), `"success":"true"`, `"success":"false"`, 1)), callbacks.ErrSignature},
		{"amount removed", nil, []byte(strings.Replace(string(valid), `"amount":{"currency":"EUR","value":1130},`, ``, 1)), callbacks.ErrSignature},
		{"no hmacSignature", nil, body(t, noSig), callbacks.ErrSignature},
		{"additionalData null", nil, body(t, nilData), callbacks.ErrSignature},
		{"no additionalData", nil, []byte(`{"live":"false","notificationItems":[{"NotificationRequestItem":{"pspReference":"1","eventCode":"AUTHORISATION","success":"true"}}]}`), callbacks.ErrSignature},
		{"hmacSignature not base64", nil, []byte(strings.Replace(string(valid), `"hmacSignature":"`, `"hmacSignature":"!!`, 1)), callbacks.ErrSignature},
		{"one bad item in a batch", nil, body(t, sign(t, key, auth), badItem), callbacks.ErrSignature},
		{"no items", nil, []byte(`{"live":"false","notificationItems":[]}`), callbacks.ErrMalformed},
		{"item without NotificationRequestItem", nil, []byte(`{"live":"false","notificationItems":[{}]}`), callbacks.ErrMalformed},
		{"not JSON", nil, []byte(`[accepted]`), callbacks.ErrMalformed},
		{"value not an integer", nil, []byte(strings.Replace(string(valid), `"value":1130`, `"value":11.30`, 1)), callbacks.ErrMalformed},
		{"empty body", nil, nil, callbacks.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t, adyen.Config{HMACKeys: tc.keys})
			err := p.Verify(callbacks.Inbound{Body: tc.body}, now)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tc.wantErr)
			}
			// A replay checks the same signature: nothing is time-bound.
			replayErr := p.Verify(callbacks.Inbound{Body: tc.body, Replay: true}, now.Add(90*24*time.Hour))
			if (err == nil) != (replayErr == nil) {
				t.Fatalf("Verify on replay = %v, live = %v", replayErr, err)
			}
		})
	}
}

func TestParse(t *testing.T) {
	const psp, pay = "8815000000000010", "8815000000000001"
	eur := func(v int64) ledger.Money { return ledger.Money{Amount: v, Currency: "EUR"} }
	tests := []struct {
		name   string
		cfg    adyen.Config
		item   webhook.NotificationRequestItem
		want   callbacks.Notification
		reason string // for Unsupported: a part of the reason
	}{
		{name: "authorisation counts as paid by default", item: sdkItem(pay, "", "AUTHORISATION", "true", "O-1", 1130, "EUR"),
			want: callbacks.Notification{TxnID: pay + ":payment.succeeded", EventID: pay, EventType: "AUTHORISATION",
				Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: pay, Money: eur(1130)}},
		{name: "refused authorisation", item: sdkItem(pay, "", "AUTHORISATION", "false", "O-1", 1130, "EUR"),
			want: callbacks.Notification{TxnID: pay + ":payment.failed", EventID: pay, EventType: "AUTHORISATION",
				Kind: ledger.KindPaymentFailed, OrderNo: "O-1", Reference: pay, Money: eur(1130)}},
		{name: "capture shares the payment's key", item: sdkItem(psp, pay, "CAPTURE", "true", "O-1", 1130, "EUR"),
			want: callbacks.Notification{TxnID: pay + ":payment.succeeded", EventID: psp, EventType: "CAPTURE",
				Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: pay, Money: eur(1130)}},
		{name: "paid on capture: authorisation has no effect", cfg: adyen.Config{PaidOn: adyen.PaidOnCapture},
			item: sdkItem(pay, "", "AUTHORISATION", "true", "O-1", 1130, "EUR"),
			want: callbacks.Notification{TxnID: pay + ":AUTHORISATION:true", EventID: pay, EventType: "AUTHORISATION",
				OrderNo: "O-1", Reference: pay}, reason: "CAPTURE notification counts"},
		{name: "paid on capture: capture counts", cfg: adyen.Config{PaidOn: adyen.PaidOnCapture},
			item: sdkItem(psp, pay, "CAPTURE", "true", "O-1", 1130, "EUR"),
			want: callbacks.Notification{TxnID: pay + ":payment.succeeded", EventID: psp, EventType: "CAPTURE",
				Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: pay, Money: eur(1130)}},
		{name: "paid on capture: failed capture", cfg: adyen.Config{PaidOn: adyen.PaidOnCapture},
			item: sdkItem(psp, pay, "CAPTURE", "false", "O-1", 1130, "EUR"),
			want: callbacks.Notification{TxnID: pay + ":payment.failed", EventID: psp, EventType: "CAPTURE",
				Kind: ledger.KindPaymentFailed, OrderNo: "O-1", Reference: pay, Money: eur(1130)}},
		{name: "failed capture after a counted authorisation", item: sdkItem(psp, pay, "CAPTURE", "false", "O-1", 1130, "EUR"),
			want:   callbacks.Notification{TxnID: psp + ":CAPTURE:false", EventID: psp, EventType: "CAPTURE", OrderNo: "O-1", Reference: psp},
			reason: "check the order"},
		{name: "refund keyed by its own reference", item: sdkItem(psp, pay, "REFUND", "true", "O-1", 300, "EUR"),
			want: callbacks.Notification{TxnID: psp + ":refund.succeeded", EventID: psp, EventType: "REFUND",
				Kind: ledger.KindRefundSucceeded, OrderNo: "O-1", Reference: pay, Money: eur(300)}},
		{name: "refused refund", item: sdkItem(psp, pay, "REFUND", "false", "O-1", 300, "EUR"),
			want: callbacks.Notification{TxnID: psp + ":refund.failed", EventID: psp, EventType: "REFUND",
				Kind: ledger.KindRefundFailed, OrderNo: "O-1", Reference: pay, Money: eur(300)}},
		{name: "cancellation closes", item: sdkItem(psp, pay, "CANCELLATION", "true", "O-1", 1130, "EUR"),
			want: callbacks.Notification{TxnID: pay + ":payment.closed", EventID: psp, EventType: "CANCELLATION",
				Kind: ledger.KindPaymentClosed, OrderNo: "O-1", Reference: pay, Money: eur(1130)}},
		{name: "other event codes are acknowledged", item: sdkItem(psp, pay, "CHARGEBACK", "true", "O-1", 1130, "EUR"),
			want:   callbacks.Notification{TxnID: psp + ":CHARGEBACK:true", EventID: psp, EventType: "CHARGEBACK", OrderNo: "O-1", Reference: psp},
			reason: "unsupported event code CHARGEBACK"},
		{name: "another merchant account", cfg: adyen.Config{MerchantAccount: "OurAccount"},
			item:   sdkItem(pay, "", "AUTHORISATION", "true", "O-1", 1130, "EUR"),
			want:   callbacks.Notification{TxnID: pay + ":AUTHORISATION:true", EventID: pay, EventType: "AUTHORISATION", OrderNo: "O-1", Reference: pay},
			reason: `merchant account "TestMerchant"`},
		{name: "our merchant account", cfg: adyen.Config{MerchantAccount: "TestMerchant"},
			item: sdkItem(pay, "", "AUTHORISATION", "true", "O-1", 1130, "EUR"),
			want: callbacks.Notification{TxnID: pay + ":payment.succeeded", EventID: pay, EventType: "AUTHORISATION",
				Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: pay, Money: eur(1130)}},
		{name: "yen has no decimals", item: sdkItem(pay, "", "AUTHORISATION", "true", "O-1", 1500, "JPY"),
			want: callbacks.Notification{TxnID: pay + ":payment.succeeded", EventID: pay, EventType: "AUTHORISATION",
				Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: pay, Money: ledger.Money{Amount: 1500, Currency: "JPY"}}},
		{name: "dinar has three", item: sdkItem(pay, "", "AUTHORISATION", "true", "O-1", 12345, "KWD"),
			want: callbacks.Notification{TxnID: pay + ":payment.succeeded", EventID: pay, EventType: "AUTHORISATION",
				Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: pay, Money: ledger.Money{Amount: 12345, Currency: "KWD"}}},
		{name: "Adyen's ISK has two decimals, ISO's none", item: sdkItem(pay, "", "AUTHORISATION", "true", "O-1", 279000, "ISK"),
			want: callbacks.Notification{TxnID: pay + ":payment.succeeded", EventID: pay, EventType: "AUTHORISATION",
				Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: pay, Money: ledger.Money{Amount: 2790, Currency: "ISK"}}},
		{name: "Adyen's CVE has none, ISO's two", item: sdkItem(pay, "", "AUTHORISATION", "true", "O-1", 500, "CVE"),
			want: callbacks.Notification{TxnID: pay + ":payment.succeeded", EventID: pay, EventType: "AUTHORISATION",
				Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: pay, Money: ledger.Money{Amount: 50000, Currency: "CVE"}}},
		{name: "ISK with fractional kronur", item: sdkItem(pay, "", "AUTHORISATION", "true", "O-1", 279050, "ISK"),
			want:   callbacks.Notification{TxnID: pay + ":AUTHORISATION:true", EventID: pay, EventType: "AUTHORISATION", OrderNo: "O-1", Reference: pay},
			reason: "decimals"},
		{name: "unknown currency", item: sdkItem(pay, "", "AUTHORISATION", "true", "O-1", 100, "XXX"),
			want:   callbacks.Notification{TxnID: pay + ":AUTHORISATION:true", EventID: pay, EventType: "AUTHORISATION", OrderNo: "O-1", Reference: pay},
			reason: "not an ISO-4217 currency"},
		{name: "no merchant reference", item: sdkItem(pay, "", "AUTHORISATION", "true", "", 100, "EUR"),
			want:   callbacks.Notification{TxnID: pay + ":AUTHORISATION:true", EventID: pay, EventType: "AUTHORISATION", Reference: pay},
			reason: "not an order number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t, tc.cfg)
			in := callbacks.Inbound{Body: signedBody(t, tc.item)}
			if err := p.Verify(in, now); err != nil {
				t.Fatalf("Verify = %v", err)
			}
			ns, err := p.Parse(in)
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			if len(ns) != 1 {
				t.Fatalf("Parse gave %d notifications, want 1", len(ns))
			}
			providertest.CheckNotification(t, ns[0], tc.want, tc.reason)
		})
	}
}

func TestParseBatchKeepsOrder(t *testing.T) {
	p := newProvider(t, adyen.Config{})
	b := body(t, sign(t, key, sdkItem("A1", "", "AUTHORISATION", "true", "O-1", 100, "EUR")),
		sign(t, key, sdkItem("A2", "", "AUTHORISATION", "true", "O-2", 200, "EUR")),
		sign(t, key, sdkItem("R1", "A1", "REFUND", "true", "O-1", 50, "EUR")))
	ns, err := p.Parse(callbacks.Inbound{Body: b})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, n := range ns {
		keys = append(keys, n.TxnID)
	}
	want := []string{"A1:payment.succeeded", "A2:payment.succeeded", "R1:refund.succeeded"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  adyen.Config
	}{
		{"no key", adyen.Config{}},
		{"key not hex", adyen.Config{HMACKeys: []string{"not-hex"}}},
		{"unknown paid_on", adyen.Config{HMACKeys: []string{key}, PaidOn: "settlement"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := adyen.New(tc.cfg); err == nil {
				t.Fatal("New accepted a bad configuration")
			}
		})
	}
}

func TestAck(t *testing.T) {
	p := newProvider(t, adyen.Config{})
	tests := []struct {
		name string
		err  error
		want callbacks.Ack
	}{
		{"accepted", nil, callbacks.Ack{Status: 200, ContentType: "text/plain; charset=utf-8", Body: []byte("[accepted]")}},
		{"bad signature", callbacks.ErrSignature, callbacks.Ack{Status: 401, ContentType: "application/json; charset=utf-8",
			Body: []byte(`{"error":{"code":"bad_signature","message":"signature verification failed"}}`)}},
		{"malformed", callbacks.ErrMalformed, callbacks.Ack{Status: 400, ContentType: "application/json; charset=utf-8",
			Body: []byte(`{"error":{"code":"malformed","message":"malformed notification"}}`)}},
		{"transient", callbacks.ErrTransient, callbacks.Ack{Status: 503, ContentType: "application/json; charset=utf-8",
			Body: []byte(`{"error":{"code":"unavailable","message":"temporary failure, retry later"}}`)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, p.Ack(tc.err)); diff != "" {
				t.Errorf("Ack (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQueryUnsupported(t *testing.T) {
	p := newProvider(t, adyen.Config{})
	_, err := p.Query(t.Context(), callbacks.StatusQuery{OrderNo: "O-1", Reference: "8815000000000001"})
	if !errors.Is(err, callbacks.ErrQueryUnsupported) {
		t.Fatalf("Query = %v, want ErrQueryUnsupported", err)
	}
}
