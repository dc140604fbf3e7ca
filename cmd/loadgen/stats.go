package main

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// summary is the latency distribution of one phase.
type summary struct {
	N                  int
	P50, P95, P99, Max time.Duration
}

// summarize sorts a copy of d and reads its percentiles.
func summarize(d []time.Duration) summary {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return summary{}
	}
	return summary{N: len(s), P50: percentile(s, 50), P95: percentile(s, 95), P99: percentile(s, 99), Max: s[len(s)-1]}
}

// percentile is the nearest-rank percentile of sorted samples: the smallest
// sample such that at least p percent of the samples are at or below it.
// It is 0 for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = max(1, min(n, rank))
	return sorted[rank-1]
}

// tally is what one sender saw; tallies merge into a phase's result.
type tally struct {
	sent      int
	latencies []time.Duration
	errors    map[string]int
	acked     []string // order numbers of acknowledged deliveries
	attempted []string // order numbers of every delivery sent
}

func (t *tally) ok(orderNo string, d time.Duration) {
	t.sent++
	t.latencies = append(t.latencies, d)
	t.acked = append(t.acked, orderNo)
	t.attempted = append(t.attempted, orderNo)
}

func (t *tally) fail(orderNo, kind string) {
	t.sent++
	if t.errors == nil {
		t.errors = map[string]int{}
	}
	t.errors[kind]++
	t.attempted = append(t.attempted, orderNo)
}

// result is one measured phase.
type result struct {
	Name    string
	Sent    int
	Acked   int
	Elapsed time.Duration
	Latency summary
	Errors  map[string]int
	// MaxRSS is the gateway's largest sampled VmRSS during the phase, in
	// bytes (0 when the gateway is not a child of this process).
	MaxRSS int64
	// CPU is the CPU time the gateway, the database server and this tool
	// used during the phase.
	CPU cpuUse
	// SQL is what the phase sent to the server, when counted (--count-sql).
	SQL sqlDelta
	// Stopped says why a phase ended before its work was done ("" if it
	// was not cut short).
	Stopped string

	acked     map[string]bool
	attempted map[string]bool
}

func newResult(name string, elapsed time.Duration, tallies []*tally) result {
	r := result{Name: name, Elapsed: elapsed, Errors: map[string]int{},
		acked: map[string]bool{}, attempted: map[string]bool{}}
	var lat []time.Duration
	for _, t := range tallies {
		r.Sent += t.sent
		r.Acked += len(t.latencies)
		lat = append(lat, t.latencies...)
		for k, n := range t.errors {
			r.Errors[k] += n
		}
		for _, o := range t.acked {
			r.acked[o] = true
		}
		for _, o := range t.attempted {
			r.attempted[o] = true
		}
	}
	r.Latency = summarize(lat)
	return r
}

// Rate is acknowledged deliveries (or committed transactions) per second.
func (r result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Acked) / r.Elapsed.Seconds()
}

// ErrorCount is the number of deliveries that were not acknowledged.
func (r result) ErrorCount() int {
	n := 0
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// ErrorString lists errors by kind, most frequent first: "http 503 unavailable×3, timeout×1".
func (r result) ErrorString() string {
	if len(r.Errors) == 0 {
		return "none"
	}
	kinds := make([]string, 0, len(r.Errors))
	for k := range r.Errors {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if r.Errors[kinds[i]] != r.Errors[kinds[j]] {
			return r.Errors[kinds[i]] > r.Errors[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s×%d", k, r.Errors[k])
	}
	return strings.Join(parts, ", ")
}

// ratio is a/b, or NaN when b is zero.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}
