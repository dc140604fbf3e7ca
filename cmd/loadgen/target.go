package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gateway/store"
)

// target is a gateway under measurement and its database.
type target struct {
	Label    string // the database's name, or the gateway's URL
	URL      string
	APIToken string
	db       *sql.DB     // setup and checks
	base     *sql.DB     // the baseline: opened as the gateway opens its database
	gw       *child      // nil when the gateway is not ours
	counter  *sqlCounter // nil without --count-sql
	send     *sender
	// acked holds the order numbers whose payment this gateway (or the
	// baseline, on its database) acknowledged.
	acked   map[string]bool
	closers []func() error
}

// close releases what the target holds, last acquired first.
func (t *target) close(out io.Writer) {
	for i := len(t.closers) - 1; i >= 0; i-- {
		if err := t.closers[i](); err != nil {
			fmt.Fprintf(out, "closing %s: %v\n", t.Label, err)
		}
	}
	t.closers = nil
}

func (t *target) onClose(f func() error) { t.closers = append(t.closers, f) }

// secrets are what a self-started gateway is configured with.
type secrets struct{ APIToken, Stripe, SW string }

// selfTarget creates a fresh database on o.MySQL and starts the gateway
// binary on it, in a folder of its own under dir. The caller closes it
// (which stops the gateway and drops the database unless --keep).
func selfTarget(ctx context.Context, o options, bin, dir string, sec secrets, out io.Writer) (_ *target, err error) {
	t := &target{APIToken: sec.APIToken, acked: map[string]bool{}}
	defer func() {
		if err != nil {
			t.close(out)
		}
	}()
	dsn, name, err := createDatabase(ctx, o.MySQL)
	if err != nil {
		return nil, err
	}
	t.Label = name
	if o.Keep {
		fmt.Fprintf(out, "database %s is kept\n", name)
	} else {
		t.onClose(func() error { return dropDatabase(o.MySQL, name) })
	}
	gatewayDSN := dsn
	if o.CountSQL {
		_, server, err := withAddr(dsn, "")
		if err != nil {
			return nil, err
		}
		if t.counter, err = startSQLCounter(server); err != nil {
			return nil, err
		}
		t.onClose(t.counter.Close)
		if gatewayDSN, _, err = withAddr(dsn, t.counter.Addr()); err != nil {
			return nil, err
		}
	}
	cdir := filepath.Join(dir, name)
	if err := os.Mkdir(cdir, 0o700); err != nil {
		return nil, err
	}
	t.gw, err = startGateway(ctx, bin, cdir, childConfig{DSN: gatewayDSN, APIToken: sec.APIToken, StripeSecret: sec.Stripe,
		SWSecret: sec.SW, LogLevel: o.LogLevel, MaxOpenConns: o.MaxOpenConns, Env: o.GatewayEnv})
	if err != nil {
		return nil, err
	}
	gw := t.gw
	t.onClose(func() error {
		if err := gw.stop(); err != nil {
			return fmt.Errorf("gateway stop: %w (log: %s)", err, gw.LogPath)
		}
		return nil
	})
	t.URL = gw.URL
	fmt.Fprintf(out, "gateway pid %d at %s on database %s\n", gw.PID(), gw.URL, name)
	if err := t.open(ctx, o, dsn, gatewayDSN, false); err != nil {
		return nil, err
	}
	return t, nil
}

// remoteTarget is a gateway that is already running, on o.DSN.
func remoteTarget(ctx context.Context, o options, out io.Writer) (_ *target, err error) {
	t := &target{Label: o.Gateway, URL: o.Gateway, APIToken: o.APIToken, acked: map[string]bool{}}
	if err := t.open(ctx, o, o.DSN, o.DSN, true); err != nil {
		t.close(out)
		return nil, err
	}
	return t, nil
}

// open opens the target's pools and its sender. The baseline opens the
// gateway's database as the gateway does, through store.Open: the same
// normalized DSN (store.MySQLDSN), the same pool settings, and the same
// path (the counter, if any). Setup and checks have a pool of their own.
func (t *target) open(ctx context.Context, o options, dsn, gatewayDSN string, migrate bool) error {
	db, err := store.Open(ctx, "mysql", dsn, store.Options{MaxOpenConns: o.MaxOpenConns})
	if err != nil {
		return err
	}
	t.onClose(db.Close)
	if migrate {
		if _, err := db.Migrate(ctx); err != nil {
			return err
		}
	}
	t.db, t.base = db.SQL(), db.SQL()
	if gatewayDSN != dsn {
		base, err := store.Open(ctx, "mysql", gatewayDSN, store.Options{MaxOpenConns: o.MaxOpenConns})
		if err != nil {
			return err
		}
		t.onClose(base.Close)
		t.base = base.SQL()
	}
	// Enough idle connections for the bursts and for the open loop's senders.
	if t.send, err = newSender(t.URL, max(o.Concurrency*o.Burst, 4*o.Concurrency)); err != nil {
		return err
	}
	t.onClose(func() error { t.send.close(); return nil })
	return nil
}
