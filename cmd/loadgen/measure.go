package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// measurement is one run: its phases, in order, and what they found.
type measurement struct {
	o    options
	out  io.Writer
	run  string // prefix of every order number of the run
	sign signer
	main *target
	// fill is a second gateway on a database pre-filled with receipts
	// (--prefill), measured in turns with main (nil without --prefill).
	fill *target
	// serverPID is the database server's process (0 if not on this machine).
	serverPID int

	results     []result
	rounds      []pair // (baseline, unique)
	flat        []pair // (unique on main, unique on fill)
	server      map[string]string
	prefillTook time.Duration
	bodySize    int
	hwm         int64
	checks      []checkReport
}

// pair is two phases run back to back, compared by their rates.
type pair struct{ a, b result }

// ratio is b's rate over a's.
func (p pair) ratio() float64 { return ratio(p.b.Rate(), p.a.Rate()) }

// all runs the phases, the checks and the report.
func (m *measurement) all(ctx context.Context) error {
	if err := m.serverFacts(ctx); err != nil {
		return err
	}
	m.serverPID = serverPID(m.server["pid_file"])
	m.printHeader()
	err := m.phases(ctx)
	if err != nil && ctx.Err() == nil {
		return err
	}
	if ctx.Err() != nil {
		say(m.out, "stopped at --max-run %s (%v); checking what was sent", m.o.MaxRun, err)
	}
	// The run may have ended by the clock: the check gets time of its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	// Duplicate deliveries are counted in memory and flushed every second;
	// wait for one flush so the database is read at rest.
	time.Sleep(1500 * time.Millisecond)
	failed := false
	for _, t := range m.targets() {
		if t.gw != nil {
			if mem, err := readMemory(t.gw.PID()); err == nil {
				m.hwm = max(m.hwm, mem.HWM)
			}
		}
		rep, err := checkDB(ctx, t.db, m.run, t.acked)
		if err != nil {
			return err
		}
		m.checks = append(m.checks, rep)
		failed = failed || !rep.OK()
	}
	m.report()
	if failed {
		return errors.New("the database check failed: see above")
	}
	return nil
}

func (m *measurement) targets() []*target {
	if m.fill != nil {
		return []*target{m.main, m.fill}
	}
	return []*target{m.main}
}

// keep records a reported phase.
func (m *measurement) keep(t *target, r result) result {
	maps.Copy(t.acked, r.acked)
	m.results = append(m.results, r)
	say(m.out, "%-14s %6d sent %6d acked in %6.2fs = %8.1f/s  p50 %s p95 %s p99 %s  errors: %s %s",
		r.Name, r.Sent, r.Acked, r.Elapsed.Seconds(), r.Rate(), ms(r.Latency.P50), ms(r.Latency.P95), ms(r.Latency.P99), r.ErrorString(), r.Stopped)
	return r
}

// warmUp runs unreported work so that pools are open and caches settled.
func (m *measurement) warmUp(ctx context.Context, t *target, baselineToo bool) error {
	if m.o.Warmup == 0 {
		return nil
	}
	if baselineToo {
		b, err := m.baseline(ctx, t, "warm-up baseline", "wb-", m.o.Warmup)
		if err != nil {
			return err
		}
		maps.Copy(t.acked, b.acked)
	}
	r, _, err := m.unique(ctx, t, "warm-up gateway", "w"+fmt.Sprint(len(m.results))+"-", m.o.Warmup)
	if err != nil {
		return err
	}
	maps.Copy(t.acked, r.acked)
	say(m.out, "warm-up of %s: %d callbacks", t.Label, r.Acked)
	return nil
}

