package main

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"gateway/ledger"
)

// baseline is the yardstick: the plainest correct per-callback transaction
// with database/sql, on the gateway's own database, pool and driver
// settings, at the same concurrency, on its own fresh orders:
//
//	BEGIN; INSERT receipt (processing); SELECT order; UPDATE order … WHERE
//	id = ? AND version = ?; INSERT two ledger legs; UPDATE receipt
//	(applied); COMMIT
//
// It verifies nothing, parses nothing and answers nobody: what the gateway
// does beyond it is the price of HTTP, signatures and the promises.
func baseline(ctx context.Context, db *sql.DB, name, provider string, ds []delivery, orders map[string]order, workers int, limit time.Duration) result {
	return drive(ctx, name, len(ds), workers, limit, func(t *tally, i int) {
		d := ds[i]
		began := time.Now()
		if err := baselineTx(ctx, db, provider, d, orders[d.OrderNo]); err != nil {
			t.fail(d.OrderNo, baselineErrorKind(err))
			return
		}
		t.ok(d.OrderNo, time.Since(began))
	})
}

// baselineTx records the payment of o carried by d in one transaction,
// retrying deadlocks and lock-wait timeouts.
func baselineTx(ctx context.Context, db *sql.DB, provider string, d delivery, o order) error {
	txn := "pi_" + o.No + ":payment.succeeded"
	fp := sha256.Sum256([]byte(txn))
	headers, err := json.Marshal(http.Header{"Content-Type": d.Header.Values("Content-Type"), "Stripe-Signature": d.Header.Values("Stripe-Signature")})
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := baselineAttempt(ctx, db, provider, txn, hex.EncodeToString(fp[:]), d.Body, headers, o)
		var me *gomysql.MySQLError
		if errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205) && attempt < 10 {
			continue
		}
		return err
	}
}

func baselineAttempt(ctx context.Context, db *sql.DB, provider, txn, fp string, body, headers []byte, o order) (err error) {
	now := time.Now().UTC()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback() // the error that made us roll back is the one to report
		}
	}()
	res, err := tx.ExecContext(ctx, `INSERT INTO callback_receipts (provider, txn_id, event_id, event_type, kind,
		order_no, reference, amount, currency, fingerprint, status, raw_body, headers, verified, ack_status,
		ack_content_type, ack_body, first_seen_at, last_seen_at, updated_at)
		VALUES (?, ?, ?, 'payment_intent.succeeded', 'payment.succeeded', ?, ?, ?, ?, ?, 'processing', ?, ?, 'ok', 200,
		'application/json; charset=utf-8', '{"received":true}', ?, ?, ?)`,
		provider, txn, "evt_"+o.No, o.No, "pi_"+o.No, o.Amount, o.Currency, fp, body, headers, now, now, now)
	if err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return err
	}
	var oid, version, amount int64
	var currency string
	if err := tx.QueryRowContext(ctx, "SELECT id, version, amount, currency FROM orders WHERE order_no = ?", o.No).
		Scan(&oid, &version, &amount, &currency); err != nil {
		return err
	}
	res, err = tx.ExecContext(ctx, `UPDATE orders SET status = 'paid', paid_amount = ?, version = version + 1, updated_at = ?
		WHERE id = ? AND version = ?`, amount, now, oid, version)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("baseline: order %s at version %d: %w", o.No, version, ledger.ErrVersionConflict)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_entries (order_no, account, amount, currency, provider, txn_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?)`,
		o.No, ledger.ClearingAccount(provider), amount, currency, provider, txn, now,
		o.No, ledger.AccountSales, -amount, currency, provider, txn, now); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE callback_receipts SET status = 'applied', updated_at = ? WHERE id = ?", now, id); err != nil {
		return err
	}
	return tx.Commit()
}

func baselineErrorKind(err error) string {
	var me *gomysql.MySQLError
	switch {
	case errors.As(err, &me):
		return fmt.Sprintf("mysql %d", me.Number)
	case errors.Is(err, ledger.ErrVersionConflict):
		return "version conflict"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	default:
		return "sql: " + err.Error()
	}
}
