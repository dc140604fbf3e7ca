package reconcile

import (
	"context"
	"errors"
	mrand "math/rand/v2"
	"time"

	"gateway/ledger"
)

// retrying is the store with each call tried again, a few times, when the
// database says a retry may help: replicas claiming and settling receipts
// side by side meet InnoDB deadlocks and busy SQLite now and then. Each
// call is one statement, or a claim that is safe to repeat (a repeated
// claim that had in fact succeeded finds the lease taken and reports
// ErrNotClaimed; the lease then expires by itself).
type retrying struct{ s Store }

const storeAttempts = 5

func retry[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	var v T
	var err error
	for attempt := range storeAttempts {
		if v, err = fn(); err == nil || !temporary(err) || attempt == storeAttempts-1 {
			break
		}
		d := time.Duration(5<<attempt) * time.Millisecond
		t := time.NewTimer(d/2 + mrand.N(d))
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C:
		}
	}
	return v, err
}

func temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func do(ctx context.Context, fn func() error) error {
	_, err := retry(ctx, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

func (r retrying) DueReceipts(ctx context.Context, now time.Time, limit int) ([]Due, error) {
	return retry(ctx, func() ([]Due, error) { return r.s.DueReceipts(ctx, now, limit) })
}

func (r retrying) ClaimReceipt(ctx context.Context, id int64, owner string, now, until time.Time) error {
	return do(ctx, func() error { return r.s.ClaimReceipt(ctx, id, owner, now, until) })
}

func (r retrying) RescheduleReceipt(ctx context.Context, id int64, owner string, next time.Time) error {
	return do(ctx, func() error { return r.s.RescheduleReceipt(ctx, id, owner, next) })
}

func (r retrying) EscalateReceipt(ctx context.Context, id int64, owner, reason string) error {
	return do(ctx, func() error { return r.s.EscalateReceipt(ctx, id, owner, reason) })
}

func (r retrying) ReleaseReceipt(ctx context.Context, id int64, owner string, checked bool) error {
	return do(ctx, func() error { return r.s.ReleaseReceipt(ctx, id, owner, checked) })
}

func (r retrying) SweepCandidates(ctx context.Context, q SweepQuery) ([]ledger.Order, error) {
	return retry(ctx, func() ([]ledger.Order, error) { return r.s.SweepCandidates(ctx, q) })
}

func (r retrying) ClaimSweep(ctx context.Context, orderNo, provider, owner string, now, until time.Time) (int, error) {
	return retry(ctx, func() (int, error) { return r.s.ClaimSweep(ctx, orderNo, provider, owner, now, until) })
}

func (r retrying) FinishSweep(ctx context.Context, orderNo, owner string, next *time.Time, result string) error {
	return do(ctx, func() error { return r.s.FinishSweep(ctx, orderNo, owner, next, result) })
}

func (r retrying) ReleaseSweep(ctx context.Context, orderNo, owner string) error {
	return do(ctx, func() error { return r.s.ReleaseSweep(ctx, orderNo, owner) })
}
