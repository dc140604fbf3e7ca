package config_test

import (
	"strings"
	"testing"

	"gateway/config"
)

func TestOpsSettings(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	t.Run("defaults", func(t *testing.T) {
		c, err := config.Load("", env(nil))
		if err != nil {
			t.Fatal(err)
		}
		if c.HTTP.MetricsPublic || c.Reports.DailySchedule != "10 0 * * *" {
			t.Errorf("metrics_public %t, daily_schedule %q; want false and 10 0 * * *", c.HTTP.MetricsPublic, c.Reports.DailySchedule)
		}
	})
	t.Run("environment", func(t *testing.T) {
		c, err := config.Load("", env(map[string]string{"GATEWAY_HTTP_METRICS_PUBLIC": "true", "GATEWAY_REPORTS_DAILY_SCHEDULE": "@daily"}))
		if err != nil {
			t.Fatal(err)
		}
		if !c.HTTP.MetricsPublic || c.Reports.DailySchedule != "@daily" {
			t.Errorf("metrics_public %t, daily_schedule %q", c.HTTP.MetricsPublic, c.Reports.DailySchedule)
		}
	})
	for _, tc := range []struct {
		name string
		env  map[string]string
		yaml string
		want string
	}{
		{"bad bool", map[string]string{"GATEWAY_HTTP_METRICS_PUBLIC": "yes please"}, "", "http.metrics_public"},
		{"bad schedule", map[string]string{"GATEWAY_REPORTS_DAILY_SCHEDULE": "every day"}, "", "reports.daily_schedule"},
		{"yaml", nil, "reports: {daily_schedule: \"61 * * * *\"}", "reports.daily_schedule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.yaml != "" {
				_, err = config.Parse([]byte(tc.yaml))
			} else {
				_, err = config.Load("", env(tc.env))
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}
