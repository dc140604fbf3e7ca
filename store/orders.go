package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"gateway/ledger"
)

func orderByNo(g *gorm.DB, orderNo string) (ledger.Order, error) {
	var row orderRow
	err := g.Where("order_no = ?", orderNo).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ledger.Order{}, fmt.Errorf("store: order %q: %w", orderNo, ledger.ErrNotFound)
	}
	if err != nil {
		return ledger.Order{}, classify(fmt.Errorf("store: order %q: %w", orderNo, err))
	}
	return toOrder(row), nil
}

// updateOrder is the optimistic update (P4):
// UPDATE orders SET …, version = version + 1 WHERE id = ? AND version = ?.
func updateOrder(g *gorm.DB, next ledger.Order, version int64) error {
	res := g.Model(&orderRow{}).Where("id = ? AND version = ?", next.ID, version).Updates(map[string]any{
		"status":          string(next.Status),
		"paid_amount":     next.PaidAmount,
		"refunded_amount": next.RefundedAmount,
		"updated_at":      next.UpdatedAt.UTC(),
		"version":         gorm.Expr("version + 1"),
	})
	if res.Error != nil {
		return classify(fmt.Errorf("store: update order %s: %w", next.OrderNo, res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: update order %s at version %d: %w", next.OrderNo, version, ledger.ErrVersionConflict)
	}
	return nil
}

// CreateOrder inserts an order; ledger.ErrExists wraps a taken order number.
func (db *DB) CreateOrder(ctx context.Context, o *ledger.Order) error {
	return insertOrder(db.gorm.WithContext(ctx), o)
}

func insertOrder(g *gorm.DB, o *ledger.Order) error {
	row := toOrderRow(*o)
	err := g.Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fmt.Errorf("store: order %q: %w", o.OrderNo, ledger.ErrExists)
	}
	if err != nil {
		return classify(fmt.Errorf("store: create order %q: %w", o.OrderNo, err))
	}
	o.ID = row.ID
	return nil
}

// Order returns an order by number.
func (db *DB) Order(ctx context.Context, orderNo string) (ledger.Order, error) {
	return orderByNo(db.gorm.WithContext(ctx), orderNo)
}

// UpdateOrder writes next if its stored version is still version.
func (db *DB) UpdateOrder(ctx context.Context, next ledger.Order, version int64) error {
	return updateOrder(db.gorm.WithContext(ctx), next, version)
}

// Entries returns an order's ledger legs in posting order.
func (db *DB) Entries(ctx context.Context, orderNo string) ([]ledger.Entry, error) {
	var rows []entryRow
	if err := db.gorm.WithContext(ctx).Where("order_no = ?", orderNo).Order("id").Find(&rows).Error; err != nil {
		return nil, classify(fmt.Errorf("store: entries of %q: %w", orderNo, err))
	}
	out := make([]ledger.Entry, len(rows))
	for i, r := range rows {
		out[i] = toEntry(r)
	}
	return out, nil
}
