package storetest

import (
	"testing"

	"gateway/store"
)

// Counts returns the number of rows of every table of the database but the
// migrations' own, listed from the database itself so that a table a later
// migration adds is counted too: tests compare it before and after to show
// that nothing was written.
func Counts(tb testing.TB, db *store.DB) map[string]int64 {
	tb.Helper()
	list := "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
	if db.Dialect() == "sqlite" {
		list = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
	}
	rows, err := db.SQL().Query(list)
	if err != nil {
		tb.Fatalf("storetest: list tables: %v", err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			tb.Fatalf("storetest: list tables: %v", err)
		}
		if name != "schema_migrations" {
			tables = append(tables, name)
		}
	}
	if err := rows.Close(); err != nil {
		tb.Fatalf("storetest: list tables: %v", err)
	}
	if len(tables) < 3 {
		tb.Fatalf("storetest: list tables: found only %v", tables)
	}
	out := make(map[string]int64, len(tables))
	for _, t := range tables {
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
