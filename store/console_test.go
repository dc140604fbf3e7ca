package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/ops"
	"gateway/store"
	"gateway/store/storetest"
)

// insertReceipt writes a bare receipt first seen at `at`.
func insertReceipt(t *testing.T, db *store.DB, provider string, status callbacks.Status, at time.Time) {
	t.Helper()
	storetest.Exec(t, db, `INSERT INTO callback_receipts (provider, txn_id, fingerprint, status, raw_body, headers, verified,
		ack_status, ack_body, first_seen_at, last_seen_at, updated_at) VALUES (?, ?, 'f', ?, ?, '{}', 'ok', 200, ?, ?, ?, ?)`,
		provider, fmt.Sprintf("ref-%d:payment.succeeded", at.UnixNano()), string(status), []byte("{}"), []byte("{}"), at, at, at)
}

func TestReceiptHistogram(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		from := time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)
		for _, r := range []struct {
			provider string
			status   callbacks.Status
			at       time.Time
		}{
			{"stripe", callbacks.StatusApplied, from.Add(-time.Nanosecond * 1000)}, // before the window
			{"stripe", callbacks.StatusApplied, from},                              // first instant of bucket 0
			{"stripe", callbacks.StatusApplied, from.Add(59 * time.Minute)},
			{"stripe", callbacks.StatusUnknown, from.Add(30 * time.Minute)},
			{"acme", callbacks.StatusRejected, from.Add(time.Hour)}, // first instant of bucket 1
			{"stripe", callbacks.StatusEscalated, from.Add(2*time.Hour + time.Second)},
			{"stripe", callbacks.StatusApplied, from.Add(3*time.Hour - time.Millisecond)}, // last bucket
			{"stripe", callbacks.StatusApplied, from.Add(3 * time.Hour)},                  // the window's end: out
		} {
			insertReceipt(t, db, r.provider, r.status, r.at)
		}
		got, err := db.ReceiptHistogram(context.Background(), from, time.Hour, 3)
		if err != nil {
			t.Fatal(err)
		}
		want := []ops.HistogramCount{
			{Bucket: 0, Provider: "stripe", Status: callbacks.StatusApplied, Receipts: 2},
			{Bucket: 0, Provider: "stripe", Status: callbacks.StatusUnknown, Receipts: 1},
			{Bucket: 1, Provider: "acme", Status: callbacks.StatusRejected, Receipts: 1},
			{Bucket: 2, Provider: "stripe", Status: callbacks.StatusApplied, Receipts: 1},
			{Bucket: 2, Provider: "stripe", Status: callbacks.StatusEscalated, Receipts: 1},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("histogram (-want +got):\n%s", diff)
		}
		one, err := db.ReceiptHistogram(context.Background(), from, 3*time.Hour, 1)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, c := range one {
			if c.Bucket != 0 {
				t.Errorf("one bucket: %+v", c)
			}
			n += c.Receipts
		}
		if n != 6 {
			t.Errorf("one bucket of 3h: %d receipts, want 6", n)
		}
		if _, err := db.ReceiptHistogram(context.Background(), from, time.Hour, 0); err == nil {
			t.Error("no buckets: no error")
		}
	})
}
