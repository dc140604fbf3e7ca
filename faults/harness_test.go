//go:build faults

package faults_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// knobs size the run; the defaults finish both runs in about two minutes
// on two cores. GATEWAY_FAULTS_ORDERS, GATEWAY_FAULTS_WORKERS and
// GATEWAY_FAULTS_SEED override them (docs/reliability.md).
type knobs struct {
	orders, workers int
	seed            uint64
}

func readKnobs(t *testing.T) knobs {
	t.Helper()
	k := knobs{orders: 8000, workers: 24, seed: uint64(time.Now().UnixNano())}
	for name, dst := range map[string]*int{"GATEWAY_FAULTS_ORDERS": &k.orders, "GATEWAY_FAULTS_WORKERS": &k.workers} {
		if s := os.Getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				t.Fatalf("%s=%q is not a positive integer", name, s)
			}
			*dst = n
		}
	}
	if s := os.Getenv("GATEWAY_FAULTS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("GATEWAY_FAULTS_SEED=%q is not a number", s)
		}
		k.seed = n
	}
	return k
}

// TestFaults is the fault harness: one replica, then three replicas on one
// database, each under SIGKILLs and one MariaDB crash.
func TestFaults(t *testing.T) {
	k := readKnobs(t)
	t.Logf("seed %d (GATEWAY_FAULTS_SEED=%d repeats the workload and the fault schedule's draws)", k.seed, k.seed)
	dir := t.TempDir()
	start := time.Now()
	bin := buildGateway(t, dir)
	t.Logf("built the gateway binary in %s", time.Since(start).Round(time.Millisecond))
	db := startMariaDB(t)
	for i, replicas := range []int{1, 3} {
		t.Run(fmt.Sprintf("replicas=%d", replicas), func(t *testing.T) {
			runFaults(t, bin, db, replicas, k, k.seed+uint64(i))
		})
	}
}

// figures are what the harness prints.
type figures struct {
	replicas                       int
	orders, events                 int
	sent, acked, refused, connErrs int64
	copies, late                   int64
	apiSent                        int64
	kills, restarts, failedStarts  int64
	dbRestarts                     int64
	v                              verdict
	duration                       time.Duration
	per                            []providerFigures
}

// providerFigures are one sender's share of a run.
type providerFigures struct {
	name                           string
	orders, events                 int
	sent, acked, refused, connErrs int64
	copies, late                   int64
	lost, appliedTwice             int
}

func (f figures) String() string {
	var b strings.Builder
	row := func(k string, v any) { fmt.Fprintf(&b, "  %-34s %v\n", k, v) }
	fmt.Fprintf(&b, "fault harness, %d replica(s) on one MariaDB:\n", f.replicas)
	row("orders / business events", fmt.Sprintf("%d / %d", f.orders, f.events))
	row("callbacks sent (HTTP deliveries)", f.sent)
	row("acknowledged (2xx)", f.acked)
	row("refused 5xx / connection failed", fmt.Sprintf("%d / %d", f.refused, f.connErrs))
	row("duplicates (burst copies + late)", fmt.Sprintf("%d (%d + %d)", f.copies+f.late, f.copies, f.late))
	row("merchant API requests", f.apiSent)
	row("gateway SIGKILLs", f.kills)
	row("gateway restarts (failed starts)", fmt.Sprintf("%d (%d)", f.restarts, f.failedStarts))
	row("MariaDB SIGKILL + restart", f.dbRestarts)
	row("receipts / ledger legs / postings", fmt.Sprintf("%d / %d / %d", f.v.receipts, f.v.legs, f.v.postings))
	row("parked unknown (for the reconciler)", f.v.parked)
	row("rejected / conflict", fmt.Sprintf("%d / %d", f.v.rejected, f.v.conflict))
	row("stuck without an owner", f.v.stuck)
	row("lost", f.v.lost)
	row("applied twice", f.v.appliedTwice)
	row("duration", f.duration.Round(100*time.Millisecond))
	fmt.Fprintf(&b, "  %-10s %7s %7s %7s %7s %11s %9s %5s %13s\n", "provider", "orders", "events", "sent", "acked",
		"5xx/conn", "dup", "lost", "applied twice")
	for _, p := range f.per {
		fmt.Fprintf(&b, "  %-10s %7d %7d %7d %7d %11s %9d %5d %13d\n", p.name, p.orders, p.events, p.sent, p.acked,
			fmt.Sprintf("%d/%d", p.refused, p.connErrs), p.copies+p.late, p.lost, p.appliedTwice)
	}
	return b.String()
}

