// Package wechatpay receives WeChat Pay API v3 notifications and queries
// WeChat Pay orders for the reconciler.
//
// A notification is verified over the raw bytes (SHA256withRSA over
// "timestamp\nnonce\nbody\n" with the platform key that Wechatpay-Serial
// names, timestamp within ±Tolerance), its resource decrypted with
// AEAD_AES_256_GCM under the APIv3 key, and checked to be addressed to our
// merchant (mchid, and appid when configured).
//
// Dedup keys (DESIGN §2): a payment is "<transaction_id>:payment.succeeded",
// a refund "<refund_id>:refund.succeeded" (or refund.failed for
// REFUND.ABNORMAL and REFUND.CLOSED). The notification id is the event id.
//
// Acknowledgement: 204 No Content with no body once the delivery is durable
// (WeChat Pay reads only the status code; 200 and 204 both mean success);
// otherwise a 4xx or 5xx with {"code":"FAIL","message":"…"}, which WeChat Pay
// retries over about 24 hours.
package wechatpay

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/query"
	"gateway/providers/rsakey"
)

// Header names of a signed WeChat Pay message (notification or API answer).
const (
	HeaderTimestamp     = "Wechatpay-Timestamp"
	HeaderNonce         = "Wechatpay-Nonce"
	HeaderSignature     = "Wechatpay-Signature"
	HeaderSerial        = "Wechatpay-Serial"
	HeaderSignatureType = "Wechatpay-Signature-Type"
)

const (
	signatureType = "WECHATPAY2-SHA256-RSA2048"
	algorithm     = "AEAD_AES_256_GCM"
	// probePrefix starts the deliberately wrong signatures WeChat Pay sends
	// to check that merchants verify.
	probePrefix = "WECHATPAY/SIGNTEST/"
	// APIv3KeySize is the length of a merchant's APIv3 key in bytes.
	APIv3KeySize = 32
	defaultBase  = "https://api.mch.weixin.qq.com"
)

// Config configures the provider.
type Config struct {
	Name  string
	MchID string
	// AppID, when set, must equal the appid of every transaction.
	AppID string
	// APIv3Key is the merchant's 32-byte APIv3 key (AES-256-GCM key).
	APIv3Key string
	// PlatformKeys maps a platform certificate serial or a PUB_KEY_ID_… to
	// the public key or certificate that verifies it: PEM text, base64 DER
	// or a file path. Several may be live at once (rotation).
	PlatformKeys map[string]string
	// Tolerance is the two-sided timestamp window (default 5m).
	Tolerance time.Duration
	// MerchantPrivateKey and MerchantSerial sign API requests (Query);
	// without them Query is unsupported.
	MerchantPrivateKey string
	MerchantSerial     string
	APIBase            string
	Client             *http.Client
	// Now is the clock for checking API answers (default time.Now).
	Now func() time.Time
}

// Provider is WeChat Pay API v3.
type Provider struct {
	cfg      Config
	keys     map[string]*rsa.PublicKey
	aead     cipher.AEAD
	merchant *rsa.PrivateKey
	api      *query.Client
}