// phases runs the measured phases in order; it stops at the first error,
// or when ctx ends.
func (m *measurement) phases(ctx context.Context) error {
	o, t := m.o, m.main
	if err := m.warmUp(ctx, t, true); err != nil {
		return err
	}

	// Rounds of (baseline, unique) back to back: each round's ratio is
	// taken between neighbours, so a machine whose speed drifts (other
	// jobs on its two cores) moves both sides of it.
	var uniqueDs []delivery
	uniqueAcked := map[string]bool{}
	for i := 1; i <= o.Rounds; i++ {
		b, err := m.baseline(ctx, t, fmt.Sprintf("baseline#%d", i), fmt.Sprintf("b%d-", i), o.Orders)
		if err != nil {
			return err
		}
		m.keep(t, b)
		u, ds, err := m.unique(ctx, t, fmt.Sprintf("unique#%d", i), fmt.Sprintf("u%d-", i), o.Orders)
		if err != nil {
			return err
		}
		m.keep(t, u)
		m.rounds = append(m.rounds, pair{b, u})
		uniqueDs = append(uniqueDs, ds...)
		maps.Copy(uniqueAcked, u.acked)
	}
	m.bodySize = len(uniqueDs[0].Body)
	peak := 0.0
	for _, r := range m.rounds {
		peak = max(peak, r.b.Rate())
	}

	if o.Duplicates > 0 {
		r, err := m.duplicates(ctx, t, uniqueDs, uniqueAcked)
		if err != nil {
			return err
		}
		m.keep(t, r)
	}

	if o.StormOrders > 0 {
		ds, err := m.prepare(ctx, t, makeOrders(m.run+"s-", o.StormOrders))
		if err != nil {
			return err
		}
		jobs := stormJobs(ds, o.DupRatio, o.Burst, o.Seed)
		name := fmt.Sprintf("storm d=%.2f b=%d", o.DupRatio, o.Burst)
		m.keep(t, m.phase(t, true, func() result { return t.send.closedLoop(ctx, name, jobs, o.Concurrency, o.PhaseLimit) }))
	}

	if o.HalfFor > 0 && peak > 0 {
		rate := peak / 2
		ds, err := m.prepare(ctx, t, makeOrders(m.run+"h-", int(math.Ceil(rate*o.HalfFor.Seconds()))))
		if err != nil {
			return err
		}
		name := fmt.Sprintf("half @%.0f/s", rate)
		// Providers do not wait for each other: enough senders that a slow
		// answer queues the next sends only when 4× the concurrency is in
		// flight (and the queueing is counted in the latency).
		m.keep(t, m.phase(t, true, func() result {
			return t.send.openLoop(ctx, name, single(ds), rate, 4*o.Concurrency, o.PhaseLimit)
		}))
	}

	if m.fill != nil {
		return m.flatCost(ctx)
	}
	return ctx.Err()
}

// flatCost fills the second gateway's database with receipts, then
// measures unique callbacks on the two gateways in turns: the run's own
// (a few thousand receipts) and the filled one.
func (m *measurement) flatCost(ctx context.Context) error {
	o, f := m.o, m.fill
	start, last := time.Now(), time.Now()
	err := prefillReceipts(ctx, f.db, o.Stripe, m.run, o.Prefill, m.bodySize, func(done int) {
		if time.Since(last) > 10*time.Second {
			say(m.out, "prefill: %d of %d receipts", done, o.Prefill)
			last = time.Now()
		}
	})
	if err != nil {
		return err
	}
	m.prefillTook = time.Since(start)
	say(m.out, "prefill: %d receipts of %d-byte bodies in %s (%.0f rows/s)", o.Prefill, m.bodySize,
		m.prefillTook.Round(time.Second), float64(o.Prefill)/m.prefillTook.Seconds())
	if err := m.warmUp(ctx, f, false); err != nil {
		return err
	}
	for i := 1; i <= o.Rounds; i++ {
		e, _, err := m.unique(ctx, m.main, fmt.Sprintf("empty#%d", i), fmt.Sprintf("e%d-", i), o.Orders)
		if err != nil {
			return err
		}
		m.keep(m.main, e)
		full, _, err := m.unique(ctx, f, fmt.Sprintf("filled#%d", i), fmt.Sprintf("f%d-", i), o.Orders)
		if err != nil {
			return err
		}
		m.keep(f, full)
		m.flat = append(m.flat, pair{e, full})
	}
	return ctx.Err()
}

