package callbacks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"gateway/ledger"
)

// ErrUndecided: a provider's status answer cannot be applied now (the
// order does not exist, or the answer itself decides nothing); nothing was
// recorded (returned by Learn).
var ErrUndecided = errors.New("outcome undecided")

// Where a receipt's facts come from (Receipt.Verified).
const (
	// VerifiedOK: a delivery whose signature verified over its raw bytes.
	VerifiedOK = "ok"
	// VerifiedQuery: an answer of the provider's status API, asked by the
	// reconciler over an authenticated connection (and, where the
	// provider signs its answers, verified). Its raw body is the question
	// and the answer as JSON, kept for audit; there are no signed bytes to
	// re-drive.
	VerifiedQuery = "query"
)

// queryEvidence is the raw body of a receipt recorded from a status answer.
type queryEvidence struct {
	Source string       `json:"source"`
	Query  queryAsked   `json:"query"`
	Answer queryAnswers `json:"answer"`
}

type queryAsked struct {
	OrderNo   string      `json:"order_no"`
	Reference string      `json:"reference"`
	Kind      ledger.Kind `json:"kind"`
}

type queryAnswers struct {
	TxnID      string      `json:"txn_id"`
	EventType  string      `json:"event_type"`
	Kind       ledger.Kind `json:"kind"`
	OrderNo    string      `json:"order_no"`
	Reference  string      `json:"reference"`
	Amount     int64       `json:"amount"`
	Currency   string      `json:"currency"`
	Cumulative bool        `json:"cumulative,omitempty"`
}

// Learn records what a provider's status API answered (n, one of the
// notifications its Query returned for q) as the callback for that event
// would have been recorded: under the same dedup key — a provider's Query
// builds n.TxnID exactly as its Parse does (DESIGN §2) — through the same
// dedup read, transaction, ledger posting and conflict check as a
// delivery. So the event counts once (P2): a callback that arrives later is
// a duplicate, and an answer whose key exists is a duplicate too; an
// answer whose key exists with other facts is recorded as a conflict (P6).
//
// The receipt's event type is SweepEventType(n.Kind) (the reconciliation
// report lists such payments as "paid at the provider but not locally"),
// its Verified is VerifiedQuery, its raw body the question and answer as
// JSON. An answer that cannot be decided now (no such order; "pending") is
// not recorded: the error wraps ErrUndecided, and the question stays open.
func (s *Service) Learn(ctx context.Context, provider string, q StatusQuery, n Notification) (Outcome, error) {
	p, ok := s.providers[provider]
	if !ok {
		return Outcome{}, fmt.Errorf("%w: %q", ErrUnknownProvider, provider)
	}
	if n.Unsupported != "" {
		return Outcome{}, fmt.Errorf("%w: status answer %s: %s", ErrMalformed, n.TxnID, n.Unsupported)
	}
	body, err := json.Marshal(queryEvidence{Source: "status_query",
		Query: queryAsked(q),
		Answer: queryAnswers{TxnID: n.TxnID, EventType: n.EventType, Kind: n.Kind, OrderNo: n.OrderNo,
			Reference: n.Reference, Amount: n.Money.Amount, Currency: n.Money.Currency, Cumulative: n.Cumulative}})
	if err != nil {
		return Outcome{}, fmt.Errorf("callbacks: learn %s: %w", n.TxnID, err)
	}
	n.EventType = SweepEventType(n.Kind)
	if err := n.Validate(); err != nil {
		return Outcome{}, fmt.Errorf("callbacks: status answer from %s: %w", provider, err)
	}
	return s.process(ctx, p, Inbound{Provider: provider, Body: body}, n, n.Fingerprint(), VerifiedQuery)
}

// finalKinds are the events that settle a payment one way or the other.
var finalKinds = []ledger.Kind{ledger.KindPaymentSucceeded, ledger.KindPaymentClosed, ledger.KindPaymentFailed}

// finalWord finds, for a "payment pending" receipt, a recorded final event
// of the same provider transaction (its succeeded, closed or failed key):
// the answer to the question the pending receipt left open. nil if none.
func (s *Service) finalWord(ctx context.Context, r Receipt) (*Receipt, error) {
	if r.Kind != ledger.KindPaymentPending || r.Reference == "" {
		return nil, nil
	}
	for _, k := range finalKinds {
		f, err := s.store.Receipt(ctx, r.Provider, Key(r.Reference, k))
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			return nil, err
		}
		if f.Status == StatusApplied || f.Status == StatusRejected {
			return &f, nil
		}
	}
	return nil, nil
}
