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
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const orderColumns = "id, order_no, amount, currency, status, version, paid_amount, refunded_amount, provider, provider_ref, created_at, updated_at"

func orderByNo(ctx context.Context, q querier, orderNo string) (ledger.Order, error) {
	m, err := ordersByNo(ctx, q, []string{orderNo})
	if err != nil {
		return ledger.Order{}, err
	}
	o, ok := m[orderNo]
	if !ok {
		return ledger.Order{}, fmt.Errorf("store: order %q: %w", orderNo, ledger.ErrNotFound)
	}
	return o, nil
}

// ordersByNo reads the orders of a group commit in one statement; the ones
// that do not exist are absent from the map.
func ordersByNo(ctx context.Context, q querier, orderNos []string) (map[string]ledger.Order, error) {
	args := make([]any, len(orderNos))
	for i, no := range orderNos {
		args[i] = no
	}
	rows, err := q.QueryContext(ctx, "SELECT "+orderColumns+" FROM orders WHERE order_no IN ("+placeholders(len(args))+")", args...)
	if err != nil {
		return nil, classify(fmt.Errorf("store: orders %q: %w", orderNos, err))
	}
	defer rows.Close()
	m := make(map[string]ledger.Order, len(orderNos))
	for rows.Next() {
		var r orderRow
		if err := rows.Scan(&r.ID, &r.OrderNo, &r.Amount, &r.Currency, &r.Status, &r.Version, &r.PaidAmount,
			&r.RefundedAmount, &r.Provider, &r.ProviderRef, &r.CreatedAt, &r.UpdatedAt); err != nil {
			return nil, classify(fmt.Errorf("store: orders %q: %w", orderNos, err))
		}
		m[r.OrderNo] = toOrder(r)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("store: orders %q: %w", orderNos, err))
	}
	return m, nil
}

// updateOrders is the optimistic update (P4) of one order, or of a group
// commit's orders in one statement: every row must still be at the version
// its decision read, or nothing is taken as written
// (ledger.ErrVersionConflict; the caller rolls back).
func updateOrders(ctx context.Context, q querier, ups []callbacks.OrderUpdate) error {
	query, args := updateOrdersSQL(ups)
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return classify(fmt.Errorf("store: update %s: %w", orderNames(ups), err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return classify(fmt.Errorf("store: update %s: %w", orderNames(ups), err))
	}
	if n != int64(len(ups)) {
		return fmt.Errorf("store: update %s: %d of %d at their version: %w", orderNames(ups), n, len(ups), ledger.ErrVersionConflict)
	}
	return nil
}

// updateOrdersSQL is one UPDATE for several orders: each column a CASE on
// the id, and a row matches only at its own version.
func updateOrdersSQL(ups []callbacks.OrderUpdate) (string, []any) {
	var sb strings.Builder
	args := make([]any, 0, 10*len(ups))
	sb.WriteString("UPDATE orders SET ")
	for c, col := range []string{"status", "paid_amount", "refunded_amount", "updated_at"} {
		if c > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(col + " = CASE id")
		for _, u := range ups {
			sb.WriteString(" WHEN ? THEN ?")
			var v any
			switch col {
			case "status":
				v = string(u.Next.Status)
			case "paid_amount":
				v = u.Next.PaidAmount
			case "refunded_amount":
				v = u.Next.RefundedAmount
			default:
				v = u.Next.UpdatedAt.UTC()
			}
			args = append(args, u.Next.ID, v)
		}
		sb.WriteString(" END")
	}
	sb.WriteString(", version = version + 1 WHERE ")
	for i, u := range ups {
		if i > 0 {
			sb.WriteString(" OR ")
		}
		sb.WriteString("(id = ? AND version = ?)")
		args = append(args, u.Next.ID, u.Version)
	}
	return sb.String(), args
}

func orderNames(ups []callbacks.OrderUpdate) string {
	if len(ups) == 1 {
		return fmt.Sprintf("order %s at version %d", ups[0].Next.OrderNo, ups[0].Version)
	}
	return fmt.Sprintf("%d orders from %s", len(ups), ups[0].Next.OrderNo)
}

// receiptLookupColumns is what the dedup read needs: not the raw body.
const receiptLookupColumns = `id, provider, txn_id, event_id, event_type, kind, order_no, reference, amount, currency,
	cumulative, fingerprint, status, reason, verified, ack_status, ack_content_type, ack_body, deliveries, attempts,
	next_check_at, conflict_of, first_seen_at, last_seen_at`

func lookupReceipt(ctx context.Context, q querier, provider, txnID string) (callbacks.Receipt, error) {
	m, err := lookupReceipts(ctx, q, provider, []string{txnID})
	if err != nil {
		return callbacks.Receipt{}, err
	}
	r, ok := m[txnID]
	if !ok {
		return callbacks.Receipt{}, callbacks.ErrNotFound
	}
	return r, nil
}

// lookupReceipts is the dedup read of several keys of one provider in one
// statement; keys without a receipt are absent from the map.
func lookupReceipts(ctx context.Context, q querier, provider string, txnIDs []string) (map[string]callbacks.Receipt, error) {
	args := make([]any, 0, 1+len(txnIDs))
	args = append(args, provider)
	for _, id := range txnIDs {
		args = append(args, id)
	}
	rows, err := q.QueryContext(ctx, "SELECT "+receiptLookupColumns+" FROM callback_receipts WHERE provider = ? AND txn_id IN ("+
		placeholders(len(txnIDs))+")", args...)
	if err != nil {
		return nil, classify(fmt.Errorf("store: receipts %s/%q: %w", provider, txnIDs, err))
	}
	defer rows.Close()
	m := make(map[string]callbacks.Receipt, len(txnIDs))
	for rows.Next() {
		var r receiptRow
		if err := rows.Scan(&r.ID, &r.Provider, &r.TxnID, &r.EventID, &r.EventType, &r.Kind, &r.OrderNo, &r.Reference,
			&r.Amount, &r.Currency, &r.Cumulative, &r.Fingerprint, &r.Status, &r.Reason, &r.Verified, &r.AckStatus,
			&r.AckContentType, &r.AckBody, &r.Deliveries, &r.Attempts, &r.NextCheckAt, &r.ConflictOf, &r.FirstSeenAt, &r.LastSeenAt); err != nil {
			return nil, classify(fmt.Errorf("store: receipts %s/%q: %w", provider, txnIDs, err))
		}
		m[r.TxnID] = toReceipt(r)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("store: receipts %s/%q: %w", provider, txnIDs, err))
	}
	return m, nil
}

