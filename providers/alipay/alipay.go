// Package alipay receives Alipay asynchronous notifications (form-encoded
// POSTs, RSA2-signed) and queries trades with alipay.trade.query for the
// reconciler.
//
// Verification: drop sign and sign_type, sort the remaining parameters by
// name, join them as k=v&… with their decoded values (empty values
// included, as Alipay's Java SDK and smartwalle/alipay do), and verify the
// base64 sign with SHA256withRSA under any configured Alipay public key.
// The bytes verified are the values as sent, in the notification's charset
// (utf-8 or gbk); values are turned into UTF-8 only after verification.
// The notification must name our app_id (and seller_id when configured).
// There is no timestamp: replays are handled by the dedup key.
//
// What a notification means (trade_status plus refund fields):
//   - refund_fee > 0 with trade_status TRADE_SUCCESS (a partial refund) or
//     TRADE_CLOSED (the refund that emptied the trade) is a refund.
//     refund_fee is the trade's total refunded so far, so the notification
//     is cumulative; its key is "<trade_no>/<out_biz_no>:refund.succeeded",
//     out_biz_no being the refund request number, which Alipay guarantees
//     unique only within one trade.
//   - otherwise TRADE_SUCCESS and TRADE_FINISHED are one business event,
//     the payment: "<trade_no>:payment.succeeded" for total_amount. A
//     TRADE_FINISHED after a TRADE_SUCCESS is a duplicate and moves no money.
//   - TRADE_CLOSED without a refund closes an unpaid trade
//     ("<trade_no>:payment.closed"); WAIT_BUYER_PAY is pending.
//
// Amounts are yuan strings parsed exactly into fen; the currency is CNY
// unless trans_currency (or currency) names another.
//
// Acknowledgement: the body is exactly "success" once durable; otherwise
// "fail" with a 4xx for a refused notification and a 5xx for a transient
// failure. Alipay reads only the body and re-sends 8 times over ~25 hours.
package alipay

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/simplifiedchinese"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/query"
	"gateway/providers/rsakey"
)

const defaultGateway = "https://openapi.alipay.com/gateway.do"

// Config configures the provider.
type Config struct {
	Name  string
	AppID string
	// SellerID, when set, must equal every notification's seller_id.
	SellerID string
	// PublicKeys are Alipay's public keys (PEM, base64 DER or a file path;
	// a public key certificate works too); any one may sign (rotation).
	PublicKeys []string
	// AppPrivateKey signs alipay.trade.query; without it Query is unsupported.
	AppPrivateKey string
	// APIBase is the gateway URL (default https://openapi.alipay.com/gateway.do).
	APIBase string
	Client  *http.Client
	// Now is the clock of request timestamps (default time.Now).
	Now func() time.Time
}

// Provider is Alipay.
type Provider struct {
	cfg  Config
	keys []*rsa.PublicKey
	app  *rsa.PrivateKey
	api  *query.Client
}

// New checks the configuration and returns the provider.
func New(cfg Config) (*Provider, error) {
	if cfg.Name == "" {
		cfg.Name = "alipay"
	}
	errf := func(format string, a ...any) error {
		return fmt.Errorf("alipay %s: %s", cfg.Name, fmt.Sprintf(format, a...))
	}
	if cfg.AppID == "" {
		return nil, errf("app_id is required")
	}
	if len(cfg.PublicKeys) == 0 {
		return nil, errf("alipay_public_keys: at least one Alipay public key is required")
	}
	if cfg.APIBase == "" {
		cfg.APIBase = defaultGateway
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Provider{cfg: cfg, api: query.New(cfg.APIBase, cfg.Client)}
	for i, s := range cfg.PublicKeys {
		pub, _, err := rsakey.Public(s)
		if err != nil {
			return nil, errf("alipay_public_keys[%d]: %v", i, err)
		}
		p.keys = append(p.keys, pub)
	}
	if cfg.AppPrivateKey != "" {
		var err error
		if p.app, err = rsakey.Private(cfg.AppPrivateKey); err != nil {
			return nil, errf("app_private_key: %v", err)
		}
	}
	return p, nil
}

// Name implements callbacks.Provider.
func (p *Provider) Name() string { return p.cfg.Name }

// parseForm decodes a form body strictly: a parameter given twice is
// refused, so the value verified is the value used.
func parseForm(body []byte) (url.Values, error) {
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: alipay notification is not a form: %v", callbacks.ErrMalformed, err)
	}
	for k, vs := range v {
		if len(vs) > 1 {
			return nil, fmt.Errorf("%w: alipay parameter %q given %d times", callbacks.ErrMalformed, k, len(vs))
		}
	}
	return v, nil
}