// phase runs one phase on t, sampling the gateway's memory during gateway
// phases, reading the CPU the processes use, and counting the SQL commands
// the phase caused, including the duplicate-delivery counts the gateway
// flushes within a second after.
func (m *measurement) phase(t *target, gateway bool, phase func() result) result {
	var before map[string]int64
	if t.counter != nil {
		before = t.counter.Snapshot()
	}
	cpu := cpuMeter{server: m.serverPID}
	var rss *rssSampler
	if t.gw != nil {
		cpu.gateway = t.gw.PID()
		if gateway {
			rss = sampleRSS(t.gw.PID(), 100*time.Millisecond)
		}
	}
	used := cpu.read()
	r := phase()
	r.CPU = cpu.read().sub(used)
	if rss != nil {
		r.MaxRSS = rss.Stop()
	}
	if t.counter != nil {
		if gateway {
			time.Sleep(1100 * time.Millisecond)
		}
		r.SQL = diffCounts(before, t.counter.Snapshot())
	}
	return r
}

// prepare creates orders (through the API, or in bulk) and signs one
// payment delivery for each.
func (m *measurement) prepare(ctx context.Context, t *target, orders []order) ([]delivery, error) {
	var err error
	if m.o.BulkOrders {
		err = insertOrders(ctx, t.db, orders)
	} else {
		err = createOrders(ctx, t.URL, t.APIToken, orders, m.o.Concurrency)
	}
	if err != nil {
		return nil, err
	}
	return m.sign.payments(orders)
}

// unique pays n fresh orders, each event delivered once.
func (m *measurement) unique(ctx context.Context, t *target, name, prefix string, n int) (result, []delivery, error) {
	ds, err := m.prepare(ctx, t, makeOrders(m.run+prefix, n))
	if err != nil {
		return result{}, nil, err
	}
	r := m.phase(t, true, func() result { return t.send.closedLoop(ctx, name, single(ds), m.o.Concurrency, m.o.PhaseLimit) })
	return r, ds, nil
}

// duplicates re-delivers events the unique phases got acknowledged, picked
// at random, each re-signed as a provider's retry is.
func (m *measurement) duplicates(ctx context.Context, t *target, ds []delivery, acked map[string]bool) (result, error) {
	var applied []delivery
	for _, d := range ds {
		if acked[d.OrderNo] {
			applied = append(applied, d)
		}
	}
	if len(applied) == 0 {
		return result{}, errors.New("loadgen: no acknowledged event to re-deliver")
	}
	rng := rand.New(rand.NewPCG(m.o.Seed, 7))
	picks := make([]delivery, m.o.Duplicates)
	for i := range picks {
		picks[i] = applied[rng.IntN(len(applied))]
	}
	picks, err := m.sign.resign(picks)
	if err != nil {
		return result{}, err
	}
	return m.phase(t, true, func() result {
		return t.send.closedLoop(ctx, "duplicate", single(picks), m.o.Concurrency, m.o.PhaseLimit)
	}), nil
}

// baseline runs the bare database/sql loop on n fresh orders of its own.
func (m *measurement) baseline(ctx context.Context, t *target, name, prefix string, n int) (result, error) {
	orders := makeOrders(m.run+prefix, n)
	if err := insertOrders(ctx, t.db, orders); err != nil {
		return result{}, err
	}
	ds, err := signer{Stripe: m.o.Stripe, StripeSecret: "whsec_baseline"}.payments(orders)
	if err != nil {
		return result{}, err
	}
	byNo := make(map[string]order, n)
	for _, o := range orders {
		byNo[o.No] = o
	}
	return m.phase(t, false, func() result {
		return baseline(ctx, t.base, name, m.o.Stripe, ds, byNo, m.o.Concurrency, m.o.PhaseLimit)
	}), nil
}

func single(ds []delivery) []job {
	out := make([]job, len(ds))
	for i, d := range ds {
		out[i] = job{D: d, Copies: 1}
	}
	return out
}

