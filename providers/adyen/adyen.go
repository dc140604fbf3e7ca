// Package adyen verifies and parses Adyen's standard notification webhooks
// (HMAC-SHA256 per notification item) and answers them with "[accepted]".
//
// Only signed fields decide anything: pspReference, originalReference,
// merchantAccountCode, merchantReference, amount.value, amount.currency,
// eventCode and success. Everything else in an item (reason, eventDate,
// paymentMethod, the rest of additionalData) is unsigned and ignored.
package adyen

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gateway/callbacks"
	"gateway/ledger"
)

// When an AUTHORISATION or a CAPTURE is the moment money counts as moved.
const (
	// PaidOnAuthorisation counts a successful AUTHORISATION (automatic
	// capture, the Adyen default). A later CAPTURE of the same payment and
	// amount is the same business event: it shares the dedup key.
	PaidOnAuthorisation = "authorisation"
	// PaidOnCapture counts a successful CAPTURE (manual capture); a
	// successful AUTHORISATION is recorded and acknowledged, with no effect.
	PaidOnCapture = "capture"
)

// Config configures the provider.
type Config struct {
	Name string
	// HMACKeys are the hex HMAC keys of the webhook; any one may sign (rotation).
	HMACKeys []string
	// MerchantAccount, when set, is the only merchantAccountCode acted on;
	// items for another account are recorded as rejected and acknowledged.
	MerchantAccount string
	// PaidOn is PaidOnAuthorisation (default) or PaidOnCapture.
	PaidOn string
}

// Provider is Adyen.
type Provider struct {
	cfg  Config
	keys [][]byte
}

// New returns the Adyen provider.
func New(cfg Config) (*Provider, error) {
	if cfg.Name == "" {
		cfg.Name = "adyen"
	}
	if len(cfg.HMACKeys) == 0 {
		return nil, fmt.Errorf("adyen: no hmac key")
	}
	switch cfg.PaidOn {
	case "":
		cfg.PaidOn = PaidOnAuthorisation
	case PaidOnAuthorisation, PaidOnCapture:
	default:
		return nil, fmt.Errorf("adyen: paid_on %q is not %s or %s", cfg.PaidOn, PaidOnAuthorisation, PaidOnCapture)
	}
	p := &Provider{cfg: cfg}
	for i, k := range cfg.HMACKeys {
		b, err := hex.DecodeString(strings.TrimSpace(k))
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("adyen: hmac key %d is not hex", i+1)
		}
		p.keys = append(p.keys, b)
	}
	return p, nil
}

// Name implements callbacks.Provider.
func (p *Provider) Name() string { return p.cfg.Name }

// item is the signed part of a NotificationRequestItem, plus the signature.
type item struct {
	PspReference        string  `json:"pspReference"`
	OriginalReference   string  `json:"originalReference"`
	MerchantAccountCode string  `json:"merchantAccountCode"`
	MerchantReference   string  `json:"merchantReference"`
	EventCode           string  `json:"eventCode"`
	Success             string  `json:"success"`
	Amount              *amount `json:"amount"`
	AdditionalData      *struct {
		HMACSignature *string `json:"hmacSignature"`
	} `json:"additionalData"`
}

type amount struct {
	Value    *json.Number `json:"value"`
	Currency string       `json:"currency"`
}

// value returns amount.value as an integer; ok is false when it is absent.
func (it item) value() (v int64, ok bool, err error) {
	if it.Amount == nil || it.Amount.Value == nil {
		return 0, false, nil
	}
	v, err = strconv.ParseInt(string(*it.Amount.Value), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("amount.value %q is not an integer in minor units", string(*it.Amount.Value))
	}
	return v, true, nil
}

func (it item) currency() string {
	if it.Amount == nil {
		return ""
	}
	return it.Amount.Currency
}

// signingString is pspReference:originalReference:merchantAccountCode:
// merchantReference:value:currency:eventCode:success, a missing field empty.
func (it item) signingString() (string, error) {
	v, ok, err := it.value()
	if err != nil {
		return "", err
	}
	value := ""
	if ok {
		value = strconv.FormatInt(v, 10)
	}
	return strings.Join([]string{it.PspReference, it.OriginalReference, it.MerchantAccountCode,
		it.MerchantReference, value, it.currency(), it.EventCode, it.Success}, ":"), nil
}

