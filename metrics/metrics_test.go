package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/metrics"
)

type backlog struct {
	rows []callbacks.Backlog
	err  error
}

func (b backlog) Backlog(context.Context) ([]callbacks.Backlog, error) { return b.rows, b.err }

func scrape(t *testing.T, m *metrics.Metrics) (int, string) {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestObserverClassifies(t *testing.T) {
	m := metrics.New(metrics.Options{Providers: []string{"p"}})
	applied := callbacks.Outcome{Receipt: callbacks.Receipt{Status: callbacks.StatusApplied}}
	unknownDup := callbacks.Outcome{Receipt: callbacks.Receipt{Status: callbacks.StatusUnknown}, Duplicate: true}
	m.Delivered("p", []callbacks.Outcome{applied, unknownDup}, nil, 3*time.Millisecond)
	m.Delivered("p", nil, callbacks.ErrSignature, time.Millisecond)
	m.Delivered("p", nil, callbacks.ErrMalformed, time.Millisecond)
	m.Delivered("p", []callbacks.Outcome{applied}, callbacks.ErrTransient, time.Millisecond)
	m.Retried("p", ledger.ErrVersionConflict)
	m.Retried("p", callbacks.ErrReceiptChanged)
	m.Retried("p", errors.New("deadlock"))
	m.Redriven("p", callbacks.ActionApplied, false)

	_, body := scrape(t, m)
	for _, want := range []string{
		`gateway_callbacks_total{outcome="applied",provider="p"} 2`,
		`gateway_callbacks_total{outcome="duplicate",provider="p"} 1`,
		`gateway_callbacks_total{outcome="refused",provider="p"} 2`,
		`gateway_callbacks_total{outcome="error",provider="p"} 1`,
		`gateway_callback_duplicates_total{provider="p",status="unknown"} 1`,
		`gateway_callback_signature_failures_total{provider="p"} 1`,
		`gateway_callback_duration_seconds_count{provider="p"} 4`,
		`gateway_callback_retries_total{cause="version_conflict",provider="p"} 1`,
		`gateway_callback_retries_total{cause="receipt_changed",provider="p"} 1`,
		`gateway_callback_retries_total{cause="temporary",provider="p"} 1`,
		`gateway_replays_total{action="applied",dry_run="false",provider="p"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
}

func TestBacklogGauges(t *testing.T) {
	oldest := time.Now().Add(-90 * time.Minute)
	t.Run("read on scrape", func(t *testing.T) {
		m := metrics.New(metrics.Options{Providers: []string{"a", "b"}, Backlog: backlog{rows: []callbacks.Backlog{
			{Provider: "a", Status: callbacks.StatusUnknown, Count: 3, Oldest: oldest},
			{Provider: "a", Status: callbacks.StatusEscalated, Count: 1, Oldest: oldest},
		}}})
		code, body := scrape(t, m)
		if code != http.StatusOK {
			t.Fatalf("scrape: %d", code)
		}
		for _, want := range []string{
			`gateway_unknown_receipts{provider="a"} 3`, `gateway_unknown_receipts{provider="b"} 0`,
			`gateway_escalated_receipts{provider="a"} 1`, `gateway_unknown_oldest_age_seconds{provider="b"} 0`,
		} {
			if !strings.Contains(body, want+"\n") {
				t.Errorf("missing %s", want)
			}
		}
		age := regexp.MustCompile(`gateway_unknown_oldest_age_seconds\{provider="a"\} (\S+)`).FindStringSubmatch(body)
		if age == nil || !strings.HasPrefix(age[1], "540") {
			t.Errorf("oldest age: %v, want about 5400 seconds", age)
		}
	})
	t.Run("database down", func(t *testing.T) {
		m := metrics.New(metrics.Options{Providers: []string{"a"}, Backlog: backlog{err: errors.New("connection refused")}})
		code, body := scrape(t, m)
		if code != http.StatusOK || strings.Contains(body, "gateway_unknown_receipts{") || !strings.Contains(body, "gateway_callbacks_total") {
			t.Errorf("scrape with the database down: %d, want 200 with the other metrics and no backlog\n%s", code, body)
		}
	})
}

// TestDashboardMatchesMetrics keeps docs/grafana-dashboard.json in step
// with the metrics: every metric a panel queries exists.
func TestDashboardMatchesMetrics(t *testing.T) {
	b, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	m := metrics.New(metrics.Options{Providers: []string{"p"}, Backlog: backlog{}})
	// Touch every vector so that each family is exposed.
	m.Delivered("p", []callbacks.Outcome{{Duplicate: true}}, nil, time.Millisecond)
	m.Redriven("p", callbacks.ActionNoop, false)
	m.JobRun("j", nil, time.Second)
	m.Reconciled("p", metrics.ReconcileApplied)
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]bool{}
	for _, f := range families {
		n := f.GetName()
		exposed[n] = true
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			exposed[n+s] = true
		}
	}
	ids := map[int]bool{}
	queried := map[string]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names := regexp.MustCompile(`gateway_[a-z_]+`).FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: %q queries no gateway metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				queried[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")] = true
				if !exposed[n] {
					t.Errorf("panel %q queries %s, which the gateway does not expose", p.Title, n)
				}
			}
		}
	}
	for _, f := range families {
		if n := f.GetName(); strings.HasPrefix(n, "gateway_") && !queried[n] {
			t.Errorf("metric %s is on no panel", n)
		}
	}
}
