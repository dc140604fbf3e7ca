package wechatpay_test

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"gateway/callbacks"
	"gateway/providers/providertest"
	"gateway/providers/wechatpay"
)

const (
	mchID    = "1230000109"
	appID    = "wxd678efh567hg6787"
	apiv3Key = "Vb3JnZ8kQ2mW7pX4tY6uZ9aC1dF5hK0s" // 32 bytes, test only
	// pubKeyID is a platform key in "WeChat Pay public key" mode; the
	// certificate-mode key is providertest.ProviderCertSerial.
	pubKeyID       = "PUB_KEY_ID_0112300001092025112800000000000001"
	merchantSerial = "5157F09EFDC096DE15EBE81A47057A7232F9B5A0"
)

// now is the fixed clock of the tests.
var now = time.Date(2025, 11, 28, 10, 0, 0, 0, time.UTC)

// config is a provider with both platform keys live at once: the
// certificate (Provider key) and a public key (Rotated key).
func config() wechatpay.Config {
	return wechatpay.Config{Name: "wechatpay", MchID: mchID, AppID: appID, APIv3Key: apiv3Key,
		PlatformKeys: map[string]string{
			providertest.ProviderCertSerial: providertest.ProviderCertPEM,
			pubKeyID:                        providertest.Rotated.PublicPEM,
		},
		MerchantPrivateKey: providertest.Merchant.PrivatePEM, MerchantSerial: merchantSerial,
		Now: func() time.Time { return now }}
}

func newProvider(t testing.TB) *wechatpay.Provider {
	t.Helper()
	p, err := wechatpay.New(config())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// delivery is one notification as WeChat Pay sends it.
type delivery struct {
	id, eventType string
	resource      any    // the plaintext, marshalled to JSON
	key           string // the APIv3 key that encrypts it
	signer        *rsa.PrivateKey
	serial        string
	at            time.Time
	nonce         string
}

// defaults fills what a test leaves out: signed by the certificate key
// now, encrypted with our APIv3 key.
func (d delivery) defaults() delivery {
	if d.id == "" {
		d.id = "EV-2018022511223320873"
	}
	if d.key == "" {
		d.key = apiv3Key
	}
	if d.signer == nil {
		d.signer, d.serial = providertest.Provider.Private, providertest.ProviderCertSerial
	}
	if d.at.IsZero() {
		d.at = now
	}
	if d.nonce == "" {
		d.nonce = "fdasflkja484w"
	}
	return d
}

// body encrypts the resource with the standard library (the SDK has no
// encrypt) and wraps it in the notification envelope.
func (d delivery) body(t testing.TB) []byte {
	t.Helper()
	pt, err := json.Marshal(d.resource)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher([]byte(d.key))
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	const nonce, ad = "fdasfjihihih", "transaction"
	env := map[string]any{
		"id": d.id, "create_time": "2015-05-20T13:29:35+08:00", "resource_type": "encrypt-resource",
		"event_type": d.eventType, "summary": "支付成功",
		"resource": map[string]string{"original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
			"ciphertext":      base64.StdEncoding.EncodeToString(gcm.Seal(nil, []byte(nonce), pt, []byte(ad))),
			"associated_data": ad, "nonce": nonce},
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// inbound returns the delivery with its body signed by the SDK's
// utils.SignSHA256WithRSA, as WeChat Pay signs it.
func (d delivery) inbound(t testing.TB) callbacks.Inbound {
	t.Helper()
	d = d.defaults()
	return sign(t, d.body(t), d.signer, d.serial, d.at, d.nonce)
}

func sign(t testing.TB, body []byte, key *rsa.PrivateKey, serial string, at time.Time, nonce string) callbacks.Inbound {
	t.Helper()
	h, err := providertest.WeChatPayHeaders(key, serial, at, nonce, body)
	if err != nil {
		t.Fatal(err)
	}
	return callbacks.Inbound{Provider: "wechatpay", Header: h, Body: body}
}

// payment is a TRANSACTION.SUCCESS resource.
func payment(orderNo, txnID string, total int64) map[string]any {
	return map[string]any{
		"mchid": mchID, "appid": appID, "out_trade_no": orderNo, "transaction_id": txnID,
		"trade_type": "JSAPI", "trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "CMC",
		"attach": "", "success_time": "2018-06-08T10:34:56+08:00", "payer": map[string]string{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
		"amount": map[string]any{"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"},
	}
}

// refund is a REFUND.* resource.
func refund(orderNo, txnID, refundID, status string, total, amount int64) map[string]any {
	return map[string]any{
		"mchid": mchID, "out_trade_no": orderNo, "transaction_id": txnID, "out_refund_no": "R" + refundID,
		"refund_id": refundID, "refund_status": status, "success_time": "2018-06-08T10:34:56+08:00",
		"user_received_account": "招商银行信用卡0403",
		"amount":                map[string]any{"total": total, "refund": amount, "payer_total": total, "payer_refund": amount},
	}
}

// with returns a copy of m with k set to v.
func with(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m))
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}
