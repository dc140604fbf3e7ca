package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"
)

// newCron returns the scheduler of `gateway serve`: schedules in UTC, a
// job that is still running when it is due again is skipped (a job never
// overlaps itself), and a panicking job is logged, not fatal.
func newCron(log *slog.Logger) *cron.Cron {
	l := cronLogger{log.With("component", "cron")}
	return cron.New(cron.WithLocation(time.UTC), cron.WithLogger(l),
		cron.WithChain(cron.Recover(l), cron.SkipIfStillRunning(l)))
}

// scheduleJobs adds the gateway's cron jobs to c. Every replica runs them;
// each job claims its work in the database, so that is safe.
func scheduleJobs(c *cron.Cron, a *app) error {
	if err := addJob(c, a, "reconcile", a.cfg.Reconcile.Schedule, func(ctx context.Context) error {
		_, err := a.reconcile.Run(ctx)
		return err
	}); err != nil {
		return err
	}
	if err := addJob(c, a, "report_daily", a.cfg.Reports.DailySchedule, func(ctx context.Context) error {
		_, err := a.reports.StoreDaily(ctx)
		return err
	}); err != nil {
		return err
	}
	// Expired idempotency keys and form tokens; deletes are idempotent.
	return addJob(c, a, "workflow_cleanup", workflowCleanupSchedule, func(ctx context.Context) error {
		n, err := a.submissions.Cleanup(ctx, time.Now())
		if n > 0 {
			a.log.Info("workflow cleanup", "deleted", n)
		}
		return err
	})
}

// jobTimeout bounds one run of a job.
const jobTimeout = 10 * time.Minute

// addJob schedules fn under name: each run gets its own context (not the
// server's, so shutdown lets a running job finish: <-c.Stop().Done()), is
// timed and counted in gateway_job_runs_total, and its error is logged.
func addJob(c *cron.Cron, a *app, name, spec string, fn func(ctx context.Context) error) error {
	_, err := c.AddFunc(spec, func() {
		ctx, cancel := context.WithTimeout(context.Background(), jobTimeout)
		defer cancel()
		start := time.Now()
		err := fn(ctx)
		a.metrics.JobRun(name, err, time.Since(start))
		if err != nil {
			a.log.Error("cron job failed", "job", name, "err", err)
		}
	})
	if err != nil {
		return fmt.Errorf("cron job %s: schedule %q: %w", name, spec, err)
	}
	return nil
}

// cronLogger adapts slog to cron.Logger.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug(msg, kv...) }

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error(msg, append(kv, "err", err)...)
}
