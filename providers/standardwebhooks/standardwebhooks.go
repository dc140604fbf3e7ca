// Package standardwebhooks receives webhooks from any Standard Webhooks
// sender (webhook-id, webhook-timestamp, webhook-signature; Svix's svix-*
// headers too). The notification's fields are read from the JSON payload by
// configured paths, so a new sender is wired up from configuration alone.
package standardwebhooks

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	sw "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/tidwall/gjson"

	"gateway/callbacks"
	"gateway/ledger"
)

// Fields names the JSON paths (gjson syntax: "data.object.id") of a
// notification's facts in the sender's payload.
type Fields struct {
	TxnID     string // the transaction or refund reference
	EventType string
	OrderNo   string
	Amount    string // an integer in minor units, or a decimal string
	Currency  string
	EventID   string // optional; default: the webhook-id header
}

// Config configures one sender.
type Config struct {
	Name      string
	Secrets   []string // whsec_…; several at once during rotation
	Tolerance time.Duration
	Fields    Fields
	// Events maps the sender's event types to normalized kinds
	// (payment.succeeded, refund.succeeded, …). Without it, event types
	// that already are kinds are taken as they are.
	Events map[string]string
}

// Provider is one Standard Webhooks sender.
type Provider struct {
	cfg   Config
	hooks []*sw.Webhook
}

// New returns the provider.
func New(cfg Config) (*Provider, error) {
	if cfg.Name == "" {
		return nil, fmt.Errorf("standardwebhooks: no name")
	}
	if len(cfg.Secrets) == 0 {
		return nil, fmt.Errorf("standardwebhooks %s: no secret", cfg.Name)
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = 5 * time.Minute
	}
	f := cfg.Fields
	if f.TxnID == "" || f.EventType == "" || f.OrderNo == "" || f.Amount == "" || f.Currency == "" {
		return nil, fmt.Errorf("standardwebhooks %s: fields txn_id, event_type, order_no, amount and currency are required", cfg.Name)
	}
	for from, to := range cfg.Events {
		if !ledger.Kind(to).Valid() {
			return nil, fmt.Errorf("standardwebhooks %s: event %q maps to unknown kind %q", cfg.Name, from, to)
		}
	}
	p := &Provider{cfg: cfg}
	for i, s := range cfg.Secrets {
		if !strings.HasPrefix(s, "whsec_") {
			return nil, fmt.Errorf("standardwebhooks %s: secret %d does not start with whsec_", cfg.Name, i+1)
		}
		h, err := sw.NewWebhook(s)
		if err != nil {
			return nil, fmt.Errorf("standardwebhooks %s: secret %d is not base64 after whsec_", cfg.Name, i+1)
		}
		if s == "whsec_" {
			// An empty HMAC key is one anybody can sign with.
			return nil, fmt.Errorf("standardwebhooks %s: secret %d is empty after whsec_", cfg.Name, i+1)
		}
		p.hooks = append(p.hooks, h)
	}
	return p, nil
}

// Name implements callbacks.Provider.
func (p *Provider) Name() string { return p.cfg.Name }

// Sign returns the webhook-signature header value for a message, as a
// sender computes it (for the dev signer and the load tool).
func Sign(secret, id string, t time.Time, body []byte) (string, error) {
	h, err := sw.NewWebhook(secret)
	if err != nil {
		return "", err
	}
	return h.Sign(id, t, body)
}

// headers returns the webhook-* headers, taking svix-* when those are absent.
func headers(h http.Header) http.Header {
	out := http.Header{}
	for _, k := range []string{"id", "timestamp", "signature"} {
		v := h.Get("Webhook-" + k)
		if v == "" {
			v = h.Get("Svix-" + k)
		}
		out.Set("Webhook-"+k, v)
	}
	return out
}

