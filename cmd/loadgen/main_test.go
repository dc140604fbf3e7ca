package main

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"regexp"
	"strings"
	"testing"

	"gateway/store"
	"gateway/store/storetest"
)

func TestFlags(t *testing.T) {
	running := []string{"--gateway", "http://127.0.0.1:8080", "--dsn", "root@tcp(127.0.0.1:3306)/g", "--stripe-secret", "whsec_x"}
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"self", []string{"--self"}, ""},
		{"running gateway, orders through the API", append(running, "--api-token", "t"), ""},
		{"running gateway, bulk orders", append(running, "--bulk-orders"), ""},
		{"running gateway without a token", running, "--api-token is required"},
		{"neither self nor a gateway", nil, "--gateway, --dsn and --stripe-secret are required"},
		{"self and a gateway", []string{"--self", "--gateway", "http://x"}, "drop --gateway"},
		{"zero orders", []string{"--self", "--orders", "0"}, "--orders"},
		{"zero rounds", []string{"--self", "--rounds", "0"}, "--rounds"},
		{"no concurrency", []string{"--self", "--concurrency", "0"}, "--concurrency"},
		{"duplicate ratio of one never ends", []string{"--self", "--dup-ratio", "1"}, "--dup-ratio"},
		{"negative duplicates", []string{"--self", "--duplicates", "-1"}, "must not be negative"},
		{"burst of zero", []string{"--self", "--burst", "0"}, "--burst"},
		{"no phase limit", []string{"--self", "--phase-limit", "0s"}, "--phase-limit"},
		{"count-sql without self", append(running, "--bulk-orders", "--count-sql"), "--count-sql needs --self"},
		{"standard webhooks without self", append(running, "--bulk-orders", "--standard-webhooks"), "--standard-webhooks needs --self"},
		{"prefill without self", append(running, "--bulk-orders", "--prefill", "10"), "--prefill needs --self"},
		{"stray argument", []string{"--self", "extra"}, "unexpected arguments"},
		{"unknown flag", []string{"--self", "--nope"}, "not defined"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, io.Discard)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}

// TestSelfRun runs the whole tool at a small size: it builds and starts a
// gateway on a fresh MariaDB database, drives every phase (Stripe and
// Standard Webhooks, bursts, re-deliveries, half rate, a small pre-fill),
// checks the database, reports, and drops the database.
func TestSelfRun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run against MariaDB skipped under -short")
	}
	ctx := context.Background()
	bin, err := buildGateway(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	args := []string{"--self", "--gateway-bin", bin, "--mysql", storetest.ServerDSN(), "--standard-webhooks",
		"--orders", "80", "--rounds", "2", "--concurrency", "4", "--duplicates", "200", "--storm-orders", "40", "--burst", "3",
		"--dup-ratio", "0.5", "--half-for", "1s", "--prefill", "3000", "--gateway-log-level", "warn", "--count-sql"}
	if err := run(ctx, args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"innodb_flush_log_at_trx_commit=",
		"acme (standard webhooks",
		"unique/baseline by round:", "duplicate/unique:", "flat cost by round:", "gateway memory:           peak sampled VmRSS",
		"p99 ≤ 20 ms at half the peak rate", "resident memory ≤ 80 MiB at peak",
		"SQL commands per acknowledged callback",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// Both gateways' databases were checked and kept every promise.
	if n := strings.Count(got, "every acknowledged order paid exactly once, two legs per posting, ledger balanced per currency"); n != 2 {
		t.Errorf("%d passing database checks, want 2 (the run's and the pre-filled one):\n%s", n, got)
	}
	// Every phase acknowledged everything it sent.
	row := regexp.MustCompile(`(?m)^\s*(baseline#\d|unique#\d|duplicate|storm d=0.50 b=3|half @\S+|empty#\d|filled#\d)\s+(\d+)\s+(\d+)\s`)
	rows := row.FindAllStringSubmatch(got, -1)
	if len(rows) != 11 {
		t.Errorf("%d phase rows, want 11:\n%s", len(rows), got)
	}
	for _, r := range rows {
		if r[2] != r[3] || r[2] == "0" {
			t.Errorf("phase %s: sent %s, acknowledged %s", r[1], r[2], r[3])
		}
	}
	// The baseline's transaction is the one the issue describes, counted
	// on the wire: START, INSERT receipt, SELECT order, UPDATE order,
	// INSERT legs, UPDATE receipt, COMMIT.
	if !regexp.MustCompile(`baseline#1\s+7\.\d\d\s+5\.00\s+INSERT 2\.00, UPDATE 2\.00, COMMIT 1\.00, SELECT 1\.00, START 1\.00`).MatchString(got) {
		t.Errorf("baseline's SQL per transaction is not the plain transaction:\n%s", got)
	}
	// The fresh databases are gone.
	names := regexp.MustCompile(`on database (loadgen_[0-9a-f]+)`).FindAllStringSubmatch(got, -1)
	if len(names) != 2 {
		t.Fatalf("%d database names in the output, want 2:\n%s", len(names), got)
	}
	dsn, err := store.MySQLDSN(storetest.ServerDSN())
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, name := range names {
		var n int
		if err := admin.QueryRow("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", name[1]).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("database %s was not dropped", name[1])
		}
	}
}

// TestSelfRunStopsByItself gives the tool far more work than --max-run
// allows: it must stop on its own, check what it sent, and report.
func TestSelfRunStopsByItself(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run against MariaDB skipped under -short")
	}
	bin, err := buildGateway(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	args := []string{"--self", "--gateway-bin", bin, "--mysql", storetest.ServerDSN(), "--bulk-orders",
		"--orders", "50000", "--warmup", "50", "--concurrency", "4", "--max-run", "15s", "--gateway-log-level", "warn"}
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{"stopped at --max-run 15s", "every acknowledged order paid exactly once"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
