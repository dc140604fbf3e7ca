package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"

	"gateway/callbacks"
	"gateway/ledger"
)

// The callback hot path — the dedup read, the order read, the optimistic
// update, the posting and the receipt insert — is plain SQL on the pool or
// on the transaction's connection. gorm's reflection cost about a third of
// the gateway's CPU per callback there (docs/performance.md); everything
// else stays on gorm. The statements are portable across MySQL, SQLite and
// TiDB.

// querier is what *sql.DB, *sql.Tx and gorm's ConnPool have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const orderColumns = "id, order_no, amount, currency, status, version, paid_amount, refunded_amount, provider, provider_ref, created_at, updated_at"

func orderByNo(ctx context.Context, q querier, orderNo string) (ledger.Order, error) {
	var r orderRow
	err := q.QueryRowContext(ctx, "SELECT "+orderColumns+" FROM orders WHERE order_no = ?", orderNo).Scan(
		&r.ID, &r.OrderNo, &r.Amount, &r.Currency, &r.Status, &r.Version, &r.PaidAmount, &r.RefundedAmount,
		&r.Provider, &r.ProviderRef, &r.CreatedAt, &r.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return ledger.Order{}, fmt.Errorf("store: order %q: %w", orderNo, ledger.ErrNotFound)
	}
	if err != nil {
		return ledger.Order{}, classify(fmt.Errorf("store: order %q: %w", orderNo, err))
	}
	return toOrder(r), nil
}

// updateOrder is the optimistic update (P4).
func updateOrder(ctx context.Context, q querier, next ledger.Order, version int64) error {
	res, err := q.ExecContext(ctx, `UPDATE orders SET status = ?, paid_amount = ?, refunded_amount = ?, updated_at = ?,
		version = version + 1 WHERE id = ? AND version = ?`,
		string(next.Status), next.PaidAmount, next.RefundedAmount, next.UpdatedAt.UTC(), next.ID, version)
	if err != nil {
		return classify(fmt.Errorf("store: update order %s: %w", next.OrderNo, err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return classify(fmt.Errorf("store: update order %s: %w", next.OrderNo, err))
	}
	if n == 0 {
		return fmt.Errorf("store: update order %s at version %d: %w", next.OrderNo, version, ledger.ErrVersionConflict)
	}
	return nil
}

// receiptLookupColumns is what the dedup read needs: not the raw body.
const receiptLookupColumns = `id, provider, txn_id, event_id, event_type, kind, order_no, reference, amount, currency,
	cumulative, fingerprint, status, reason, verified, ack_status, ack_content_type, ack_body, deliveries, attempts,
	next_check_at, conflict_of, first_seen_at, last_seen_at`

func lookupReceipt(ctx context.Context, q querier, provider, txnID string) (callbacks.Receipt, error) {
	var r receiptRow
	err := q.QueryRowContext(ctx, "SELECT "+receiptLookupColumns+" FROM callback_receipts WHERE provider = ? AND txn_id = ?",
		provider, txnID).Scan(&r.ID, &r.Provider, &r.TxnID, &r.EventID, &r.EventType, &r.Kind, &r.OrderNo, &r.Reference,
		&r.Amount, &r.Currency, &r.Cumulative, &r.Fingerprint, &r.Status, &r.Reason, &r.Verified, &r.AckStatus,
		&r.AckContentType, &r.AckBody, &r.Deliveries, &r.Attempts, &r.NextCheckAt, &r.ConflictOf, &r.FirstSeenAt, &r.LastSeenAt)
	if errors.Is(err, sql.ErrNoRows) {
		return callbacks.Receipt{}, callbacks.ErrNotFound
	}
	if err != nil {
		return callbacks.Receipt{}, classify(fmt.Errorf("store: receipt %s/%s: %w", provider, txnID, err))
	}
	return toReceipt(r), nil
}

const receiptInsertColumns = `provider, txn_id, event_id, event_type, kind, order_no, reference, amount, currency,
	cumulative, fingerprint, status, reason, raw_body, headers, verified, ack_status, ack_content_type, ack_body,
	deliveries, attempts, next_check_at, conflict_of, first_seen_at, last_seen_at, updated_at`

// insertReceipt inserts r and returns its id; a taken key is
// callbacks.ErrDuplicate (translate maps the driver's error to gorm's).
func insertReceipt(ctx context.Context, q querier, translate func(error) error, rec callbacks.Receipt) (int64, error) {
	r := toReceiptRow(rec)
	res, err := q.ExecContext(ctx, "INSERT INTO callback_receipts ("+receiptInsertColumns+") VALUES ("+placeholders(26)+")",
		r.Provider, r.TxnID, r.EventID, r.EventType, r.Kind, r.OrderNo, r.Reference, r.Amount, r.Currency,
		r.Cumulative, r.Fingerprint, r.Status, r.Reason, r.RawBody, r.Headers, r.Verified, r.AckStatus, r.AckContentType, r.AckBody,
		r.Deliveries, r.Attempts, r.NextCheckAt, r.ConflictOf, r.FirstSeenAt, r.LastSeenAt, r.UpdatedAt)
	if err != nil {
		if errors.Is(translate(err), gorm.ErrDuplicatedKey) {
			return 0, fmt.Errorf("store: receipt %s/%s: %w", rec.Provider, rec.TxnID, callbacks.ErrDuplicate)
		}
		return 0, classify(fmt.Errorf("store: insert receipt %s/%s: %w", rec.Provider, rec.TxnID, err))
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, classify(fmt.Errorf("store: insert receipt %s/%s: %w", rec.Provider, rec.TxnID, err))
	}
	return id, nil
}

// post inserts the legs of one posting in one statement.
func post(ctx context.Context, q querier, legs []ledger.Entry) error {
	var sb strings.Builder
	sb.WriteString("INSERT INTO ledger_entries (order_no, account, amount, currency, provider, txn_id, created_at) VALUES ")
	args := make([]any, 0, 7*len(legs))
	for i, e := range legs {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(" + placeholders(7) + ")")
		args = append(args, e.OrderNo, e.Account, e.Amount, e.Currency, e.Provider, e.TxnID, e.CreatedAt.UTC())
	}
	if _, err := q.ExecContext(ctx, sb.String(), args...); err != nil {
		return classify(fmt.Errorf("store: post %s: %w", legs[0].TxnID, err))
	}
	return nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// conn is the transaction's own connection, for the hot-path statements.
func (t tx) conn() querier { return t.g.Statement.ConnPool }

// translate maps a driver error to gorm's (duplicate key and the like).
func (db *DB) translate(err error) error {
	if tr, ok := db.gorm.Dialector.(gorm.ErrorTranslator); ok {
		return tr.Translate(err)
	}
	return err
}