const receiptInsertColumns = `provider, txn_id, event_id, event_type, kind, order_no, reference, amount, currency,
	cumulative, fingerprint, status, reason, raw_body, headers, verified, ack_status, ack_content_type, ack_body,
	deliveries, attempts, next_check_at, conflict_of, first_seen_at, last_seen_at, updated_at`

// insertReceipts inserts one receipt, or a group commit's receipts in one
// statement, and returns the first id the database gave (LastInsertId: the
// first row's on MySQL, the last row's on SQLite). A taken key is
// callbacks.ErrDuplicate (translate maps the driver's error to gorm's).
func insertReceipts(ctx context.Context, q querier, translate func(error) error, recs []*callbacks.Receipt) (int64, error) {
	var sb strings.Builder
	sb.WriteString("INSERT INTO callback_receipts (" + receiptInsertColumns + ") VALUES ")
	args := make([]any, 0, 26*len(recs))
	for i, rec := range recs {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(" + placeholders(26) + ")")
		r := toReceiptRow(*rec)
		args = append(args, r.Provider, r.TxnID, r.EventID, r.EventType, r.Kind, r.OrderNo, r.Reference, r.Amount, r.Currency,
			r.Cumulative, r.Fingerprint, r.Status, r.Reason, r.RawBody, r.Headers, r.Verified, r.AckStatus, r.AckContentType, r.AckBody,
			r.Deliveries, r.Attempts, r.NextCheckAt, r.ConflictOf, r.FirstSeenAt, r.LastSeenAt, r.UpdatedAt)
	}
	what := recs[0].Provider + "/" + recs[0].TxnID
	if len(recs) > 1 {
		what = fmt.Sprintf("%d receipts from %s", len(recs), what)
	}
	res, err := q.ExecContext(ctx, sb.String(), args...)
	if err != nil {
		if errors.Is(translate(err), gorm.ErrDuplicatedKey) {
			return 0, fmt.Errorf("store: receipt %s: %w", what, callbacks.ErrDuplicate)
		}
		return 0, classify(fmt.Errorf("store: insert receipt %s: %w", what, err))
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, classify(fmt.Errorf("store: insert receipt %s: %w", what, err))
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
