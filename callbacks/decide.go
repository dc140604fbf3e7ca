package callbacks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gateway/ledger"
)

// verifyParse checks the signature over the raw bytes (P3) and parses them
// into valid notifications.
func (s *Service) verifyParse(p Provider, in Inbound) ([]Notification, error) {
	if err := p.Verify(in, s.Now()); err != nil {
		return nil, err
	}
	ns, err := p.Parse(in)
	if err != nil {
		return nil, err
	}
	if len(ns) == 0 {
		return nil, fmt.Errorf("%w: no notification in the body", ErrMalformed)
	}
	for _, n := range ns {
		if err := n.Validate(); err != nil {
			return nil, err
		}
	}
	return ns, nil
}

// decision is what a notification does to its order: the receipt's status
// and reason and, when the order changes, the order before and after and
// the ledger legs. Deciding writes nothing; effect does.
type decision struct {
	status Status
	reason string
	before *ledger.Order // nil when the order does not exist
	after  *ledger.Order // nil when the order does not change
	legs   []ledger.Entry
}

func (s *Service) decide(ctx context.Context, tx Tx, rec Receipt, now time.Time) (decision, error) {
	order, err := tx.Order(ctx, rec.OrderNo)
	if errors.Is(err, ledger.ErrNotFound) {
		return decision{status: StatusUnknown, reason: "order not found yet"}, nil
	}
	if err != nil {
		return decision{}, err
	}
	d := decision{before: &order}
	ev := ledger.Event{Kind: rec.Kind, Provider: rec.Provider, TxnID: rec.TxnID, Money: rec.Money, Cumulative: rec.Cumulative}
	next, legs, changed, err := ledger.Apply(order, ev, now)
	switch {
	case errors.Is(err, ledger.ErrUndecided):
		d.status, d.reason = StatusUnknown, err.Error()
		return d, nil
	case err != nil:
		d.status, d.reason = StatusRejected, err.Error()
		return d, nil
	}
	d.status = StatusApplied
	if !changed {
		d.reason = "accepted; order unchanged"
		return d, nil
	}
	next.Version = order.Version + 1 // what the optimistic update makes it
	d.after, d.legs = &next, legs
	return d, nil
}

// effect writes a decision: the order under the version that was read (P4)
// and the balanced posting.
func (s *Service) effect(ctx context.Context, tx Tx, d decision) error {
	if d.after == nil {
		return nil
	}
	if err := tx.UpdateOrder(ctx, *d.after, d.before.Version); err != nil {
		return err
	}
	return tx.Post(ctx, d.legs)
}

// park schedules an unknown receipt's first check (P7).
func (s *Service) park(rec *Receipt, now time.Time) {
	d := s.cfg.FirstCheck
	if pd, ok := s.cfg.FirstChecks[rec.Provider]; ok && pd > 0 {
		d = pd
	}
	at := now.Add(d)
	rec.NextCheckAt = &at
}
