// Package stripe verifies and parses Stripe webhooks (Stripe-Signature v1)
// and queries PaymentIntents for the reconciler.
package stripe

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/query"
)

// Config configures the provider.
type Config struct {
	Name string
	// Secrets are the endpoint's whsec_… secrets; any one may sign (rotation).
	Secrets []string
	// Tolerance is the two-sided timestamp window (default 5m).
	Tolerance time.Duration
	APIKey    string
	APIBase   string
	Client    *http.Client
}

// Provider is Stripe.
type Provider struct {
	cfg Config
	api *query.Client
}

// New returns the Stripe provider.
func New(cfg Config) (*Provider, error) {
	if len(cfg.Secrets) == 0 {
		return nil, fmt.Errorf("stripe: no webhook secret")
	}
	if cfg.Name == "" {
		cfg.Name = "stripe"
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = 5 * time.Minute
	}
	if cfg.APIBase == "" {
		cfg.APIBase = "https://api.stripe.com"
	}
	return &Provider{cfg: cfg, api: query.New(cfg.APIBase, cfg.Client)}, nil
}

// Name implements callbacks.Provider.
func (p *Provider) Name() string { return p.cfg.Name }

// Sign returns a Stripe-Signature header value for body at t, signed with
// secret, as Stripe computes it. Used by the dev signer and the load tool.
func Sign(secret string, t time.Time, body []byte) string {
	return fmt.Sprintf("t=%d,v1=%s", t.Unix(), hex.EncodeToString(mac(secret, strconv.FormatInt(t.Unix(), 10), body)))
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify implements callbacks.Provider: HMAC-SHA256 of "t.body" with the
// whole whsec_ string as key, any v1 under any secret, compared in constant
// time; the timestamp within ±Tolerance of now unless replaying.
func (p *Provider) Verify(in callbacks.Inbound, now time.Time) error {
	header := in.Header.Get("Stripe-Signature")
	if header == "" {
		return fmt.Errorf("%w: missing Stripe-Signature header", callbacks.ErrSignature)
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: Stripe-Signature has no valid timestamp", callbacks.ErrSignature)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: Stripe-Signature has no v1 signature", callbacks.ErrSignature)
	}
	if !in.Replay {
		if d := now.Sub(time.Unix(sec, 0)); d > p.cfg.Tolerance || d < -p.cfg.Tolerance {
			return fmt.Errorf("%w: timestamp %d outside the %s window", callbacks.ErrSignature, sec, p.cfg.Tolerance)
		}
	}
	ok := false
	for _, secret := range p.cfg.Secrets {
		want := mac(secret, ts, in.Body)
		for _, s := range sigs {
			if hmac.Equal(want, s) {
				ok = true // keep going: constant work whichever secret matches
			}
		}
	}
	if !ok {
		return fmt.Errorf("%w: no v1 signature matches", callbacks.ErrSignature)
	}
	return nil
}

