package store

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"gateway/callbacks"
	"gateway/ledger"
)

// Receipt implements callbacks.Store: one indexed read on (provider, txn_id).
func (db *DB) Receipt(ctx context.Context, provider, txnID string) (callbacks.Receipt, error) {
	return lookupReceipt(ctx, db.sql, provider, txnID)
}

// ReceiptByID returns a whole receipt, raw body and headers included.
func (db *DB) ReceiptByID(ctx context.Context, id int64) (callbacks.Receipt, error) {
	var row receiptRow
	err := db.gorm.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return callbacks.Receipt{}, callbacks.ErrNotFound
	}
	if err != nil {
		return callbacks.Receipt{}, classify(fmt.Errorf("store: receipt %d: %w", id, err))
	}
	return toReceipt(row), nil
}

// InTx implements callbacks.Store.
func (db *DB) InTx(ctx context.Context, fn func(callbacks.Tx) error) error {
	err := db.gorm.WithContext(ctx).Transaction(func(g *gorm.DB) error {
		return fn(tx{g: g, db: db})
	})
	return classify(err)
}

// AddDeliveries implements callbacks.Store.
func (db *DB) AddDeliveries(ctx context.Context, counts map[int64]callbacks.Delivery) error {
	for id, d := range counts {
		err := db.gorm.WithContext(ctx).Model(&receiptRow{}).Where("id = ?", id).Updates(map[string]any{
			"deliveries":   gorm.Expr("deliveries + ?", d.Count),
			"last_seen_at": gorm.Expr("CASE WHEN last_seen_at < ? THEN ? ELSE last_seen_at END", d.Last, d.Last),
		}).Error
		if err != nil {
			return fmt.Errorf("store: add deliveries to %d: %w", id, err)
		}
	}
	return nil
}

// tx is one pipeline transaction.
type tx struct {
	g  *gorm.DB
	db *DB
}

func (t tx) Order(ctx context.Context, orderNo string) (ledger.Order, error) {
	return orderByNo(ctx, t.conn(), orderNo)
}

func (t tx) UpdateOrder(ctx context.Context, next ledger.Order, version int64) error {
	return updateOrder(ctx, t.conn(), next, version)
}

func (t tx) Post(ctx context.Context, legs []ledger.Entry) error {
	if len(legs) == 0 {
		return nil
	}
	if !ledger.Balanced(legs) {
		return fmt.Errorf("store: refusing an unbalanced posting for %s", legs[0].TxnID)
	}
	return post(ctx, t.conn(), legs)
}

func (t tx) InsertReceipt(ctx context.Context, r *callbacks.Receipt) error {
	id, err := insertReceipt(ctx, t.conn(), t.db.translate, *r)
	if err != nil {
		return err
	}
	r.ID = id
	return nil
}

func (t tx) Savepoint(ctx context.Context, name string) error {
	return classify(t.g.WithContext(ctx).SavePoint(name).Error)
}

func (t tx) RollbackTo(ctx context.Context, name string) error {
	return classify(t.g.WithContext(ctx).RollbackTo(name).Error)
}
