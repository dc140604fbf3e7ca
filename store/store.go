// Package store is the gorm adapter: it opens MySQL/MariaDB or the embedded
// SQLite, applies the migrations, and implements the stores that callbacks
// and ledger declare. Row types stay here; domain types cross the boundary.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/glebarez/sqlite"
	gomysql "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	migrations "gateway/sql"
)

// DB is an open database.
type DB struct {
	gorm    *gorm.DB
	sql     *sql.DB
	dialect string
	// autoincBy: the step between the ids of one multi-row INSERT, when
	// they are consecutive (autoincStep).
	autoinc   sync.Once
	autoincBy int64
}

// Options tune the connection pool.
type Options struct {
	MaxOpenConns int
}

// Open connects to driver ("mysql" or "sqlite") at dsn.
func Open(ctx context.Context, driverName, dsn string, opt Options) (*DB, error) {
	var dial gorm.Dialector
	switch driverName {
	case migrations.MySQL:
		d, err := MySQLDSN(dsn)
		if err != nil {
			return nil, err
		}
		dial = mysql.New(mysql.Config{DSN: d, DefaultStringSize: 191})
	case migrations.SQLite:
		d, err := sqliteDSN(dsn)
		if err != nil {
			return nil, err
		}
		dial = sqlite.Open(d)
	default:
		return nil, fmt.Errorf("store: unknown driver %q (want mysql or sqlite)", driverName)
	}
	g, err := gorm.Open(dial, &gorm.Config{
		SkipDefaultTransaction: true,
		TranslateError:         true,
		Logger:                 logger.Discard,
		NowFunc:                func() time.Time { return time.Now().UTC() },
	})
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", driverName, err)
	}
	s, err := g.DB()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if driverName == migrations.SQLite {
		// One writer at a time is SQLite's nature; one connection makes
		// that explicit and keeps BEGIN…COMMIT free of busy errors.
		s.SetMaxOpenConns(1)
	} else {
		n := opt.MaxOpenConns
		if n <= 0 {
			n = 32
		}
		s.SetMaxOpenConns(n)
		s.SetMaxIdleConns(n)
		s.SetConnMaxLifetime(5 * time.Minute)
	}
	db := &DB{gorm: g, sql: s, dialect: driverName}
	if err := db.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return db, nil
}

// MySQLDSN normalizes a go-sql-driver DSN for the gateway: times in UTC,
// parsed into time.Time, and parameters interpolated client-side so that a
// statement costs one round trip, not a prepare and an execute.
func MySQLDSN(dsn string) (string, error) {
	c, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return "", fmt.Errorf("store: bad mysql dsn: %w", err)
	}
	c.ParseTime = true
	c.Loc = time.UTC
	c.InterpolateParams = true
	if c.Params == nil {
		c.Params = map[string]string{}
	}
	if _, ok := c.Params["time_zone"]; !ok {
		c.Params["time_zone"] = "'+00:00'"
	}
	return c.FormatDSN(), nil
}

func sqliteDSN(dsn string) (string, error) {
	if dsn == "" {
		return "", errors.New("store: empty sqlite dsn")
	}
	path := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path != ":memory:" && path != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", fmt.Errorf("store: sqlite dir: %w", err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + q.Encode(), nil
}

// Dialect is "mysql" or "sqlite".
func (db *DB) Dialect() string { return db.dialect }

// SQL is the underlying pool (for migrations and tests).
func (db *DB) SQL() *sql.DB { return db.sql }

// Migrate applies the schema migrations.
func (db *DB) Migrate(ctx context.Context) ([]int64, error) {
	return migrations.Up(ctx, db.sql, db.dialect)
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close closes the pool.
func (db *DB) Close() error { return db.sql.Close() }

// temporary marks an error that a retry of the transaction may cure.
type temporary struct{ err error }

func (t temporary) Error() string   { return t.err.Error() }
func (t temporary) Unwrap() error   { return t.err }
func (t temporary) Temporary() bool { return true }

// classify wraps deadlocks, lock-wait timeouts, busy SQLite and broken
// connections as temporary.
func classify(err error) error {
	if err == nil {
		return nil
	}
	var me *gomysql.MySQLError
	switch {
	case errors.As(err, &me) && (me.Number == 1213 || me.Number == 1205):
		return temporary{err}
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, gomysql.ErrInvalidConn):
		return temporary{err}
	case strings.Contains(err.Error(), "database is locked"), strings.Contains(err.Error(), "SQLITE_BUSY"):
		return temporary{err}
	}
	return err
}
