package callbacks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gateway/ledger"
)

// Errors of re-driving a stored receipt.
var (
	// ErrNotReplayable: the receipt cannot be re-driven — a conflict is
	// evidence, not an event; or its stored bytes no longer verify, parse
	// or produce its key.
	ErrNotReplayable = errors.New("receipt cannot be replayed")
	// ErrReceiptChanged: the receipt's status changed since it was read
	// (returned by stores; the re-drive reads it again and retries).
	ErrReceiptChanged = errors.New("receipt changed concurrently")
)

// errDryRun rolls back the read-only transaction of a dry run.
var errDryRun = errors.New("dry run")

// Action is what a re-drive did, or in a dry run would do.
type Action string

// Actions of a re-drive. A re-driven receipt's action is its resulting
// status: applied, rejected, unknown or escalated (an escalated receipt
// whose outcome is still undecided stays escalated).
const (
	// ActionNoop: the receipt was applied already; its original result
	// stands and nothing is written.
	ActionNoop      Action = "noop"
	ActionApplied   Action = "applied"
	ActionRejected  Action = "rejected"
	ActionUnknown   Action = "unknown"
	ActionEscalated Action = "escalated"
	// ActionReprocessed: the stored bytes of an unsupported-event receipt
	// now parse (after an upgrade or a configuration change) into other
	// keys; they went through the pipeline as new notifications, deduped
	// by those keys. The old receipt stays as it was.
	ActionReprocessed Action = "reprocessed"
)

// Redrive is the result of re-driving a stored receipt.
type Redrive struct {
	// Receipt is the receipt after the re-drive (in a dry run: as it
	// would be).
	Receipt Receipt
	// Previous is the receipt's status before.
	Previous Status
	Action   Action
	// Changed reports whether the receipt was (would be) written.
	Changed bool
	DryRun  bool
	// OrderBefore is the order as it was read (nil if there is none);
	// OrderAfter is what the event makes of it (nil if it does not change
	// it) and Legs the ledger posting that goes with it.
	OrderBefore *ledger.Order
	OrderAfter  *ledger.Order
	Legs        []ledger.Entry
	// Reprocessed lists the new notifications' outcomes for
	// ActionReprocessed (in a dry run, what they would be).
	Reprocessed []Outcome
}

// Redrive runs a stored receipt through the pipeline again: admin replays
// and the reconciler use it. The stored bytes are verified again (the
// signature, not the provider's timestamp window: Inbound.Replay) and
// parsed; then, in one transaction, the order is decided as a fresh delivery
// would be, the order and ledger are written, and the receipt's status is
// updated under a status guard — so of two concurrent re-drives only one
// can apply the event (P2), and a delivery of the same key meanwhile is a
// duplicate. An applied receipt is a no-op that returns its original
// result; a conflict is not replayable. A dry run decides inside a
// read-only transaction that is rolled back: it writes nothing.
func (s *Service) Redrive(ctx context.Context, id int64, dryRun bool) (Redrive, error) {
	for attempt := 1; ; attempt++ {
		res, err := s.redrive(ctx, id, dryRun)
		switch {
		case err == nil:
			s.obs.Redriven(res.Receipt.Provider, res.Action, dryRun)
			if !dryRun && res.Changed {
				s.log.Info("receipt re-driven", "receipt", id, "provider", res.Receipt.Provider,
					"txn_id", res.Receipt.TxnID, "from", res.Previous, "action", res.Action)
			}
			return res, nil
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrNotReplayable), errors.Is(err, ErrUnknownProvider):
			return Redrive{}, err
		case (errors.Is(err, ErrReceiptChanged) || retryable(err)) && attempt < s.cfg.MaxAttempts:
			s.obs.Retried(res.Receipt.Provider, err)
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return Redrive{}, transient(err)
			}
		default:
			return Redrive{}, transient(fmt.Errorf("callbacks: re-drive receipt %d: %w", id, err))
		}
	}
}

