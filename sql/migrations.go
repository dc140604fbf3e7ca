// Package migrations holds the versioned SQL schema, one folder per dialect
// (sql/mysql, sql/sqlite), and applies it. The same files serve
// `gateway migrate`, `gateway serve` and the tests.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

//go:embed mysql/*.sql sqlite/*.sql
var files embed.FS

// Dialects the gateway supports.
const (
	MySQL  = "mysql"
	SQLite = "sqlite"
)

// Up applies every migration not yet applied and returns the versions it applied.
func Up(ctx context.Context, db *sql.DB, dialect string) ([]int64, error) {
	p, err := provider(db, dialect)
	if err != nil {
		return nil, err
	}
	if dialect == MySQL {
		// Replicas may start together: one migrates, the others wait.
		unlock, err := mysqlLock(ctx, db)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	res, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: up (%s): %w", dialect, err)
	}
	var applied []int64
	for _, r := range res {
		applied = append(applied, r.Source.Version)
	}
	return applied, nil
}

// Version returns the newest applied version.
func Version(ctx context.Context, db *sql.DB, dialect string) (int64, error) {
	p, err := provider(db, dialect)
	if err != nil {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}

func provider(db *sql.DB, dialect string) (*goose.Provider, error) {
	var d goose.Dialect
	switch dialect {
	case MySQL:
		d = goose.DialectMySQL
	case SQLite:
		d = goose.DialectSQLite3
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q", dialect)
	}
	sub, err := fs.Sub(files, dialect)
	if err != nil {
		return nil, err
	}
	p, err := goose.NewProvider(d, db, sub, goose.WithTableName("schema_migrations"),
		// Branches add migrations side by side; a database that has a later
		// one still takes an earlier one it lacks.
		goose.WithAllowOutofOrder(true))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

func mysqlLock(ctx context.Context, db *sql.DB) (func(), error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: lock: %w", err)
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('gateway_migrate', 120)").Scan(&got); err != nil || got.Int64 != 1 {
		conn.Close()
		return nil, fmt.Errorf("migrations: lock not acquired (%v)", err)
	}
	return func() {
		conn.ExecContext(context.Background(), "SELECT RELEASE_LOCK('gateway_migrate')")
		conn.Close()
	}, nil
}