// Content is the string Alipay signs: the parameters sorted by name, as
// k=v joined by &, without those in skip; empty values are kept unless
// skipEmpty (requests skip them, notifications keep them).
func Content(v url.Values, skipEmpty bool, skip ...string) []byte {
	keys := make([]string, 0, len(v))
	for k, vs := range v {
		if len(vs) == 0 || skipEmpty && vs[0] == "" || slices.Contains(skip, k) {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(v.Get(k))
	}
	return b.Bytes()
}

// verifyAny checks a base64 SHA256withRSA signature of msg under any key.
func verifyAny(keys []*rsa.PublicKey, msg []byte, sign string) error {
	raw, err := base64.StdEncoding.DecodeString(sign)
	if err != nil {
		return fmt.Errorf("%w: sign is not base64", callbacks.ErrSignature)
	}
	for _, k := range keys {
		if rsakey.Verify(k, msg, raw) == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: sign does not verify with any Alipay public key", callbacks.ErrSignature)
}

// Sign signs notification parameters as Alipay does and returns the form
// body to POST (for the dev signer, the load tool and tests).
func Sign(key *rsa.PrivateKey, v url.Values) (string, error) {
	v = cloneValues(v)
	v.Del("sign")
	if v.Get("sign_type") == "" {
		v.Set("sign_type", "RSA2")
	}
	sig, err := rsakey.Sign(key, Content(v, false, "sign", "sign_type"))
	if err != nil {
		return "", err
	}
	v.Set("sign", base64.StdEncoding.EncodeToString(sig))
	return v.Encode(), nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// Verify implements callbacks.Provider. Alipay signs no timestamp, so now
// is unused: retries of one notification are answered by the dedup key.
func (p *Provider) Verify(in callbacks.Inbound, _ time.Time) error {
	v, err := parseForm(in.Body)
	if err != nil {
		return err
	}
	sign := v.Get("sign")
	if sign == "" {
		return fmt.Errorf("%w: alipay notification without sign", callbacks.ErrSignature)
	}
	if t := v.Get("sign_type"); t != "" && t != "RSA2" {
		return fmt.Errorf("%w: sign_type %q is not RSA2", callbacks.ErrSignature, t)
	}
	if err := verifyAny(p.keys, Content(v, false, "sign", "sign_type"), sign); err != nil {
		return err
	}
	if app := v.Get("app_id"); app != p.cfg.AppID {
		return fmt.Errorf("%w: notification is for app_id %q, not ours", callbacks.ErrSignature, app)
	}
	if p.cfg.SellerID != "" && v.Get("seller_id") != p.cfg.SellerID {
		return fmt.Errorf("%w: notification is for seller_id %q, not ours", callbacks.ErrSignature, v.Get("seller_id"))
	}
	return nil
}

// Ack implements callbacks.Provider: "success" once durable, else "fail".
func (p *Provider) Ack(err error) callbacks.Ack {
	if err == nil {
		return callbacks.Ack{Status: http.StatusOK, ContentType: "text/plain; charset=utf-8", Body: []byte("success")}
	}
	return callbacks.Ack{Status: callbacks.StatusFor(err), ContentType: "text/plain; charset=utf-8", Body: []byte("fail")}
}

// charsets are the encodings a notification may declare; nil means
// UTF-8. (A Decoder holds state, so each notification makes its own.)
var charsets = map[string]encoding.Encoding{
	"": nil, "utf-8": nil, "utf8": nil,
	"gbk": simplifiedchinese.GBK, "gb2312": simplifiedchinese.GBK, "gb18030": simplifiedchinese.GB18030,
}

// fields reads parameters as UTF-8, decoded from the notification's
// charset. Only the parameters the gateway uses are decoded, so a subject
// in a broken encoding cannot block a payment.
type fields struct {
	v   url.Values
	dec *encoding.Decoder
	cs  string
	err error
}

func newFields(v url.Values) (*fields, error) {
	cs := strings.ToLower(v.Get("charset"))
	enc, ok := charsets[cs]
	if !ok {
		return nil, fmt.Errorf("%w: unsupported charset %q", callbacks.ErrMalformed, cs)
	}
	f := &fields{v: v, cs: cs}
	if enc != nil {
		f.dec = enc.NewDecoder()
	}
	return f, nil
}

// get returns parameter k in UTF-8; the first failure is kept in f.err.
func (f *fields) get(k string) string {
	s := f.v.Get(k)
	if f.dec != nil && s != "" {
		d, err := f.dec.String(s)
		if err != nil && f.err == nil {
			f.err = fmt.Errorf("%w: %s is not %s", callbacks.ErrMalformed, k, f.cs)
		}
		s = d
	}
	if !utf8.ValidString(s) && f.err == nil {
		f.err = fmt.Errorf("%w: %s is not valid %s", callbacks.ErrMalformed, k, f.cs)
	}
	return s
}

// Parse implements callbacks.Provider (see the package comment for what
// each notification means).
func (p *Provider) Parse(in callbacks.Inbound) ([]callbacks.Notification, error) {
	v, err := parseForm(in.Body)
	if err != nil {
		return nil, err
	}
	f, err := newFields(v)
	if err != nil {
		return nil, err
	}
	id, typ, status := f.get("notify_id"), f.get("notify_type"), f.get("trade_status")
	tf := tradeFields{status: status, tradeNo: f.get("trade_no"), outTradeNo: f.get("out_trade_no"),
		total: f.get("total_amount"), currency: currencyOf(f), refundFee: f.get("refund_fee"), outBizNo: f.get("out_biz_no")}
	switch {
	case f.err != nil:
		return nil, f.err
	case id == "":
		return nil, fmt.Errorf("%w: alipay notification without notify_id", callbacks.ErrMalformed)
	case typ != "" && typ != "trade_status_sync":
		return []callbacks.Notification{{TxnID: id + ":unsupported", EventID: id, EventType: typ,
			Unsupported: "unsupported notify_type " + typ}}, nil
	}
	n, err := trade(tf)
	if err != nil {
		return nil, err
	}
	n.EventID, n.EventType = id, status
	return []callbacks.Notification{n}, nil
}

// currencyOf is the trade's currency: CNY unless the notification names one.
func currencyOf(f *fields) string {
	for _, k := range []string{"trans_currency", "currency"} {
		if c := f.get(k); c != "" {
			return strings.ToUpper(c)
		}
	}
	return "CNY"
}

// tradeFields are the facts a notification or a query answer carries.
type tradeFields struct {
	status, tradeNo, outTradeNo, total, currency string
	refundFee, outBizNo                          string
	// paidAt is the query answer's send_pay_date: a closed trade that has
	// one was paid, then fully refunded.
	paidAt string
}

// trade normalizes trade facts into a notification.
func trade(f tradeFields) (callbacks.Notification, error) {
	if f.status == "" || f.outTradeNo == "" {
		return callbacks.Notification{}, fmt.Errorf("%w: alipay trade without trade_status or out_trade_no", callbacks.ErrMalformed)
	}
	if !ledger.ValidCurrency(f.currency) {
		return callbacks.Notification{}, fmt.Errorf("%w: unknown currency %q", callbacks.ErrMalformed, f.currency)
	}
	amount := func(field, s string) (int64, error) {
		a, err := ledger.ParseDecimal(s, f.currency)
		if err != nil {
			return 0, fmt.Errorf("%w: %s: %v", callbacks.ErrMalformed, field, err)
		}
		return a, nil
	}
	ref := f.tradeNo
	if ref == "" {
		ref = f.outTradeNo
	}
	n := callbacks.Notification{OrderNo: f.outTradeNo, Reference: f.tradeNo, Money: ledger.Money{Currency: f.currency}}
	refund := int64(0)
	if f.refundFee != "" {
		var err error
		if refund, err = amount("refund_fee", f.refundFee); err != nil {
			return callbacks.Notification{}, err
		}
	}
	switch {
	case refund > 0 && (f.status == "TRADE_SUCCESS" || f.status == "TRADE_CLOSED"):
		if f.outBizNo == "" || f.tradeNo == "" {
			return callbacks.Notification{}, fmt.Errorf("%w: refund notification without out_biz_no or trade_no", callbacks.ErrMalformed)
		}
		n.Kind, n.Money.Amount, n.Cumulative = ledger.KindRefundSucceeded, refund, true
		n.TxnID = callbacks.Key(f.tradeNo+"/"+f.outBizNo, n.Kind)
		return n, nil
	case f.status == "TRADE_SUCCESS" || f.status == "TRADE_FINISHED" || f.status == "TRADE_CLOSED" && f.paidAt != "":
		if f.tradeNo == "" {
			return callbacks.Notification{}, fmt.Errorf("%w: paid trade without trade_no", callbacks.ErrMalformed)
		}
		n.Kind = ledger.KindPaymentSucceeded
	case f.status == "TRADE_CLOSED":
		n.Kind = ledger.KindPaymentClosed
	default: // WAIT_BUYER_PAY, or a status we do not know: ask again later (P7)
		n.Kind = ledger.KindPaymentPending
	}
	if f.total != "" || n.Kind == ledger.KindPaymentSucceeded {
		a, err := amount("total_amount", f.total)
		if err != nil {
			return callbacks.Notification{}, err
		}
		n.Money.Amount = a
	}
	n.TxnID = callbacks.Key(ref, n.Kind)
	return n, nil
}