func (s *Service) redrive(ctx context.Context, id int64, dryRun bool) (Redrive, error) {
	r, err := s.store.ReceiptByID(ctx, id)
	if err != nil {
		return Redrive{}, err
	}
	res := Redrive{Receipt: r, Previous: r.Status, DryRun: dryRun}
	switch r.Status {
	case StatusApplied:
		res.Action = ActionNoop
		return res, nil
	case StatusConflict:
		of := "its original"
		if r.ConflictOf != nil {
			of = fmt.Sprintf("receipt %d", *r.ConflictOf)
		}
		return res, fmt.Errorf("%w: receipt %d is a conflict (a delivery whose key exists with other facts); it is kept as evidence, look at %s", ErrNotReplayable, id, of)
	}
	p, ok := s.providers[r.Provider]
	if !ok {
		return res, fmt.Errorf("%w: %q (receipt %d)", ErrUnknownProvider, r.Provider, id)
	}
	if r.Verified == VerifiedQuery {
		return res, fmt.Errorf("%w: receipt %d was recorded from %s's status API, not from a delivery: there are no signed bytes to run again; the reconciler asks the provider again for open questions", ErrNotReplayable, id, r.Provider)
	}
	in := Inbound{Provider: r.Provider, Header: r.Headers, Body: r.RawBody, Replay: true}
	ns, err := s.verifyParse(p, in)
	if err != nil {
		return res, fmt.Errorf("%w: receipt %d: stored bytes: %v", ErrNotReplayable, id, err)
	}
	var n *Notification
	for i := range ns {
		if ns[i].TxnID == r.TxnID {
			n = &ns[i]
		}
	}
	if n == nil {
		if r.Status == StatusRejected && r.Kind == "" {
			return s.reprocess(ctx, p, in, ns, res)
		}
		return res, fmt.Errorf("%w: receipt %d: its stored bytes no longer produce key %s", ErrNotReplayable, id, r.TxnID)
	}

	now := s.Now().UTC()
	next := withFacts(r, *n)
	final, err := s.finalWord(ctx, next)
	if err != nil {
		return res, err
	}
	err = s.store.InTx(ctx, func(tx Tx) error {
		d := decision{status: StatusRejected, reason: n.Unsupported}
		if next.Kind != "" {
			var err error
			if d, err = s.decide(ctx, tx, next, now); err != nil {
				return err
			}
		}
		if d.status == StatusUnknown && final != nil {
			// "Pending" asked a question that the provider's final event
			// for the same transaction has answered (a payment that
			// failed leaves the order open, so the order alone cannot
			// tell). The pending event itself moves nothing.
			d = decision{status: StatusApplied, before: d.before, reason: fmt.Sprintf(
				"superseded: the provider's final event for %s is %s (receipt %d, %s)", next.Reference, final.Kind, final.ID, final.Status)}
		}
		s.settle(&next, r.Status, d, now)
		res.Receipt, res.Action = next, Action(next.Status)
		res.OrderBefore, res.OrderAfter, res.Legs = d.before, d.after, d.legs
		res.Changed = next.Status != r.Status || next.Reason != r.Reason || next.Fingerprint != r.Fingerprint
		if dryRun {
			return errDryRun
		}
		if !res.Changed {
			return nil
		}
		if err := s.effect(ctx, tx, d); err != nil {
			return err
		}
		return tx.UpdateReceipt(ctx, next, r.Status)
	})
	if err != nil && !errors.Is(err, errDryRun) {
		return res, err
	}
	return res, nil
}

// withFacts is r with the facts its stored bytes parse to today. They are
// the same facts unless the parser or the provider's configuration changed
// since; a receipt that is not applied has had no effect, so it is decided
// on the current reading.
func withFacts(r Receipt, n Notification) Receipt {
	r.EventID, r.EventType, r.Kind, r.OrderNo, r.Reference = n.EventID, n.EventType, n.Kind, n.OrderNo, n.Reference
	r.Money, r.Cumulative, r.Fingerprint = n.Money, n.Cumulative, n.Fingerprint()
	if n.Unsupported != "" {
		r.Kind = ""
	}
	return r
}

// settle sets a re-driven receipt's status from a decision. Applied and
// rejected are final. Undecided leaves an unknown or escalated receipt as
// it is (the reconciler's schedule, or the escalation, stands) with the new
// reason; a rejected one becomes unknown with a first check.
func (s *Service) settle(rec *Receipt, prev Status, d decision, now time.Time) {
	rec.Reason = d.reason
	if d.status != StatusUnknown {
		rec.Status, rec.NextCheckAt = d.status, nil
		return
	}
	if prev == StatusUnknown || prev == StatusEscalated {
		rec.Status = prev
		return
	}
	rec.Status = StatusUnknown
	s.park(rec, now)
}

// reprocess runs the stored bytes of an unsupported-event receipt through
// the pipeline as the notifications they now parse to.
func (s *Service) reprocess(ctx context.Context, p Provider, in Inbound, ns []Notification, res Redrive) (Redrive, error) {
	res.Action = ActionReprocessed
	for _, n := range ns {
		var o Outcome
		var err error
		if res.DryRun {
			o, err = s.preview(ctx, p, in, n)
		} else {
			o, err = s.process(ctx, p, in, n, n.Fingerprint(), VerifiedOK)
		}
		if err != nil {
			return res, err
		}
		res.Reprocessed = append(res.Reprocessed, o)
	}
	return res, nil
}

// preview is what process would do with n, without writing.
func (s *Service) preview(ctx context.Context, p Provider, in Inbound, n Notification) (Outcome, error) {
	prev, err := s.store.Receipt(ctx, p.Name(), n.TxnID)
	switch {
	case err == nil:
		return Outcome{Receipt: prev, Duplicate: true}, nil
	case !errors.Is(err, ErrNotFound):
		return Outcome{}, err
	}
	rec := s.newReceipt(p, in, n, n.Fingerprint(), VerifiedOK)
	err = s.store.InTx(ctx, func(tx Tx) error {
		if rec.Kind != "" {
			d, err := s.decide(ctx, tx, rec, rec.LastSeenAt)
			if err != nil {
				return err
			}
			s.settle(&rec, "", d, rec.LastSeenAt)
		}
		return errDryRun
	})
	if err != nil && !errors.Is(err, errDryRun) {
		return Outcome{}, err
	}
	return Outcome{Receipt: rec}, nil
}

// SweepEventPrefix starts the event type of a receipt that the
// reconciler's sweep created from the provider's answer rather than from a
// callback ("sweep:payment.succeeded"): a payment the provider had and the
// gateway had not heard of. The reconciliation report lists such applied
// payments as "paid at the provider but not locally".
const SweepEventPrefix = "sweep:"

// SweepEventType is the event type a sweep gives the receipt it records.
func SweepEventType(k ledger.Kind) string { return SweepEventPrefix + string(k) }

// IsSweep reports whether an event type marks a sweep receipt.
func IsSweep(eventType string) bool { return strings.HasPrefix(eventType, SweepEventPrefix) }
