// Package reconcile settles what the callback pipeline could not decide
// (P7): it re-drives the receipts parked as unknown, asks the provider when
// the provider's word is needed, reschedules with backoff and jitter, and
// escalates to operations when a receipt's budget is spent; and it sweeps
// orders that never heard from their provider, asking the provider whether
// they were paid or closed.
//
// It writes no order and no ledger entry itself: every effect goes through
// callbacks.Service (Redrive for stored deliveries, Learn for the
// provider's answers), so a reconciler run is one more delivery as far as
// exactly-once is concerned (P2). What it writes itself is bookkeeping —
// leases, schedules, escalations — guarded by its lease, so any number of
// replicas may run it at once (DESIGN §6).
package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"gateway/callbacks"
	"gateway/ledger"
)

// Errors of the reconciler's store.
var (
	// ErrNotClaimed: the receipt or order is not due, no longer waiting,
	// or leased by another instance whose lease is still valid.
	ErrNotClaimed = errors.New("not claimed")
	// ErrLeaseLost: the lease expired and another instance took the work
	// over (or it was resolved meanwhile); this instance's write is refused.
	ErrLeaseLost = errors.New("lease lost")
)

// Store is what the reconciler needs from the database. Every write that
// follows a claim is conditional on the claim's owner still holding it.
type Store interface {
	// DueReceipts returns the unknown receipts whose next check is at or
	// before now and whose lease is free or expired, oldest check first,
	// at most limit.
	DueReceipts(ctx context.Context, now time.Time, limit int) ([]Due, error)
	// ClaimReceipt leases an unknown, due receipt to owner until until if
	// its lease is free or expired at now; ErrNotClaimed otherwise.
	ClaimReceipt(ctx context.Context, id int64, owner string, now, until time.Time) error
	// RescheduleReceipt counts a check, sets the next one and frees the
	// lease, if the receipt is still unknown and owner's; ErrLeaseLost
	// otherwise.
	RescheduleReceipt(ctx context.Context, id int64, owner string, next time.Time) error
	// EscalateReceipt counts a check and makes an unknown receipt escalated
	// with reason, freeing the lease, if it is still owner's; ErrLeaseLost
	// otherwise.
	EscalateReceipt(ctx context.Context, id int64, owner, reason string) error
	// ReleaseReceipt frees owner's lease (whatever the receipt's status),
	// counting a check if checked; ErrLeaseLost if owner has no lease.
	ReleaseReceipt(ctx context.Context, id int64, owner string, checked bool) error

	// SweepCandidates returns orders still created, created in
	// (CreatedAfter, CreatedBefore], with a provider and a provider
	// reference, never swept or due again and not leased, oldest first.
	SweepCandidates(ctx context.Context, q SweepQuery) ([]ledger.Order, error)
	// ClaimSweep leases an order's sweep to owner and returns how many
	// checks it has had; ErrNotClaimed if it is not due or leased.
	ClaimSweep(ctx context.Context, orderNo, provider, owner string, now, until time.Time) (checks int, err error)
	// FinishSweep counts a check, records result, sets the next check (nil:
	// the order is not swept again) and frees the lease, if owner's;
	// ErrLeaseLost otherwise.
	FinishSweep(ctx context.Context, orderNo, owner string, next *time.Time, result string) error
	// ReleaseSweep frees owner's lease without counting a check;
	// ErrLeaseLost if owner has no lease.
	ReleaseSweep(ctx context.Context, orderNo, owner string) error
}

// Due is a receipt waiting for a check.
type Due struct {
	ID       int64
	Provider string
}

// SweepQuery selects the orders a sweep asks about.
type SweepQuery struct {
	Now                         time.Time
	CreatedAfter, CreatedBefore time.Time
	Limit                       int
}

// Observer counts what the reconciler did (metrics.Metrics implements it).
type Observer interface {
	Reconciled(provider, result string)
}

// Results, the values Observer.Reconciled is called with.
const (
	ResultApplied     = "applied"
	ResultRejected    = "rejected"
	ResultRescheduled = "rescheduled"
	ResultEscalated   = "escalated"
	ResultError       = "error"
	// Sweep results: a payment found and applied, an order the provider
	// closed, an answer that was rejected (amount mismatch…), no outcome
	// yet or no answer (asked again later), nothing after the whole
	// schedule or nothing to ask (not swept again), a failure of the
	// gateway's own (the database).
	ResultSweepPaid     = "sweep_paid"
	ResultSweepClosed   = "sweep_closed"
	ResultSweepRejected = "sweep_rejected"
	ResultSweepOpen     = "sweep_open"
	ResultSweepDone     = "sweep_done"
	ResultSweepError    = "sweep_error"
)