// Parse implements callbacks.Provider. It reads only what it needs, so an
// event from any API version parses.
func (p *Provider) Parse(in callbacks.Inbound) ([]callbacks.Notification, error) {
	ev, err := decodeEvent(in.Body)
	if err != nil {
		return nil, err
	}
	if ev.ID == "" || ev.Type == "" {
		return nil, fmt.Errorf("%w: stripe event without id or type", callbacks.ErrMalformed)
	}
	obj := ev.Data.Object
	n := callbacks.Notification{EventID: ev.ID, EventType: ev.Type, OrderNo: obj.Metadata["order_no"],
		Money: ledger.Money{Currency: strings.ToUpper(obj.Currency)}}
	unsupported := func(why string) []callbacks.Notification {
		n.TxnID, n.Unsupported = ev.ID+":unsupported", why
		return []callbacks.Notification{n}
	}
	switch ev.Type {
	case "payment_intent.succeeded":
		n.Kind, n.Reference, n.Money.Amount = ledger.KindPaymentSucceeded, obj.ID, obj.AmountReceived
	case "payment_intent.payment_failed":
		n.Kind, n.Reference, n.Money.Amount = ledger.KindPaymentFailed, obj.ID, obj.Amount
	case "charge.succeeded":
		if !obj.Captured {
			return unsupported("charge authorized, not captured"), nil
		}
		n.Kind, n.Reference, n.Money.Amount = ledger.KindPaymentSucceeded, chargeRef(obj), obj.AmountCaptured
	case "charge.refunded":
		if obj.ID == "" {
			return nil, fmt.Errorf("%w: %s without a charge id", callbacks.ErrMalformed, ev.Type)
		}
		// amount_refunded is cumulative: the key carries it, so each new
		// total is one event and a re-sent older total changes nothing.
		n.Kind, n.Reference, n.Money.Amount, n.Cumulative = ledger.KindRefundSucceeded, chargeRef(obj), obj.AmountRefunded, true
		n.TxnID = callbacks.Key(obj.ID, n.Kind) + ":" + strconv.FormatInt(obj.AmountRefunded, 10)
		return []callbacks.Notification{n}, nil
	default:
		return unsupported("unsupported event type " + ev.Type), nil
	}
	if n.Reference == "" {
		return nil, fmt.Errorf("%w: %s without an object id", callbacks.ErrMalformed, ev.Type)
	}
	n.TxnID = callbacks.Key(n.Reference, n.Kind)
	return []callbacks.Notification{n}, nil
}

func chargeRef(o object) string {
	if pi := o.PaymentIntent; pi != "" {
		return pi
	}
	return o.ID
}

// Ack implements callbacks.Provider: Stripe accepts any 2xx.
func (p *Provider) Ack(err error) callbacks.Ack { return callbacks.JSONAck(err) }

// intent is what Query reads of a PaymentIntent from the API.
type intent struct {
	ID             string            `json:"id"`
	Status         string            `json:"status"`
	Currency       string            `json:"currency"`
	Amount         int64             `json:"amount"`
	AmountReceived int64             `json:"amount_received"`
	Metadata       map[string]string `json:"metadata"`
}

// Query implements callbacks.Provider: it retrieves the PaymentIntent named
// by q.Reference, or searches PaymentIntents by metadata order_no.
func (p *Provider) Query(ctx context.Context, q callbacks.StatusQuery) ([]callbacks.Notification, error) {
	if p.cfg.APIKey == "" {
		return nil, fmt.Errorf("stripe: %w: no api_key configured", callbacks.ErrQueryUnsupported)
	}
	auth := func(r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+p.cfg.APIKey)
		return nil
	}
	var pis []intent
	if strings.HasPrefix(q.Reference, "pi_") {
		var pi intent
		if err := p.api.Do(ctx, http.MethodGet, "/v1/payment_intents/"+url.PathEscape(q.Reference), nil, auth, &pi); err != nil {
			return nil, fmt.Errorf("stripe: retrieve %s: %w", q.Reference, err)
		}
		pis = append(pis, pi)
	} else {
		var res struct {
			Data []intent `json:"data"`
		}
		path := "/v1/payment_intents/search?query=" + url.QueryEscape(fmt.Sprintf("metadata['order_no']:'%s'", strings.ReplaceAll(q.OrderNo, "'", `\'`)))
		if err := p.api.Do(ctx, http.MethodGet, path, nil, auth, &res); err != nil {
			return nil, fmt.Errorf("stripe: search %s: %w", q.OrderNo, err)
		}
		pis = res.Data
	}
	var out []callbacks.Notification
	for _, pi := range pis {
		n := callbacks.Notification{EventType: "payment_intent." + pi.Status, Reference: pi.ID,
			OrderNo: pi.Metadata["order_no"], Money: ledger.Money{Amount: pi.Amount, Currency: strings.ToUpper(pi.Currency)}}
		switch pi.Status {
		case "succeeded":
			n.Kind, n.Money.Amount = ledger.KindPaymentSucceeded, pi.AmountReceived
		case "canceled":
			n.Kind = ledger.KindPaymentClosed
		default: // requires_payment_method, requires_confirmation, requires_action, processing, requires_capture
			n.Kind = ledger.KindPaymentPending
		}
		n.TxnID = callbacks.Key(pi.ID, n.Kind)
		out = append(out, n)
	}
	return out, nil
}
