package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gateway/callbacks"
	"gateway/ops"
)

// ReceiptHistogram implements ops.Store: receipts first seen in
// [from, from+n*step), counted by bucket, provider and status in one range
// read of the first_seen_at index. The bucket is a CASE over the bucket
// boundaries, which MySQL, TiDB and SQLite all evaluate alike (date
// arithmetic would differ per dialect), nested as a binary search so that
// each row costs log2(n) comparisons.
func (db *DB) ReceiptHistogram(ctx context.Context, from time.Time, step time.Duration, n int) ([]ops.HistogramCount, error) {
	if n < 1 || n > 1000 || step <= 0 {
		return nil, fmt.Errorf("store: histogram of %d buckets of %s", n, step)
	}
	from = from.UTC()
	var q strings.Builder
	args := make([]any, 0, n+1)
	var bucket func(lo, hi int)
	bucket = func(lo, hi int) {
		if lo == hi {
			q.WriteString(strconv.Itoa(lo))
			return
		}
		mid := (lo + hi + 1) / 2
		q.WriteString("CASE WHEN first_seen_at < ? THEN ")
		args = append(args, from.Add(time.Duration(mid)*step))
		bucket(lo, mid-1)
		q.WriteString(" ELSE ")
		bucket(mid, hi)
		q.WriteString(" END")
	}
	q.WriteString(`SELECT `)
	bucket(0, n-1)
	q.WriteString(` AS bucket, provider, status, COUNT(*) AS n FROM callback_receipts
		WHERE first_seen_at >= ? AND first_seen_at < ? GROUP BY bucket, provider, status ORDER BY bucket, provider, status`)
	args = append(args, from, from.Add(time.Duration(n)*step))
	var rows []struct {
		Bucket   int
		Provider string
		Status   string
		N        int64
	}
	if err := db.gorm.WithContext(ctx).Raw(q.String(), args...).Scan(&rows).Error; err != nil {
		return nil, classify(fmt.Errorf("store: receipt histogram: %w", err))
	}
	out := make([]ops.HistogramCount, len(rows))
	for i, r := range rows {
		out[i] = ops.HistogramCount{Bucket: r.Bucket, Provider: r.Provider, Status: callbacks.Status(r.Status), Receipts: r.N}
	}
	return out, nil
}
