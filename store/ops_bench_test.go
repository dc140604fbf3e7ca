package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gateway/callbacks"
	"gateway/ops"
	"gateway/store"
	"gateway/store/storetest"
)

// seed writes n receipts over 30 days (90% applied with a two-legged
// posting each, 8% unknown, 1% escalated, 1% rejected) over three
// providers, in multi-row INSERTs.
func seed(b *testing.B, db *store.DB, n int) {
	b.Helper()
	start := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	const batch = 500
	for lo := 0; lo < n; lo += batch {
		var rec, leg []string
		var ra, la []any
		for i := lo; i < min(lo+batch, n); i++ {
			at := start.Add(time.Duration(i) * (30 * 24 * time.Hour / time.Duration(n)))
			provider := []string{"stripe", "alipay", "adyen"}[i%3]
			status := callbacks.StatusApplied
			switch i % 100 {
			case 0, 1, 2, 3, 4, 5, 6, 7:
				status = callbacks.StatusUnknown
			case 8:
				status = callbacks.StatusEscalated
			case 9:
				status = callbacks.StatusRejected
			}
			txn := fmt.Sprintf("ref%d:payment.succeeded", i)
			order := fmt.Sprintf("O%d", i)
			rec = append(rec, "(?, ?, 'payment.succeeded', ?, 1000, 'USD', ?, ?, 'x', ?, ?, '', '{}', 'ok', 200, '', 1, ?, ?, ?)")
			ra = append(ra, provider, txn, order, strings.Repeat("f", 64), string(status), []byte("{}"), []byte("{}"), at, at, at)
			if status == callbacks.StatusApplied {
				leg = append(leg, "(?, ?, 1000, 'USD', ?, ?, ?)", "(?, 'sales', -1000, 'USD', ?, ?, ?)")
				la = append(la, order, "clearing:"+provider, provider, txn, at, order, provider, txn, at)
			}
		}
		if _, err := db.SQL().Exec(`INSERT INTO callback_receipts (provider, txn_id, kind, order_no, amount, currency, fingerprint,
			status, reason, raw_body, ack_body, event_id, headers, verified, ack_status, ack_content_type, deliveries, first_seen_at, last_seen_at, updated_at)
			VALUES `+strings.Join(rec, ","), ra...); err != nil {
			b.Fatal(err)
		}
		if len(leg) > 0 {
			if _, err := db.SQL().Exec(`INSERT INTO ledger_entries (order_no, account, amount, currency, provider, txn_id, created_at) VALUES `+
				strings.Join(leg, ","), la...); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkOps measures, on 60 000 receipts, what /metrics costs the
// database on each scrape (Backlog), a page of the admin list, one day's
// reconciliation report, and the console overview's chart over a day
// (2 000 receipts) and over the whole 30 days.
func BenchmarkOps(b *testing.B) {
	for _, d := range storetest.Dialects {
		b.Run(d, func(b *testing.B) {
			db := storetest.New(b, d)
			seed(b, db, 60000)
			ctx := context.Background()
			b.Run("Backlog", func(b *testing.B) {
				for b.Loop() {
					rows, err := db.Backlog(ctx)
					if err != nil || len(rows) != 6 {
						b.Fatalf("%d rows, %v", len(rows), err)
					}
				}
			})
			b.Run("ListUnknownPage", func(b *testing.B) {
				for b.Loop() {
					rows, err := db.ListReceipts(ctx, ops.ReceiptFilter{Status: callbacks.StatusUnknown, Provider: "alipay", Limit: 51})
					if err != nil || len(rows) != 51 {
						b.Fatalf("%d rows, %v", len(rows), err)
					}
				}
			})
			b.Run("ReconciliationDay", func(b *testing.B) {
				from := time.Date(2025, 2, 10, 0, 0, 0, 0, time.UTC)
				for b.Loop() {
					data, err := db.ReconciliationData(ctx, from, from.AddDate(0, 0, 1), from.AddDate(0, 0, 2))
					if err != nil || data.PostingsChecked == 0 {
						b.Fatalf("%d postings, %v", data.PostingsChecked, err)
					}
				}
			})
			for _, h := range []struct {
				name string
				step time.Duration
				n    int
				want int64
			}{{"Histogram24h", time.Hour, 24, 2000}, {"Histogram30d", 24 * time.Hour, 30, 60000}} {
				b.Run(h.name, func(b *testing.B) {
					from := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
					for b.Loop() {
						rows, err := db.ReceiptHistogram(ctx, from, h.step, h.n)
						var sum int64
						for _, r := range rows {
							sum += r.Receipts
						}
						if err != nil || sum != h.want {
							b.Fatalf("%d receipts, %v", sum, err)
						}
					}
				})
			}
		})
	}
}
