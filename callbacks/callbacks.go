// Package callbacks owns the anti-repeat table and the pipeline that turns a
// provider's notification into exactly one effect on an order and the ledger:
// verify → parse → dedup → one transaction (order, ledger, receipt) → ack.
package callbacks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"gateway/ledger"
)

// Errors of the callback domain.
var (
	// ErrSignature: the signature, timestamp or key is not valid. Nothing is written.
	ErrSignature = errors.New("signature verification failed")
	// ErrMalformed: the body or headers cannot be parsed. Nothing is written.
	ErrMalformed = errors.New("malformed notification")
	// ErrUnknownProvider: no provider of that name is configured.
	ErrUnknownProvider = errors.New("unknown provider")
	// ErrDuplicate: the receipt's (provider, txn_id) exists (returned by stores).
	ErrDuplicate = errors.New("duplicate receipt")
	// ErrNotFound: no such receipt.
	ErrNotFound = errors.New("receipt not found")
	// ErrTransient: a temporary failure; the provider must retry.
	ErrTransient = errors.New("temporary failure, retry later")
	// ErrQueryUnsupported: the provider has no status query API.
	ErrQueryUnsupported = errors.New("provider has no status query")
)

// Status is a receipt's place in its lifecycle (DESIGN §3).
type Status string

// Receipt statuses.
const (
	StatusApplied   Status = "applied"
	StatusRejected  Status = "rejected"
	StatusUnknown   Status = "unknown"
	StatusConflict  Status = "conflict"
	StatusEscalated Status = "escalated"
)

// Inbound is one HTTP delivery as the provider sent it.
type Inbound struct {
	Provider string
	Header   http.Header
	Body     []byte
	// Replay is set when an admin replays stored bytes: the signature is
	// checked, the provider's timestamp window is not.
	Replay bool
}

// Notification is a provider's event, normalized.
type Notification struct {
	// TxnID is the dedup key: the provider's transaction or refund reference
	// plus the normalized kind (DESIGN §2).
	TxnID string
	// EventID is the provider's own delivery or event id, kept for audit.
	EventID   string
	EventType string
	Kind      ledger.Kind
	OrderNo   string
	// Reference is the provider's transaction reference (pi_…, transaction_id).
	Reference  string
	Money      ledger.Money
	Cumulative bool
	// Unsupported, when set, says why the event is not one the gateway acts
	// on; it is recorded as rejected and acknowledged so the provider stops.
	Unsupported string
}

// Key builds a dedup key from a provider reference and a kind.
func Key(reference string, kind ledger.Kind) string { return reference + ":" + string(kind) }

// Fingerprint is a digest of the business facts of a notification: two
// deliveries with one TxnID and different fingerprints are a conflict (P6).
func (n Notification) Fingerprint() string {
	h := sha256.New()
	for _, s := range []string{string(n.Kind), n.OrderNo, strconv.FormatInt(n.Money.Amount, 10),
		n.Money.Currency, strconv.FormatBool(n.Cumulative), n.Unsupported} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// maxTxnID leaves room in the 191-character key column for a conflict suffix.
const maxTxnID = 160

// Validate checks what a provider parser produced before it is stored.
func (n Notification) Validate() error {
	switch {
	case n.TxnID == "" || len(n.TxnID) > maxTxnID:
		return fmt.Errorf("%w: transaction id must be 1 to %d characters", ErrMalformed, maxTxnID)
	case len(n.EventID) > 191 || len(n.EventType) > 64 || len(n.Reference) > 128:
		return fmt.Errorf("%w: event id, type or reference too long", ErrMalformed)
	case n.Unsupported != "":
		return nil
	case !n.Kind.Valid():
		return fmt.Errorf("%w: unknown event kind %q", ErrMalformed, n.Kind)
	case n.OrderNo == "" || len(n.OrderNo) > 64:
		return fmt.Errorf("%w: order number must be 1 to 64 characters", ErrMalformed)
	case !ledger.ValidCurrency(n.Money.Currency):
		return fmt.Errorf("%w: unknown currency %q", ErrMalformed, n.Money.Currency)
	case n.Money.Amount < 0 || n.Money.Amount > 1e15:
		return fmt.Errorf("%w: amount %d out of range", ErrMalformed, n.Money.Amount)
	}
	return nil
}

// Ack is the exact answer a provider expects.
type Ack struct {
	Status      int
	ContentType string
	Body        []byte
}

// StatusQuery asks a provider about a transaction (used by the reconciler).
type StatusQuery struct {
	OrderNo   string
	Reference string
	Kind      ledger.Kind
}

// Provider is what each provider package implements.
type Provider interface {
	// Name is the path segment of POST /callbacks/{name}.
	Name() string
	// Verify checks the signature (and timestamp, unless in.Replay) over the
	// raw bytes. It returns an error wrapping ErrSignature or ErrMalformed.
	Verify(in Inbound, now time.Time) error
	// Parse turns a verified delivery into notifications (Adyen batches).
	Parse(in Inbound) ([]Notification, error)
	// Ack is the answer for a delivery: success for err == nil, the provider's
	// refusal for ErrSignature/ErrMalformed, a retry-later answer otherwise.
	Ack(err error) Ack
	// Query asks the provider for the current state of a transaction.
	Query(ctx context.Context, q StatusQuery) ([]Notification, error)
}

// Receipt is a row of the anti-repeat table.
type Receipt struct {
	ID          int64
	Provider    string
	TxnID       string
	EventID     string
	EventType   string
	Kind        ledger.Kind
	OrderNo     string
	Reference   string
	Money       ledger.Money
	Cumulative  bool
	Fingerprint string
	Status      Status
	Reason      string
	RawBody     []byte
	Headers     http.Header
	Verified    string
	Ack         Ack
	Deliveries  int64
	Attempts    int
	NextCheckAt *time.Time
	ConflictOf  *int64
	FirstSeenAt time.Time
	LastSeenAt  time.Time
}

// Notification rebuilds the normalized notification a receipt was made from.
func (r Receipt) Notification() Notification {
	n := Notification{TxnID: r.TxnID, EventID: r.EventID, EventType: r.EventType, Kind: r.Kind,
		OrderNo: r.OrderNo, Reference: r.Reference, Money: r.Money, Cumulative: r.Cumulative}
	if r.Status == StatusRejected && r.Kind == "" {
		n.Unsupported = r.Reason
	}
	return n
}

// headerAllowList is what a receipt keeps of the request headers: what
// re-verification needs and what helps an investigation; never auth headers.
var headerAllowList = []string{
	"Content-Type", "User-Agent", "X-Request-Id",
	"Stripe-Signature",
	"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature",
	"Svix-Id", "Svix-Timestamp", "Svix-Signature",
	"Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial", "Wechatpay-Signature-Type",
	"Paypal-Transmission-Id", "Paypal-Transmission-Time", "Paypal-Transmission-Sig", "Paypal-Cert-Url", "Paypal-Auth-Algo",
}

// AllowedHeaders returns the allow-listed subset of h.
func AllowedHeaders(h http.Header) http.Header {
	out := http.Header{}
	for _, k := range headerAllowList {
		if v := h.Values(k); len(v) > 0 {
			out[k] = v
		}
	}
	return out
}

// DecodeJSON decodes a provider's JSON body into v. It refuses invalid
// UTF-8 first, which encoding/json would quietly turn into U+FFFD (an order
// number that matches nothing, a receipt written from bytes nobody sent);
// what names the body in the ErrMalformed it returns.
func DecodeJSON(body []byte, v any, what string) error {
	if !utf8.Valid(body) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrMalformed, what)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, what, err)
	}
	return nil
}
