package main

import (
	"os"
	"testing"

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
