// Command loadgen measures a running gateway the way providers load it and
// checks afterwards, in the database, that every payment counted exactly
// once. In the same run it measures a baseline, the plainest per-callback
// transaction in bare database/sql on the same MariaDB, so the figures are
// read as ratios that hold on a noisy machine.
//
//	go run ./cmd/loadgen --self                      # builds and starts a gateway on a fresh database
//	go run ./cmd/loadgen --gateway http://127.0.0.1:8080 --dsn 'root@tcp(127.0.0.1:3306)/gateway' \
//	    --stripe-secret whsec_… --api-token …
//
// See docs/performance.md for the method and the figures.
package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400) // a tool: less of the shared cores on collecting
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// options are the command line.
type options struct {
	// the gateway: a child (--self) or a running one
	Self         bool
	MySQL        string
	GatewayBin   string
	Keep         bool
	LogLevel     string
	GatewayEnv   []string
	Gateway      string
	DSN          string
	APIToken     string
	StripeSecret string
	SWSecret     string
	Stripe, SW   string
	MaxOpenConns int
	CountSQL     bool
	// StandardWebhooks (with --self) pays every other order through a
	// Standard Webhooks sender configured in the child.
	StandardWebhooks bool

	// the load
	Orders      int
	Rounds      int
	Warmup      int
	Concurrency int
	Duplicates  int
	StormOrders int
	DupRatio    float64
	Burst       int
	HalfFor     time.Duration
	PhaseLimit  time.Duration
	MaxRun      time.Duration
	BulkOrders  bool
	Prefill     int
	Seed        uint64
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.BoolVar(&o.Self, "self", false, "build cmd/gateway (or take --gateway-bin), start it on a fresh database on --mysql, measure it, drop the database")
	fs.StringVar(&o.MySQL, "mysql", "root@tcp(127.0.0.1:3306)/", "with --self: the MariaDB/MySQL server to create the database on")
	fs.StringVar(&o.GatewayBin, "gateway-bin", "", "with --self: a gateway binary to run instead of building one")
	fs.BoolVar(&o.Keep, "keep", false, "with --self: keep the database (its name is printed)")
	fs.StringVar(&o.LogLevel, "gateway-log-level", "info", "with --self: the child gateway's log level (info, as in production)")
	fs.Func("gateway-env", "with --self: a KEY=value in the child gateways' environment (repeatable), e.g. GATEWAY_DATABASE_COMMITTERS=2 or GOGC=200", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("%q is not KEY=value", v)
		}
		o.GatewayEnv = append(o.GatewayEnv, v)
		return nil
	})
	fs.StringVar(&o.Gateway, "gateway", "", "base URL of a running gateway (without --self)")
	fs.StringVar(&o.DSN, "dsn", "", "the running gateway's MySQL DSN: checks, bulk orders and the baseline use it (without --self)")
	fs.StringVar(&o.APIToken, "api-token", "", "a merchant API token of the running gateway (to create orders through POST /api/orders)")
	fs.StringVar(&o.StripeSecret, "stripe-secret", "", "the running gateway's Stripe webhook secret")
	fs.StringVar(&o.SWSecret, "sw-secret", "", "a Standard Webhooks secret (whsec_…) of the running gateway: every other order is paid through it")
	fs.StringVar(&o.Stripe, "stripe-provider", "stripe", "name of the gateway's Stripe section")
	fs.StringVar(&o.SW, "sw-provider", "acme", "name of the gateway's Standard Webhooks section (fields mapped as in config/dev.yaml)")
	fs.IntVar(&o.MaxOpenConns, "max-open-conns", 0, "database pool size of the gateway and the baseline (0: the store's default)")
	fs.BoolVar(&o.CountSQL, "count-sql", false, "with --self: relay the gateway's and the baseline's database connections through a counter of SQL commands per callback (costs some CPU: measure the targets without it)")
	fs.BoolVar(&o.StandardWebhooks, "standard-webhooks", false, "with --self: pay every other order through a Standard Webhooks sender too")

	fs.IntVar(&o.Orders, "orders", 1500, "orders paid in each unique phase (each event delivered once) and in each baseline phase")
	fs.IntVar(&o.Rounds, "rounds", 2, "rounds of a baseline phase followed by a unique phase; ratios are their median")
	fs.IntVar(&o.Warmup, "warmup", 300, "unreported warm-up: this many baseline transactions and callbacks before the rounds")
	fs.IntVar(&o.Concurrency, "concurrency", 16, "concurrent senders (and baseline transactions)")
	fs.IntVar(&o.Duplicates, "duplicates", 5000, "re-deliveries of already applied events in the duplicate phase")
	fs.IntVar(&o.StormOrders, "storm-orders", 1000, "orders paid in the storm phase (0: skip it)")
	fs.Float64Var(&o.DupRatio, "dup-ratio", 0.5, "storm phase: fraction of sends that re-deliver an event already sent")
	fs.IntVar(&o.Burst, "burst", 4, "storm phase: each event's first delivery is this many simultaneous copies")
	fs.DurationVar(&o.HalfFor, "half-for", 8*time.Second, "length of the phase paced at half the unique peak rate (0: skip it)")
	fs.DurationVar(&o.PhaseLimit, "phase-limit", 20*time.Second, "no phase sends for longer than this")
	fs.DurationVar(&o.MaxRun, "max-run", 10*time.Minute, "the whole run stops after this")
	fs.BoolVar(&o.BulkOrders, "bulk-orders", false, "create the gateway's orders in bulk in the database instead of through POST /api/orders")
	fs.IntVar(&o.Prefill, "prefill", 0, "with --self, flat cost: start a second gateway on a database pre-filled with this many receipts and measure unique throughput on both in turns (0: skip)")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the storm's random re-deliveries")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := o.validate(); err != nil {
		return o, err
	}
	if o.StandardWebhooks {
		o.SWSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte(randomHex(16)))
	}
	return o, nil
}

