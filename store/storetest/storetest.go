// Package storetest gives tests a fresh, migrated database: an SQLite file
// in a temporary folder, or a new database on the real MariaDB/MySQL server
// that is dropped when the test ends.
//
// The MySQL server is GATEWAY_TEST_MYSQL_DSN (default
// root@tcp(127.0.0.1:3306)/). Tests skip MySQL only under -short; an
// unreachable server otherwise fails the test, never skips it silently.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"gateway/store"
)

// Dialects are the databases every store test runs on.
var Dialects = []string{"sqlite", "mysql"}

// ServerDSN is the MySQL server used for tests.
func ServerDSN() string {
	if d := os.Getenv("GATEWAY_TEST_MYSQL_DSN"); d != "" {
		return d
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// Each runs fn as a subtest on every dialect.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) { fn(t, New(t, d)) })
	}
}

// New returns a fresh migrated database of the given dialect.
func New(tb testing.TB, dialect string) *store.DB {
	tb.Helper()
	driver, dsn := DSN(tb, dialect)
	ctx := context.Background()
	db, err := store.Open(ctx, driver, dsn, store.Options{MaxOpenConns: 64})
	if err != nil {
		tb.Fatalf("storetest: open %s: %v", dialect, err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatalf("storetest: migrate %s: %v", dialect, err)
	}
	return db
}

// DSN creates an empty database of the dialect and returns its driver and
// DSN, for tests that open it themselves (a whole gateway process).
func DSN(tb testing.TB, dialect string) (driver, dsn string) {
	tb.Helper()
	switch dialect {
	case "sqlite":
		return "sqlite", "file:" + filepath.Join(tb.TempDir(), "gateway.db")
	case "mysql":
		if testing.Short() {
			tb.Skip("storetest: MySQL tests skipped under -short")
		}
		return "mysql", newMySQLDatabase(tb)
	default:
		tb.Fatalf("storetest: unknown dialect %q", dialect)
		return "", ""
	}
}

func newMySQLDatabase(tb testing.TB) string {
	tb.Helper()
	cfg, err := gomysql.ParseDSN(ServerDSN())
	if err != nil {
		tb.Fatalf("storetest: GATEWAY_TEST_MYSQL_DSN: %v", err)
	}
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		tb.Fatalf("storetest: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		tb.Fatalf("storetest: MariaDB/MySQL at %s is not reachable (%v); run scripts/test.sh, which starts it, or use -short to skip database tests", cfg.Addr, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "gwtest_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"); err != nil {
		tb.Fatalf("storetest: create database: %v", err)
	}
	tb.Cleanup(func() {
		a, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			return
		}
		defer a.Close()
		if _, err := a.Exec("DROP DATABASE IF EXISTS " + name); err != nil {
			tb.Logf("storetest: drop %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}