// Verify implements callbacks.Provider with the official library's
// constant-time check; the ±Tolerance window uses the injected clock.
func (p *Provider) Verify(in callbacks.Inbound, now time.Time) error {
	h := headers(in.Header)
	if h.Get("Webhook-Id") == "" || h.Get("Webhook-Timestamp") == "" || h.Get("Webhook-Signature") == "" {
		return fmt.Errorf("%w: missing webhook-id, webhook-timestamp or webhook-signature", callbacks.ErrSignature)
	}
	sec, err := strconv.ParseInt(h.Get("Webhook-Timestamp"), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp is not a number", callbacks.ErrSignature)
	}
	if !in.Replay {
		if d := now.Sub(time.Unix(sec, 0)); d > p.cfg.Tolerance || d < -p.cfg.Tolerance {
			return fmt.Errorf("%w: timestamp %d outside the %s window", callbacks.ErrSignature, sec, p.cfg.Tolerance)
		}
	}
	ok := false
	for _, hook := range p.hooks {
		if hook.VerifyIgnoringTimestamp(in.Body, h) == nil {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("%w: no signature matches", callbacks.ErrSignature)
	}
	return nil
}

// Parse implements callbacks.Provider.
func (p *Provider) Parse(in callbacks.Inbound) ([]callbacks.Notification, error) {
	if !gjson.ValidBytes(in.Body) || !utf8.Valid(in.Body) {
		return nil, fmt.Errorf("%w: body is not UTF-8 JSON", callbacks.ErrMalformed)
	}
	f := p.cfg.Fields
	get := func(path string) gjson.Result { return gjson.GetBytes(in.Body, path) }
	n := callbacks.Notification{
		EventType: get(f.EventType).String(),
		OrderNo:   get(f.OrderNo).String(),
		Reference: get(f.TxnID).String(),
		Money:     ledger.Money{Currency: strings.ToUpper(get(f.Currency).String())},
		EventID:   headers(in.Header).Get("Webhook-Id"),
	}
	if f.EventID != "" {
		n.EventID = get(f.EventID).String()
	}
	if n.EventType == "" {
		return nil, fmt.Errorf("%w: no event type at %q", callbacks.ErrMalformed, f.EventType)
	}
	kind, mapped := p.cfg.Events[n.EventType]
	if !mapped && p.cfg.Events == nil && ledger.Kind(n.EventType).Valid() {
		kind, mapped = n.EventType, true
	}
	if !mapped {
		if n.EventID == "" { // else every such event would share one key
			return nil, fmt.Errorf("%w: unsupported event type %s with no event id", callbacks.ErrMalformed, n.EventType)
		}
		n.TxnID, n.Unsupported = n.EventID+":unsupported", "unsupported event type "+n.EventType
		return []callbacks.Notification{n}, nil
	}
	n.Kind = ledger.Kind(kind)
	switch {
	case n.Reference == "":
		return nil, fmt.Errorf("%w: no transaction reference at %q", callbacks.ErrMalformed, f.TxnID)
	case n.OrderNo == "":
		return nil, fmt.Errorf("%w: no order number at %q", callbacks.ErrMalformed, f.OrderNo)
	case n.Money.Currency == "":
		return nil, fmt.Errorf("%w: no currency at %q", callbacks.ErrMalformed, f.Currency)
	}
	amt := get(f.Amount)
	switch {
	case amt.Type == gjson.Number && !strings.ContainsAny(amt.Raw, ".eE"):
		v, err := strconv.ParseInt(amt.Raw, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: amount %s", callbacks.ErrMalformed, amt.Raw)
		}
		if v < 0 {
			return nil, fmt.Errorf("%w: amount %d is negative", callbacks.ErrMalformed, v)
		}
		n.Money.Amount = v
	case amt.Type == gjson.String:
		v, err := ledger.ParseDecimal(amt.Str, n.Money.Currency)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", callbacks.ErrMalformed, err)
		}
		n.Money.Amount = v
	default:
		return nil, fmt.Errorf("%w: amount at %q must be an integer in minor units or a decimal string", callbacks.ErrMalformed, f.Amount)
	}
	n.TxnID = callbacks.Key(n.Reference, n.Kind)
	return []callbacks.Notification{n}, nil
}

// Ack implements callbacks.Provider: any 2xx.
func (p *Provider) Ack(err error) callbacks.Ack { return callbacks.JSONAck(err) }

// Query implements callbacks.Provider: Standard Webhooks defines no status API.
func (p *Provider) Query(context.Context, callbacks.StatusQuery) ([]callbacks.Notification, error) {
	return nil, fmt.Errorf("%s: %w", p.cfg.Name, callbacks.ErrQueryUnsupported)
}