func (o options) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if o.Self {
		if o.Gateway != "" || o.DSN != "" {
			bad("--self starts its own gateway: drop --gateway and --dsn")
		}
	} else {
		if o.CountSQL {
			bad("--count-sql needs --self (the gateway must connect through the counter)")
		}
		if o.StandardWebhooks {
			bad("--standard-webhooks needs --self (for a running gateway, pass its secret with --sw-secret)")
		}
		if o.Prefill > 0 {
			bad("--prefill needs --self (it measures a second gateway on a pre-filled database in turns with the first)")
		}
		if o.Gateway == "" || o.DSN == "" || o.StripeSecret == "" {
			bad("without --self, --gateway, --dsn and --stripe-secret are required")
		}
		if !o.BulkOrders && o.APIToken == "" {
			bad("--api-token is required to create orders through the API (or pass --bulk-orders)")
		}
	}
	if o.Orders < 1 || o.Rounds < 1 {
		bad("--orders and --rounds must be at least 1")
	}
	if o.Concurrency < 1 || o.Concurrency > 1024 {
		bad("--concurrency must be between 1 and 1024")
	}
	if o.Duplicates < 0 || o.StormOrders < 0 || o.Prefill < 0 || o.Warmup < 0 {
		bad("--duplicates, --storm-orders, --prefill and --warmup must not be negative")
	}
	if o.DupRatio < 0 || o.DupRatio >= 1 || math.IsNaN(o.DupRatio) {
		bad("--dup-ratio must be in [0, 1)")
	}
	if o.Burst < 1 || o.Burst > 64 {
		bad("--burst must be between 1 and 64")
	}
	if o.PhaseLimit <= 0 || o.MaxRun <= 0 || o.HalfFor < 0 {
		bad("--phase-limit and --max-run must be positive, --half-for not negative")
	}
	return errors.Join(errs...)
}

// run is the whole program.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.MaxRun)
	defer cancel()

	m := &measurement{o: o, out: stdout, run: "lg" + randomHex(3) + "-"}
	if o.Self {
		dir, err := os.MkdirTemp("", "loadgen-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		bin := o.GatewayBin
		if bin == "" {
			fmt.Fprintln(stdout, "building cmd/gateway …")
			if bin, err = buildGateway(ctx, dir); err != nil {
				return err
			}
		}
		sec := secrets{APIToken: randomHex(16), Stripe: "whsec_" + randomHex(16), SW: o.SWSecret}
		if sec.SW == "" {
			o.SW = ""
		}
		m.o = o
		m.sign = signer{Stripe: o.Stripe, StripeSecret: sec.Stripe, SW: o.SW, SWSecret: sec.SW}
		if m.main, err = selfTarget(ctx, o, bin, dir, sec, stdout); err != nil {
			return err
		}
		defer m.main.close(stdout)
		if o.Prefill > 0 {
			if m.fill, err = selfTarget(ctx, o, bin, dir, sec, stdout); err != nil {
				return err
			}
			defer m.fill.close(stdout)
		}
	} else {
		if o.SWSecret == "" {
			o.SW = ""
		}
		m.o = o
		m.sign = signer{Stripe: o.Stripe, StripeSecret: o.StripeSecret, SW: o.SW, SWSecret: o.SWSecret}
		if m.main, err = remoteTarget(ctx, o, stdout); err != nil {
			return err
		}
		defer m.main.close(stdout)
	}
	return m.all(ctx)
}

// say prints a progress line.
func say(w io.Writer, format string, a ...any) {
	fmt.Fprintf(w, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

func gomaxprocs() string {
	return fmt.Sprintf("%d CPUs, GOMAXPROCS %d", runtime.NumCPU(), runtime.GOMAXPROCS(0))
}

// mib formats bytes as MiB.
func mib(b int64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
