package storetest

import (
	"testing"

	"gateway/store"
)

// Tables are the gateway's tables, for tests that count what was written.
var Tables = []string{"orders", "callback_receipts", "ledger_entries", "audit_log", "reconciliation_reports", "order_sweeps"}

// Counts returns the number of rows of every table in Tables.
func Counts(tb testing.TB, db *store.DB) map[string]int64 {
	tb.Helper()
	out := map[string]int64{}
	for _, t := range Tables {
		var n int64
		if err := db.SQL().QueryRow("SELECT COUNT(*) FROM " + t).Scan(&n); err != nil {
			tb.Fatalf("storetest: count %s: %v", t, err)
		}
		out[t] = n
	}
	return out
}

// Exec runs a statement on the test database (to set up states the API
// cannot reach, such as an escalated receipt or a corrupted ledger).
func Exec(tb testing.TB, db *store.DB, query string, args ...any) {
	tb.Helper()
	if _, err := db.SQL().Exec(query, args...); err != nil {
		tb.Fatalf("storetest: %s: %v", query, err)
	}
}
