// Package metrics exposes the gateway's Prometheus metrics: what the
// callback pipeline does (it implements callbacks.Observer, so the domain
// does not depend on Prometheus), the unknown and escalated backlog read
// from the database on each scrape, and the cron jobs' and reconciler's
// runs and results. Nothing here is global: each Metrics has its own
// registry, so tests and several gateways in one process do not collide.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"gateway/callbacks"
	"gateway/ledger"
)

// Callback outcomes, the values of the outcome label of
// gateway_callbacks_total: a notification's receipt status, "duplicate" for
// a delivery of a known key, "refused" for a delivery refused before any
// write (bad signature, malformed), "error" for a transient failure (the
// provider retries).
const (
	OutcomeApplied   = "applied"
	OutcomeRejected  = "rejected"
	OutcomeUnknown   = "unknown"
	OutcomeConflict  = "conflict"
	OutcomeEscalated = "escalated"
	OutcomeDuplicate = "duplicate"
	OutcomeRefused   = "refused"
	OutcomeError     = "error"
)

var outcomes = []string{OutcomeApplied, OutcomeRejected, OutcomeUnknown, OutcomeConflict, OutcomeDuplicate, OutcomeRefused, OutcomeError}

// Retry causes, the values of the cause label of gateway_callback_retries_total.
const (
	CauseVersionConflict = "version_conflict"
	CauseReceiptChanged  = "receipt_changed"
	CauseTemporary       = "temporary"
)

// Reconciler results, the values of the result label of
// gateway_reconciler_receipts_total.
const (
	ReconcileApplied     = "applied"
	ReconcileRejected    = "rejected"
	ReconcileRescheduled = "rescheduled"
	ReconcileEscalated   = "escalated"
	ReconcileError       = "error"
)

// BacklogSource reads the waiting receipts (store.DB implements it).
type BacklogSource interface {
	Backlog(ctx context.Context) ([]callbacks.Backlog, error)
}

// Metrics holds the collectors and their registry.
type Metrics struct {
	reg *prometheus.Registry

	callbacks  *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	sigFails   *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	retries    *prometheus.CounterVec
	replays    *prometheus.CounterVec
	jobRuns    *prometheus.CounterVec
	jobTime    *prometheus.HistogramVec
	reconciled *prometheus.CounterVec
}

// Options configure New.
type Options struct {
	// Providers are the configured provider names; their series start at
	// zero so that rate() works from the first scrape.
	Providers []string
	// Backlog is read on each scrape for the backlog gauges; nil leaves
	// them out.
	Backlog BacklogSource
	// BacklogTimeout bounds the backlog read (default 2s).
	BacklogTimeout time.Duration
	Log            *slog.Logger
}

// New returns the metrics with the Go runtime and process collectors.
func New(o Options) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.callbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_callbacks_total",
		Help: "Callback notifications by provider and outcome (applied, rejected, unknown, conflict, duplicate; refused and error count deliveries).",
	}, []string{"provider", "outcome"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gateway_callback_duration_seconds",
		Help:    "Time to handle one callback delivery, from verification to the acknowledgement.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"provider"})
	m.sigFails = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_callback_signature_failures_total",
		Help: "Deliveries refused because the signature, timestamp or key did not verify.",
	}, []string{"provider"})
	m.duplicates = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_callback_duplicates_total",
		Help: "Deliveries of a key that has a receipt, by the original receipt's status.",
	}, []string{"provider", "status"})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_callback_retries_total",
		Help: "Transactions tried again: optimistic version conflicts, receipts changed by a concurrent re-drive, deadlocks and lock-wait timeouts.",
	}, []string{"provider", "cause"})
	m.replays = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_replays_total",
		Help: "Stored receipts re-driven (admin replays and the reconciler), by resulting action.",
	}, []string{"provider", "action", "dry_run"})
	m.jobRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_job_runs_total",
		Help: "Cron job runs (reconcile, sweep, report_daily, …) by result (ok, error).",
	}, []string{"job", "result"})
	m.jobTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gateway_job_duration_seconds",
		Help:    "Cron job run time.",
		Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300},
	}, []string{"job"})
	m.reconciled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_reconciler_receipts_total",
		Help: "Receipts the reconciler worked, by result (applied, rejected, rescheduled, escalated, error), and orders its sweep asked about (sweep_paid, sweep_closed, sweep_rejected, sweep_open, sweep_done, sweep_error).",
	}, []string{"provider", "result"})

	m.reg.MustRegister(m.callbacks, m.duration, m.sigFails, m.duplicates, m.retries, m.replays,
		m.jobRuns, m.jobTime, m.reconciled,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.Backlog != nil {
		log := o.Log
		if log == nil {
			log = slog.New(slog.DiscardHandler)
		}
		timeout := o.BacklogTimeout
		if timeout <= 0 {
			timeout = 2 * time.Second
		}
		m.reg.MustRegister(&backlogCollector{src: o.Backlog, providers: o.Providers, timeout: timeout, log: log})
	}
	for _, p := range o.Providers {
		for _, out := range outcomes {
			m.callbacks.WithLabelValues(p, out)
		}
		m.duration.WithLabelValues(p)
		m.sigFails.WithLabelValues(p)
		for _, c := range []string{CauseVersionConflict, CauseReceiptChanged, CauseTemporary} {
			m.retries.WithLabelValues(p, c)
		}
	}
	return m
}

