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

	"gateway/callbacks"
	"gateway/config"
	"gateway/httpapi"
	"gateway/ledger"
	"gateway/metrics"
	"gateway/ops"
	"gateway/providers"
	"gateway/reconcile"
	"gateway/redislock"
	"gateway/report"
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
	metrics   *metrics.Metrics
	reports   *report.Service
	ops       *ops.Service
	// submissions guards POST /api/orders (idempotency keys, form tokens).
	submissions *submission.Service
	// lock is the optional Redis lock; nil when off.
	lock      *redislock.Locker
	reconcile *reconcile.Reconciler
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
	rcfg := reconcileConfig(cfg)
	cbcfg := callbacks.Config{FirstCheck: rcfg.Schedule("")[0], FirstChecks: rcfg.FirstChecks(),
		Committers: cfg.Database.Committers, MaxBatch: cfg.Database.MaxBatch, Readers: cfg.Database.Readers}
	if db.Dialect() == "sqlite" {
		cbcfg.Committers = 1 // one writer: batches grow instead of queueing on the connection
	}
	if lock != nil {
		cbcfg.Locker = lock
	}
	m := metrics.New(metrics.Options{Providers: names, Backlog: db, Log: log})
	cbcfg.Observer = m
	orders := ledger.NewService(db)
	a := &app{cfg: cfg, log: log, db: db, metrics: m,
		callbacks:   callbacks.NewService(db, ps, cbcfg, log),
		orders:      orders,
		submissions: submission.NewService(db, orders, submission.Config{}),
		lock:        lock,
		reports:     report.NewService(db, log)}
	a.ops = ops.New(db, a.callbacks, a.reports, log)
	a.reconcile = reconcile.New(a.callbacks, db, rcfg, m, log)
	return a, nil
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
	log, closeLog := newBufferedLogger(stdout, cfg.Log.Level, time.Duration(cfg.Log.FlushInterval))
	defer closeLog()
	log.Info("starting gateway", "config", cfg.Masked())
	migrate := cfg.Database.Migrate == nil || *cfg.Database.Migrate
	a, err := openApp(ctx, cfg, log, migrate)
	if err != nil {
		return err
	}
	defer a.close(context.Background())

	allowIPs, trustedProxies, err := cfg.IPRules()
	if err != nil {
		return err
	}
	deps := httpapi.Deps{Callbacks: a.callbacks, Orders: a.orders, Submissions: a.submissions, DB: a.db,
		Auth: cfg.Auth, MaxBodyBytes: cfg.HTTP.MaxBodyBytes, Log: log,
		Ops: a.ops, Metrics: a.metrics.Handler(), MetricsPublic: cfg.HTTP.MetricsPublic,
		AllowIPs: allowIPs, TrustedProxies: trustedProxies, Console: cfg.Console}
	if a.lock != nil {
		deps.Lock = a.lock
	}
	srv := &http.Server{
		Handler: httpapi.New(deps).Handler(),
		// Headers get at most 5s, and never more than the whole request.
		ReadHeaderTimeout: min(5*time.Second, time.Duration(cfg.HTTP.ReadTimeout)),
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

	c := newCron(log)
	if err := scheduleJobs(c, a); err != nil {
		srv.Close()
		return err
	}
	c.Start()
	stopCron := func() {
		log.Info("waiting for running cron jobs")
		<-c.Stop().Done()
	}

	select {
	case err := <-errc:
		stopCron()
		return fmt.Errorf("http: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.HTTP.ShutdownTimeout))
	defer cancel()
	err = srv.Shutdown(sctx)
	stopCron()
	if err != nil {
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
