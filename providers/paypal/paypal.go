// Package paypal verifies and parses PayPal webhooks (RSA-SHA256 over
// transmission_id|transmission_time|webhook_id|crc32(body), with the key of
// a pinned certificate) and queries captures and refunds for the reconciler.
package paypal

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/query"
)

// Config configures the provider.
type Config struct {
	Name string
	// WebhookID is the id PayPal gave our webhook; it is part of what PayPal
	// signs and is never read from the request.
	WebhookID string
	// Certificates are PayPal's signing certificates, PEM text or a file
	// path each; any one may sign (rotation). The CERT-URL header is never
	// fetched.
	Certificates []string
	// Tolerance is the two-sided window around PAYPAL-TRANSMISSION-TIME
	// (default 5m); replays of stored bytes skip it.
	Tolerance    time.Duration
	ClientID     string
	ClientSecret string
	APIBase      string
	Client       *http.Client
}

// Provider is PayPal.
type Provider struct {
	cfg   Config
	certs []*x509.Certificate
	api   *query.Client
	token tokenCache
}

// New returns the PayPal provider.
func New(cfg Config) (*Provider, error) {
	if cfg.Name == "" {
		cfg.Name = "paypal"
	}
	if cfg.WebhookID == "" {
		return nil, fmt.Errorf("paypal: no webhook_id")
	}
	if len(cfg.Certificates) == 0 {
		return nil, fmt.Errorf("paypal: no certificate")
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = 5 * time.Minute
	}
	if cfg.APIBase == "" {
		cfg.APIBase = "https://api-m.paypal.com"
	}
	p := &Provider{cfg: cfg, api: query.New(cfg.APIBase, cfg.Client)}
	for i, c := range cfg.Certificates {
		cert, err := loadCertificate(c)
		if err != nil {
			return nil, fmt.Errorf("paypal: certificate %d: %w", i+1, err)
		}
		p.certs = append(p.certs, cert)
	}
	return p, nil
}

// loadCertificate reads the first certificate of PEM text, or of the PEM
// file at that path, and checks that it carries an RSA key of 2048+ bits.
func loadCertificate(s string) (*x509.Certificate, error) {
	b := []byte(s)
	if !strings.Contains(s, "-----BEGIN") {
		var err error
		if b, err = os.ReadFile(s); err != nil {
			return nil, err
		}
	}
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("no PEM CERTIFICATE block")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if !ok || pub.N.BitLen() < 2048 {
			return nil, errors.New("not an RSA key of 2048 bits or more")
		}
		return cert, nil
	}
}

// Name implements callbacks.Provider.
func (p *Provider) Name() string { return p.cfg.Name }

// SignedString is what PayPal signs for one transmission of body.
func SignedString(transmissionID, transmissionTime, webhookID string, body []byte) string {
	return transmissionID + "|" + transmissionTime + "|" + webhookID + "|" + strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)
}

// Verify implements callbacks.Provider: the PAYPAL-TRANSMISSION-SIG must be
// an RSA PKCS#1 v1.5 SHA-256 signature of SignedString under the key of a
// pinned certificate that is valid at now, and PAYPAL-TRANSMISSION-TIME
// within ±Tolerance of now. A replay of stored bytes skips both time checks.
func (p *Provider) Verify(in callbacks.Inbound, now time.Time) error {
	h := in.Header
	id, ts := h.Get("Paypal-Transmission-Id"), h.Get("Paypal-Transmission-Time")
	sig64, algo := h.Get("Paypal-Transmission-Sig"), h.Get("Paypal-Auth-Algo")
	if id == "" || ts == "" || sig64 == "" {
		return fmt.Errorf("%w: missing PAYPAL-TRANSMISSION-ID, -TIME or -SIG", callbacks.ErrSignature)
	}
	if algo != "SHA256withRSA" {
		return fmt.Errorf("%w: PAYPAL-AUTH-ALGO %q is not SHA256withRSA", callbacks.ErrSignature, algo)
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil {
		return fmt.Errorf("%w: PAYPAL-TRANSMISSION-SIG is not base64", callbacks.ErrSignature)
	}
	sent, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return fmt.Errorf("%w: PAYPAL-TRANSMISSION-TIME %q is not an RFC 3339 time", callbacks.ErrSignature, ts)
	}
	if !in.Replay {
		if d := now.Sub(sent); d > p.cfg.Tolerance || d < -p.cfg.Tolerance {
			return fmt.Errorf("%w: transmission time %s outside the %s window", callbacks.ErrSignature, ts, p.cfg.Tolerance)
		}
	}
	digest := sha256.Sum256([]byte(SignedString(id, ts, p.cfg.WebhookID, in.Body)))
	for _, c := range p.certs {
		if !in.Replay && (now.Before(c.NotBefore) || now.After(c.NotAfter)) {
			continue
		}
		if rsa.VerifyPKCS1v15(c.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig) == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: no pinned certificate verifies the transmission signature", callbacks.ErrSignature)
}

type event struct {
	ID        string   `json:"id"`
	EventType string   `json:"event_type"`
	Resource  resource `json:"resource"`
}

// resource is a capture or a refund (v2 Payments).
type resource struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Amount struct {
		CurrencyCode string `json:"currency_code"`
		Value        string `json:"value"`
	} `json:"amount"`
	CustomID  string `json:"custom_id"`
	InvoiceID string `json:"invoice_id"`
	Links     []struct {
		Href string `json:"href"`
		Rel  string `json:"rel"`
	} `json:"links"`
}

