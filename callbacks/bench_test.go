package callbacks_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gateway/callbacks"
	"gateway/store"
	"gateway/store/storetest"
)

// BenchmarkPipeline measures callbacks per second through Service.Handle
// (verify, parse, dedup, transaction, ack; no HTTP) against a baseline in
// the same run: a bare database/sql loop doing the plainest per-callback
// transaction on the same database. Compare unique/baseline-tx and
// duplicate/unique as ratios; absolute figures depend on the machine.
//
//	go test -run '^$' -bench Pipeline -benchtime 3000x ./callbacks
func BenchmarkPipeline(b *testing.B) {
	for _, dialect := range storetest.Dialects {
		b.Run(dialect, func(b *testing.B) {
			b.Run("baseline-tx", func(b *testing.B) { benchBaseline(b, storetest.New(b, dialect)) })
			b.Run("unique", func(b *testing.B) { benchUnique(b, storetest.New(b, dialect)) })
			b.Run("duplicate", func(b *testing.B) { benchDuplicate(b, storetest.New(b, dialect)) })
		})
	}
}

// parallelism: goroutines per core in RunParallel (16 on 2 cores, like a
// provider's concurrent deliveries).
const parallelism = 8

// seedOrders inserts n orders B0…B{n-1} of 1000 USD cents in bulk.
func seedOrders(b *testing.B, db *sql.DB, n int) {
	b.Helper()
	now := time.Now().UTC()
	for start := 0; start < n; start += 500 {
		var sb strings.Builder
		args := []any{}
		sb.WriteString("INSERT INTO orders (order_no, amount, currency, status, version, created_at, updated_at) VALUES ")
		for i := start; i < min(n, start+500); i++ {
			if i > start {
				sb.WriteString(",")
			}
			sb.WriteString("(?, 1000, 'USD', 'created', 1, ?, ?)")
			args = append(args, fmt.Sprintf("B%d", i), now, now)
		}
		if _, err := db.Exec(sb.String(), args...); err != nil {
			b.Fatal(err)
		}
	}
}

func benchUnique(b *testing.B, db *store.DB) {
	h := newHarness(b, db)
	h.now = time.Now()
	seedOrders(b, db.SQL(), b.N)
	ins := make([]callbacks.Inbound, b.N)
	for i := range ins {
		ins[i] = stripeDelivery(h.stripeEvent("payment_intent.succeeded", paymentIntent(fmt.Sprintf("pi_b%d", i), fmt.Sprintf("B%d", i), 1000, "usd")), stripeSecret, h.now)
	}
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			in := ins[next.Add(1)-1]
			ack, outs, err := h.svc.Handle(context.Background(), in)
			if err != nil || ack.Status != 200 || outs[0].Receipt.Status != callbacks.StatusApplied {
				b.Errorf("ack %d err %v", ack.Status, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "callbacks/s")
}

func benchDuplicate(b *testing.B, db *store.DB) {
	h := newHarness(b, db)
	h.now = time.Now()
	const events = 100
	seedOrders(b, db.SQL(), events)
	ins := make([]callbacks.Inbound, events)
	for i := range ins {
		ins[i] = stripeDelivery(h.stripeEvent("payment_intent.succeeded", paymentIntent(fmt.Sprintf("pi_d%d", i), fmt.Sprintf("B%d", i), 1000, "usd")), stripeSecret, h.now)
		if _, _, err := h.svc.Handle(context.Background(), ins[i]); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ack, outs, err := h.svc.Handle(context.Background(), ins[next.Add(1)%events])
			if err != nil || ack.Status != 200 || !outs[0].Duplicate {
				b.Errorf("ack %d err %v", ack.Status, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "callbacks/s")
}

// benchBaseline is the plainest correct per-callback transaction with
// database/sql: insert the receipt, read the order, update it under its
// version, insert two ledger rows, mark the receipt, commit.
func benchBaseline(b *testing.B, db *store.DB) {
	sqldb := db.SQL()
	seedOrders(b, sqldb, b.N)
	var next atomic.Int64
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			if err := baselineTx(sqldb, i); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "callbacks/s")
}

func baselineTx(db *sql.DB, i int64) error {
	now := time.Now().UTC()
	orderNo, txn := fmt.Sprintf("B%d", i), fmt.Sprintf("pi_b%d:payment.succeeded", i)
	for {
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		err = func() error {
			res, err := tx.Exec(`INSERT INTO callback_receipts (provider, txn_id, fingerprint, status, raw_body, headers, verified,
				ack_status, ack_body, first_seen_at, last_seen_at, updated_at) VALUES ('stripe', ?, 'f', 'processing', '{}', '{}', 'ok', 200, '', ?, ?, ?)`,
				txn, now, now, now)
			if err != nil {
				return err
			}
			id, _ := res.LastInsertId()
			var oid, version, amount int64
			if err := tx.QueryRow("SELECT id, version, amount FROM orders WHERE order_no = ?", orderNo).Scan(&oid, &version, &amount); err != nil {
				return err
			}
			res, err = tx.Exec("UPDATE orders SET status = 'paid', paid_amount = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ?", amount, now, oid, version)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("version conflict on %s", orderNo)
			}
			if _, err := tx.Exec(`INSERT INTO ledger_entries (order_no, account, amount, currency, provider, txn_id, created_at)
				VALUES (?, 'clearing:stripe', ?, 'USD', 'stripe', ?, ?), (?, 'sales', ?, 'USD', 'stripe', ?, ?)`,
				orderNo, amount, txn, now, orderNo, -amount, txn, now); err != nil {
				return err
			}
			_, err = tx.Exec("UPDATE callback_receipts SET status = 'applied' WHERE id = ?", id)
			return err
		}()
		if err != nil {
			tx.Rollback()
			if strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "Deadlock") {
				continue
			}
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		return nil
	}
}
