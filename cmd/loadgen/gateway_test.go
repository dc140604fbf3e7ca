package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseStatus(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    memory
		wantErr bool
	}{
		{"proc status", "Name:\tgateway\nVmPeak:\t 1234 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n",
			memory{RSS: 20 << 20, HWM: 40 << 20}, false},
		{"no memory lines (a kernel thread)", "Name:\tkthreadd\nThreads:\t1\n", memory{}, true},
		{"unexpected unit", "VmHWM:\t 1 MB\nVmRSS:\t 1 kB\n", memory{}, true},
		{"not a number", "VmHWM:\t x kB\nVmRSS:\t 1 kB\n", memory{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatus([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadMemoryOfThisProcess(t *testing.T) {
	m, err := readMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Errorf("rss %d hwm %d", m.RSS, m.HWM)
	}
}

func TestChildEnvDropsGatewayVariables(t *testing.T) {
	got := childEnv([]string{"PATH=/bin", "GATEWAY_DATABASE_DSN=x", "HOME=/root", "GATEWAY_CONFIG=/etc/g.yaml"})
	if diff := cmp.Diff([]string{"PATH=/bin", "HOME=/root"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestParseStatCPU(t *testing.T) {
	cases := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"plain", "7207 (cat) R 7205 7205 26841 0 -1 4194304 122 0 0 0 250 31 0 0 20 0 1", 2810 * time.Millisecond, false},
		{"command with spaces and parentheses", "42 (my (odd) cmd) S 1 1 1 0 -1 0 0 0 0 0 7 3 0 0", 100 * time.Millisecond, false},
		{"truncated", "42 (x) S 1 1", 0, true},
		{"no command", "42 x S", 0, true},
		{"not numbers", "42 (x) S 1 1 1 0 -1 0 0 0 0 0 a b 0 0", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.in))
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("parseStatCPU = %v, %v; want %v (error %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestProcessCPUOfThisProcess(t *testing.T) {
	deadline := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	d, err := processCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if d <= 0 || selfCPU() <= 0 {
		t.Errorf("cpu %v self %v after a busy loop", d, selfCPU())
	}
}

func TestServerPID(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		file string
		want int
	}{
		{"no pid file", filepath.Join(dir, "none"), 0},
		{"not a number", write("junk", "abc\n"), 0},
		{"a process that is not a database server (this test)", write("self", strconv.Itoa(os.Getpid())+"\n"), 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := serverPID(tc.file); got != tc.want {
				t.Errorf("serverPID = %d, want %d", got, tc.want)
			}
		})
	}
}