// orderNo is custom_id, else invoice_id.
func (r resource) orderNo() string {
	if r.CustomID != "" {
		return r.CustomID
	}
	return r.InvoiceID
}

// money parses the decimal amount exactly; why is set when the currency is
// one the gateway cannot hold an order in.
func (r resource) money() (m ledger.Money, why string, err error) {
	cur := r.Amount.CurrencyCode
	if !ledger.ValidCurrency(cur) {
		return m, fmt.Sprintf("currency %.32q is not an ISO-4217 currency the gateway knows", cur), nil
	}
	v, err := ledger.ParseDecimal(r.Amount.Value, cur)
	if err != nil {
		return m, "", fmt.Errorf("%w: paypal amount: %v", callbacks.ErrMalformed, err)
	}
	return ledger.Money{Amount: v, Currency: cur}, "", nil
}

// kinds maps the capture events the gateway acts on.
var kinds = map[string]ledger.Kind{
	"PAYMENT.CAPTURE.COMPLETED": ledger.KindPaymentSucceeded,
	"PAYMENT.CAPTURE.PENDING":   ledger.KindPaymentPending,
	"PAYMENT.CAPTURE.DENIED":    ledger.KindPaymentFailed,
	"PAYMENT.CAPTURE.REFUNDED":  ledger.KindRefundSucceeded,
}

// Parse implements callbacks.Provider. The dedup key is the capture id
// (payments) or the refund id (refunds) plus the kind; the event id (WH-…)
// is kept as EventID.
func (p *Provider) Parse(in callbacks.Inbound) ([]callbacks.Notification, error) {
	var ev event
	if err := callbacks.DecodeJSON(in.Body, &ev, "paypal event"); err != nil {
		return nil, err
	}
	if ev.ID == "" || ev.EventType == "" {
		return nil, fmt.Errorf("%w: paypal event without id or event_type", callbacks.ErrMalformed)
	}
	r := ev.Resource
	n := callbacks.Notification{EventID: ev.ID, EventType: ev.EventType, OrderNo: r.orderNo(), Reference: r.ID}
	unsupported := func(why string) ([]callbacks.Notification, error) {
		n.Kind, n.Money = "", ledger.Money{}
		if len(n.OrderNo) > 64 {
			n.OrderNo = ""
		}
		n.TxnID, n.Unsupported = ev.ID+":unsupported", why
		return []callbacks.Notification{n}, nil
	}
	kind, ok := kinds[ev.EventType]
	if !ok {
		return unsupported("unsupported event type " + ev.EventType)
	}
	if r.ID == "" {
		return nil, fmt.Errorf("%w: %s without resource.id", callbacks.ErrMalformed, ev.EventType)
	}
	if kind == ledger.KindRefundSucceeded && r.Status != "" && r.Status != "COMPLETED" {
		return unsupported(fmt.Sprintf("refund status %.32q, not COMPLETED", r.Status))
	}
	if n.OrderNo == "" || len(n.OrderNo) > 64 {
		return unsupported(fmt.Sprintf("no order number: custom_id or invoice_id %.80q is not 1 to 64 characters", n.OrderNo))
	}
	m, why, err := r.money()
	if err != nil {
		return nil, err
	}
	if why != "" {
		return unsupported(why)
	}
	n.Kind, n.Money = kind, m
	n.TxnID = callbacks.Key(r.ID, kind)
	return []callbacks.Notification{n}, nil
}

// Ack implements callbacks.Provider: PayPal accepts any 2xx.
func (p *Provider) Ack(err error) callbacks.Ack { return callbacks.JSONAck(err) }

// tokenCache holds the OAuth2 access token until shortly before it expires.
type tokenCache struct {
	mu      sync.Mutex
	token   string
	expires time.Time
}

