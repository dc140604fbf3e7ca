package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/robfig/cron/v3"

	"gateway/callbacks"
	"gateway/config"
	"gateway/httpapi"
	"gateway/ledger"
	"gateway/providers"
	"gateway/redislock"
	"gateway/store"
	"gateway/submission"
)

// app is the wired gateway.
type app struct {
	cfg       config.Config
	log       *slog.Logger
	db        *store.DB
	callbacks *callbacks.Service
	orders    *ledger.Service
	// submissions guards POST /api/orders (idempotency keys, form tokens).
	submissions *submission.Service
	// lock is the optional Redis lock; nil when off.
	lock *redislock.Locker
}

func openApp(ctx context.Context, cfg config.Config, log *slog.Logger, migrate bool) (*app, error) {
	db, err := store.Open(ctx, cfg.Database.Driver, string(cfg.Database.DSN), store.Options{MaxOpenConns: cfg.Database.MaxOpenConns})
	if err != nil {
		return nil, err
	}
	if migrate {
		applied, err := db.Migrate(ctx)
		if err != nil {
			db.Close()
			return nil, err
		}
		if len(applied) > 0 {
			log.Info("migrations applied", "versions", applied)
		}
	}
	ps, err := providers.Build(cfg.Providers, nil)
	if err != nil {
		db.Close()
		return nil, err
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name()
	}
	log.Info("providers enabled", "providers", names)
	lock, err := openLock(cfg.Lock, log)
	if err != nil {
		db.Close()
		return nil, err
	}
	cbCfg := callbacks.Config{}
	if lock != nil {
		cbCfg.Locker = lock
	}
	orders := ledger.NewService(db)
	return &app{cfg: cfg, log: log, db: db,
		callbacks:   callbacks.NewService(db, ps, cbCfg, log),
		orders:      orders,
		submissions: submission.NewService(db, orders, submission.Config{}),
		lock:        lock}, nil
}

func (a *app) close(ctx context.Context) {
	if err := a.callbacks.Close(ctx); err != nil {
		a.log.Warn("closing callbacks", "err", err)
	}
	if a.lock != nil {
		a.lock.Close()
	}
	a.db.Close()
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	_, cfgPath, err := flags("serve", args, stdout, nil)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath, getenv)
	if err != nil {
		return err
	}
	log := newLogger(stdout, cfg.Log.Level)
	log.Info("starting gateway", "config", cfg.Masked())
	migrate := cfg.Database.Migrate == nil || *cfg.Database.Migrate
	a, err := openApp(ctx, cfg, log, migrate)
	if err != nil {
		return err
	}
	defer a.close(context.Background())

	jobs := cron.New()
	if err := scheduleWorkflowCleanup(jobs, a.submissions, log); err != nil {
		return err
	}
	jobs.Start()
	defer func() { <-jobs.Stop().Done() }() // after HTTP has drained, before the database closes

	deps := httpapi.Deps{Callbacks: a.callbacks, Orders: a.orders, Submissions: a.submissions, DB: a.db,
		Auth: cfg.Auth, MaxBodyBytes: cfg.HTTP.MaxBodyBytes, Log: log}
	if a.lock != nil {
		deps.Lock = a.lock
	}
	srv := &http.Server{
		Handler:           httpapi.New(deps).Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       time.Duration(cfg.HTTP.ReadTimeout),
		WriteTimeout:      time.Duration(cfg.HTTP.WriteTimeout),
		IdleTimeout:       time.Duration(cfg.HTTP.IdleTimeout),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTP.Addr, err)
	}
	log.Info("listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.HTTP.ShutdownTimeout))
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	_, cfgPath, err := flags("migrate", args, stdout, nil)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath, getenv)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, cfg.Database.Driver, string(cfg.Database.DSN), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrations applied: %v\n", applied)
	return nil
}