// serverFacts reads what the figures depend on from the server.
func (m *measurement) serverFacts(ctx context.Context) error {
	m.server = map[string]string{}
	for _, v := range []string{"version", "innodb_flush_log_at_trx_commit", "sync_binlog", "log_bin",
		"innodb_buffer_pool_size", "innodb_doublewrite", "innodb_flush_method", "pid_file"} {
		var s sql.NullString
		if err := m.main.db.QueryRowContext(ctx, "SELECT @@"+v).Scan(&s); err != nil {
			return fmt.Errorf("loadgen: read @@%s: %w", v, err)
		}
		m.server[v] = s.String
	}
	return nil
}

func (m *measurement) printHeader() {
	o := m.o
	fmt.Fprintf(m.out, "machine: %s\n", gomaxprocs())
	fmt.Fprintf(m.out, "server: MariaDB/MySQL %s, innodb_flush_log_at_trx_commit=%s, sync_binlog=%s, log_bin=%s, buffer pool %s, doublewrite=%s, flush_method=%s\n",
		m.server["version"], m.server["innodb_flush_log_at_trx_commit"], m.server["sync_binlog"], m.server["log_bin"],
		bytesString(m.server["innodb_buffer_pool_size"]), m.server["innodb_doublewrite"], m.server["innodb_flush_method"])
	if m.server["innodb_flush_log_at_trx_commit"] != "1" {
		fmt.Fprintln(m.out, "WARNING: innodb_flush_log_at_trx_commit is not 1: commits are not durable and the figures do not count")
	}
	providers := o.Stripe
	if o.SW != "" {
		providers += " + " + o.SW + " (standard webhooks, every other order)"
	}
	create := "POST /api/orders"
	if o.BulkOrders {
		create = "bulk INSERT"
	}
	fmt.Fprintf(m.out, "load: concurrency %d, %d orders per unique phase, %d duplicates, storm %d orders at dup-ratio %.2f burst %d, half-rate for %s; providers %s; orders by %s; run prefix %s\n",
		o.Concurrency, o.Orders, o.Duplicates, o.StormOrders, o.DupRatio, o.Burst, o.HalfFor, providers, create, m.run)
}

func bytesString(s string) string {
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		return s
	}
	return mib(n)
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
}

func (m *measurement) find(name string) (result, bool) {
	for _, r := range m.results {
		if r.Name == name {
			return r, true
		}
	}
	return result{}, false
}

