package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Store is what the order service needs from the database.
type Store interface {
	CreateOrder(ctx context.Context, o *Order) error // ErrExists if the number is taken
	Order(ctx context.Context, orderNo string) (Order, error)
	Entries(ctx context.Context, orderNo string) ([]Entry, error)
	UpdateOrder(ctx context.Context, next Order, version int64) error
}

// Service is the merchant side of orders.
type Service struct {
	store Store
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// NewService returns an order service over store.
func NewService(store Store) *Service { return &Service{store: store, Now: time.Now} }

// Create submits an order. Submitting the same order again returns the
// stored one with created == false; the same number with different content
// is ErrExists.
func (s *Service) Create(ctx context.Context, n NewOrder) (o Order, created bool, err error) {
	return s.CreateWith(ctx, n, s.store.CreateOrder)
}

// CreateWith is Create with another insert: one that does more work in the
// order's transaction (consuming a one-time form token). insert must return
// an error wrapping ErrExists, and write nothing, when the number is taken.
func (s *Service) CreateWith(ctx context.Context, n NewOrder, insert func(context.Context, *Order) error) (o Order, created bool, err error) {
	if err := n.Validate(); err != nil {
		return Order{}, false, err
	}
	now := s.now()
	o = Order{OrderNo: n.OrderNo, Price: n.Price, Status: StatusCreated, Version: 1,
		Provider: n.Provider, ProviderRef: n.ProviderRef, CreatedAt: now, UpdatedAt: now}
	err = insert(ctx, &o)
	if errors.Is(err, ErrExists) {
		prev, gerr := s.store.Order(ctx, n.OrderNo)
		if gerr != nil {
			return Order{}, false, gerr
		}
		if prev.Price != n.Price || prev.Provider != n.Provider || prev.ProviderRef != n.ProviderRef {
			return Order{}, false, fmt.Errorf("ledger: order %q: %w", n.OrderNo, ErrExists)
		}
		return prev, false, nil
	}
	if err != nil {
		return Order{}, false, err
	}
	return o, true, nil
}

// Get returns an order and its ledger legs.
func (s *Service) Get(ctx context.Context, orderNo string) (Order, []Entry, error) {
	o, err := s.store.Order(ctx, orderNo)
	if err != nil {
		return Order{}, nil, err
	}
	entries, err := s.store.Entries(ctx, orderNo)
	if err != nil {
		return Order{}, nil, err
	}
	return o, entries, nil
}

// Transition moves an order to status `to` if its version is still
// `version` (If-Match): ErrVersionConflict on a stale version, ErrTransition
// when the table does not allow the move.
func (s *Service) Transition(ctx context.Context, orderNo string, version int64, to Status) (Order, error) {
	o, err := s.store.Order(ctx, orderNo)
	if err != nil {
		return Order{}, err
	}
	if o.Version != version {
		return Order{}, fmt.Errorf("ledger: order %q is at version %d, not %d: %w", orderNo, o.Version, version, ErrVersionConflict)
	}
	if !CanTransition(o.Status, to) || to == StatusPaid || to == StatusRefunded {
		// paid and refunded come only from the provider, through the ledger.
		return Order{}, fmt.Errorf("ledger: order %q from %s to %s: %w", orderNo, o.Status, to, ErrTransition)
	}
	next := o
	next.Status, next.UpdatedAt = to, s.now()
	if err := s.store.UpdateOrder(ctx, next, version); err != nil {
		return Order{}, err
	}
	next.Version++
	return next, nil
}

// now is the clock in UTC at the database's precision (microseconds), so
// that what an answer shows is what a later read returns.
func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }
