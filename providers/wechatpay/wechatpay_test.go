package wechatpay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/providertest"
	"gateway/providers/wechatpay"
)

// The SDK's notify handler accepts what our signer and Seal produce. The
// SDK checks the timestamp against the real clock, so this one test signs
// at time.Now.
func TestSDKAcceptsOurNotification(t *testing.T) {
	plaintext := []byte(`{"mchid":"1230000109","out_trade_no":"O-1","transaction_id":"4200001","trade_state":"SUCCESS","amount":{"total":100,"currency":"CNY"}}`)
	aead, err := wechatpay.NewAEAD([]byte(apiv3Key))
	if err != nil {
		t.Fatal(err)
	}
	res := wechatpay.Seal(aead, "0123456789ab", "transaction", plaintext)
	body := []byte(`{"id":"EV-1","create_time":"2025-11-28T18:00:00+08:00","resource_type":"encrypt-resource",` +
		`"event_type":"TRANSACTION.SUCCESS","summary":"支付成功","resource":{"original_type":"transaction",` +
		`"algorithm":"` + res.Algorithm + `","ciphertext":"` + res.Ciphertext + `","associated_data":"` + res.AssociatedData +
		`","nonce":"` + res.Nonce + `"}}`)
	h, err := wechatpay.Sign(providertest.Rotated.Private, pubKeyID, time.Now(), "n0nce", body)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/callbacks/wechatpay", bytes.NewReader(body))
	req.Header = h
	handler, err := notify.NewRSANotifyHandler(apiv3Key, verifiers.NewSHA256WithRSAPubkeyVerifier(pubKeyID, providertest.Rotated.Private.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	var content map[string]any
	got, err := handler.ParseNotifyRequest(context.Background(), req, &content)
	if err != nil {
		t.Fatalf("SDK refuses our notification: %v", err)
	}
	if got.Resource.Plaintext != string(plaintext) || content["transaction_id"] != "4200001" {
		t.Errorf("SDK decrypted %q, want %q", got.Resource.Plaintext, plaintext)
	}
	// And our verifier accepts the same bytes.
	if err := newProvider(t).Verify(callbacks.Inbound{Header: h, Body: body}, time.Now()); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// The known-answer vector of wechatpay-go's core/notify/notify_test.go:
// platform certificate serial D7CE59D1F522D701, ts 1624523846. Its APIv3
// key "testMchAPIv3Key0" is 16 bytes (AES-128-GCM), not a real 32-byte key,
// so the provider (which insists on 32 bytes) verifies the signature and
// Open with a 16-byte AEAD decrypts the resource.
func TestSDKKnownAnswer(t *testing.T) {
	const cert = `-----BEGIN CERTIFICATE-----
MIIDVzCCAj+gAwIBAgIJANfOWdH1ItcBMA0GCSqGSIb3DQEBCwUAMEIxCzAJBgNV
BAYTAlhYMRUwEwYDVQQHDAxEZWZhdWx0IENpdHkxHDAaBgNVBAoME0RlZmF1bHQg
Q29tcGFueSBMdGQwHhcNMjEwNDI3MDg1NTIzWhcNMzEwNDI1MDg1NTIzWjBCMQsw
CQYDVQQGEwJYWDEVMBMGA1UEBwwMRGVmYXVsdCBDaXR5MRwwGgYDVQQKDBNEZWZh
dWx0IENvbXBhbnkgTHRkMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA
2VCTd91fnUn73Xy9DLvt/V62TVxRTEEstVdeRaZ3B3leO0pldE806mXO4RwdHXag
HQ4vGeZN0yqm++rDsGK+U3AH7kejyD2pXshNP9Cq5YwbptiLGtjcquw4HNxJQUOm
DeJf2vg6byms9RUipiq4SzbJKqJFlUpbuIPDpSpWz10PYmyCNeDGUUK65E5h2B83
4uxl1zNLYQCrkdBzb8oUxwYeP5a2DNxmjL5lsJML7DGr5znsevnoqGRwTm9fxCGf
y8wus7hwKz6clt3Whmmda7UAdb1c08hEQFVRbF14AR73xbnd8N0obCWJPCbzMCtk
aSef4FdEEgEXJiw0VAJT8wIDAQABo1AwTjAdBgNVHQ4EFgQUT1c7nd/SUO76HSoZ
umNUJv1R5PwwHwYDVR0jBBgwFoAUT1c7nd/SUO76HSoZumNUJv1R5PwwDAYDVR0T
BAUwAwEB/zANBgkqhkiG9w0BAQsFAAOCAQEAfTjxKRQMzNB/U6ZoCUS+BSNfa2Oh
0plMN6ZuzwiVVZwg1jywvv5yv04koS7Pd4i9E4gt9ZBUQXlpq+A3oOCEEHNRR6b2
kyazGRM7s0OP5X21WrbpSmKmU6K7hkfx30yYs08LVs/Q8DIhvaj1FCFeJzUCzYn/
fHMq4tsbKO0dKAeydPM/nrUZBmaYQVKMVOORGLFjFKVO7JV6Kq/R86ouhjEPgJOe
2xulNBUcjicqtZlBdEh/PWCYP2SpGVDclKm8jeo175T3EVAkdKzzmfpxtMmnMlmq
cTJOU9TxuGvNASMtjj7pYIerTx+xgZDXEVBWFW9PjJ0TV06tCRsgSHItgg==
-----END CERTIFICATE-----`
	h := http.Header{}
	h.Set("Wechatpay-Nonce", "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz")
	h.Set("Wechatpay-Timestamp", "1624523846")
	h.Set("Wechatpay-Serial", "D7CE59D1F522D701")
	h.Set("Wechatpay-Signature", "tJHIiIS9eB2hAYstmAmbbD3ZE5LiIm/Ug5tuL4fC0YOFRWIHV39UFIZXC0e9Wl6lBu6sKvkqDkzpqzBsVHyXF"+
		"lbYZTOQrVdG4b6LfTnK4mikv9++ixJMd3vTf2yCqvBkh98zs3Ds5zsYQakzbcwhmw4fMJs4nPLws28H0UW9FjDR//rxELLwXvV1VEA1I"+
		"BLX70xptjL8hrfUjEE8kkry6yNJTHZRU8CAc7qHli2Ng1V1qb9ARbK8A3ThmFmPQvRGrapI/jS2laKKgYUmfdEdkNO6B2Cke5e8VTxY4"+
		"06ArAmQ90GAihDwIcb16TQMnzCMBoutnwZKNiKRACrFmtxw2Q==")
	body := []byte(`{"id":"3119dfba-e649-5eec-ab1e-3412bc4d2e17","create_time":"2021-06-24T16:37:26+08:00",` +
		`"resource_type":"encrypt-resource","event_type":"PAYSCORE.USER_OPEN_SERVICE","summary":"签约成功",` +
		`"resource":{"original_type":"payscore","algorithm":"AEAD_AES_256_GCM","ciphertext":"YDS3lKPaC4Y52Gf3uhft5qUBlIa8b428AWTtTauHQfQrRw+X1WpiuHIDy0vo1Vd6VEq67aVyqPdDYMkRVSDaZL3iZt` +
		`tevRMOoPKMifozg6XPWjIZumks/GpT48lI4NizyeaqLBokNebthah3o1H76qSlO9NkDjp9bzmKLEYYH9TEklFUpsvPqOTOcgSLgh21YJXYR` +
		`7dEBXFgRLiNIKRgO5JdXh1hccRUAlyVWxE54PXpnQ==","associated_data":"payscore","nonce":"Kj7QIyUiYx1q"}}`)
	cfg := config()
	cfg.PlatformKeys = map[string]string{"D7CE59D1F522D701": cert}
	p, err := wechatpay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1624523846, 0)
	in := callbacks.Inbound{Provider: "wechatpay", Header: h, Body: body}
	if err := p.Verify(in, at); err != nil {
		t.Fatalf("Verify(known answer): %v", err)
	}
	tampered := callbacks.Inbound{Header: h, Body: bytes.Replace(body, []byte("签约成功"), []byte("签约失败"), 1)}
	if err := p.Verify(tampered, at); !errors.Is(err, callbacks.ErrSignature) {
		t.Errorf("Verify(tampered known answer) = %v, want ErrSignature", err)
	}
	aead, err := wechatpay.NewAEAD([]byte("testMchAPIv3Key0"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := wechatpay.Open(aead, wechatpay.Resource{Algorithm: "AEAD_AES_256_GCM", AssociatedData: "payscore", Nonce: "Kj7QIyUiYx1q",
		Ciphertext: "YDS3lKPaC4Y52Gf3uhft5qUBlIa8b428AWTtTauHQfQrRw+X1WpiuHIDy0vo1Vd6VEq67aVyqPdDYMkRVSDaZL3iZttevRMOoPKMifozg6XPWjIZumks/GpT48lI4NizyeaqLBokNebthah3o1H76qSlO9NkDjp9bzmKLEYYH9TEklFUpsvPqOTOcgSLgh21YJXYR7dEBXFgRLiNIKRgO5JdXh1hccRUAlyVWxE54PXpnQ=="})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"mchid":"1234567890","appid":"054aa7d7a2a54ab5898df65bd96f001c","create_time":"2020-06-30T12:12:00+08:00","out_contract_code":"21640bdbd08e473e828f3206a2741c6e"}`
	if string(got) != want {
		t.Errorf("Open = %s, want %s", got, want)
	}
	// A PAYSCORE event is not one the gateway acts on: recorded, acknowledged.
	ns, err := p.Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]callbacks.Notification{{TxnID: "3119dfba-e649-5eec-ab1e-3412bc4d2e17:unsupported",
		EventID: "3119dfba-e649-5eec-ab1e-3412bc4d2e17", EventType: "PAYSCORE.USER_OPEN_SERVICE",
		Unsupported: "unsupported event type PAYSCORE.USER_OPEN_SERVICE"}}, ns); diff != "" {
		t.Errorf("Parse(known answer) (-want +got):\n%s", diff)
	}
}

func TestVerify(t *testing.T) {
	p := newProvider(t)
	pay := delivery{eventType: "TRANSACTION.SUCCESS", resource: payment("O-1", "4200000001", 100)}
	valid := pay.inbound(t)
	tests := []struct {
		name   string
		in     callbacks.Inbound
		replay bool
		err    error
	}{
		{"certificate key", valid, false, nil},
		{"rotated public key", delivery{eventType: "TRANSACTION.SUCCESS", resource: payment("O-1", "4200000001", 100),
			signer: providertest.Rotated.Private, serial: pubKeyID}.inbound(t), false, nil},
		{"4m59s old", delivery{eventType: "X", at: now.Add(-299 * time.Second)}.inbound(t), false, nil},
		{"5m exactly", delivery{eventType: "X", at: now.Add(-5 * time.Minute)}.inbound(t), false, nil},
		{"tampered body", callbacks.Inbound{Header: valid.Header, Body: bytes.Replace(valid.Body, []byte("EV-"), []byte("EW-"), 1)}, false, callbacks.ErrSignature},
		{"tampered nonce", withHeader(valid, "Wechatpay-Nonce", "other"), false, callbacks.ErrSignature},
		{"tampered timestamp", withHeader(valid, "Wechatpay-Timestamp", "1764324001"), false, callbacks.ErrSignature},
		{"wrong key for the serial", delivery{eventType: "X", signer: providertest.Stranger.Private, serial: providertest.ProviderCertSerial}.inbound(t), false, callbacks.ErrSignature},
		{"key of the other serial", delivery{eventType: "X", signer: providertest.Provider.Private, serial: pubKeyID}.inbound(t), false, callbacks.ErrSignature},
		{"unknown serial", delivery{eventType: "X", signer: providertest.Stranger.Private, serial: "PUB_KEY_ID_0199999999"}.inbound(t), false, callbacks.ErrSignature},
		{"6 minutes old", delivery{eventType: "X", at: now.Add(-6 * time.Minute)}.inbound(t), false, callbacks.ErrSignature},
		{"6 minutes ahead", delivery{eventType: "X", at: now.Add(6 * time.Minute)}.inbound(t), false, callbacks.ErrSignature},
		{"old but replayed by an admin", delivery{eventType: "X", at: now.Add(-48 * time.Hour)}.inbound(t), true, nil},
		{"replay still checks the signature", callbacks.Inbound{Header: valid.Header, Body: append(bytes.Clone(valid.Body), ' ')}, true, callbacks.ErrSignature},
		{"SIGNTEST probe", withHeader(valid, "Wechatpay-Signature", "WECHATPAY/SIGNTEST/"+valid.Header.Get("Wechatpay-Signature")), false, callbacks.ErrSignature},
		{"SIGNTEST probe on replay", withHeader(valid, "Wechatpay-Signature", "WECHATPAY/SIGNTEST/abc"), true, callbacks.ErrSignature},
		{"no signature", withHeader(valid, "Wechatpay-Signature", ""), false, callbacks.ErrSignature},
		{"no serial", withHeader(valid, "Wechatpay-Serial", ""), false, callbacks.ErrSignature},
		{"signature not base64", withHeader(valid, "Wechatpay-Signature", "%%%"), false, callbacks.ErrSignature},
		{"timestamp not a number", withHeader(valid, "Wechatpay-Timestamp", "soon"), false, callbacks.ErrSignature},
		{"signed timestamp", withHeader(valid, "Wechatpay-Timestamp", "+"+valid.Header.Get("Wechatpay-Timestamp")), false, callbacks.ErrSignature},
		{"SM2 signature type", withHeader(valid, "Wechatpay-Signature-Type", "WECHATPAY2-SM2-WITH-SM3"), false, callbacks.ErrSignature},
		{"absent signature type means RSA", withHeader(valid, "Wechatpay-Signature-Type", ""), false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Replay = tt.replay
			err := p.Verify(in, now)
			if tt.err == nil && err != nil || tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("Verify = %v, want %v", err, tt.err)
			}
		})
	}
}

func withHeader(in callbacks.Inbound, k, v string) callbacks.Inbound {
	h := in.Header.Clone()
	h.Set(k, v)
	return callbacks.Inbound{Provider: in.Provider, Header: h, Body: in.Body}
}

func TestParse(t *testing.T) {
	p := newProvider(t)
	pay := payment("O-1", "4200000001", 2000)
	tests := []struct {
		name string
		d    delivery
		want []callbacks.Notification
		err  error
	}{
		{"payment", delivery{eventType: "TRANSACTION.SUCCESS", resource: pay}, []callbacks.Notification{{
			TxnID: "4200000001:payment.succeeded", EventID: "EV-2018022511223320873", EventType: "TRANSACTION.SUCCESS",
			Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: "4200000001", Money: ledger.Money{Amount: 2000, Currency: "CNY"}}}, nil},
		{"payment in another currency", delivery{eventType: "TRANSACTION.SUCCESS", resource: with(pay, "amount", map[string]any{"total": 500, "currency": "HKD"})}, []callbacks.Notification{{
			TxnID: "4200000001:payment.succeeded", EventID: "EV-2018022511223320873", EventType: "TRANSACTION.SUCCESS",
			Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: "4200000001", Money: ledger.Money{Amount: 500, Currency: "HKD"}}}, nil},
		{"refund succeeded", delivery{id: "EV-R1", eventType: "REFUND.SUCCESS", resource: refund("O-1", "4200000001", "50000000382019052709732678859", "SUCCESS", 2000, 500)},
			[]callbacks.Notification{{TxnID: "50000000382019052709732678859:refund.succeeded", EventID: "EV-R1", EventType: "REFUND.SUCCESS",
				Kind: ledger.KindRefundSucceeded, OrderNo: "O-1", Reference: "4200000001", Money: ledger.Money{Amount: 500, Currency: "CNY"}}}, nil},
		{"refund abnormal", delivery{id: "EV-R2", eventType: "REFUND.ABNORMAL", resource: refund("O-1", "4200000001", "5000002", "ABNORMAL", 2000, 500)},
			[]callbacks.Notification{{TxnID: "5000002:refund.failed", EventID: "EV-R2", EventType: "REFUND.ABNORMAL",
				Kind: ledger.KindRefundFailed, OrderNo: "O-1", Reference: "4200000001", Money: ledger.Money{Amount: 500, Currency: "CNY"}}}, nil},
		{"refund closed", delivery{id: "EV-R3", eventType: "REFUND.CLOSED", resource: refund("O-1", "4200000001", "5000003", "CLOSED", 2000, 500)},
			[]callbacks.Notification{{TxnID: "5000003:refund.failed", EventID: "EV-R3", EventType: "REFUND.CLOSED",
				Kind: ledger.KindRefundFailed, OrderNo: "O-1", Reference: "4200000001", Money: ledger.Money{Amount: 500, Currency: "CNY"}}}, nil},
		{"unsupported event", delivery{id: "EV-9", eventType: "PARTNER.TRANSACTION.SUCCESS", resource: pay},
			[]callbacks.Notification{{TxnID: "EV-9:unsupported", EventID: "EV-9", EventType: "PARTNER.TRANSACTION.SUCCESS",
				Unsupported: "unsupported event type PARTNER.TRANSACTION.SUCCESS"}}, nil},
		{"another merchant", delivery{eventType: "TRANSACTION.SUCCESS", resource: with(pay, "mchid", "1900000000")}, nil, callbacks.ErrSignature},
		{"another app", delivery{eventType: "TRANSACTION.SUCCESS", resource: with(pay, "appid", "wx0000000000000000")}, nil, callbacks.ErrSignature},
		{"refund for another merchant", delivery{eventType: "REFUND.SUCCESS", resource: with(refund("O-1", "42", "50", "SUCCESS", 2, 1), "mchid", "1")}, nil, callbacks.ErrSignature},
		{"encrypted with another APIv3 key", delivery{eventType: "TRANSACTION.SUCCESS", resource: pay, key: "00000000000000000000000000000000"}, nil, callbacks.ErrSignature},
		{"success event, state not success", delivery{eventType: "TRANSACTION.SUCCESS", resource: with(pay, "trade_state", "NOTPAY")}, nil, callbacks.ErrMalformed},
		{"payment without transaction_id", delivery{eventType: "TRANSACTION.SUCCESS", resource: with(pay, "transaction_id", "")}, nil, callbacks.ErrMalformed},
		{"payment without amount", delivery{eventType: "TRANSACTION.SUCCESS", resource: with(pay, "amount", map[string]any{})}, nil, callbacks.ErrMalformed},
		{"fractional amount", delivery{eventType: "TRANSACTION.SUCCESS", resource: with(pay, "amount", map[string]any{"total": 20.5})}, nil, callbacks.ErrMalformed},
		{"refund status contradicts event", delivery{eventType: "REFUND.SUCCESS", resource: refund("O-1", "42", "50", "CLOSED", 2, 1)}, nil, callbacks.ErrMalformed},
		{"refund without refund_id", delivery{eventType: "REFUND.SUCCESS", resource: refund("O-1", "42", "", "SUCCESS", 2, 1)}, nil, callbacks.ErrMalformed},
		{"resource not JSON", delivery{eventType: "TRANSACTION.SUCCESS", resource: "not an object"}, nil, callbacks.ErrMalformed},
		{"invalid UTF-8 in the resource", delivery{eventType: "TRANSACTION.SUCCESS", resource: json.RawMessage(`{"mchid":"` + mchID + `","appid":"` + appID + `","out_trade_no":"O-` + "\xff" + `","transaction_id":"42","trade_state":"SUCCESS","amount":{"total":1}}`)}, nil, callbacks.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Parse(tt.d.inbound(t))
			providertest.CheckResult(t, got, err, tt.want, tt.err)
		})
	}
}

func TestParseEnvelope(t *testing.T) {
	p := newProvider(t)
	res := func(r string) []byte {
		return []byte(`{"id":"EV-1","event_type":"TRANSACTION.SUCCESS","resource":` + r + `}`)
	}
	tests := []struct {
		name string
		body []byte
	}{
		{"not JSON", []byte("<xml/>")},
		{"no id", []byte(`{"event_type":"TRANSACTION.SUCCESS"}`)},
		{"no event type", []byte(`{"id":"EV-1"}`)},
		{"other algorithm", res(`{"algorithm":"AEAD_SM4_GCM","nonce":"0123456789ab","ciphertext":"AAAAAAAAAAAAAAAAAAAAAA=="}`)},
		{"short nonce", res(`{"algorithm":"AEAD_AES_256_GCM","nonce":"abc","ciphertext":"AAAAAAAAAAAAAAAAAAAAAA=="}`)},
		{"ciphertext not base64", res(`{"algorithm":"AEAD_AES_256_GCM","nonce":"0123456789ab","ciphertext":"%%"}`)},
		{"ciphertext shorter than the tag", res(`{"algorithm":"AEAD_AES_256_GCM","nonce":"0123456789ab","ciphertext":"AAAA"}`)},
		{"invalid UTF-8 in an unsupported event", []byte("{\"id\":\"EV-1\",\"event_type\":\"OTHER.EVENT\",\"summary\":\"\xff\"}")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := p.Parse(callbacks.Inbound{Body: tt.body}); !errors.Is(err, callbacks.ErrMalformed) {
				t.Errorf("Parse = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestAck(t *testing.T) {
	p := newProvider(t)
	tests := []struct {
		name        string
		err         error
		status      int
		contentType string
		body        string
	}{
		{"durable", nil, 204, "", ""},
		{"bad signature", fmt.Errorf("%w: unknown platform key serial \"S\"", callbacks.ErrSignature), 401, "application/json; charset=utf-8",
			`{"code":"FAIL","message":"signature verification failed: unknown platform key serial \"S\""}`},
		{"malformed", callbacks.ErrMalformed, 400, "application/json; charset=utf-8", `{"code":"FAIL","message":"malformed notification"}`},
		{"transient", callbacks.ErrTransient, 503, "application/json; charset=utf-8", `{"code":"FAIL","message":"temporary failure, retry later"}`},
		{"database down", errors.New("dial tcp: connection refused"), 503, "application/json; charset=utf-8", `{"code":"FAIL","message":"temporary failure, retry later"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Ack(tt.err)
			want := callbacks.Ack{Status: tt.status, ContentType: tt.contentType}
			if tt.body != "" {
				want.Body = []byte(tt.body)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Ack (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name   string
		change func(*wechatpay.Config)
		want   string
	}{
		{"no mch_id", func(c *wechatpay.Config) { c.MchID = "" }, "mch_id"},
		{"short APIv3 key", func(c *wechatpay.Config) { c.APIv3Key = "testMchAPIv3Key0" }, "32 bytes"},
		{"no platform key", func(c *wechatpay.Config) { c.PlatformKeys = nil }, "platform_public_keys"},
		{"bad platform key", func(c *wechatpay.Config) {
			c.PlatformKeys = map[string]string{"S": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"}
		}, "platform_public_keys[S]"},
		{"missing key file", func(c *wechatpay.Config) { c.PlatformKeys = map[string]string{"S": "/nonexistent/wechatpay.pem"} }, "platform_public_keys[S]"},
		{"certificate under another serial", func(c *wechatpay.Config) {
			c.PlatformKeys = map[string]string{"ABCDEF": providertest.ProviderCertPEM}
		}, "certificate's serial"},
		{"private key without serial", func(c *wechatpay.Config) { c.MerchantSerial = "" }, "go together"},
		{"bad private key", func(c *wechatpay.Config) { c.MerchantPrivateKey = "not a key" }, "merchant_private_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config()
			tt.change(&c)
			_, err := wechatpay.New(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error about %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "not a key") {
				t.Errorf("error repeats the configured secret: %v", err)
			}
		})
	}
}

// Keys may be given as files too.
func TestNewKeyFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		t.Helper()
		path := dir + "/" + name
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	c := config()
	c.PlatformKeys = map[string]string{providertest.ProviderCertSerial: write("cert.pem", providertest.ProviderCertPEM)}
	c.MerchantPrivateKey = write("apiclient_key.pem", providertest.Merchant.PrivatePEM)
	p, err := wechatpay.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Verify(delivery{eventType: "X"}.inbound(t), now); err != nil {
		t.Errorf("Verify with a key from a file: %v", err)
	}
}

// BenchmarkVerifyParse is the provider's share of a delivery: the RSA
// verification, the AES-GCM decryption and the JSON.
func BenchmarkVerifyParse(b *testing.B) {
	p := newProvider(b)
	in := delivery{eventType: "TRANSACTION.SUCCESS", resource: payment("O-1", "4200000001", 2000)}.inbound(b)
	for b.Loop() {
		if err := p.Verify(in, now); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}