// accessToken returns a cached token or asks for a new one with the client
// credentials (POST /v1/oauth2/token, HTTP basic auth).
func (p *Provider) accessToken(ctx context.Context) (string, error) {
	p.token.mu.Lock()
	defer p.token.mu.Unlock()
	if p.token.token != "" && time.Now().Before(p.token.expires) {
		return p.token.token, nil
	}
	var res struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	basic := func(r *http.Request) error {
		r.SetBasicAuth(p.cfg.ClientID, p.cfg.ClientSecret)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return nil
	}
	if err := p.api.Do(ctx, http.MethodPost, "/v1/oauth2/token", []byte("grant_type=client_credentials"), basic, &res); err != nil {
		return "", fmt.Errorf("paypal: access token: %w", err)
	}
	if res.AccessToken == "" {
		return "", errors.New("paypal: access token: empty answer")
	}
	// Renew a minute early so a token does not expire in flight.
	p.token.token = res.AccessToken
	p.token.expires = time.Now().Add(time.Duration(res.ExpiresIn)*time.Second - time.Minute)
	return res.AccessToken, nil
}

func (p *Provider) forgetToken(token string) {
	p.token.mu.Lock()
	if p.token.token == token {
		p.token.token = ""
	}
	p.token.mu.Unlock()
}

// get fetches path with a bearer token; an error drops the token so that a
// revoked one is not used again.
func (p *Provider) get(ctx context.Context, path string, out any) error {
	token, err := p.accessToken(ctx)
	if err != nil {
		return err
	}
	bearer := func(r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
	if err := p.api.Do(ctx, http.MethodGet, path, nil, bearer, out); err != nil {
		p.forgetToken(token)
		return err
	}
	return nil
}

// Query implements callbacks.Provider: GET /v2/payments/refunds/{id} for a
// refund (q.Reference is the refund id), GET /v2/payments/captures/{id} for
// anything else (q.Reference is the capture id). PayPal has no lookup by our
// order number, so a query without a reference is unsupported.
func (p *Provider) Query(ctx context.Context, q callbacks.StatusQuery) ([]callbacks.Notification, error) {
	if p.cfg.ClientID == "" || p.cfg.ClientSecret == "" {
		return nil, fmt.Errorf("%s: %w: no client_id and client_secret configured", p.cfg.Name, callbacks.ErrQueryUnsupported)
	}
	if q.Reference == "" {
		return nil, fmt.Errorf("%s: %w: PayPal is asked by capture or refund id, and order %q has none", p.cfg.Name, callbacks.ErrQueryUnsupported, q.OrderNo)
	}
	refund := q.Kind == ledger.KindRefundSucceeded || q.Kind == ledger.KindRefundFailed
	path := "/v2/payments/captures/"
	if refund {
		path = "/v2/payments/refunds/"
	}
	var r resource
	if err := p.get(ctx, path+url.PathEscape(q.Reference), &r); err != nil {
		return nil, fmt.Errorf("paypal: query %s: %w", q.Reference, err)
	}
	if r.ID == "" {
		r.ID = q.Reference
	}
	n := callbacks.Notification{Reference: r.ID, OrderNo: r.orderNo(), EventType: "status." + r.Status}
	if n.OrderNo == "" {
		n.OrderNo = q.OrderNo
	}
	switch {
	case refund && r.Status == "COMPLETED":
		n.Kind = ledger.KindRefundSucceeded
	case refund && (r.Status == "FAILED" || r.Status == "CANCELLED"):
		n.Kind = ledger.KindRefundFailed
	case refund && r.Status == "PENDING":
		return nil, fmt.Errorf("paypal: refund %s is still pending: %w", r.ID, callbacks.ErrTransient)
	case !refund && (r.Status == "COMPLETED" || r.Status == "PARTIALLY_REFUNDED" || r.Status == "REFUNDED"):
		// The capture completed; its refunds are events of their own.
		n.Kind = ledger.KindPaymentSucceeded
	case !refund && r.Status == "PENDING":
		n.Kind = ledger.KindPaymentPending
	case !refund && (r.Status == "DECLINED" || r.Status == "FAILED"):
		n.Kind = ledger.KindPaymentFailed
	default:
		return nil, fmt.Errorf("paypal: query %s: unknown status %q", q.Reference, r.Status)
	}
	m, why, err := r.money()
	if err != nil {
		return nil, fmt.Errorf("paypal: query %s: %w", q.Reference, err)
	}
	if why != "" {
		return nil, fmt.Errorf("paypal: query %s: %s", q.Reference, why)
	}
	n.Money = m
	n.TxnID = callbacks.Key(r.ID, n.Kind)
	return []callbacks.Notification{n}, nil
}
