package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/config"
)

func TestReconcileSettings(t *testing.T) {
	const stripe = "providers: {stripe: {webhook_secrets: [whsec_x], reconcile_backoff: [10s, 20s]}}\n"
	t.Run("yaml", func(t *testing.T) {
		c, err := config.Parse([]byte(stripe + `reconcile: {schedule: "@every 30s", backoff: [30s, 2m, 1h], lease: 10m, query_timeout: 1m,
  batch: 50, workers: 2, sweep_after: 1h, sweep_batch: 10}`))
		if err != nil {
			t.Fatal(err)
		}
		want := config.Reconcile{Schedule: "@every 30s", Backoff: []config.Duration{dur(30 * time.Second), dur(2 * time.Minute), dur(time.Hour)},
			Lease: dur(10 * time.Minute), QueryTimeout: dur(time.Minute), Batch: 50, Workers: 2, SweepAfter: dur(time.Hour), SweepBatch: 10}
		if diff := cmp.Diff(want, c.Reconcile); diff != "" {
			t.Errorf("reconcile (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]config.Duration{dur(10 * time.Second), dur(20 * time.Second)}, c.Providers["stripe"].ReconcileBackoff); diff != "" {
			t.Errorf("stripe's schedule (-want +got):\n%s", diff)
		}
	})
	t.Run("a shorter list replaces the default", func(t *testing.T) {
		c, err := config.Parse([]byte("reconcile: {backoff: [5m]}"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]config.Duration{dur(5 * time.Minute)}, c.Reconcile.Backoff); diff != "" {
			t.Errorf("backoff (-want +got):\n%s", diff)
		}
	})
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []config.Duration
	}{
		{"comma separated", map[string]string{"GATEWAY_RECONCILE_BACKOFF": "1m, 90s"}, []config.Duration{dur(time.Minute), dur(90 * time.Second)}},
		{"JSON array", map[string]string{"GATEWAY_RECONCILE_BACKOFF": `["2m","3h"]`}, []config.Duration{dur(2 * time.Minute), dur(3 * time.Hour)}},
	} {
		t.Run("environment, "+tc.name, func(t *testing.T) {
			e := map[string]string{"GATEWAY_PROVIDERS_PAYPAL_WEBHOOK_ID": "WH-1", "GATEWAY_PROVIDERS_PAYPAL_CERTIFICATES": "/etc/cert.pem",
				"GATEWAY_PROVIDERS_PAYPAL_RECONCILE_BACKOFF": "1h,2h", "GATEWAY_RECONCILE_SWEEP_AFTER": "45m"}
			for k, v := range tc.env {
				e[k] = v
			}
			c, err := config.Load("", env(e))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, c.Reconcile.Backoff); diff != "" {
				t.Errorf("backoff (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]config.Duration{dur(time.Hour), dur(2 * time.Hour)}, c.Providers["paypal"].ReconcileBackoff); diff != "" {
				t.Errorf("paypal's schedule (-want +got):\n%s", diff)
			}
			if c.Reconcile.SweepAfter != dur(45*time.Minute) {
				t.Errorf("sweep_after %v", c.Reconcile.SweepAfter)
			}
		})
	}
	t.Run("masked output shows the schedule", func(t *testing.T) {
		c, err := config.Parse([]byte(stripe))
		if err != nil {
			t.Fatal(err)
		}
		if m := c.Masked(); !strings.Contains(m, "- 1m0s\n") || !strings.Contains(m, "- 24h0m0s\n") || !strings.Contains(m, "reconcile_backoff:") {
			t.Errorf("masked:\n%s", m)
		}
	})

	long := "reconcile: {backoff: [" + strings.Repeat("1m, ", 50) + "1m]}"
	for _, tc := range []struct {
		name string
		yaml string
		env  map[string]string
		want string
	}{
		{"empty backoff", "reconcile: {backoff: []}", nil, "reconcile.backoff: want 1 to 50 durations"},
		{"too long a backoff", long, nil, "reconcile.backoff: want 1 to 50 durations (e.g. [1m, 5m, 15m, 1h, 6h, 24h]), got 51"},
		{"zero wait", "reconcile: {backoff: [1m, 0s]}", nil, "reconcile.backoff: [1]: must be a positive duration"},
		{"not a duration", "reconcile: {backoff: [1m, soon]}", nil, `reconcile.backoff: bad duration "soon"`},
		{"not a list", "reconcile: {backoff: 1m}", nil, "reconcile.backoff"},
		{"env not a duration", "", map[string]string{"GATEWAY_RECONCILE_BACKOFF": "1m,soon"},
			`reconcile.backoff (from GATEWAY_RECONCILE_BACKOFF): [1]: bad duration "soon"`},
		{"short lease", "reconcile: {lease: 1m, query_timeout: 30s}", nil, "reconcile.lease: 1m0s is too short"},
		{"zero query timeout", "reconcile: {query_timeout: 0s}", nil, "reconcile.query_timeout: must be a positive duration"},
		{"zero batch", "reconcile: {batch: 0}", nil, "reconcile.batch: must be between 1 and 10000"},
		{"too many workers", "reconcile: {workers: 65}", nil, "reconcile.workers: must be between 1 and 64"},
		{"zero sweep age", "reconcile: {sweep_after: 0s}", nil, "reconcile.sweep_after: must be a positive duration"},
		{"negative sweep batch", "reconcile: {sweep_batch: -1}", nil, "reconcile.sweep_batch: must be between 1 and 10000"},
		{"provider's zero wait", "providers: {stripe: {webhook_secrets: [whsec_x], reconcile_backoff: [-1m]}}", nil,
			"providers.stripe.reconcile_backoff: [0]: must be a positive duration"},
		{"provider's empty list", "providers: {stripe: {webhook_secrets: [whsec_x], reconcile_backoff: []}}", nil,
			"providers.stripe.reconcile_backoff: want 1 to 50 durations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.yaml != "" {
				_, err = config.Parse([]byte(tc.yaml))
			} else {
				_, err = config.Load("", env(tc.env))
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
