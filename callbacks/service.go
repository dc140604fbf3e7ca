package callbacks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"golang.org/x/sync/singleflight"

	"gateway/ledger"
)

// Store is what the pipeline needs from the database.
type Store interface {
	// Receipt finds a receipt by its dedup key; ErrNotFound if there is none.
	Receipt(ctx context.Context, provider, txnID string) (Receipt, error)
	// Receipts is Receipt for several keys of one provider in one read;
	// keys without a receipt are absent from the map.
	Receipts(ctx context.Context, provider string, txnIDs []string) (map[string]Receipt, error)
	// InTx runs fn in one transaction, committed when fn returns nil.
	InTx(ctx context.Context, fn func(Tx) error) error
	// AddDeliveries adds counted duplicate deliveries to receipts.
	AddDeliveries(ctx context.Context, counts map[int64]Delivery) error
	// ReceiptByID returns a whole receipt, raw body and headers included.
	ReceiptByID(ctx context.Context, id int64) (Receipt, error)
}

// Tx is the work of one pipeline transaction.
type Tx interface {
	Order(ctx context.Context, orderNo string) (ledger.Order, error)
	// UpdateOrder writes next if the stored version is still version;
	// ledger.ErrVersionConflict otherwise.
	UpdateOrder(ctx context.Context, next ledger.Order, version int64) error
	Post(ctx context.Context, legs []ledger.Entry) error
	// InsertReceipt inserts r and sets r.ID; ErrDuplicate if its key exists.
	InsertReceipt(ctx context.Context, r *Receipt) error
	// Orders, UpdateOrders and InsertReceipts do the same for the callbacks
	// of a group commit, one statement each. Orders leaves out the orders
	// that do not exist; UpdateOrders is ErrVersionConflict unless every
	// order was still at its version; InsertReceipts is ErrDuplicate if any
	// key exists.
	Orders(ctx context.Context, orderNos []string) (map[string]ledger.Order, error)
	UpdateOrders(ctx context.Context, ups []OrderUpdate) error
	InsertReceipts(ctx context.Context, recs []*Receipt) error
	// Savepoint and RollbackTo isolate one callback inside a group commit.
	Savepoint(ctx context.Context, name string) error
	RollbackTo(ctx context.Context, name string) error
	// UpdateReceipt writes r's facts, status, reason and next check if the
	// stored status is still from (the status guard of a re-drive);
	// ErrReceiptChanged otherwise.
	UpdateReceipt(ctx context.Context, r Receipt, from Status) error
}

// OrderUpdate is an optimistic update: Next, if the stored order is still
// at Version.
type OrderUpdate struct {
	Next    ledger.Order
	Version int64
}

// Delivery is a count of duplicate deliveries and the last time one was seen.
type Delivery struct {
	Count int64
	Last  time.Time
}