// DefaultBackoff is the schedule when none is configured.
var DefaultBackoff = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 6 * time.Hour, 24 * time.Hour}

// Config tunes the reconciler.
type Config struct {
	// Backoff is the schedule of checks: Backoff[0] is the wait between a
	// receipt being parked and its first check (callbacks.Config.FirstCheck),
	// Backoff[k] the wait after the k-th check. An unknown receipt still
	// undecided at its len(Backoff)-th check is escalated. Providers
	// overrides it per provider name.
	Backoff   []time.Duration
	Providers map[string][]time.Duration
	// Jitter spreads each wait uniformly by ±Jitter of it (default 0.1),
	// so receipts parked together are not all asked together again.
	Jitter float64
	// Lease is how long a claim is exclusive (default 5m): longer than
	// the work on one receipt (two re-drives and a query).
	Lease time.Duration
	// QueryTimeout bounds one question to a provider (default 30s).
	QueryTimeout time.Duration
	// Batch bounds the receipts one run works on (default 500); Workers
	// work them in parallel (default 4).
	Batch   int
	Workers int
	// SweepAfter is how old a created order is before the sweep asks its
	// provider about it (default 15m); SweepBatch bounds the orders one
	// run asks about (default 100).
	SweepAfter time.Duration
	SweepBatch int
	// Owner names this instance in leases (default: host name and a
	// random suffix, new for every process).
	Owner string
}

// Schedule is the provider's schedule of checks.
func (c Config) Schedule(provider string) []time.Duration {
	if s := c.Providers[provider]; len(s) > 0 {
		return s
	}
	if len(c.Backoff) > 0 {
		return c.Backoff
	}
	return DefaultBackoff
}

// FirstChecks is the wait before the first check, per provider with its
// own schedule, for callbacks.Config.FirstChecks.
func (c Config) FirstChecks() map[string]time.Duration {
	out := map[string]time.Duration{}
	for p, s := range c.Providers {
		if len(s) > 0 {
			out[p] = s[0]
		}
	}
	return out
}

// sweepWindow is how far back the sweep looks: an order older than this
// has had its whole schedule.
func (c Config) sweepWindow() time.Duration {
	longest := sum(c.Schedule(""))
	for p := range c.Providers {
		longest = max(longest, sum(c.Schedule(p)))
	}
	return c.SweepAfter + time.Duration(float64(longest)*(1+c.Jitter)) + 2*c.Lease + time.Hour
}

func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

