package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/report"
)

// ReconciliationData implements report.Store: every figure of [from, to)
// read in one transaction, so the figures agree with each other.
func (db *DB) ReconciliationData(ctx context.Context, from, to, asOf time.Time) (report.Data, error) {
	from, to, asOf = from.UTC(), to.UTC(), asOf.UTC()
	var d report.Data
	err := db.gorm.WithContext(ctx).Transaction(func(g *gorm.DB) error {
		raw := func(dest any, sql string, args ...any) error { return g.Raw(sql, args...).Scan(dest).Error }

		var counts []struct {
			Provider, Status     string
			Receipts, Deliveries int64
		}
		if err := raw(&counts, `SELECT provider, status, COUNT(*) AS receipts, COALESCE(SUM(deliveries), 0) AS deliveries
			FROM callback_receipts WHERE first_seen_at >= ? AND first_seen_at < ?
			GROUP BY provider, status`, from, to); err != nil {
			return fmt.Errorf("receipt counts: %w", err)
		}
		for _, c := range counts {
			d.Receipts = append(d.Receipts, report.ReceiptCount{Provider: c.Provider, Status: callbacks.Status(c.Status),
				Receipts: c.Receipts, Deliveries: c.Deliveries})
		}

		// Age = asOf - first_seen_at: under 1h, [1h, 24h), 24h or more.
		h1, h24 := asOf.Add(-time.Hour), asOf.Add(-24*time.Hour)
		var ages []struct {
			Provider    string `gorm:"column:provider"`
			Under1h     int64  `gorm:"column:under1h"`
			From1hTo24h int64  `gorm:"column:from1h_to24h"`
			Over24h     int64  `gorm:"column:over24h"`
		}
		if err := raw(&ages, `SELECT provider,
			COALESCE(SUM(CASE WHEN first_seen_at > ? THEN 1 ELSE 0 END), 0) AS under1h,
			COALESCE(SUM(CASE WHEN first_seen_at <= ? AND first_seen_at > ? THEN 1 ELSE 0 END), 0) AS from1h_to24h,
			COALESCE(SUM(CASE WHEN first_seen_at <= ? THEN 1 ELSE 0 END), 0) AS over24h
			FROM callback_receipts WHERE status = ? AND first_seen_at >= ? AND first_seen_at < ?
			GROUP BY provider`, h1, h1, h24, h24, string(callbacks.StatusUnknown), from, to); err != nil {
			return fmt.Errorf("unknown ages: %w", err)
		}
		for _, a := range ages {
			d.UnknownAges = append(d.UnknownAges, report.UnknownAge{Provider: a.Provider,
				AgeBuckets: report.AgeBuckets{Under1h: a.Under1h, From1hTo24h: a.From1hTo24h, Over24h: a.Over24h}})
		}

		var rejections []struct {
			Provider, Reason string
			N                int64
		}
		if err := raw(&rejections, `SELECT provider, reason, COUNT(*) AS n FROM callback_receipts
			WHERE status = ? AND first_seen_at >= ? AND first_seen_at < ? GROUP BY provider, reason`,
			string(callbacks.StatusRejected), from, to); err != nil {
			return fmt.Errorf("rejections: %w", err)
		}
		for _, r := range rejections {
			d.Rejections = append(d.Rejections, report.RejectionCount{Provider: r.Provider, Reason: r.Reason, Count: r.N})
		}

		var sums []struct {
			Provider, Currency, Account string
			Legs, Total                 int64
		}
		if err := raw(&sums, `SELECT provider, currency, account, COUNT(*) AS legs, COALESCE(SUM(amount), 0) AS total
			FROM ledger_entries WHERE created_at >= ? AND created_at < ? AND account IN (?, ?)
			GROUP BY provider, currency, account`, from, to, ledger.AccountSales, ledger.AccountRefunds); err != nil {
			return fmt.Errorf("ledger sums: %w", err)
		}
		for _, s := range sums {
			d.Ledger = append(d.Ledger, report.LedgerSum{Provider: s.Provider, Currency: s.Currency, Account: s.Account,
				Legs: s.Legs, Sum: s.Total})
		}

		var sweep []receiptRow
		if err := g.Model(&receiptRow{}).Select("id", "provider", "txn_id", "order_no", "amount", "currency", "first_seen_at").
			Where("event_type LIKE ? AND status = ? AND kind = ? AND first_seen_at >= ? AND first_seen_at < ?",
				callbacks.SweepEventPrefix+"%", string(callbacks.StatusApplied), string(ledger.KindPaymentSucceeded), from, to).
			Order("id").Find(&sweep).Error; err != nil {
			return fmt.Errorf("sweep payments: %w", err)
		}
		for _, r := range sweep {
			d.Sweep = append(d.Sweep, report.SweepRow{Provider: r.Provider, SweepPayment: report.SweepPayment{
				ReceiptID: r.ID, OrderNo: r.OrderNo, TxnID: r.TxnID, Amount: r.Amount, Currency: r.Currency, At: r.FirstSeenAt.UTC()}})
		}

		if err := raw(&d.PostingsChecked, `SELECT COUNT(*) FROM (SELECT provider, txn_id FROM ledger_entries
			WHERE created_at >= ? AND created_at < ? GROUP BY provider, txn_id) p`, from, to); err != nil {
			return fmt.Errorf("postings: %w", err)
		}
		if err := raw(&d.Unbalanced, `SELECT provider, txn_id, currency, SUM(amount) AS sum FROM ledger_entries
			WHERE created_at >= ? AND created_at < ? GROUP BY provider, txn_id, currency HAVING SUM(amount) <> 0
			ORDER BY provider, txn_id, currency LIMIT ?`, from, to, report.MaxOffenders); err != nil {
			return fmt.Errorf("unbalanced postings: %w", err)
		}

		// The orders in scope: changed in the period, or posted to in it.
		const scope = `(SELECT order_no FROM orders WHERE updated_at >= ? AND updated_at < ?
			UNION SELECT order_no FROM ledger_entries WHERE created_at >= ? AND created_at < ?) s`
		if err := raw(&d.OrdersChecked, `SELECT COUNT(*) FROM `+scope, from, to, from, to); err != nil {
			return fmt.Errorf("orders: %w", err)
		}
		if err := raw(&d.Mismatched, `SELECT o.order_no, o.currency, o.paid_amount, o.refunded_amount,
			COALESCE(SUM(CASE WHEN e.account = ? AND e.currency = o.currency THEN -e.amount ELSE 0 END), 0) AS ledger_paid,
			COALESCE(SUM(CASE WHEN e.account = ? AND e.currency = o.currency THEN e.amount ELSE 0 END), 0) AS ledger_refunded,
			COALESCE(SUM(CASE WHEN e.currency <> o.currency THEN 1 ELSE 0 END), 0) AS foreign_legs
			FROM `+scope+`
			JOIN orders o ON o.order_no = s.order_no
			LEFT JOIN ledger_entries e ON e.order_no = o.order_no
			GROUP BY o.order_no, o.currency, o.paid_amount, o.refunded_amount
			HAVING ledger_paid <> o.paid_amount OR ledger_refunded <> o.refunded_amount OR foreign_legs > 0
			ORDER BY o.order_no LIMIT ?`,
			ledger.AccountSales, ledger.AccountRefunds, from, to, from, to, report.MaxOffenders); err != nil {
			return fmt.Errorf("order totals: %w", err)
		}
		return nil
	})
	if err != nil {
		return report.Data{}, classify(fmt.Errorf("store: reconciliation data: %w", err))
	}
	return d, nil
}