// New checks the configuration and returns the provider.
func New(cfg Config) (*Provider, error) {
	if cfg.Name == "" {
		cfg.Name = "wechatpay"
	}
	errf := func(format string, a ...any) error {
		return fmt.Errorf("wechatpay %s: %s", cfg.Name, fmt.Sprintf(format, a...))
	}
	if cfg.MchID == "" {
		return nil, errf("mch_id is required")
	}
	if len(cfg.APIv3Key) != APIv3KeySize {
		return nil, errf("apiv3_key must be %d bytes, not %d", APIv3KeySize, len(cfg.APIv3Key))
	}
	if len(cfg.PlatformKeys) == 0 {
		return nil, errf("platform_public_keys: at least one platform key is required")
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = 5 * time.Minute
	}
	if cfg.APIBase == "" {
		cfg.APIBase = defaultBase
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	aead, err := NewAEAD([]byte(cfg.APIv3Key))
	if err != nil {
		return nil, errf("apiv3_key: %v", err)
	}
	p := &Provider{cfg: cfg, keys: map[string]*rsa.PublicKey{}, aead: aead, api: query.New(cfg.APIBase, cfg.Client)}
	for serial, s := range cfg.PlatformKeys {
		pub, cert, err := rsakey.Public(s)
		if err != nil {
			return nil, errf("platform_public_keys[%s]: %v", serial, err)
		}
		if cert != nil && !sameSerial(cert.SerialNumber, serial) {
			return nil, errf("platform_public_keys[%s]: the certificate's serial is %X", serial, cert.SerialNumber)
		}
		p.keys[serial] = pub
	}
	switch {
	case cfg.MerchantPrivateKey != "" && cfg.MerchantSerial != "":
		if p.merchant, err = rsakey.Private(cfg.MerchantPrivateKey); err != nil {
			return nil, errf("merchant_private_key: %v", err)
		}
	case cfg.MerchantPrivateKey != "" || cfg.MerchantSerial != "":
		return nil, errf("merchant_private_key and merchant_serial go together")
	}
	return p, nil
}

// sameSerial compares a certificate serial with the hex serial WeChat Pay
// sends, ignoring case and leading zeros.
func sameSerial(n *big.Int, serial string) bool {
	v, ok := new(big.Int).SetString(serial, 16)
	return ok && v.Cmp(n) == 0
}

// NewAEAD returns AES-GCM under key (32 bytes for a real APIv3 key; the
// SDK's test vector uses 16).
func NewAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Name implements callbacks.Provider.
func (p *Provider) Name() string { return p.cfg.Name }

// message is what WeChat Pay signs: "timestamp\nnonce\nbody\n".
func message(ts, nonce string, body []byte) []byte {
	m := make([]byte, 0, len(ts)+len(nonce)+len(body)+3)
	m = append(m, ts...)
	m = append(m, '\n')
	m = append(m, nonce...)
	m = append(m, '\n')
	m = append(m, body...)
	return append(m, '\n')
}

// Sign returns the headers WeChat Pay sends with a message signed by a
// platform key (for the dev signer, the load tool and fake API servers).
func Sign(key *rsa.PrivateKey, serial string, t time.Time, nonce string, body []byte) (http.Header, error) {
	ts := strconv.FormatInt(t.Unix(), 10)
	sig, err := rsakey.Sign(key, message(ts, nonce, body))
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderNonce, nonce)
	h.Set(HeaderSignature, base64.StdEncoding.EncodeToString(sig))
	h.Set(HeaderSerial, serial)
	h.Set(HeaderSignatureType, signatureType)
	return h, nil
}

// Verify implements callbacks.Provider.
func (p *Provider) Verify(in callbacks.Inbound, now time.Time) error {
	return p.verify(in.Header, in.Body, now, !in.Replay)
}

// verify checks a signed message (a notification or an API answer).
func (p *Provider) verify(h http.Header, body []byte, now time.Time, window bool) error {
	get := func(k string) string { return strings.TrimSpace(h.Get(k)) }
	sig, ts, nonce, serial := get(HeaderSignature), get(HeaderTimestamp), get(HeaderNonce), get(HeaderSerial)
	if strings.HasPrefix(sig, probePrefix) {
		return fmt.Errorf("%w: WeChat Pay signature probe (%s…) refused", callbacks.ErrSignature, probePrefix)
	}
	if t := get(HeaderSignatureType); t != "" && t != signatureType {
		return fmt.Errorf("%w: unsupported signature type %q", callbacks.ErrSignature, t)
	}
	if sig == "" || ts == "" || nonce == "" || serial == "" {
		return fmt.Errorf("%w: missing %s, %s, %s or %s", callbacks.ErrSignature, HeaderSignature, HeaderTimestamp, HeaderNonce, HeaderSerial)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ts[0] == '+' || ts[0] == '-' {
		return fmt.Errorf("%w: %s is not a unix time", callbacks.ErrSignature, HeaderTimestamp)
	}
	key, ok := p.keys[serial]
	if !ok {
		return fmt.Errorf("%w: unknown platform key serial %q", callbacks.ErrSignature, serial)
	}
	if window {
		if d := now.Sub(time.Unix(sec, 0)); d > p.cfg.Tolerance || d < -p.cfg.Tolerance {
			return fmt.Errorf("%w: timestamp %d outside the %s window", callbacks.ErrSignature, sec, p.cfg.Tolerance)
		}
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: signature is not base64", callbacks.ErrSignature)
	}
	if err := rsakey.Verify(key, message(ts, nonce, body), raw); err != nil {
		return fmt.Errorf("%w: signature does not verify with platform key %s", callbacks.ErrSignature, serial)
	}
	return nil
}

// Ack implements callbacks.Provider: 204 once durable, otherwise the
// refusal or retry-later status with {"code":"FAIL","message":…}.
func (p *Provider) Ack(err error) callbacks.Ack {
	if err == nil {
		return callbacks.Ack{Status: http.StatusNoContent}
	}
	body, _ := json.Marshal(map[string]string{"code": "FAIL", "message": callbacks.PublicMessage(err)})
	return callbacks.Ack{Status: callbacks.StatusFor(err), ContentType: "application/json; charset=utf-8", Body: body}
}

// Resource is a notification's encrypted payload.
type Resource struct {
	OriginalType   string `json:"original_type"`
	Algorithm      string `json:"algorithm"`
	Ciphertext     string `json:"ciphertext"`
	AssociatedData string `json:"associated_data"`
	Nonce          string `json:"nonce"`
}

// Open decrypts a resource with aead: base64(ciphertext‖tag), the nonce
// and associated data as sent. A resource that does not authenticate under
// the key is a signature failure; one that cannot be read is malformed.
func Open(aead cipher.AEAD, r Resource) ([]byte, error) {
	if r.Algorithm != algorithm {
		return nil, fmt.Errorf("%w: resource algorithm %q is not %s", callbacks.ErrMalformed, r.Algorithm, algorithm)
	}
	if len(r.Nonce) != aead.NonceSize() {
		return nil, fmt.Errorf("%w: resource nonce must be %d bytes", callbacks.ErrMalformed, aead.NonceSize())
	}
	ct, err := base64.StdEncoding.DecodeString(r.Ciphertext)
	if err != nil || len(ct) < aead.Overhead() {
		return nil, fmt.Errorf("%w: resource ciphertext is not base64 of ciphertext and tag", callbacks.ErrMalformed)
	}
	pt, err := aead.Open(nil, []byte(r.Nonce), ct, []byte(r.AssociatedData))
	if err != nil {
		return nil, fmt.Errorf("%w: resource does not decrypt with the APIv3 key", callbacks.ErrSignature)
	}
	return pt, nil
}

// Seal encrypts plaintext as WeChat Pay does (for tests and tools).
func Seal(aead cipher.AEAD, nonce, associatedData string, plaintext []byte) Resource {
	ct := aead.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))
	return Resource{Algorithm: algorithm, Ciphertext: base64.StdEncoding.EncodeToString(ct),
		AssociatedData: associatedData, Nonce: nonce}
}