// Reconciler settles unknown receipts and sweeps unpaid orders.
type Reconciler struct {
	svc   *callbacks.Service
	store Store
	cfg   Config
	obs   Observer
	log   *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// New returns a reconciler driving svc, keeping its leases in store.
func New(svc *callbacks.Service, store Store, cfg Config, obs Observer, log *slog.Logger) *Reconciler {
	if cfg.Jitter <= 0 || cfg.Jitter >= 1 {
		cfg.Jitter = 0.1
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 5 * time.Minute
	}
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = 30 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.SweepAfter <= 0 {
		cfg.SweepAfter = 15 * time.Minute
	}
	if cfg.SweepBatch <= 0 {
		cfg.SweepBatch = 100
	}
	if cfg.Owner == "" {
		cfg.Owner = NewOwner()
	}
	if obs == nil {
		obs = nopObserver{}
	}
	return &Reconciler{svc: svc, store: retrying{store}, cfg: cfg, obs: obs,
		log: log.With("component", "reconciler", "owner", cfg.Owner), Now: time.Now}
}

type nopObserver struct{}

func (nopObserver) Reconciled(string, string) {}

// NewOwner returns a lease owner name: the host name and a random suffix.
func NewOwner() string {
	host, _ := os.Hostname()
	if len(host) > 40 {
		host = host[:40]
	}
	if host == "" {
		host = "gateway"
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return host + "/" + hex.EncodeToString(b[:])
}

// Owner is the name this instance leases under.
func (r *Reconciler) Owner() string { return r.cfg.Owner }

// Summary is what one run did.
type Summary struct {
	// Receipts: due when the run started, claimed by this instance, and
	// claimed by another first (Lost).
	Due, Claimed, Lost int
	// What became of the claimed receipts. Errors counts receipts and
	// orders whose work failed on the gateway's side.
	Applied, Rejected, Rescheduled, Escalated, Errors int
	// Orders: candidates, claimed, and what their providers said.
	SweepCandidates, Swept                                      int
	SweepPaid, SweepClosed, SweepRejected, SweepOpen, SweepDone int
}

func (s *Summary) add(o Summary) {
	s.Due += o.Due
	s.Claimed += o.Claimed
	s.Lost += o.Lost
	s.Applied += o.Applied
	s.Rejected += o.Rejected
	s.Rescheduled += o.Rescheduled
	s.Escalated += o.Escalated
	s.Errors += o.Errors
	s.SweepCandidates += o.SweepCandidates
	s.Swept += o.Swept
	s.SweepPaid += o.SweepPaid
	s.SweepClosed += o.SweepClosed
	s.SweepRejected += o.SweepRejected
	s.SweepOpen += o.SweepOpen
	s.SweepDone += o.SweepDone
}

// Run is one run of the reconciler job: Resolve, then Sweep. The error
// reports work that failed on the gateway's side (the database, a bug);
// a provider that cannot answer is an outcome (rescheduled), not an error.
func (r *Reconciler) Run(ctx context.Context) (Summary, error) {
	sum, err := r.Resolve(ctx)
	sw, serr := r.Sweep(ctx)
	sum.add(sw)
	return sum, errors.Join(err, serr)
}

// Resolve works the due unknown receipts once each: claim, re-drive, ask
// the provider, then apply, reschedule or escalate.
func (r *Reconciler) Resolve(ctx context.Context) (Summary, error) {
	due, err := r.store.DueReceipts(ctx, r.Now().UTC(), r.cfg.Batch)
	if err != nil {
		return Summary{}, fmt.Errorf("reconcile: due receipts: %w", err)
	}
	// Replicas read the same candidates: each works them in its own order,
	// so they meet on few claims.
	mrand.Shuffle(len(due), func(i, j int) { due[i], due[j] = due[j], due[i] })
	sum := Summary{Due: len(due)}
	errs := parallel(ctx, r.cfg.Workers, len(due), func(i int) (Summary, error) { return r.resolve(ctx, due[i]) }, &sum)
	return sum, runError("receipts", sum.Errors, sum.Claimed, errs)
}

// runError describes how a part of a run ended, nil if it went through.
func runError(what string, failed, worked int, err error) error {
	switch {
	case err == nil:
		return nil
	case failed == 0:
		return fmt.Errorf("reconcile: %s: run stopped: %w", what, err)
	}
	return fmt.Errorf("reconcile: %s: %d of %d failed, first: %w", what, failed, worked, err)
}

// parallel runs work(0…n-1) on workers goroutines, adds up the summaries
// into sum, and returns the first error (and ctx's, if it ended the run).
func parallel(ctx context.Context, workers, n int, work func(i int) (Summary, error), sum *Summary) error {
	var mu sync.Mutex
	var first error
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s, err := work(i)
				mu.Lock()
				sum.add(s)
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// resolve works one receipt.
func (r *Reconciler) resolve(ctx context.Context, d Due) (Summary, error) {
	id, now := d.ID, r.Now().UTC()
	switch err := r.store.ClaimReceipt(ctx, id, r.cfg.Owner, now, now.Add(r.cfg.Lease)); {
	case errors.Is(err, ErrNotClaimed):
		return Summary{Lost: 1}, nil
	case err != nil:
		return Summary{Errors: 1}, fmt.Errorf("claim receipt %d: %w", id, err)
	}
	sum := Summary{Claimed: 1}
	res, err := r.svc.Redrive(ctx, id, false)
	if err != nil {
		return r.redriveFailed(ctx, d, err, sum)
	}
	rec := res.Receipt
	var note string
	if rec.Status == callbacks.StatusUnknown && res.OrderBefore != nil {
		// The order is there and the event still cannot apply ("pending",
		// a refund before its payment): the provider's word decides.
		var learned bool
		learned, note, err = r.ask(ctx, rec)
		if err != nil {
			return r.failed(ctx, d, err, sum)
		}
		if learned {
			if res, err = r.svc.Redrive(ctx, id, false); err != nil {
				return r.redriveFailed(ctx, d, err, sum)
			}
			rec = res.Receipt
		}
	}
	if rec.Status != callbacks.StatusUnknown {
		return r.settled(ctx, rec, sum)
	}
	return r.undecided(ctx, rec, note, sum)
}

// redriveFailed handles a re-drive error: a receipt that can never be
// re-driven (its bytes no longer verify, its provider is gone) is
// escalated, since nobody but a person can settle it; anything else is
// the gateway's own failure: the lease is freed and the receipt is tried
// again next run, without spending its budget.
func (r *Reconciler) redriveFailed(ctx context.Context, d Due, err error, sum Summary) (Summary, error) {
	if errors.Is(err, callbacks.ErrNotReplayable) || errors.Is(err, callbacks.ErrUnknownProvider) {
		return r.escalate(ctx, callbacks.Receipt{ID: d.ID, Provider: d.Provider}, "cannot be re-driven: "+err.Error(), sum)
	}
	return r.failed(ctx, d, fmt.Errorf("re-drive receipt %d: %w", d.ID, err), sum)
}

// failed frees the lease of a receipt whose work failed on the gateway's
// side, without counting a check: it is tried again next run.
func (r *Reconciler) failed(ctx context.Context, d Due, err error, sum Summary) (Summary, error) {
	sum.Errors++
	r.obs.Reconciled(d.Provider, ResultError)
	if rerr := r.store.ReleaseReceipt(ctx, d.ID, r.cfg.Owner, false); rerr != nil && !errors.Is(rerr, ErrLeaseLost) {
		r.log.Warn("lease not released; it expires by itself", "receipt", d.ID, "err", rerr)
	}
	return sum, err
}

// settled frees the lease of a receipt that is now applied or rejected.
func (r *Reconciler) settled(ctx context.Context, rec callbacks.Receipt, sum Summary) (Summary, error) {
	result := ResultApplied
	if rec.Status == callbacks.StatusRejected {
		result = ResultRejected
		sum.Rejected++
	} else {
		sum.Applied++
	}
	r.obs.Reconciled(rec.Provider, result)
	r.log.Info("unknown receipt settled", "receipt", rec.ID, "provider", rec.Provider, "txn_id", rec.TxnID,
		"status", rec.Status, "reason", rec.Reason)
	if err := r.store.ReleaseReceipt(ctx, rec.ID, r.cfg.Owner, true); err != nil && !errors.Is(err, ErrLeaseLost) {
		// The receipt is settled; only the lease bookkeeping failed, and a
		// settled receipt is never claimed again.
		r.log.Warn("lease of a settled receipt not released", "receipt", rec.ID, "err", err)
	}
	return sum, nil
}

// undecided reschedules a receipt that is still unknown, or escalates it
// when its checks are spent.
func (r *Reconciler) undecided(ctx context.Context, rec callbacks.Receipt, note string, sum Summary) (Summary, error) {
	schedule := r.cfg.Schedule(rec.Provider)
	checks := rec.Attempts + 1
	if checks >= len(schedule) {
		why := fmt.Sprintf("escalated after %d checks over %s: %s%s", checks,
			r.Now().Sub(rec.FirstSeenAt).Round(time.Minute), rec.Reason, note)
		return r.escalate(ctx, rec, why, sum)
	}
	next := r.Now().UTC().Add(r.jitter(schedule[checks]))
	if ok, err := r.leased("reschedule", rec, &sum, func() error {
		return r.store.RescheduleReceipt(ctx, rec.ID, r.cfg.Owner, next)
	}); !ok {
		return sum, err
	}
	sum.Rescheduled++
	r.obs.Reconciled(rec.Provider, ResultRescheduled)
	r.log.Info("unknown receipt rescheduled", "receipt", rec.ID, "provider", rec.Provider, "txn_id", rec.TxnID,
		"checks", checks, "next_check_at", next, "reason", rec.Reason+note)
	return sum, nil
}

// leased runs write, a write that needs the receipt's lease. ok is false
// when it did not happen: the lease was lost (another instance took the
// receipt over and its work stands: no error), or the write failed.
func (r *Reconciler) leased(what string, rec callbacks.Receipt, sum *Summary, write func() error) (ok bool, err error) {
	switch err := write(); {
	case errors.Is(err, ErrLeaseLost):
		r.log.Warn("lease lost; the other instance's work stands", "receipt", rec.ID, "write", what)
		return false, nil
	case err != nil:
		sum.Errors++
		r.obs.Reconciled(rec.Provider, ResultError)
		return false, fmt.Errorf("%s receipt %d: %w", what, rec.ID, err)
	}
	return true, nil
}

func (r *Reconciler) escalate(ctx context.Context, rec callbacks.Receipt, why string, sum Summary) (Summary, error) {
	if ok, err := r.leased("escalate", rec, &sum, func() error {
		return r.store.EscalateReceipt(ctx, rec.ID, r.cfg.Owner, why)
	}); !ok {
		return sum, err
	}
	sum.Escalated++
	r.obs.Reconciled(rec.Provider, ResultEscalated)
	r.log.Warn("receipt escalated to operations", "receipt", rec.ID, "provider", rec.Provider,
		"txn_id", rec.TxnID, "order_no", rec.OrderNo, "reason", why)
	return sum, nil
}

// ask puts the receipt's question to its provider and records every final
// answer through callbacks.Learn. learned reports whether an answer is now
// recorded under a key other than the receipt's own (worth a re-drive);
// note says what the provider answered, for the escalation reason. The
// error is the gateway's own failure to record an answer.
func (r *Reconciler) ask(ctx context.Context, rec callbacks.Receipt) (learned bool, note string, err error) {
	q := callbacks.StatusQuery{OrderNo: rec.OrderNo, Reference: rec.Reference, Kind: rec.Kind}
	answers, qerr := r.query(ctx, rec.Provider, q)
	if qerr != nil {
		return false, "; last question to the provider: " + qerr.Error(), nil
	}
	outs, err := r.learn(ctx, rec.Provider, q, answers)
	if err != nil {
		return false, "", fmt.Errorf("receipt %d: %w", rec.ID, err)
	}
	if len(outs) == 0 {
		return false, "; the provider has no final answer yet", nil
	}
	for _, o := range outs {
		switch o.Receipt.Status {
		case callbacks.StatusApplied, callbacks.StatusRejected:
			learned = learned || o.Receipt.ID != rec.ID
		case callbacks.StatusConflict:
			note += fmt.Sprintf("; the provider's answer conflicts with a receipt of the same key (conflict receipt %d)", o.Receipt.ID)
		}
	}
	return learned, note, nil
}

// query asks the provider, bounded by QueryTimeout.
func (r *Reconciler) query(ctx context.Context, provider string, q callbacks.StatusQuery) ([]callbacks.Notification, error) {
	p, ok := r.svc.Provider(provider)
	if !ok {
		return nil, fmt.Errorf("%w: %q", callbacks.ErrUnknownProvider, provider)
	}
	qctx, cancel := context.WithTimeout(ctx, r.cfg.QueryTimeout)
	defer cancel()
	answers, err := p.Query(qctx, q)
	if err != nil {
		r.log.Info("provider question failed", "provider", provider, "order_no", q.OrderNo, "reference", q.Reference, "err", err)
		return nil, err
	}
	return answers, nil
}

// learn records the final answers about q's order (a "pending" answer
// decides nothing and is left out) and returns their outcomes. An answer
// that is not valid is the provider's fault: it is logged and left out.
// The error is the gateway's: an answer could not be recorded (the
// database), so the work is tried again without spending a check.
func (r *Reconciler) learn(ctx context.Context, provider string, q callbacks.StatusQuery, answers []callbacks.Notification) ([]callbacks.Outcome, error) {
	// Payments first: of an old cancelled attempt and a paid one, the
	// payment must meet the order while it is still open.
	answers = slices.Clone(answers)
	slices.SortStableFunc(answers, func(a, b callbacks.Notification) int { return rank(a.Kind) - rank(b.Kind) })
	var outs []callbacks.Outcome
	for _, n := range answers {
		if n.Kind == ledger.KindPaymentPending || n.Unsupported != "" {
			continue
		}
		if n.OrderNo == "" {
			n.OrderNo = q.OrderNo // asked by this order's reference
		}
		if n.OrderNo != q.OrderNo {
			r.log.Warn("provider answered about another order; ignored", "provider", provider,
				"asked", q.OrderNo, "answered", n.OrderNo, "txn_id", n.TxnID)
			continue
		}
		o, err := r.svc.Learn(ctx, provider, q, n)
		switch {
		case errors.Is(err, callbacks.ErrUndecided):
			continue
		case errors.Is(err, callbacks.ErrTransient):
			return outs, fmt.Errorf("record the provider's answer %s: %w", n.TxnID, err)
		case err != nil:
			r.log.Warn("provider's answer not recorded", "provider", provider, "txn_id", n.TxnID, "err", err)
			continue
		}
		r.log.Info("provider's answer recorded", "provider", provider, "order_no", q.OrderNo, "txn_id", n.TxnID,
			"receipt", o.Receipt.ID, "status", o.Receipt.Status, "duplicate", o.Duplicate)
		outs = append(outs, o)
	}
	return outs, nil
}

func rank(k ledger.Kind) int {
	switch k {
	case ledger.KindPaymentSucceeded:
		return 0
	case ledger.KindPaymentClosed:
		return 2
	}
	return 1
}

// jitter spreads d by ±Jitter.
func (r *Reconciler) jitter(d time.Duration) time.Duration {
	f := 1 + r.cfg.Jitter*(2*mrand.Float64()-1)
	return time.Duration(float64(d) * f)
}