// decode reads the items of a notification body. Verify and Parse both use
// it, so what is verified is exactly what is acted on.
func decode(body []byte) ([]item, error) {
	var n struct {
		NotificationItems []struct {
			Item *item `json:"NotificationRequestItem"`
		} `json:"notificationItems"`
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return nil, fmt.Errorf("%w: adyen notification: %v", callbacks.ErrMalformed, err)
	}
	if len(n.NotificationItems) == 0 {
		return nil, fmt.Errorf("%w: adyen notification without notificationItems", callbacks.ErrMalformed)
	}
	items := make([]item, len(n.NotificationItems))
	for i, ni := range n.NotificationItems {
		if ni.Item == nil {
			return nil, fmt.Errorf("%w: adyen notification item %d has no NotificationRequestItem", callbacks.ErrMalformed, i+1)
		}
		if _, err := ni.Item.signingString(); err != nil {
			return nil, fmt.Errorf("%w: adyen notification item %d: %v", callbacks.ErrMalformed, i+1, err)
		}
		items[i] = *ni.Item
	}
	return items, nil
}

// Sign returns the base64 HMAC-SHA256 of a signing string under a hex key,
// as Adyen computes additionalData.hmacSignature (for dev tools and tests).
func Sign(hexKey, signingString string) (string, error) {
	k, err := hex.DecodeString(hexKey)
	if err != nil {
		return "", fmt.Errorf("adyen: hmac key is not hex: %w", err)
	}
	return base64.StdEncoding.EncodeToString(mac(k, signingString)), nil
}