type dailyReportRow struct {
	Day         string `gorm:"primaryKey"`
	PeriodFrom  time.Time
	PeriodTo    time.Time
	GeneratedAt time.Time
	Body        string
}

func (dailyReportRow) TableName() string { return "reconciliation_reports" }

// SaveDaily implements report.Store; false when the day is stored already.
func (db *DB) SaveDaily(ctx context.Context, d report.Daily) (bool, error) {
	row := dailyReportRow{Day: d.Day, PeriodFrom: d.From.UTC(), PeriodTo: d.To.UTC(), GeneratedAt: d.GeneratedAt.UTC(), Body: string(d.Body)}
	err := db.gorm.WithContext(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return false, nil
	}
	if err != nil {
		return false, classify(fmt.Errorf("store: save daily report %s: %w", d.Day, err))
	}
	return true, nil
}

// Daily implements report.Store.
func (db *DB) Daily(ctx context.Context, day string) (report.Daily, error) {
	var row dailyReportRow
	err := db.gorm.WithContext(ctx).Where("day = ?", day).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return report.Daily{}, report.ErrNotFound
	}
	if err != nil {
		return report.Daily{}, classify(fmt.Errorf("store: daily report %s: %w", day, err))
	}
	return report.Daily{Day: row.Day, From: row.PeriodFrom.UTC(), To: row.PeriodTo.UTC(),
		GeneratedAt: row.GeneratedAt.UTC(), Body: []byte(row.Body)}, nil
}

// DailyDays implements report.Store.
func (db *DB) DailyDays(ctx context.Context, from, to string) ([]string, error) {
	var days []string
	err := db.gorm.WithContext(ctx).Model(&dailyReportRow{}).Where("day >= ? AND day <= ?", from, to).
		Order("day").Pluck("day", &days).Error
	if err != nil {
		return nil, classify(fmt.Errorf("store: daily report days: %w", err))
	}
	return days, nil
}
