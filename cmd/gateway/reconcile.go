package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"gateway/config"
	"gateway/reconcile"
)

// reconcileConfig is the reconciler's configuration from the gateway's.
func reconcileConfig(c config.Config) reconcile.Config {
	durations := func(ds []config.Duration) []time.Duration {
		out := make([]time.Duration, len(ds))
		for i, d := range ds {
			out[i] = time.Duration(d)
		}
		return out
	}
	r := c.Reconcile
	rc := reconcile.Config{Backoff: durations(r.Backoff), Providers: map[string][]time.Duration{},
		Lease: time.Duration(r.Lease), QueryTimeout: time.Duration(r.QueryTimeout), Batch: r.Batch, Workers: r.Workers,
		SweepAfter: time.Duration(r.SweepAfter), SweepBatch: r.SweepBatch}
	for name, p := range c.Providers {
		if p != nil && len(p.ReconcileBackoff) > 0 {
			rc.Providers[name] = durations(p.ReconcileBackoff)
		}
	}
	return rc
}

// reconcileCmd is `gateway reconcile --once`: one run of the reconciler
// job, as `gateway serve` runs it on reconcile.schedule. It is safe while
// gateways are serving: the work is claimed with leases in the database.
func reconcileCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var once bool
	_, cfgPath, err := flags("reconcile", args, stdout, func(fs *flag.FlagSet) {
		fs.BoolVar(&once, "once", false, "run the reconciler once and exit")
	})
	if err != nil {
		return err
	}
	if !once {
		return errors.New("reconcile: give --once (gateway serve runs the reconciler on reconcile.schedule)")
	}
	a, err := openAdmin(ctx, *cfgPath, getenv)
	if err != nil {
		return err
	}
	defer a.close(context.Background())
	sum, err := a.reconcile.Run(ctx)
	printSummary(stdout, a.reconcile.Owner(), sum)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	return nil
}

func printSummary(w io.Writer, owner string, s reconcile.Summary) {
	fmt.Fprintf(w, "reconciler %s\n", owner)
	fmt.Fprintf(w, "unknown receipts: due %d, claimed %d (taken by another instance %d): applied %d, rejected %d, rescheduled %d, escalated %d; failed on the gateway's side %d\n",
		s.Due, s.Claimed, s.Lost, s.Applied, s.Rejected, s.Rescheduled, s.Escalated, s.Errors)
	fmt.Fprintf(w, "sweep: candidates %d, asked %d: paid %d, closed %d, rejected %d, open %d, done %d\n",
		s.SweepCandidates, s.Swept, s.SweepPaid, s.SweepClosed, s.SweepRejected, s.SweepOpen, s.SweepDone)
}
