package main

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPercentile(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		out := make([]time.Duration, len(xs))
		for i, x := range xs {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	cases := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"no samples", nil, 99, 0},
		{"one sample is every percentile", ms(7), 50, 7 * time.Millisecond},
		{"one sample p99", ms(7), 99, 7 * time.Millisecond},
		{"p0 is the smallest", ms(1, 2, 3), 0, 1 * time.Millisecond},
		{"p100 is the largest", ms(1, 2, 3), 100, 3 * time.Millisecond},
		{"median of four is the second (nearest rank)", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p50 of 1..100", ms(hundred...), 50, 50 * time.Millisecond},
		{"p95 of 1..100", ms(hundred...), 95, 95 * time.Millisecond},
		{"p99 of 1..100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p99 of ten is the largest", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"p90 of ten", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 90, 9 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(%v, %v) = %v, want %v", tc.sorted, tc.p, got, tc.want)
			}
		})
	}
}

func TestSummarizeSortsACopy(t *testing.T) {
	in := []time.Duration{5, 1, 4, 2, 3}
	got := summarize(in)
	want := summary{N: 5, P50: 3, P95: 5, P99: 5, Max: 5}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]time.Duration{5, 1, 4, 2, 3}, in); diff != "" {
		t.Errorf("input reordered:\n%s", diff)
	}
}

func TestResultMergesTallies(t *testing.T) {
	a, b := &tally{}, &tally{}
	a.ok("o1", 3*time.Millisecond)
	a.fail("o2", "http 503 unavailable")
	b.ok("o2", 1*time.Millisecond)
	b.fail("o3", "timeout")
	b.fail("o4", "http 503 unavailable")
	r := newResult("p", 2*time.Second, []*tally{a, b})
	if r.Sent != 5 || r.Acked != 2 || r.ErrorCount() != 3 || r.Rate() != 1 {
		t.Errorf("sent %d acked %d errors %d rate %v", r.Sent, r.Acked, r.ErrorCount(), r.Rate())
	}
	if got, want := r.ErrorString(), "http 503 unavailable×2, timeout×1"; got != want {
		t.Errorf("errors %q, want %q", got, want)
	}
	if diff := cmp.Diff(map[string]bool{"o1": true, "o2": true}, r.acked); diff != "" {
		t.Errorf("acked orders:\n%s", diff)
	}
	if len(r.attempted) != 4 {
		t.Errorf("attempted %v", r.attempted)
	}
}

func TestMedian(t *testing.T) {
	cases := []struct {
		name string
		in   []float64
		want float64
	}{
		{"one", []float64{3}, 3},
		{"odd count, unsorted", []float64{5, 1, 3}, 3},
		{"even count is the mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := median(tc.in); got != tc.want {
				t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
}