// Locker is an optional lock around a dedup key, shared by the replicas
// (Redis). It only saves work in a duplicate storm: the unique key and the
// version check stay the guarantee, so a lock that expires mid-work, or no
// lock at all, still leaves exactly one effect.
type Locker interface {
	// Lock takes the lock on key and returns its release. ErrLockHeld means
	// another delivery holds it; any other error means the lock cannot be
	// had now, and the pipeline carries on with the database checks alone.
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// ErrLockHeld: another delivery holds the lock (returned by Lockers).
var ErrLockHeld = errors.New("lock held by another delivery")

// Config tunes the pipeline.
type Config struct {
	// MaxAttempts bounds the retries of one transaction on version
	// conflicts, deadlocks and lock-wait timeouts.
	MaxAttempts int
	// FirstCheck is when an unknown receipt is first looked at again;
	// FirstChecks overrides it per provider (the first step of the
	// provider's reconciliation schedule).
	FirstCheck  time.Duration
	FirstChecks map[string]time.Duration
	// AppliedCache is how many applied receipts each replica keeps in
	// memory to answer duplicates without a database read (default 10000;
	// negative: none).
	AppliedCache int
	// Committers is how many group-commit transactions may run at once
	// (1 for SQLite, which has one writer); MaxBatch bounds one batch.
	Committers int
	MaxBatch   int
	// Readers is how many batched dedup reads may run at once (default 1).
	Readers int
	// Observer is told about every delivery, retry and re-drive (metrics);
	// nil observes nothing.
	Observer Observer
	// Locker, when set, is taken around the first processing of a dedup key.
	Locker Locker
	// LockWait bounds how long a delivery that finds the lock held waits
	// for the holder's receipt before it answers retry-later (default 2s).
	LockWait time.Duration
}

// Service runs the callback pipeline.
type Service struct {
	store     Store
	providers map[string]Provider
	cfg       Config
	log       *slog.Logger
	counter   *deliveryCounter
	commit    *committer
	reads     *reader
	applied   *appliedCache
	flight    singleflight.Group
	obs       Observer
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// NewService returns a pipeline over store for the given providers.
func NewService(store Store, providers []Provider, cfg Config, log *slog.Logger) *Service {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 10
	}
	if cfg.FirstCheck <= 0 {
		cfg.FirstCheck = time.Minute
	}
	if cfg.Committers <= 0 {
		cfg.Committers = 2
	}
	if cfg.AppliedCache == 0 {
		cfg.AppliedCache = 10000
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 32
	}
	if cfg.Readers <= 0 {
		cfg.Readers = 1
	}
	obs := cfg.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	if cfg.LockWait <= 0 {
		cfg.LockWait = 2 * time.Second
	}
	m := make(map[string]Provider, len(providers))
	for _, p := range providers {
		m[p.Name()] = p
	}
	return &Service{store: store, providers: m, cfg: cfg, log: log, obs: obs,
		counter: newDeliveryCounter(store, log), commit: newCommitter(store, cfg.Committers, cfg.MaxBatch),
		reads:   newReader(store, cfg.Readers, 4*cfg.MaxBatch),
		applied: newAppliedCache(cfg.AppliedCache),
		Now:     time.Now}
}

// Provider returns the named provider.
func (s *Service) Provider(name string) (Provider, bool) {
	p, ok := s.providers[name]
	return p, ok
}

// ProviderNames lists the configured providers' names, sorted.
func (s *Service) ProviderNames() []string {
	return slices.Sorted(maps.Keys(s.providers))
}

// Outcome is what became of one notification.
type Outcome struct {
	Receipt   Receipt
	Duplicate bool
}

// Handle runs one delivery through the pipeline and returns the answer for
// the provider. The answer is a success only once every notification in the
// delivery has a committed receipt (P1); the error says why it is not.
func (s *Service) Handle(ctx context.Context, in Inbound) (Ack, []Outcome, error) {
	p, ok := s.providers[in.Provider]
	if !ok {
		return Ack{}, nil, fmt.Errorf("%w: %q", ErrUnknownProvider, in.Provider)
	}
	start := time.Now()
	outs, err := s.handle(ctx, p, in)
	s.obs.Delivered(p.Name(), outs, err, time.Since(start))
	return p.Ack(err), outs, err
}

func (s *Service) handle(ctx context.Context, p Provider, in Inbound) ([]Outcome, error) {
	ns, err := s.verifyParse(p, in)
	if err != nil {
		return nil, err
	}
	outs := make([]Outcome, 0, len(ns))
	for _, n := range ns {
		o, err := s.deliver(ctx, p, in, n)
		if err != nil {
			return outs, err
		}
		outs = append(outs, o)
	}
	return outs, nil
}

// deliver is process for a delivery, with the copies of a burst collapsed:
// deliveries of one key with the same facts that arrive while the first is
// being processed wait for it and answer as its duplicates (singleflight),
// instead of each opening a transaction that the unique key then rolls
// back. If the first fails, each runs on its own.
func (s *Service) deliver(ctx context.Context, p Provider, in Inbound, n Notification) (Outcome, error) {
	fp := n.Fingerprint()
	first := false
	v, err, _ := s.flight.Do(p.Name()+"\x00"+n.TxnID+"\x00"+fp, func() (any, error) {
		first = true
		return s.process(ctx, p, in, n, fp, VerifiedOK)
	})
	switch {
	case first:
		return v.(Outcome), err
	case err != nil:
		return s.process(ctx, p, in, n, fp, VerifiedOK)
	}
	o := v.(Outcome)
	s.counter.add(o.Receipt.ID, s.Now())
	o.Duplicate = true
	return o, nil
}

// process makes one notification count exactly once. verified says where
// it comes from: VerifiedOK for a delivery, VerifiedQuery for an answer of
// the provider's status API (Learn).
// fp is n.Fingerprint(), computed once by the caller.
func (s *Service) process(ctx context.Context, p Provider, in Inbound, n Notification, fp, verified string) (Outcome, error) {
	log := s.log // its lines are debug lines: they carry the notification only when written
	if s.log.Enabled(ctx, slog.LevelDebug) {
		log = s.log.With("provider", p.Name(), "txn_id", n.TxnID, "event_id", n.EventID)
	}
	locked := s.cfg.Locker == nil
	for attempt := 1; ; attempt++ {
		// The common duplicate costs one indexed read and no write transaction.
		if o, found, err := s.existing(ctx, p, in, n, fp, verified, log); found {
			return o, err
		}
		if !locked {
			locked = true
			unlock, err := s.cfg.Locker.Lock(ctx, p.Name()+":"+n.TxnID)
			switch {
			case err == nil:
				defer unlock()
			case errors.Is(err, ErrLockHeld):
				return s.awaitHolder(ctx, p, in, n, fp, verified, log)
			default:
				log.Debug("lock unavailable; relying on the database checks alone", "err", err)
			}
		}
		rec := s.newReceipt(p, in, n, fp, verified)
		err := s.commit.do(ctx, rec.OrderNo, func(ctx context.Context, tx Tx) error { return s.apply(ctx, tx, &rec) })
		switch {
		case err == nil:
			log.Debug("callback processed", "status", rec.Status, "reason", rec.Reason, "order_no", rec.OrderNo)
			s.applied.put(rec)
			return Outcome{Receipt: rec}, nil
		case errors.Is(err, ErrDuplicate):
			// A concurrent delivery committed first: read its result.
			continue
		case errors.Is(err, ErrUndecided):
			return Outcome{}, err // a query's answer that decides nothing: not recorded
		case retryable(err) && attempt < s.cfg.MaxAttempts:
			log.Debug("retrying callback transaction", "attempt", attempt, "err", err)
			s.obs.Retried(p.Name(), err)
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return Outcome{}, transient(err)
			}
			continue
		default:
			s.log.Error("callback not recorded", "provider", p.Name(), "txn_id", n.TxnID, "event_id", n.EventID, "err", err)
			return Outcome{}, transient(fmt.Errorf("callbacks: apply %s: %w", n.TxnID, err))
		}
	}
}