// Registry is the registry the metrics are in (to add more collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format. A
// collector that fails (the database is down for the backlog) leaves its
// series out; the rest are served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Delivered implements callbacks.Observer.
func (m *Metrics) Delivered(provider string, outs []callbacks.Outcome, err error, took time.Duration) {
	m.duration.WithLabelValues(provider).Observe(took.Seconds())
	for _, o := range outs {
		if o.Duplicate {
			m.callbacks.WithLabelValues(provider, OutcomeDuplicate).Inc()
			m.duplicates.WithLabelValues(provider, string(o.Receipt.Status)).Inc()
			continue
		}
		m.callbacks.WithLabelValues(provider, string(o.Receipt.Status)).Inc()
	}
	switch {
	case err == nil:
	case errors.Is(err, callbacks.ErrSignature):
		m.sigFails.WithLabelValues(provider).Inc()
		m.callbacks.WithLabelValues(provider, OutcomeRefused).Inc()
	case errors.Is(err, callbacks.ErrMalformed):
		m.callbacks.WithLabelValues(provider, OutcomeRefused).Inc()
	default:
		m.callbacks.WithLabelValues(provider, OutcomeError).Inc()
	}
}

// Retried implements callbacks.Observer.
func (m *Metrics) Retried(provider string, err error) {
	cause := CauseTemporary
	switch {
	case errors.Is(err, ledger.ErrVersionConflict):
		cause = CauseVersionConflict
	case errors.Is(err, callbacks.ErrReceiptChanged):
		cause = CauseReceiptChanged
	}
	m.retries.WithLabelValues(provider, cause).Inc()
}

// Redriven implements callbacks.Observer.
func (m *Metrics) Redriven(provider string, action callbacks.Action, dryRun bool) {
	dry := "false"
	if dryRun {
		dry = "true"
	}
	m.replays.WithLabelValues(provider, string(action), dry).Inc()
}

// JobRun counts one run of a cron job and its duration.
func (m *Metrics) JobRun(job string, err error, took time.Duration) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.jobRuns.WithLabelValues(job, result).Inc()
	m.jobTime.WithLabelValues(job).Observe(took.Seconds())
}

// Reconciled counts one receipt the reconciler worked, by result
// (ReconcileApplied, ReconcileRescheduled, …).
func (m *Metrics) Reconciled(provider, result string) {
	m.reconciled.WithLabelValues(provider, result).Inc()
}

// backlogCollector reads the backlog on each scrape: one grouped count and
// one indexed single-row read per provider and status.
type backlogCollector struct {
	src       BacklogSource
	providers []string
	timeout   time.Duration
	log       *slog.Logger
}

var (
	unknownDesc = prometheus.NewDesc("gateway_unknown_receipts",
		"Receipts waiting in status unknown (P7), read from the database at scrape time.", []string{"provider"}, nil)
	unknownAgeDesc = prometheus.NewDesc("gateway_unknown_oldest_age_seconds",
		"Age of the oldest unknown receipt (0 when there is none).", []string{"provider"}, nil)
	escalatedDesc = prometheus.NewDesc("gateway_escalated_receipts",
		"Receipts escalated to operations (unknown past the reconciler's budget).", []string{"provider"}, nil)
	escalatedAgeDesc = prometheus.NewDesc("gateway_escalated_oldest_age_seconds",
		"Age of the oldest escalated receipt (0 when there is none).", []string{"provider"}, nil)
)

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- unknownDesc
	ch <- unknownAgeDesc
	ch <- escalatedDesc
	ch <- escalatedAgeDesc
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	rows, err := c.src.Backlog(ctx)
	if err != nil {
		c.log.Warn("metrics: backlog not read", "err", err)
		for _, d := range []*prometheus.Desc{unknownDesc, unknownAgeDesc, escalatedDesc, escalatedAgeDesc} {
			ch <- prometheus.NewInvalidMetric(d, err)
		}
		return
	}
	now := time.Now()
	type figures struct{ n, age float64 }
	by := map[callbacks.Status]map[string]figures{callbacks.StatusUnknown: {}, callbacks.StatusEscalated: {}}
	for _, p := range c.providers {
		by[callbacks.StatusUnknown][p], by[callbacks.StatusEscalated][p] = figures{}, figures{}
	}
	for _, r := range rows {
		if m, ok := by[r.Status]; ok {
			m[r.Provider] = figures{n: float64(r.Count), age: max(now.Sub(r.Oldest).Seconds(), 0)}
		}
	}
	for p, f := range by[callbacks.StatusUnknown] {
		ch <- prometheus.MustNewConstMetric(unknownDesc, prometheus.GaugeValue, f.n, p)
		ch <- prometheus.MustNewConstMetric(unknownAgeDesc, prometheus.GaugeValue, f.age, p)
	}
	for p, f := range by[callbacks.StatusEscalated] {
		ch <- prometheus.MustNewConstMetric(escalatedDesc, prometheus.GaugeValue, f.n, p)
		ch <- prometheus.MustNewConstMetric(escalatedAgeDesc, prometheus.GaugeValue, f.age, p)
	}
}