func runFaults(t *testing.T, bin string, db *mariadb, replicas int, k knobs, seed uint64) {
	began := time.Now()
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	name := fmt.Sprintf("gw_faults_%d", replicas)
	db.createDatabase(t, name)
	ss := senders()
	var cfg strings.Builder
	cfg.WriteString("providers:\n")
	for _, s := range ss {
		fmt.Fprintf(&cfg, "  %s:\n%s", s.name, s.config)
	}
	cfgPath := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	logDir := t.TempDir()
	reps := make([]*replica, replicas)
	urls := make([]string, replicas)
	for i := range reps {
		reps[i] = newReplica(t, i+1, bin, logDir, map[string]string{
			"GATEWAY_CONFIG":                  cfgPath,
			"GATEWAY_DATABASE_DRIVER":         "mysql",
			"GATEWAY_DATABASE_DSN":            db.dsn(name),
			"GATEWAY_DATABASE_MAX_OPEN_CONNS": "16",
			"GATEWAY_AUTH_API_TOKENS":         faultAPIToken,
			"GATEWAY_HTTP_SHUTDOWN_TIMEOUT":   "30s",
		})
		urls[i] = reps[i].url
		if err := reps[i].start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, r := range reps {
			r.kill()
		}
	})
	defer func() {
		if t.Failed() {
			for _, r := range reps {
				t.Logf("replica %d, last log lines:\n%s", r.id, tail(r.logs(), 15))
			}
		}
	}()

	scripts := workload(k.orders, ss, rng)
	events := 0
	perOrders, perEvents := map[string]int{}, map[string]int{}
	for _, sc := range scripts {
		perOrders[sc.sender.name]++
		for _, st := range sc.steps {
			for _, d := range st.events {
				events += len(d.facts())
				perEvents[sc.sender.name] += len(d.facts())
			}
		}
	}
	w := newWorld(urls, ss)

	// The load, with the faults running beside it.
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	var done atomic.Int64
	chaosCtx, stopChaos := context.WithCancel(ctx)
	ch := &chaos{reps: reps, db: db, rng: rand.New(rand.NewPCG(seed, 1)),
		dbWhen: func() bool { return done.Load() >= int64(len(scripts))*3/10 }}
	chaosDone := make(chan struct{})
	go func() { defer close(chaosDone); ch.run(chaosCtx) }()

	jobs := make(chan *script)
	var wg sync.WaitGroup
	for i := range k.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wrng := rand.New(rand.NewPCG(seed, uint64(i)+2))
			for sc := range jobs {
				if err := w.run(ctx, sc, wrng); err != nil {
					w.problem("%s (%s) never finished: its deliveries were not all acknowledged: %v", sc.order.no, sc.scenario, err)
				}
				done.Add(1)
			}
		}()
	}
	for _, sc := range scripts {
		jobs <- sc
	}
	close(jobs)
	wg.Wait()
	stopChaos()
	<-chaosDone
	for _, err := range ch.errs() {
		t.Errorf("fault injection: %v", err)
	}

	load := func(sqlDB *sql.DB) dbState {
		st, err := loadState(sqlDB)
		if err != nil {
			t.Fatalf("read the database: %v", err)
		}
		return st
	}
	sqlDB, err := sql.Open("mysql", db.dsn(name))
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()

	// Late duplicates: a provider re-sends events long acknowledged, to
	// whichever replica; each must get the same ack and change nothing.
	before := load(sqlDB)
	var acked []*event
	for _, sc := range scripts {
		for _, st := range sc.steps {
			for _, ev := range st.events {
				if w.ackedOnce[ev] && rng.IntN(100) < 15 {
					acked = append(acked, ev)
				}
			}
		}
	}
	var lwg sync.WaitGroup
	sem := make(chan struct{}, k.workers)
	for _, ev := range acked {
		lwg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; lwg.Done() }()
			w.per[ev.sender.name].lateCopies.Add(1)
			if err := w.deliver(ctx, ev); err != nil {
				w.problem("late duplicate %s %s: %v", ev.sender.name, ev.key, err)
			}
		}()
	}
	lwg.Wait()
	after := load(sqlDB)
	if diff := cmp.Diff(before, after, cmp.AllowUnexported(dbState{}, orderRow{}, receiptRow{}, legRow{})); diff != "" {
		t.Errorf("late duplicates changed the database (-before +after):\n%.3000s", diff)
	}

	for _, r := range reps {
		if err := r.stop(); err != nil {
			t.Errorf("replica %d did not shut down cleanly on SIGTERM: %v", r.id, err)
		}
	}
	for _, r := range reps {
		logs := r.logs()
		if strings.Contains(logs, "panic") {
			t.Errorf("replica %d logged a panic", r.id)
		}
		for _, s := range ss {
			for _, secret := range append(s.secrets, faultAPIToken, strings.SplitN(faultAPIToken, ":", 2)[1]) {
				if strings.Contains(logs, secret) {
					t.Errorf("replica %d logged a configured secret of %s", r.id, s.name)
				}
			}
		}
	}

	final := load(sqlDB)
	verdict := checkState(final, scripts, w.ackedOnce)
	for _, p := range w.problems {
		t.Errorf("world: %s", p)
	}
	for i, p := range verdict.problems {
		if i == 30 {
			t.Errorf("… %d more", len(verdict.problems)-i)
			break
		}
		t.Errorf("check: %s", p)
	}
	f := figures{replicas: replicas, orders: len(scripts), events: events, apiSent: w.apiSent.Load(),
		kills: ch.kills.Load(), restarts: ch.restarts.Load(), failedStarts: ch.failedStarts.Load(),
		dbRestarts: ch.dbRestarts.Load(), v: verdict, duration: time.Since(began)}
	f.sent, f.acked, f.refused, f.connErrs, f.copies, f.late = w.total()
	for _, s := range ss {
		tl, p := w.per[s.name], providerFigures{name: s.name, orders: perOrders[s.name], events: perEvents[s.name]}
		p.sent, p.acked, p.refused, p.connErrs = tl.sent.Load(), tl.acked.Load(), tl.refused5xx.Load(), tl.connErrors.Load()
		p.copies, p.late = tl.copies.Load(), tl.lateCopies.Load()
		if l := verdict.per[s.name]; l != nil {
			p.lost, p.appliedTwice = l.lost, l.appliedTwice
		}
		f.per = append(f.per, p)
	}
	t.Logf("\n%s", f)
	if verdict.lost != 0 || verdict.appliedTwice != 0 || verdict.stuck != 0 {
		t.Errorf("lost %d, applied twice %d, stuck %d: want 0, 0, 0", verdict.lost, verdict.appliedTwice, verdict.stuck)
	}
	// The run proves something only if the faults happened under load.
	if f.kills < 3 || f.dbRestarts != 1 || f.refused+f.connErrs == 0 {
		t.Errorf("too few faults under load (kills %d, MariaDB restarts %d, failed deliveries %d): raise GATEWAY_FAULTS_ORDERS",
			f.kills, f.dbRestarts, f.refused+f.connErrs)
	}
}