// existing answers a delivery from the receipt of its key, if there is one
// (found is false when there is none yet): the same answer as the original,
// or a conflict when the facts differ (P6). A failed read is found, with
// the error: the delivery cannot go on.
func (s *Service) existing(ctx context.Context, p Provider, in Inbound, n Notification, fp, verified string, log *slog.Logger) (o Outcome, found bool, err error) {
	r, cached := s.applied.get(p.Name(), n.TxnID)
	if !cached {
		r, err = s.reads.receipt(ctx, p.Name(), n.TxnID)
		if err == nil {
			s.applied.put(r)
		}
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return Outcome{}, false, nil
	case err != nil:
		return Outcome{}, true, transient(fmt.Errorf("callbacks: find receipt %s: %w", n.TxnID, err))
	case r.Fingerprint != fp:
		o, err := s.conflict(ctx, p, in, n, fp, r, verified)
		return o, true, err
	}
	if verified == VerifiedOK { // an answer to a query is not a delivery
		s.counter.add(r.ID, s.Now())
	}
	log.Debug("duplicate callback", "status", r.Status)
	return Outcome{Receipt: r, Duplicate: true}, true, nil
}

// awaitHolder waits, up to LockWait, for the delivery that holds the lock
// to commit its receipt, and answers as a duplicate of it; if none appears
// in time the provider is told to retry later.
func (s *Service) awaitHolder(ctx context.Context, p Provider, in Inbound, n Notification, fp, verified string, log *slog.Logger) (Outcome, error) {
	deadline := time.Now().Add(s.cfg.LockWait)
	for attempt := 1; ; attempt++ {
		d := min(pollBackoff(attempt), time.Until(deadline))
		if d <= 0 {
			return Outcome{}, fmt.Errorf("%w: callbacks: %s is being processed by another delivery", ErrTransient, n.TxnID)
		}
		if err := sleep(ctx, d); err != nil {
			return Outcome{}, transient(err)
		}
		if o, found, err := s.existing(ctx, p, in, n, fp, verified, log); found {
			return o, err
		}
	}
}

// pollBackoff re-reads quickly at first (a transaction takes milliseconds),
// then every 50ms or so.
func pollBackoff(attempt int) time.Duration {
	d := 2 * time.Millisecond << min(attempt-1, 5)
	return d/2 + rand.N(d)
}