// envelope is a notification body.
type envelope struct {
	ID           string   `json:"id"`
	CreateTime   string   `json:"create_time"`
	ResourceType string   `json:"resource_type"`
	EventType    string   `json:"event_type"`
	Summary      string   `json:"summary"`
	Resource     Resource `json:"resource"`
}

// transaction is a payment, in a TRANSACTION.* resource or a query answer.
type transaction struct {
	MchID         string `json:"mchid"`
	AppID         string `json:"appid"`
	OutTradeNo    string `json:"out_trade_no"`
	TransactionID string `json:"transaction_id"`
	TradeState    string `json:"trade_state"`
	Amount        struct {
		Total    *int64 `json:"total"`
		Currency string `json:"currency"`
	} `json:"amount"`
}

// refund is a REFUND.* resource (the SDK has no type for it).
type refund struct {
	MchID         string `json:"mchid"`
	TransactionID string `json:"transaction_id"`
	OutTradeNo    string `json:"out_trade_no"`
	RefundID      string `json:"refund_id"`
	OutRefundNo   string `json:"out_refund_no"`
	RefundStatus  string `json:"refund_status"`
	Amount        struct {
		Total    *int64 `json:"total"`
		Refund   *int64 `json:"refund"`
		Currency string `json:"currency"`
	} `json:"amount"`
}

// Parse implements callbacks.Provider.
func (p *Provider) Parse(in callbacks.Inbound) ([]callbacks.Notification, error) {
	var env envelope
	if err := callbacks.DecodeJSON(in.Body, &env, "wechatpay notification"); err != nil {
		return nil, err
	}
	if env.ID == "" || env.EventType == "" {
		return nil, fmt.Errorf("%w: wechatpay notification without id or event_type", callbacks.ErrMalformed)
	}
	var n callbacks.Notification
	switch env.EventType {
	case "TRANSACTION.SUCCESS":
		var tx transaction
		if err := p.open(env.Resource, &tx); err != nil {
			return nil, err
		}
		if tx.TradeState != "SUCCESS" {
			return nil, fmt.Errorf("%w: %s with trade_state %q", callbacks.ErrMalformed, env.EventType, tx.TradeState)
		}
		var err error
		if n, err = p.payment(tx); err != nil {
			return nil, err
		}
	case "REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED":
		var rf refund
		if err := p.open(env.Resource, &rf); err != nil {
			return nil, err
		}
		var err error
		if n, err = p.refund(env.EventType, rf); err != nil {
			return nil, err
		}
	default:
		n = callbacks.Notification{TxnID: env.ID + ":unsupported", Unsupported: "unsupported event type " + env.EventType}
	}
	n.EventID, n.EventType = env.ID, env.EventType
	return []callbacks.Notification{n}, nil
}