func mac(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// Verify implements callbacks.Provider: every item must carry an
// additionalData.hmacSignature that matches its signing string under one of
// the keys, compared in constant time. One bad item refuses the whole
// delivery, before anything is written. Adyen signs no timestamp: replay
// protection is the dedup key, so now and in.Replay change nothing here.
func (p *Provider) Verify(in callbacks.Inbound, _ time.Time) error {
	items, err := decode(in.Body)
	if err != nil {
		return err
	}
	for i, it := range items {
		if it.AdditionalData == nil || it.AdditionalData.HMACSignature == nil || *it.AdditionalData.HMACSignature == "" {
			return fmt.Errorf("%w: adyen item %d has no additionalData.hmacSignature", callbacks.ErrSignature, i+1)
		}
		sig, err := base64.StdEncoding.DecodeString(*it.AdditionalData.HMACSignature)
		if err != nil || len(sig) != sha256.Size {
			return fmt.Errorf("%w: adyen item %d: hmacSignature is not a base64 HMAC-SHA256", callbacks.ErrSignature, i+1)
		}
		msg, _ := it.signingString() // decode checked it
		ok := false
		for _, k := range p.keys {
			if hmac.Equal(mac(k, msg), sig) {
				ok = true // keep going: the same work whichever key matches
			}
		}
		if !ok {
			return fmt.Errorf("%w: adyen item %d: hmacSignature does not match", callbacks.ErrSignature, i+1)
		}
	}
	return nil
}

// Parse implements callbacks.Provider: one notification per item. A signed
// item the gateway cannot act on is an Unsupported notification (recorded
// as rejected and acknowledged), never an error that would make Adyen
// re-send the whole batch for 30 days.
func (p *Provider) Parse(in callbacks.Inbound) ([]callbacks.Notification, error) {
	items, err := decode(in.Body)
	if err != nil {
		return nil, err
	}
	out := make([]callbacks.Notification, 0, len(items))
	for i, it := range items {
		if it.PspReference == "" || it.EventCode == "" {
			return nil, fmt.Errorf("%w: adyen item %d without pspReference or eventCode", callbacks.ErrMalformed, i+1)
		}
		out = append(out, p.notification(it))
	}
	return out, nil
}

// notification maps one verified item (see docs/providers-intl.md).
func (p *Provider) notification(it item) callbacks.Notification {
	success := it.Success == "true"
	n := callbacks.Notification{EventID: it.PspReference, EventType: it.EventCode, OrderNo: it.MerchantReference}
	unsupported := func(why string) callbacks.Notification {
		n.Kind, n.Reference, n.Money = "", it.PspReference, ledger.Money{}
		if len(n.OrderNo) > 64 {
			n.OrderNo = ""
		}
		n.TxnID = it.PspReference + ":" + it.EventCode + ":" + strconv.FormatBool(success)
		n.Unsupported = why
		return n
	}
	if p.cfg.MerchantAccount != "" && it.MerchantAccountCode != p.cfg.MerchantAccount {
		return unsupported(fmt.Sprintf("merchant account %.80q is not the configured %q", it.MerchantAccountCode, p.cfg.MerchantAccount))
	}
	// payment is the pspReference of the payment an item is about; key is
	// the pspReference that names this business event.
	var payment, key string
	switch it.EventCode {
	case "AUTHORISATION":
		payment, key = it.PspReference, it.PspReference
		switch {
		case !success:
			n.Kind = ledger.KindPaymentFailed
		case p.cfg.PaidOn == PaidOnCapture:
			return unsupported("authorised, not yet captured: with paid_on capture the CAPTURE notification counts")
		default:
			n.Kind = ledger.KindPaymentSucceeded
		}
	case "CAPTURE":
		if it.OriginalReference == "" {
			return unsupported("CAPTURE without originalReference")
		}
		// Keyed by the payment, so that AUTHORISATION and CAPTURE of one
		// payment are one "money moved" event whichever counts.
		payment, key = it.OriginalReference, it.OriginalReference
		switch {
		case success:
			n.Kind = ledger.KindPaymentSucceeded
		case p.cfg.PaidOn == PaidOnCapture:
			n.Kind = ledger.KindPaymentFailed
		default:
			return unsupported("capture failed after the authorisation was counted as paid: check the order with Adyen")
		}
	case "CAPTURE_FAILED":
		return unsupported("capture failed after it was reported captured: check the order with Adyen")
	case "CANCELLATION":
		if it.OriginalReference == "" {
			return unsupported("CANCELLATION without originalReference")
		}
		if !success {
			return unsupported("cancellation refused by Adyen")
		}
		payment, key, n.Kind = it.OriginalReference, it.OriginalReference, ledger.KindPaymentClosed
	case "REFUND":
		// The refund's own pspReference names it; originalReference is the payment.
		payment, key = it.OriginalReference, it.PspReference
		n.Kind = ledger.KindRefundFailed
		if success {
			n.Kind = ledger.KindRefundSucceeded
		}
	default:
		return unsupported("unsupported event code " + it.EventCode)
	}
	if n.OrderNo == "" || len(n.OrderNo) > 64 {
		return unsupported(fmt.Sprintf("merchantReference %.80q is not an order number (1 to 64 characters)", n.OrderNo))
	}
	m, why := money(it)
	if why != "" {
		return unsupported(why)
	}
	n.Money, n.Reference = m, payment
	n.TxnID = callbacks.Key(key, n.Kind)
	return n
}

// adyenExponents lists the currencies whose minor unit at Adyen differs from
// ISO-4217 (Adyen's currency-codes page, "differs from standard").
var adyenExponents = map[string]int{"CLP": 2, "CVE": 0, "IDR": 0, "ISK": 2}

// money converts amount.value from Adyen's minor units to the ISO-4217
// minor units the ledger keeps; why says what is wrong when it cannot.
func money(it item) (ledger.Money, string) {
	cur := it.currency()
	iso, ok := ledger.Exponent(cur)
	if !ok {
		return ledger.Money{}, fmt.Sprintf("currency %.32q is not an ISO-4217 currency the gateway knows", cur)
	}
	v, present, _ := it.value() // decode checked it
	if !present {
		return ledger.Money{}, "no amount.value"
	}
	orig := v
	exp, differs := adyenExponents[cur]
	if !differs {
		exp = iso
	}
	for ; exp < iso; exp++ {
		if v > 1e15 {
			return ledger.Money{}, fmt.Sprintf("amount %d %s is out of range", v, cur)
		}
		v *= 10
	}
	for ; exp > iso; exp-- {
		if v%10 != 0 {
			return ledger.Money{}, fmt.Sprintf("amount %d %s has decimals that ISO-4217 %s has not", orig, cur, cur)
		}
		v /= 10
	}
	return ledger.Money{Amount: v, Currency: cur}, ""
}

// accepted is the body Adyen expects once a delivery is handled.
var accepted = []byte("[accepted]")

// Ack implements callbacks.Provider: 200 "[accepted]" (text/plain) only when
// every item of the delivery is durably recorded; otherwise a non-2xx
// (401 signature, 400 malformed, 503 transient) so that Adyen retries.
func (p *Provider) Ack(err error) callbacks.Ack {
	if err != nil {
		return callbacks.JSONAck(err)
	}
	return callbacks.Ack{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: accepted}
}

// Query implements callbacks.Provider. Adyen offers no API that returns a
// payment's current status by pspReference or merchantReference for classic
// (notification-based) integrations: outcomes arrive only as notifications,
// which Adyen re-sends for up to 30 days until acknowledged.
func (p *Provider) Query(context.Context, callbacks.StatusQuery) ([]callbacks.Notification, error) {
	return nil, fmt.Errorf("%s: %w: Adyen has no payment status API for notification-based integrations; "+
		"outcomes arrive as notifications, re-sent until acknowledged", p.cfg.Name, callbacks.ErrQueryUnsupported)
}
