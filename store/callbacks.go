package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"gateway/callbacks"
	"gateway/ledger"
	migrations "gateway/sql"
)

// Receipt implements callbacks.Store: one indexed read on (provider, txn_id).
func (db *DB) Receipt(ctx context.Context, provider, txnID string) (callbacks.Receipt, error) {
	return lookupReceipt(ctx, db.sql, provider, txnID)
}

// Receipts implements callbacks.Store: the dedup read of several keys.
func (db *DB) Receipts(ctx context.Context, provider string, txnIDs []string) (map[string]callbacks.Receipt, error) {
	return lookupReceipts(ctx, db.sql, provider, txnIDs)
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
	return db.inTx(ctx, func(t tx) error { return fn(t) })
}

func (db *DB) inTx(ctx context.Context, fn func(tx) error) error {
	err := db.gorm.WithContext(ctx).Transaction(func(g *gorm.DB) error {
		return fn(tx{g: g, db: db})
	})
	return classify(err)
}

// AddDeliveries implements callbacks.Store: one transaction, one UPDATE per
// 500 receipts (ids in order, so two replicas' flushes lock rows in the same
// order), so a flush is all or nothing and a retried flush counts nothing
// twice.
func (db *DB) AddDeliveries(ctx context.Context, counts map[int64]callbacks.Delivery) error {
	ids := slices.Sorted(maps.Keys(counts))
	now := time.Now().UTC()
	return db.inTx(ctx, func(t tx) error {
		q := t.conn()
		for chunk := range slices.Chunk(ids, 500) {
			var deliveries, last strings.Builder
			args := make([]any, 0, 6*len(chunk)+1)
			var lastArgs, inArgs []any
			for _, id := range chunk {
				d := counts[id]
				deliveries.WriteString(" WHEN ? THEN deliveries + ?")
				args = append(args, id, d.Count)
				last.WriteString(" WHEN ? THEN CASE WHEN last_seen_at < ? THEN ? ELSE last_seen_at END")
				lastArgs = append(lastArgs, id, d.Last.UTC(), d.Last.UTC())
				inArgs = append(inArgs, id)
			}
			args = append(append(append(args, lastArgs...), now), inArgs...)
			query := "UPDATE callback_receipts SET deliveries = CASE id" + deliveries.String() + " END, last_seen_at = CASE id" +
				last.String() + " END, updated_at = ? WHERE id IN (" + placeholders(len(chunk)) + ")"
			if _, err := q.ExecContext(ctx, query, args...); err != nil {
				return classify(fmt.Errorf("store: add deliveries to %d receipts from %d: %w", len(chunk), chunk[0], err))
			}
		}
		return nil
	})
}

// tx is one pipeline transaction.
type tx struct {
	g  *gorm.DB
	db *DB
}

func (t tx) Order(ctx context.Context, orderNo string) (ledger.Order, error) {
	return orderByNo(ctx, t.conn(), orderNo)
}

func (t tx) Orders(ctx context.Context, orderNos []string) (map[string]ledger.Order, error) {
	return ordersByNo(ctx, t.conn(), orderNos)
}

func (t tx) UpdateOrder(ctx context.Context, next ledger.Order, version int64) error {
	return updateOrders(ctx, t.conn(), []callbacks.OrderUpdate{{Next: next, Version: version}})
}

func (t tx) UpdateOrders(ctx context.Context, ups []callbacks.OrderUpdate) error {
	return updateOrders(ctx, t.conn(), ups)
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
	return t.InsertReceipts(ctx, []*callbacks.Receipt{r})
}

func (t tx) InsertReceipts(ctx context.Context, recs []*callbacks.Receipt) error {
	id, err := insertReceipts(ctx, t.conn(), t.db.translate, recs)
	if err != nil {
		return err
	}
	return t.db.receiptIDs(ctx, t.conn(), id, recs)
}

// receiptIDs sets the ids of receipts inserted by one statement from the id
// LastInsertId gave. One row's is exact. SQLite has one writer and numbers
// a statement's rows one after another, reporting the last. MySQL numbers
// them one after another, reporting the first, when innodb_autoinc_lock_mode
// is 0 or 1 (MariaDB's default), in steps of auto_increment_increment; in
// mode 2 (MySQL 8's default) concurrent statements interleave, so the ids
// are read back by key, inside the same transaction.
func (db *DB) receiptIDs(ctx context.Context, q querier, id int64, recs []*callbacks.Receipt) error {
	n := int64(len(recs))
	switch {
	case n == 1:
		recs[0].ID = id
		return nil
	case db.dialect == migrations.SQLite:
		for i, r := range recs {
			r.ID = id - n + 1 + int64(i)
		}
		return nil
	}
	if step := db.autoincStep(ctx); step > 0 {
		for i, r := range recs {
			r.ID = id + int64(i)*step
		}
		return nil
	}
	byProvider := map[string][]string{}
	for _, r := range recs {
		byProvider[r.Provider] = append(byProvider[r.Provider], r.TxnID)
	}
	got := map[[2]string]int64{}
	for p, keys := range byProvider {
		m, err := lookupReceipts(ctx, q, p, keys)
		if err != nil {
			return err
		}
		for k, r := range m {
			got[[2]string{p, k}] = r.ID
		}
	}
	for _, r := range recs {
		id, ok := got[[2]string{r.Provider, r.TxnID}]
		if !ok {
			return fmt.Errorf("store: receipt %s/%s just inserted is not there", r.Provider, r.TxnID)
		}
		r.ID = id
	}
	return nil
}

// autoincStep is auto_increment_increment when one multi-row INSERT gets
// consecutive ids (innodb_autoinc_lock_mode 0 or 1), else 0. Asked once.
func (db *DB) autoincStep(ctx context.Context) int64 {
	db.autoinc.Do(func() {
		var mode, step int64
		err := db.sql.QueryRowContext(ctx, "SELECT @@innodb_autoinc_lock_mode, @@auto_increment_increment").Scan(&mode, &step)
		if err == nil && (mode == 0 || mode == 1) && step > 0 {
			db.autoincBy = step
		}
	})
	return db.autoincBy
}

func (t tx) Savepoint(ctx context.Context, name string) error {
	return classify(t.g.WithContext(ctx).SavePoint(name).Error)
}

func (t tx) RollbackTo(ctx context.Context, name string) error {
	return classify(t.g.WithContext(ctx).RollbackTo(name).Error)
}