// open decrypts a resource and decodes its JSON into v.
func (p *Provider) open(r Resource, v any) error {
	pt, err := Open(p.aead, r)
	if err != nil {
		return err
	}
	return callbacks.DecodeJSON(pt, v, "wechatpay resource")
}

// ours checks that a resource is addressed to our merchant, and a
// transaction to our app when one is configured (refunds carry no appid).
func (p *Provider) ours(mchID string, appID *string) error {
	if mchID != p.cfg.MchID {
		return fmt.Errorf("%w: resource is for mchid %q, not ours", callbacks.ErrSignature, mchID)
	}
	if appID != nil && p.cfg.AppID != "" && *appID != p.cfg.AppID {
		return fmt.Errorf("%w: resource is for appid %q, not ours", callbacks.ErrSignature, *appID)
	}
	return nil
}

// tradeKinds maps trade_state to a kind. REFUND means the payment
// succeeded and was (partly) refunded since: the payment is the fact this
// state proves; refunds are learned from REFUND.* notifications.
var tradeKinds = map[string]ledger.Kind{
	"SUCCESS":    ledger.KindPaymentSucceeded,
	"REFUND":     ledger.KindPaymentSucceeded,
	"NOTPAY":     ledger.KindPaymentPending,
	"USERPAYING": ledger.KindPaymentPending,
	"ACCEPT":     ledger.KindPaymentPending,
	"CLOSED":     ledger.KindPaymentClosed,
	"REVOKED":    ledger.KindPaymentClosed,
	"PAYERROR":   ledger.KindPaymentFailed,
}

// payment normalizes a transaction. An unknown trade_state is taken as
// pending: parked as unknown and asked about again, never guessed (P7).
func (p *Provider) payment(tx transaction) (callbacks.Notification, error) {
	if err := p.ours(tx.MchID, &tx.AppID); err != nil {
		return callbacks.Notification{}, err
	}
	kind, ok := tradeKinds[tx.TradeState]
	if !ok {
		kind = ledger.KindPaymentPending
	}
	n := callbacks.Notification{Kind: kind, OrderNo: tx.OutTradeNo, Reference: tx.TransactionID,
		Money: ledger.Money{Currency: currency(tx.Amount.Currency)}}
	if tx.Amount.Total != nil {
		n.Money.Amount = *tx.Amount.Total
	}
	if kind == ledger.KindPaymentSucceeded && (tx.TransactionID == "" || tx.Amount.Total == nil) {
		return callbacks.Notification{}, fmt.Errorf("%w: paid transaction without transaction_id or amount.total", callbacks.ErrMalformed)
	}
	ref := tx.TransactionID
	if ref == "" { // an unpaid order has no transaction yet
		ref = tx.OutTradeNo
	}
	if ref == "" {
		return callbacks.Notification{}, fmt.Errorf("%w: transaction without transaction_id or out_trade_no", callbacks.ErrMalformed)
	}
	n.TxnID = callbacks.Key(ref, kind)
	return n, nil
}

// refundKinds maps a refund event to its kind and the refund_status it carries.
var refundKinds = map[string]struct {
	kind   ledger.Kind
	status string
}{
	"REFUND.SUCCESS":  {ledger.KindRefundSucceeded, "SUCCESS"},
	"REFUND.ABNORMAL": {ledger.KindRefundFailed, "ABNORMAL"},
	"REFUND.CLOSED":   {ledger.KindRefundFailed, "CLOSED"},
}

// refund normalizes a refund resource: amount.refund is this refund alone,
// keyed by WeChat Pay's refund_id.
func (p *Provider) refund(eventType string, rf refund) (callbacks.Notification, error) {
	if err := p.ours(rf.MchID, nil); err != nil {
		return callbacks.Notification{}, err
	}
	k := refundKinds[eventType]
	if rf.RefundStatus != "" && rf.RefundStatus != k.status {
		return callbacks.Notification{}, fmt.Errorf("%w: %s with refund_status %q", callbacks.ErrMalformed, eventType, rf.RefundStatus)
	}
	if rf.RefundID == "" || rf.Amount.Refund == nil {
		return callbacks.Notification{}, fmt.Errorf("%w: refund without refund_id or amount.refund", callbacks.ErrMalformed)
	}
	return callbacks.Notification{TxnID: callbacks.Key(rf.RefundID, k.kind), Kind: k.kind, OrderNo: rf.OutTradeNo,
		Reference: rf.TransactionID, Money: ledger.Money{Amount: *rf.Amount.Refund, Currency: currency(rf.Amount.Currency)}}, nil
}

// currency is CNY unless the resource names another.
func currency(c string) string {
	if c == "" {
		return "CNY"
	}
	return strings.ToUpper(c)
}
