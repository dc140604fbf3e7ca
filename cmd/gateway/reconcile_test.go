package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"gateway/callbacks"
	"gateway/callbacks/callbackstest"
	"gateway/config"
)

// TestReconcileCommand: `gateway reconcile --once` settles an unknown
// receipt whose order now exists and prints what it did.
func TestReconcileCommand(t *testing.T) {
	eachDialect(t, func(t *testing.T, env map[string]string) {
		if _, err := runCmd(t, env, "reconcile"); err == nil || !strings.Contains(err.Error(), "--once") {
			t.Errorf("reconcile without --once: %v", err)
		}
		db := openStore(t, env)
		e := callbackstest.New(t, db, callbacks.Config{})
		id := e.Pay(t, "K1", 800, "USD").Receipt.ID // parked: no order yet
		e.Order(t, "K1", 800, "USD")

		out, err := runCmd(t, env, "reconcile", "--once")
		if err != nil {
			t.Fatalf("reconcile --once: %v\n%s", err, out)
		}
		if !strings.Contains(out, "unknown receipts: due 1, claimed 1 (taken by another instance 0): applied 1,") {
			t.Errorf("output:\n%s", out)
		}
		r, err := db.ReceiptByID(context.Background(), id)
		if err != nil || r.Status != callbacks.StatusApplied || r.Attempts != 1 {
			t.Errorf("receipt after the run: %s, %d attempts, %v", r.Status, r.Attempts, err)
		}
		if out, err := runCmd(t, env, "reconcile", "--once"); err != nil || !strings.Contains(out, "due 0") {
			t.Errorf("second run: %v\n%s", err, out)
		}
	})
}

// TestServeRunsReconciler: `gateway serve` runs the reconciler on
// reconcile.schedule and counts its runs.
func TestServeRunsReconciler(t *testing.T) {
	eachDialect(t, func(t *testing.T, env map[string]string) {
		env["GATEWAY_HTTP_ADDR"] = "127.0.0.1:0"
		env["GATEWAY_RECONCILE_SCHEDULE"] = "@every 1s"
		db := openStore(t, env)
		e := callbackstest.New(t, db, callbacks.Config{})
		id := e.Pay(t, "K2", 800, "USD").Receipt.ID
		e.Order(t, "K2", 800, "USD")

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		logs := &lockedBuffer{}
		done := make(chan error, 1)
		go func() { done <- run(ctx, []string{"serve"}, getenv(env), logs) }()
		waitFor(t, done, logs, func(line map[string]any) (string, bool) {
			return "", line["msg"] == "unknown receipt settled" && line["receipt"] == float64(id)
		})
		stopServe(t, cancel, done)
		if r, err := db.ReceiptByID(context.Background(), id); err != nil || r.Status != callbacks.StatusApplied {
			t.Errorf("receipt: %s %v", r.Status, err)
		}
	})
}

// stopServe cancels a running serve and waits for it to return cleanly.
func stopServe(t *testing.T, cancel context.CancelFunc, done chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop")
	}
}

// TestReconcileConfig: the reconcile section and the providers' own
// schedules reach the reconciler, and the pipeline parks unknown receipts
// for the first step of the provider's schedule.
func TestReconcileConfig(t *testing.T) {
	c, err := config.Load("", getenv(map[string]string{
		"GATEWAY_RECONCILE_BACKOFF":                  "30s,2m",
		"GATEWAY_RECONCILE_SWEEP_AFTER":              "1h",
		"GATEWAY_PROVIDERS_STRIPE_WEBHOOK_SECRETS":   "whsec_x",
		"GATEWAY_PROVIDERS_STRIPE_RECONCILE_BACKOFF": "10s,20s,40s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	rc := reconcileConfig(c)
	if got := rc.Schedule("stripe"); len(got) != 3 || got[0] != 10*time.Second || got[2] != 40*time.Second {
		t.Errorf("stripe schedule %v", got)
	}
	if got := rc.Schedule("alipay"); len(got) != 2 || got[0] != 30*time.Second || got[1] != 2*time.Minute {
		t.Errorf("default schedule %v", got)
	}
	if rc.SweepAfter != time.Hour || rc.Lease != 5*time.Minute || rc.Batch != 500 {
		t.Errorf("config %+v", rc)
	}
	if fc := rc.FirstChecks(); len(fc) != 1 || fc["stripe"] != 10*time.Second {
		t.Errorf("first checks %v", fc)
	}
}