// chaos kills a random replica at random moments and starts it again, and
// crashes MariaDB once, when dbWhen first says so, concurrently with the
// gateway kills (a replica killed while the database is down cannot start
// until it is back: that is counted as a failed start and retried).
type chaos struct {
	reps   []*replica
	db     *mariadb
	rng    *rand.Rand
	dbWhen func() bool

	kills, restarts, failedStarts, dbRestarts atomic.Int64
	mu                                        sync.Mutex
	errors                                    []error
}

func (c *chaos) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errors = append(c.errors, err)
}

func (c *chaos) errs() []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errors
}

func (c *chaos) between(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(c.rng.Int64N(int64(hi-lo)))
}

func (c *chaos) run(ctx context.Context) {
	var dbDone sync.WaitGroup
	defer dbDone.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(c.between(100*time.Millisecond, time.Second)):
		}
		if c.dbRestarts.Load() == 0 && c.dbWhen() {
			c.dbRestarts.Add(1)
			dbDone.Add(1)
			go func() {
				defer dbDone.Done()
				c.db.kill()
				time.Sleep(2 * time.Second) // the gateways answer 503 meanwhile
				if err := c.db.start(); err != nil {
					c.fail(fmt.Errorf("MariaDB restart: %w", err))
				}
			}()
			// No gateway kill this time: the replicas must face the
			// outage alive (with one replica, a kill now would leave
			// nobody up until MariaDB is back, and a gateway that takes
			// callbacks it cannot store would go unnoticed).
			continue
		}
		r := c.reps[c.rng.IntN(len(c.reps))]
		r.kill()
		c.kills.Add(1)
		time.Sleep(c.between(time.Millisecond, 200*time.Millisecond))
		deadline := time.Now().Add(2 * time.Minute)
		for {
			err := r.start()
			if err == nil {
				c.restarts.Add(1)
				break
			}
			c.failedStarts.Add(1)
			if time.Now().After(deadline) {
				c.fail(fmt.Errorf("replica %d does not come back: %w", r.id, err))
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
