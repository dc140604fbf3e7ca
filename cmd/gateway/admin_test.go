package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gateway/callbacks"
	"gateway/callbacks/callbackstest"
	"gateway/store"
	"gateway/store/storetest"
)

// eachDialect runs fn on a fresh, empty database of every dialect, with
// the environment a gateway process would get.
func eachDialect(t *testing.T, fn func(t *testing.T, env map[string]string)) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			driver, dsn := storetest.DSN(t, d)
			fn(t, map[string]string{
				"GATEWAY_DATABASE_DRIVER":                  driver,
				"GATEWAY_DATABASE_DSN":                     dsn,
				"GATEWAY_PROVIDERS_STRIPE_WEBHOOK_SECRETS": callbackstest.StripeSecret,
				"USER": "alice",
			})
		})
	}
}

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func openStore(t *testing.T, env map[string]string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), env["GATEWAY_DATABASE_DRIVER"], env["GATEWAY_DATABASE_DSN"], store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func runCmd(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, getenv(env), &out)
	return out.String(), err
}

func TestReplayAndReportCommands(t *testing.T) {
	eachDialect(t, func(t *testing.T, env map[string]string) {
		db := openStore(t, env)
		e := callbackstest.New(t, db, callbacks.Config{})
		first := e.Pay(t, "C1", 1200, "USD").Receipt.ID
		e.Pay(t, "C2", 3400, "USD")
		e.Order(t, "C1", 1200, "USD")
		e.Order(t, "C2", 3400, "USD")

		rows := storetest.Counts(t, db)
		out, err := runCmd(t, env, "replay", "--id", strconv.FormatInt(first, 10), "--dry-run")
		if err != nil {
			t.Fatalf("replay --dry-run: %v\n%s", err, out)
		}
		if !strings.HasPrefix(out, "dry run: receipt "+strconv.FormatInt(first, 10)+" stripe pi_C1:payment.succeeded: unknown → applied") ||
			!strings.Contains(out, "order C1 after:  paid v2 paid 1200") {
			t.Errorf("dry run output:\n%s", out)
		}
		rows["audit_log"]++
		if got := storetest.Counts(t, db); got["audit_log"] != rows["audit_log"] || got["ledger_entries"] != rows["ledger_entries"] ||
			got["orders"] != rows["orders"] || got["callback_receipts"] != rows["callback_receipts"] {
			t.Errorf("dry run rows %v, want %v", got, rows)
		}

		out, err = runCmd(t, env, "replay", "--status", "unknown", "--provider", "stripe", "--limit", "10")
		if err != nil {
			t.Fatalf("bulk replay: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "[1/2] receipt") || !strings.HasSuffix(lines[1], "unknown → applied") ||
			lines[2] != "selected 2, done 2, failed 0; applied 2" {
			t.Errorf("bulk replay output:\n%s", out)
		}
		if n := storetest.Counts(t, db)["ledger_entries"]; n != 4 {
			t.Errorf("%d ledger legs, want 4", n)
		}
		var actor, via string
		if err := db.SQL().QueryRow("SELECT actor, via FROM audit_log WHERE action = 'callbacks.replay_bulk'").Scan(&actor, &via); err != nil ||
			actor != "cli:alice" || via != "cli" {
			t.Errorf("bulk audit row: %q %q %v", actor, via, err)
		}

		// The payments were posted when they were replayed, now.
		now := time.Now().UTC()
		out, err = runCmd(t, env, "report", "--from", now.Add(-time.Hour).Format(time.RFC3339), "--to", now.Add(time.Hour).Format(time.RFC3339), "--format", "csv")
		if err != nil {
			t.Fatalf("report: %v\n%s", err, out)
		}
		records, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("csv: %v\n%s", err, out)
		}
		found := false
		for _, r := range records {
			if r[0] == "payments" && r[1] == "stripe" && r[3] == "USD" {
				found = r[4] == "2" && r[5] == "4600" && r[6] == "46.00"
			}
		}
		if !found {
			t.Errorf("no payments row of 2 postings, 4600 USD:\n%s", out)
		}
		// The receipts were first seen on the test clock's day.
		out, err = runCmd(t, env, "report", "--from", "2025-03-10", "--to", "2025-03-11")
		var js struct {
			Providers []struct {
				Outcomes struct{ Applied int } `json:"outcomes"`
			} `json:"providers"`
		}
		if err != nil || json.Unmarshal([]byte(out), &js) != nil || len(js.Providers) != 1 || js.Providers[0].Outcomes.Applied != 2 {
			t.Errorf("json report: %v\n%s", err, out)
		}
		if out, err := runCmd(t, env, "report", "--daily"); err != nil || !strings.HasPrefix(out, "daily reports stored: [") {
			t.Errorf("report --daily: %v %s", err, out)
		}

		for _, args := range [][]string{
			{"replay"},
			{"replay", "--id", "1", "--status", "unknown"},
			{"replay", "--status", "applied"},
			{"replay", "--id", "999999"},
			{"replay", "--status", "unknown", "--from", "soon"},
			{"report", "--from", "2025-03-10"},
			{"report", "--from", "2025-03-10", "--to", "2025-03-11", "--format", "xml"},
		} {
			if out, err := runCmd(t, env, args...); err == nil {
				t.Errorf("%v: no error\n%s", args, out)
			}
		}
	})
}

// lockedBuffer is an io.Writer for a server's logs, read while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeRunsCronJobs starts the whole gateway on :0 with the daily report
// job due every second, sees it store reports and count its runs in
// /metrics, and stops it: shutdown drains HTTP, then waits for the job.
func TestServeRunsCronJobs(t *testing.T) {
	eachDialect(t, func(t *testing.T, env map[string]string) {
		env["GATEWAY_HTTP_ADDR"] = "127.0.0.1:0"
		env["GATEWAY_AUTH_ADMIN_TOKENS"] = "ops:admin-token-0123456789"
		env["GATEWAY_REPORTS_DAILY_SCHEDULE"] = "@every 1s"
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		logs := &lockedBuffer{}
		done := make(chan error, 1)
		go func() { done <- run(ctx, []string{"serve"}, getenv(env), logs) }()

		addr := waitFor(t, done, logs, func(line map[string]any) (string, bool) {
			a, ok := line["addr"].(string)
			return a, ok && line["msg"] == "listening"
		})
		waitFor(t, done, logs, func(line map[string]any) (string, bool) {
			return "", line["msg"] == "daily reconciliation report stored"
		})
		// The run is counted when the job returns, just after that line.
		var body []byte
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
			req.Header.Set("Authorization", "Bearer admin-token-0123456789")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
			}
			if strings.Contains(string(body), `gateway_job_runs_total{job="report_daily",result="ok"}`) {
				break
			}
		}
		if !strings.Contains(string(body), `gateway_job_runs_total{job="report_daily",result="ok"}`) {
			t.Errorf("/metrics has no report_daily run:\n%.3000s", body)
		}
		if resp, err := http.Get("http://" + addr + "/metrics"); err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("/metrics without a token: %v %v", resp, err)
		}

		stopServe(t, cancel, done)
		if !strings.Contains(logs.String(), `"msg":"waiting for running cron jobs"`) {
			t.Errorf("shutdown did not stop the scheduler:\n%s", logs)
		}
		db := openStore(t, env)
		if n := storetest.Counts(t, db)["reconciliation_reports"]; n != 7 {
			t.Errorf("%d daily reports stored, want the last 7 days", n)
		}
	})
}

// waitFor reads the server's JSON log lines until match finds one; it fails
// if the server stops first or nothing matches within a minute.
func waitFor(t *testing.T, done chan error, logs *lockedBuffer, match func(map[string]any) (string, bool)) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				if v, ok := match(line); ok {
					return v
				}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v\n%s", err, logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no matching log line in a minute:\n%s", logs)
	return ""
}
