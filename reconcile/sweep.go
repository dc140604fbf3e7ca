package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gateway/callbacks"
	"gateway/ledger"
)

// Sweep asks the providers about orders that are still created SweepAfter
// after they were made and that name their provider transaction (provider
// and provider reference), at most SweepBatch orders a run. A payment the
// provider has is applied through callbacks.Learn under the key its
// callback would have had, so the callback, if it ever comes, is a
// duplicate (P2); an order the provider closed is closed. An order with no
// outcome yet is asked again on the provider's schedule, and left alone
// after the whole schedule (an abandoned checkout is not an incident).
func (r *Reconciler) Sweep(ctx context.Context) (Summary, error) {
	now := r.Now().UTC()
	orders, err := r.store.SweepCandidates(ctx, SweepQuery{Now: now,
		CreatedAfter: now.Add(-r.cfg.sweepWindow()), CreatedBefore: now.Add(-r.cfg.SweepAfter), Limit: r.cfg.SweepBatch})
	if err != nil {
		return Summary{}, fmt.Errorf("reconcile: sweep candidates: %w", err)
	}
	sum := Summary{SweepCandidates: len(orders)}
	err = parallel(ctx, r.cfg.Workers, len(orders), func(i int) (Summary, error) { return r.sweep(ctx, orders[i]) }, &sum)
	return sum, runError("sweep", sum.Errors, sum.Swept, err)
}

// sweep asks about one order.
func (r *Reconciler) sweep(ctx context.Context, o ledger.Order) (Summary, error) {
	now := r.Now().UTC()
	checks, err := r.store.ClaimSweep(ctx, o.OrderNo, o.Provider, r.cfg.Owner, now, now.Add(r.cfg.Lease))
	switch {
	case errors.Is(err, ErrNotClaimed):
		return Summary{}, nil
	case err != nil:
		r.obs.Reconciled(o.Provider, ResultSweepError)
		return Summary{Errors: 1}, fmt.Errorf("claim sweep of %s: %w", o.OrderNo, err)
	}
	sum := Summary{Swept: 1}
	q := callbacks.StatusQuery{OrderNo: o.OrderNo, Reference: o.ProviderRef, Kind: ledger.KindPaymentSucceeded}
	answers, err := r.query(ctx, o.Provider, q)
	if errors.Is(err, callbacks.ErrQueryUnsupported) || errors.Is(err, callbacks.ErrUnknownProvider) {
		// Asking again will not help: the order waits for its callback.
		return r.finishSweep(ctx, o, nil, "cannot ask: "+err.Error(), ResultSweepDone, sum)
	}
	result, outcome := ResultSweepOpen, "no outcome yet"
	if err != nil {
		// The provider's failure, not the gateway's: asked again later.
		outcome = "question failed: " + err.Error()
	}
	outs, err := r.learn(ctx, o.Provider, q, answers)
	if err != nil {
		r.obs.Reconciled(o.Provider, ResultSweepError)
		sum.Errors++
		if rerr := r.store.ReleaseSweep(ctx, o.OrderNo, r.cfg.Owner); rerr != nil && !errors.Is(rerr, ErrLeaseLost) {
			r.log.Warn("sweep lease not released; it expires by itself", "order_no", o.OrderNo, "err", rerr)
		}
		return sum, fmt.Errorf("sweep of %s: %w", o.OrderNo, err)
	}
	for _, out := range outs {
		rec := out.Receipt
		switch {
		case rec.Status == callbacks.StatusApplied && rec.Kind == ledger.KindPaymentSucceeded:
			result, outcome = ResultSweepPaid, fmt.Sprintf("paid at the provider: receipt %d %s", rec.ID, rec.TxnID)
		case result == ResultSweepPaid:
		case rec.Status == callbacks.StatusRejected || rec.Status == callbacks.StatusConflict:
			// Money or state at the provider that the order does not
			// explain: the receipt and the report show it to people.
			result, outcome = ResultSweepRejected, fmt.Sprintf("answer %s: receipt %d %s: %s", rec.Status, rec.ID, rec.TxnID, rec.Reason)
		case result == ResultSweepRejected:
		case rec.Status == callbacks.StatusApplied && rec.Kind == ledger.KindPaymentClosed:
			result, outcome = ResultSweepClosed, fmt.Sprintf("closed at the provider: receipt %d %s", rec.ID, rec.TxnID)
		}
	}
	var next *time.Time
	if schedule := r.cfg.Schedule(o.Provider); result == ResultSweepOpen {
		if checks+1 < len(schedule) {
			at := r.Now().UTC().Add(r.jitter(schedule[checks+1]))
			next = &at
		} else {
			result, outcome = ResultSweepDone, fmt.Sprintf("%s after %d checks; not asked again", outcome, checks+1)
		}
	}
	return r.finishSweep(ctx, o, next, outcome, result, sum)
}

func (r *Reconciler) finishSweep(ctx context.Context, o ledger.Order, next *time.Time, outcome, result string, sum Summary) (Summary, error) {
	switch err := r.store.FinishSweep(ctx, o.OrderNo, r.cfg.Owner, next, outcome); {
	case errors.Is(err, ErrLeaseLost):
		r.log.Warn("sweep lease lost; the other instance's work stands", "order_no", o.OrderNo)
		return sum, nil
	case err != nil:
		r.obs.Reconciled(o.Provider, ResultSweepError)
		sum.Errors++
		return sum, fmt.Errorf("finish sweep of %s: %w", o.OrderNo, err)
	}
	r.obs.Reconciled(o.Provider, result)
	switch result {
	case ResultSweepPaid:
		sum.SweepPaid++
	case ResultSweepClosed:
		sum.SweepClosed++
	case ResultSweepRejected:
		sum.SweepRejected++
	case ResultSweepOpen:
		sum.SweepOpen++
	case ResultSweepDone:
		sum.SweepDone++
	}
	r.log.Info("order swept", "order_no", o.OrderNo, "provider", o.Provider, "result", result, "outcome", outcome, "next_check_at", next)
	return sum, nil
}