// report prints the phases, the ratios, the targets of issue 7 and the check.
func (m *measurement) report() {
	fmt.Fprintln(m.out)
	tw := tabwriter.NewWriter(m.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tsent\tacked\tseconds\trate/s\tp50\tp95\tp99\tmax\tgateway RSS\t")
	var peakRSS int64
	for _, r := range m.results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", r.Name, r.Sent, r.Acked, r.Elapsed.Seconds(), r.Rate(),
			ms(r.Latency.P50), ms(r.Latency.P95), ms(r.Latency.P99), ms(r.Latency.Max), mib(r.MaxRSS))
		peakRSS = max(peakRSS, r.MaxRSS)
	}
	tw.Flush()
	for _, r := range m.results {
		if r.ErrorCount() > 0 || r.Stopped != "" {
			fmt.Fprintf(m.out, "%s: errors %s %s\n", r.Name, r.ErrorString(), r.Stopped)
		}
	}

	var base, uniq, ratios []float64
	for _, r := range m.rounds {
		base, uniq, ratios = append(base, r.a.Rate()), append(uniq, r.b.Rate()), append(ratios, r.ratio())
	}
	uniqueRate, uniqueBaseline := median(uniq), median(ratios)
	dup, hasDup := m.find("duplicate")
	fmt.Fprintln(m.out)
	fmt.Fprintf(m.out, "baseline tx/s by round:   %s\n", joinFloats(base, "%.1f"))
	fmt.Fprintf(m.out, "unique/s by round:        %s (median %.1f)\n", joinFloats(uniq, "%.1f"), uniqueRate)
	fmt.Fprintf(m.out, "unique/baseline by round: %s (median %.2f×)\n", joinFloats(ratios, "%.2f×"), uniqueBaseline)
	if hasDup {
		fmt.Fprintf(m.out, "duplicate/unique:         %.2f× (%.1f/s over the median unique rate)\n", ratio(dup.Rate(), uniqueRate), dup.Rate())
	}
	var half result
	var hasHalf bool
	for _, r := range m.results {
		if strings.HasPrefix(r.Name, "half") {
			half, hasHalf = r, true
		}
	}
	hasFill := len(m.flat) > 0
	var flat float64
	if hasFill {
		var fr []float64
		for _, p := range m.flat {
			fr = append(fr, p.ratio())
		}
		flat = median(fr)
		fmt.Fprintf(m.out, "flat cost by round:       %s (median %.2f×): unique/s on a second gateway whose database holds %d more receipts (pre-filled in %s) over unique/s on the run's own, measured in turns\n",
			joinFloats(fr, "%.2f×"), flat, m.o.Prefill, m.prefillTook.Round(time.Second))
	}
	if m.main.gw != nil {
		fmt.Fprintf(m.out, "gateway memory:           peak sampled VmRSS %s, VmHWM %s\n", mib(peakRSS), mib(m.hwm))
	}

	fmt.Fprintln(m.out, "\nCPU per acknowledged callback (the machine's cores are shared by all three; MariaDB's figure includes its other clients, if any):")
	tw = tabwriter.NewWriter(m.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tgateway\tMariaDB\tloadgen\tsum\tcores busy\t")
	for _, r := range m.results {
		if r.Acked == 0 {
			continue
		}
		per := func(d time.Duration) string {
			if d <= 0 {
				return "-"
			}
			return fmt.Sprintf("%.0fµs", float64(d.Microseconds())/float64(r.Acked))
		}
		sum := r.CPU.Gateway + r.CPU.Server + r.CPU.Self
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.2f\t\n", r.Name, per(r.CPU.Gateway), per(r.CPU.Server), per(r.CPU.Self), per(sum),
			sum.Seconds()/r.Elapsed.Seconds())
	}
	tw.Flush()

	if m.main.counter != nil {
		fmt.Fprintln(m.out, "\nSQL commands per acknowledged callback (round trips, counted on the wire):")
		tw := tabwriter.NewWriter(m.out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  phase\tround trips\twrites+commits\tby kind")
		for _, r := range m.results {
			if r.SQL == nil || r.Acked == 0 {
				continue
			}
			fmt.Fprintf(tw, "  %s\t%.2f\t%.2f\t%s\n", r.Name, float64(r.SQL.Total())/float64(r.Acked),
				float64(r.SQL.Writes())/float64(r.Acked), r.SQL.per(r.Acked))
		}
		tw.Flush()
	}

	fmt.Fprintln(m.out, "\ntargets (issue 7):")
	target := func(name string, ok bool, got string) {
		mark := "MISSED"
		if ok {
			mark = "met"
		}
		fmt.Fprintf(m.out, "  %-46s %-22s %s\n", name, got, mark)
	}
	target("unique ≥ 1.5× baseline tx/s", uniqueBaseline >= 1.5, fmt.Sprintf("%.2f×", uniqueBaseline))
	if hasDup {
		r := ratio(dup.Rate(), uniqueRate)
		target("duplicates ≥ 8× unique", r >= 8, fmt.Sprintf("%.2f×", r))
	}
	if hasHalf {
		target("p99 ≤ 20 ms at half the peak rate", half.Latency.P99 > 0 && half.Latency.P99 <= 20*time.Millisecond, ms(half.Latency.P99))
	}
	if m.main.gw != nil {
		peak := max(peakRSS, m.hwm)
		target("resident memory ≤ 80 MiB at peak", peak > 0 && peak <= 80<<20, mib(peak))
	}
	if hasFill {
		target(fmt.Sprintf("flat cost ≥ 0.8× (%d receipts pre-filled)", m.o.Prefill), flat >= 0.8, fmt.Sprintf("%.2f×", flat))
	}
	for i, t := range m.targets() {
		if i < len(m.checks) {
			fmt.Fprintf(m.out, "\ndatabase check of %s: %s\n", t.Label, m.checks[i])
		}
	}
}

// median of xs (the mean of the middle two for an even count); NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func joinFloats(xs []float64, format string) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, ", ")
}