// apply is the body of the pipeline transaction: decide, update the order
// under its version, post, and record the receipt with its final status.
// A group commit may run it twice on the same receipt (commit.go), so it
// starts from the receipt as built.
func (s *Service) apply(ctx context.Context, tx Tx, rec *Receipt) error {
	rec.ID = 0
	if rec.Kind != "" {
		rec.NextCheckAt = nil
		now := rec.LastSeenAt
		d, err := s.decide(ctx, tx, *rec, now)
		if err != nil {
			return err
		}
		rec.Status, rec.Reason = d.status, d.reason
		if d.status == StatusUnknown {
			if rec.Verified == VerifiedQuery {
				// Only signed deliveries are parked: their bytes can be
				// re-driven. The question that led to this answer stays
				// open and is asked again.
				return fmt.Errorf("%w: %s", ErrUndecided, d.reason)
			}
			s.park(rec, now)
		}
		if err := s.effect(ctx, tx, d); err != nil {
			return err
		}
	}
	return tx.InsertReceipt(ctx, rec)
}

func (s *Service) newReceipt(p Provider, in Inbound, n Notification, fp, verified string) Receipt {
	now := s.Now().UTC()
	r := Receipt{
		Provider: p.Name(), TxnID: n.TxnID, EventID: n.EventID, EventType: n.EventType, Kind: n.Kind,
		OrderNo: n.OrderNo, Reference: n.Reference, Money: n.Money, Cumulative: n.Cumulative,
		Fingerprint: fp, RawBody: in.Body, Headers: AllowedHeaders(in.Header), Verified: verified,
		Ack: p.Ack(nil), Deliveries: 1, FirstSeenAt: now, LastSeenAt: now,
	}
	if verified == VerifiedQuery {
		r.Ack = Ack{} // nobody delivered it, nobody was answered
	}
	if n.Unsupported != "" {
		r.Kind, r.Status, r.Reason = "", StatusRejected, n.Unsupported
	}
	return r
}

// conflict records a delivery whose key exists with different facts, in its
// own transaction so the evidence survives, and applies nothing (P6).
func (s *Service) conflict(ctx context.Context, p Provider, in Inbound, n Notification, fp string, orig Receipt, verified string) (Outcome, error) {
	rec := s.newReceipt(p, in, n, fp, verified)
	rec.TxnID = n.TxnID + "#conflict:" + fp[:16]
	rec.Status = StatusConflict
	rec.Reason = fmt.Sprintf("key %s exists (receipt %d) with different facts", n.TxnID, orig.ID)
	rec.ConflictOf = &orig.ID
	if rec.Kind == "" {
		rec.Kind = orig.Kind
	}
	err := s.store.InTx(ctx, func(tx Tx) error { return tx.InsertReceipt(ctx, &rec) })
	if errors.Is(err, ErrDuplicate) {
		prev, ferr := s.store.Receipt(ctx, p.Name(), rec.TxnID)
		if ferr != nil {
			return Outcome{}, transient(fmt.Errorf("callbacks: find conflict %s: %w", rec.TxnID, ferr))
		}
		if verified == VerifiedOK {
			s.counter.add(prev.ID, s.Now())
		}
		return Outcome{Receipt: prev, Duplicate: true}, nil
	}
	if err != nil {
		return Outcome{}, transient(fmt.Errorf("callbacks: record conflict %s: %w", n.TxnID, err))
	}
	s.log.Warn("callback conflict", "provider", p.Name(), "txn_id", n.TxnID, "receipt", rec.ID, "original", orig.ID)
	return Outcome{Receipt: rec}, nil
}

// Close stops the group committers and flushes counted duplicate deliveries.
// Call it after the HTTP server has drained.
func (s *Service) Close(ctx context.Context) error {
	s.commit.stop()
	s.reads.stop()
	return s.counter.close(ctx)
}

func transient(err error) error {
	if errors.Is(err, ErrTransient) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrTransient, err)
}

// retryable reports whether a transaction may be tried again: a version
// conflict, or a store error that says it is temporary (deadlock, lock wait).
func retryable(err error) bool {
	if errors.Is(err, ledger.ErrVersionConflict) {
		return true
	}
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func backoff(attempt int) time.Duration {
	d := time.Millisecond << min(attempt, 6)
	return d/2 + rand.N(d)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
