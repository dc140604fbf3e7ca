package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"gateway/callbacks"
	"gateway/ledger"
)

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
	return orderByNo(ctx, db.sql, orderNo)
}

// UpdateOrder writes next if its stored version is still version.
func (db *DB) UpdateOrder(ctx context.Context, next ledger.Order, version int64) error {
	return updateOrders(ctx, db.sql, []callbacks.OrderUpdate{{Next: next, Version: version}})
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
