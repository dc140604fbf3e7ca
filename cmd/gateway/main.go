// Command gateway is the payment callback gateway: `gateway serve` runs the
// HTTP server and the cron jobs; the other subcommands are the same jobs and
// admin actions, runnable by hand.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"gateway/config"
)

func main() {
	tuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// tuneGC: the heap stays small (tens of MiB) and most of it is short-lived
// request garbage, so collecting at 200 % growth instead of 100 % halves
// the collector's share of CPU (~9 % of a duplicate callback). A soft
// limit of 48 MiB on the runtime's memory (the live heap is ~15–25 MiB with
// a full applied-receipt cache; the binary's own pages add ~25 MiB of RSS)
// keeps the process within an 80 MiB budget: near it the collector runs
// sooner. GOGC and GOMEMLIMIT in the environment win.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(200)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(48 << 20)
	}
}

const usage = `usage: gateway [command] [flags]

commands:
  serve          run the HTTP server and cron jobs (the default)
  migrate        apply the SQL migrations and exit
  dev-callback   sign a sample provider callback with the configured secret (and send it)
  reconcile      run the reconciler once: --once (settle unknown receipts, sweep unpaid orders)
  replay         re-drive stored receipts: --id N, or --status unknown [--provider P] [--limit N]; --dry-run
  report         reconciliation report: --from T --to T [--format json|csv]; --day D; --daily

every command takes --config FILE (or GATEWAY_CONFIG); every config key can be
overridden by GATEWAY_<PATH>, e.g. GATEWAY_DATABASE_DSN.`

// run is the whole program; main only supplies the process's context,
// arguments, environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stdout)
	case "migrate":
		return migrate(ctx, args, getenv, stdout)
	case "dev-callback":
		return devCallback(ctx, args, getenv, stdout)
	case "reconcile":
		return reconcileCmd(ctx, args, getenv, stdout)
	case "replay":
		return replayCmd(ctx, args, getenv, stdout)
	case "report":
		return reportCmd(ctx, args, getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

// flags returns a flag set with --config and parses args into it.
func flags(name string, args []string, stdout io.Writer, define func(*flag.FlagSet)) (*flag.FlagSet, *string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	cfgPath := fs.String("config", "", "YAML configuration file (default $GATEWAY_CONFIG)")
	if define != nil {
		define(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	return fs, cfgPath, nil
}

func loadConfig(path string, getenv func(string) string) (config.Config, error) {
	if path == "" {
		path = getenv("GATEWAY_CONFIG")
	}
	return config.Load(path, getenv)
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// newBufferedLogger is newLogger over a logBuffer flushed every interval
// (log.flush_interval); close writes out the rest. A zero interval writes
// every line through.
func newBufferedLogger(w io.Writer, level string, interval time.Duration) (log *slog.Logger, close func()) {
	if interval <= 0 {
		return newLogger(w, level), func() {}
	}
	buf := newLogBuffer(w, interval)
	log = newLogger(buf, level)
	return slog.New(flushOnWarn{log.Handler(), buf}), func() { _ = buf.Close() }
}
