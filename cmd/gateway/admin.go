package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"gateway/callbacks"
	"gateway/ops"
	"gateway/report"
)

// openAdmin loads the configuration and opens the app for a one-shot
// admin command; its logs go to stderr at warn level so that stdout
// carries only the command's output.
func openAdmin(ctx context.Context, cfgPath string, getenv func(string) string) (*app, error) {
	cfg, err := loadConfig(cfgPath, getenv)
	if err != nil {
		return nil, err
	}
	log := newLogger(os.Stderr, "warn")
	return openApp(ctx, cfg, log, cfg.Database.Migrate == nil || *cfg.Database.Migrate)
}

// cliActor names the person at the terminal in the audit log.
func cliActor(getenv func(string) string) ops.Actor {
	user := getenv("USER")
	if user == "" {
		user = "unknown"
	}
	return ops.Actor{Name: "cli:" + user, Via: "cli"}
}

// replayCmd is `gateway replay --id N [--dry-run]` or
// `gateway replay --status unknown [--provider P] [--order O] [--from T] [--to T] [--limit N] [--dry-run]`.
func replayCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var id int64
	var status, provider, orderNo, from, to string
	var limit int
	var dryRun bool
	_, cfgPath, err := flags("replay", args, stdout, func(fs *flag.FlagSet) {
		fs.Int64Var(&id, "id", 0, "replay the receipt with this id")
		fs.StringVar(&status, "status", "", "bulk: replay receipts with this status (unknown, rejected, escalated)")
		fs.StringVar(&provider, "provider", "", "bulk: only this provider")
		fs.StringVar(&orderNo, "order", "", "bulk: only this order number")
		fs.StringVar(&from, "from", "", "bulk: first seen at or after (RFC 3339 or YYYY-MM-DD)")
		fs.StringVar(&to, "to", "", "bulk: first seen before (RFC 3339 or YYYY-MM-DD)")
		fs.IntVar(&limit, "limit", ops.DefaultBulk, "bulk: at most this many receipts, oldest first")
		fs.BoolVar(&dryRun, "dry-run", false, "show what would happen and write nothing (but the audit row)")
	})
	if err != nil {
		return err
	}
	if (id == 0) == (status == "") {
		return errors.New("replay: give either --id N or --status S (with optional --provider, --order, --from, --to, --limit)")
	}
	f := ops.ReceiptFilter{Status: callbacks.Status(status), Provider: provider, OrderNo: orderNo, Limit: limit}
	if from != "" {
		if f.From, err = report.ParseTime(from); err != nil {
			return fmt.Errorf("replay: --from: %w", err)
		}
	}
	if to != "" {
		if f.To, err = report.ParseTime(to); err != nil {
			return fmt.Errorf("replay: --to: %w", err)
		}
	}
	a, err := openAdmin(ctx, *cfgPath, getenv)
	if err != nil {
		return err
	}
	defer a.close(context.Background())
	who := cliActor(getenv)
	if id != 0 {
		res, err := a.ops.Replay(ctx, who, id, dryRun)
		if err != nil {
			return fmt.Errorf("replay %d: %w", id, err)
		}
		printRedrive(stdout, id, res)
		return nil
	}
	progress := func(done, total int, it ops.BulkItem) {
		line := fmt.Sprintf("[%d/%d] receipt %d %s %s: %s", done, total, it.ReceiptID, it.Provider, it.TxnID, it.Previous)
		if it.Err != nil {
			line += " → failed: " + it.Err.Error()
		} else {
			line += " → " + string(it.Action)
		}
		fmt.Fprintln(stdout, line)
	}
	b, err := a.ops.BulkReplay(ctx, who, f, dryRun, progress)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	printBulk(stdout, b)
	if b.Failed > 0 {
		return fmt.Errorf("replay: %d of %d receipts failed", b.Failed, b.Selected)
	}
	return nil
}

func printRedrive(w io.Writer, id int64, r callbacks.Redrive) {
	prefix := ""
	if r.DryRun {
		prefix = "dry run: "
	}
	fmt.Fprintf(w, "%sreceipt %d %s %s: %s → %s (%s)\n", prefix, id, r.Receipt.Provider, r.Receipt.TxnID,
		r.Previous, r.Action, r.Receipt.Reason)
	if r.OrderBefore != nil {
		o := r.OrderBefore
		fmt.Fprintf(w, "  order %s before: %s v%d paid %d refunded %d %s\n", o.OrderNo, o.Status, o.Version, o.PaidAmount, o.RefundedAmount, o.Price.Currency)
	}
	if r.OrderAfter != nil {
		o := r.OrderAfter
		fmt.Fprintf(w, "  order %s after:  %s v%d paid %d refunded %d %s\n", o.OrderNo, o.Status, o.Version, o.PaidAmount, o.RefundedAmount, o.Price.Currency)
	}
	for _, e := range r.Legs {
		fmt.Fprintf(w, "  ledger %-24s %12d %s\n", e.Account, e.Amount, e.Currency)
	}
	for _, o := range r.Reprocessed {
		fmt.Fprintf(w, "  reprocessed as %s: %s (duplicate %t)\n", o.Receipt.TxnID, o.Receipt.Status, o.Duplicate)
	}
}

func printBulk(w io.Writer, b ops.Bulk) {
	var parts []string
	for _, a := range []callbacks.Action{callbacks.ActionApplied, callbacks.ActionRejected, callbacks.ActionUnknown,
		callbacks.ActionEscalated, callbacks.ActionNoop, callbacks.ActionReprocessed} {
		if n := b.Actions[a]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", a, n))
		}
	}
	prefix := ""
	if b.DryRun {
		prefix = "dry run: "
	}
	fmt.Fprintf(w, "%sselected %d, done %d, failed %d; %s\n", prefix, b.Selected, b.Done, b.Failed, strings.Join(parts, ", "))
	if b.Stopped {
		fmt.Fprintln(w, "stopped before the end")
	}
}

// reportCmd is `gateway report --from T --to T [--format json|csv]`,
// `gateway report --day YYYY-MM-DD` (a stored daily report) or
// `gateway report --daily` (run the daily job once).
func reportCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var from, to, format, day string
	var daily bool
	_, cfgPath, err := flags("report", args, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&from, "from", "", "period start (RFC 3339 or YYYY-MM-DD, UTC)")
		fs.StringVar(&to, "to", "", "period end, exclusive")
		fs.StringVar(&format, "format", "json", "json or csv")
		fs.StringVar(&day, "day", "", "print the stored daily report of this UTC day")
		fs.BoolVar(&daily, "daily", false, "run the daily job once: store the reports of the last days that are missing")
	})
	if err != nil {
		return err
	}
	if format != "json" && format != "csv" {
		return fmt.Errorf("report: --format %q is not json or csv", format)
	}
	var p report.Period
	if !daily && day == "" {
		if p, err = report.ParsePeriod(from, to); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	a, err := openAdmin(ctx, *cfgPath, getenv)
	if err != nil {
		return err
	}
	defer a.close(context.Background())
	var r report.Report
	switch {
	case daily:
		days, err := a.reports.StoreDaily(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "daily reports stored: %v\n", days)
		return nil
	case day != "":
		r, err = a.ops.DailyReport(ctx, cliActor(getenv), day)
	default:
		r, err = a.ops.Reconciliation(ctx, cliActor(getenv), p)
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if format == "csv" {
		return report.WriteCSV(stdout, r)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
