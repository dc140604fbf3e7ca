// Signers that act as WeChat Pay, Alipay, Adyen and PayPal, for tests that
// deliver callbacks from outside the provider packages (the bad-input
// catalogue, the fault harness). Each signs with the provider's own SDK where
// there is one, as the provider packages' tests do, so that what the gateway
// verifies was not produced by the gateway's own code.

package providertest

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/adyen/adyen-go-api-library/v16/src/hmacvalidator"
	"github.com/adyen/adyen-go-api-library/v16/src/webhook"
	sdkalipay "github.com/smartwalle/alipay/v3"
	"github.com/smartwalle/nsign"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// WeChatPayHeaders signs body as WeChat Pay signs a notification: the SDK's
// utils.SignSHA256WithRSA over "timestamp\nnonce\nbody\n", sent with the
// key's serial.
func WeChatPayHeaders(key *rsa.PrivateKey, serial string, at time.Time, nonce string, body []byte) (http.Header, error) {
	ts := strconv.FormatInt(at.Unix(), 10)
	sig, err := utils.SignSHA256WithRSA(ts+"\n"+nonce+"\n"+string(body)+"\n", key)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature", sig)
	h.Set("Wechatpay-Serial", serial)
	h.Set("Wechatpay-Signature-Type", "WECHATPAY2-SHA256-RSA2048")
	return h, nil
}

// WeChatPayNotification is a notification envelope as WeChat Pay POSTs it,
// its resource (the plaintext: []byte as is, anything else marshalled to
// JSON) encrypted with AEAD_AES_256_GCM under apiv3Key with the 12-byte
// nonce (the SDK only decrypts, so this uses the standard library, as the
// provider tests do).
func WeChatPayNotification(apiv3Key, id, eventType, summary, originalType, nonce string, resource any) ([]byte, error) {
	pt, ok := resource.([]byte)
	if !ok {
		var err error
		if pt, err = json.Marshal(resource); err != nil {
			return nil, err
		}
	}
	block, err := aes.NewCipher([]byte(apiv3Key))
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(nonce) != gcm.NonceSize() {
		return nil, fmt.Errorf("providertest: WeChat Pay resource nonce must be %d bytes", gcm.NonceSize())
	}
	ad := originalType
	return json.Marshal(map[string]any{
		"id": id, "create_time": "2026-11-28T18:00:00+08:00", "resource_type": "encrypt-resource",
		"event_type": eventType, "summary": summary,
		"resource": map[string]string{"original_type": originalType, "algorithm": "AEAD_AES_256_GCM",
			"ciphertext":      base64.StdEncoding.EncodeToString(gcm.Seal(nil, []byte(nonce), pt, []byte(ad))),
			"associated_data": ad, "nonce": nonce},
	})
}

// AlipaySigner signs notifications as Alipay does, with the SDK's
// SignValues under key (sign and sign_type left out of the signed content).
type AlipaySigner struct{ client *sdkalipay.Client }

// NewAlipaySigner returns a signer holding key as Alipay's private key.
func NewAlipaySigner(key Key) (*AlipaySigner, error) {
	c, err := sdkalipay.New("signer", key.PrivatePEM, false)
	if err != nil {
		return nil, err
	}
	return &AlipaySigner{client: c}, nil
}

// Form returns the form body Alipay POSTs for v: sign_type RSA2 unless v
// sets another, and sign over the rest.
func (s *AlipaySigner) Form(v url.Values) ([]byte, error) {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	out.Del("sign")
	if out.Get("sign_type") == "" {
		out.Set("sign_type", "RSA2")
	}
	sig, err := s.client.SignValues(out, nsign.WithIgnore("sign", "sign_type"))
	if err != nil {
		return nil, err
	}
	out.Set("sign", base64.StdEncoding.EncodeToString(sig))
	return []byte(out.Encode()), nil
}

// AdyenSign sets its additionalData.hmacSignature with the Adyen library's
// own CalculateHmac under the hex key, as Adyen does before it sends an item.
func AdyenSign(hexKey string, it webhook.NotificationRequestItem) (webhook.NotificationRequestItem, error) {
	sig, err := hmacvalidator.CalculateHmac(it, hexKey)
	if err != nil {
		return it, err
	}
	it.AdditionalData = &map[string]interface{}{"hmacSignature": sig}
	return it, nil
}

// AdyenBody is the standard notification webhook JSON carrying items, in
// the Adyen library's own types.
func AdyenBody(items ...webhook.NotificationRequestItem) ([]byte, error) {
	ni := make([]webhook.NotificationItem, len(items))
	for i, it := range items {
		ni[i] = webhook.NotificationItem{NotificationRequestItem: it}
	}
	return json.Marshal(webhook.Webhook{Live: "false", NotificationItems: &ni})
}

// PayPalHeaders signs one transmission of body as PayPal does: RSA PKCS#1
// v1.5 SHA-256 over "id|time|webhook_id|crc32(body)" (no SDK verifies
// offline, so this is the standard library, as the provider tests do).
// transmissionTime is sent as given, so a test can send a malformed one.
func PayPalHeaders(key *rsa.PrivateKey, transmissionID, transmissionTime, webhookID string, body []byte) (http.Header, error) {
	msg := transmissionID + "|" + transmissionTime + "|" + webhookID + "|" + strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)
	digest := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Paypal-Transmission-Id", transmissionID)
	h.Set("Paypal-Transmission-Time", transmissionTime)
	h.Set("Paypal-Transmission-Sig", base64.StdEncoding.EncodeToString(sig))
	h.Set("Paypal-Cert-Url", "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77")
	h.Set("Paypal-Auth-Algo", "SHA256withRSA")
	return h, nil
}
