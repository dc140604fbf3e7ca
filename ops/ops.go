// Package ops is what operations staff and admins do to the gateway:
// search receipts, look at one with its raw bytes, replay receipts through
// the pipeline (one, or many by filter, or as a dry run), read the
// reconciliation report, and read the audit log. Every action goes through
// Service, which records who did what to which target with what result in
// the append-only audit log. It knows nothing of HTTP: the admin API and
// the command line both call it.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"gateway/callbacks"
	"gateway/report"
)

// Errors of the admin service.
var (
	// ErrInvalid: a filter or parameter is not acceptable; nothing was done.
	ErrInvalid = errors.New("invalid filter")
	// ErrAudit: the action's audit row could not be written.
	ErrAudit = errors.New("audit row not written")
)

// Actor is who performs an admin action.
type Actor struct {
	// Name is the admin token's name ("ops" for a token configured as
	// "ops:…"), or "cli:<user>" on the command line.
	Name string
	// Via is "http" or "cli".
	Via string
	// RequestID ties the audit row to the request's log lines.
	RequestID string
}

// Audit actions.
const (
	ActionListReceipts     = "callbacks.list"
	ActionShowReceipt      = "callbacks.show"
	ActionReplay           = "callbacks.replay"
	ActionReplayDryRun     = "callbacks.replay_dry_run"
	ActionBulkReplay       = "callbacks.replay_bulk"
	ActionBulkReplayDryRun = "callbacks.replay_bulk_dry_run"
	ActionReport           = "reports.reconciliation"
	ActionDailyReport      = "reports.reconciliation_daily"
	ActionListAudit        = "audit.list"
)

// Results of an audited action besides a replay's action.
const (
	ResultOK     = "ok"
	ResultFailed = "failed"
)

// AuditEntry is one row of the append-only audit log.
type AuditEntry struct {
	ID        int64
	At        time.Time
	Actor     string
	Via       string
	Action    string
	Target    string
	Result    string
	Detail    json.RawMessage
	RequestID string
}

// Store is what the admin service needs from the database. It has no way
// to change or delete an audit row.
type Store interface {
	// ListReceipts returns up to f.Limit receipts matching f, without raw
	// bodies and headers, newest first (oldest first with f.Oldest).
	ListReceipts(ctx context.Context, f ReceiptFilter) ([]callbacks.Receipt, error)
	// ReceiptByID returns a whole receipt; callbacks.ErrNotFound if none.
	ReceiptByID(ctx context.Context, id int64) (callbacks.Receipt, error)
	// AppendAudit inserts e and sets e.ID.
	AppendAudit(ctx context.Context, e *AuditEntry) error
	// ListAudit returns up to f.Limit audit rows, newest first.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
	// ReceiptHistogram counts receipts first seen in n buckets of step
	// from `from`, by bucket, provider and status (only non-zero counts).
	ReceiptHistogram(ctx context.Context, from time.Time, step time.Duration, n int) ([]HistogramCount, error)
	// Backlog counts the unknown and escalated receipts per provider, with
	// the oldest one's first sighting.
	Backlog(ctx context.Context) ([]callbacks.Backlog, error)
}

// Redriver re-drives a stored receipt through the pipeline
// (*callbacks.Service).
type Redriver interface {
	Redrive(ctx context.Context, id int64, dryRun bool) (callbacks.Redrive, error)
}

// Reporter computes and serves reconciliation reports (*report.Service).
type Reporter interface {
	Reconciliation(ctx context.Context, p report.Period) (report.Report, error)
	Daily(ctx context.Context, day string) (report.Report, error)
}

// Service is the admin service.
type Service struct {
	store    Store
	redriver Redriver
	reporter Reporter
	log      *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// New returns the admin service.
func New(store Store, redriver Redriver, reporter Reporter, log *slog.Logger) *Service {
	return &Service{store: store, redriver: redriver, reporter: reporter, log: log, Now: time.Now}
}

// Page is one page of a cursor-paginated list. NextCursor is empty on the
// last page; it is opaque to clients.
type Page[T any] struct {
	Items      []T
	NextCursor string
}

// page cuts rows fetched with limit+1 into a page and the cursor of the next.
func page[T any](rows []T, limit int, id func(T) int64) Page[T] {
	if len(rows) <= limit {
		return Page[T]{Items: rows}
	}
	rows = rows[:limit]
	return Page[T]{Items: rows, NextCursor: strconv.FormatInt(id(rows[limit-1]), 10)}
}

// ParseCursor reads a cursor that a previous page returned.
func ParseCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%w: cursor %q is not one this API returned", ErrInvalid, s)
	}
	return v, nil
}

// Receipt filter limits.
const (
	DefaultLimit  = 50
	MaxLimit      = 500
	DefaultBulk   = 100
	MaxBulk       = 1000
	maxFilterText = 191
)

// ReceiptFilter selects receipts. Zero fields do not filter.
type ReceiptFilter struct {
	Status   callbacks.Status
	Provider string
	OrderNo  string
	// From and To bound first_seen_at: From <= first_seen_at < To.
	From, To time.Time
	Limit    int
	// Cursor continues a listing after the receipt with this id.
	Cursor int64
	// Oldest lists oldest first (bulk replay works through the longest
	// waiting receipts first); the default is newest first.
	Oldest bool
}

func (f *ReceiptFilter) validate(defaultLimit, maxLimit int) error {
	switch f.Status {
	case "", callbacks.StatusApplied, callbacks.StatusRejected, callbacks.StatusUnknown,
		callbacks.StatusConflict, callbacks.StatusEscalated:
	default:
		return fmt.Errorf("%w: status %q is not applied, rejected, unknown, conflict or escalated", ErrInvalid, f.Status)
	}
	if len(f.Provider) > 32 || len(f.OrderNo) > 64 {
		return fmt.Errorf("%w: provider or order_no too long", ErrInvalid)
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return fmt.Errorf("%w: to must be after from", ErrInvalid)
	}
	if f.Limit == 0 {
		f.Limit = defaultLimit
	}
	if f.Limit < 1 || f.Limit > maxLimit {
		return fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalid, maxLimit)
	}
	if f.Cursor < 0 {
		return fmt.Errorf("%w: bad cursor", ErrInvalid)
	}
	return nil
}

// String renders the filter as a query string, for the audit log.
func (f ReceiptFilter) String() string {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("status", string(f.Status))
	set("provider", f.Provider)
	set("order_no", f.OrderNo)
	if !f.From.IsZero() {
		v.Set("from", f.From.UTC().Format(time.RFC3339Nano))
	}
	if !f.To.IsZero() {
		v.Set("to", f.To.UTC().Format(time.RFC3339Nano))
	}
	if f.Limit != 0 {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Cursor != 0 {
		v.Set("cursor", strconv.FormatInt(f.Cursor, 10))
	}
	return v.Encode()
}

// Receipts lists receipts matching f, one page at a time.
func (s *Service) Receipts(ctx context.Context, a Actor, f ReceiptFilter) (Page[callbacks.Receipt], error) {
	res, err := s.receipts(ctx, f)
	detail := map[string]any{"items": len(res.Items)}
	if aerr := s.record(ctx, a, ActionListReceipts, f.String(), ResultOK, detail, err); err == nil && aerr != nil {
		return Page[callbacks.Receipt]{}, aerr
	}
	return res, err
}

func (s *Service) receipts(ctx context.Context, f ReceiptFilter) (Page[callbacks.Receipt], error) {
	if err := f.validate(DefaultLimit, MaxLimit); err != nil {
		return Page[callbacks.Receipt]{}, err
	}
	limit := f.Limit
	f.Limit++
	rows, err := s.store.ListReceipts(ctx, f)
	if err != nil {
		return Page[callbacks.Receipt]{}, fmt.Errorf("ops: list receipts: %w", err)
	}
	return page(rows, limit, func(r callbacks.Receipt) int64 { return r.ID }), nil
}

// Receipt returns one receipt with its raw body and allow-listed headers.
// Looking at raw bytes is audited.
func (s *Service) Receipt(ctx context.Context, a Actor, id int64) (callbacks.Receipt, error) {
	r, err := s.store.ReceiptByID(ctx, id)
	if aerr := s.record(ctx, a, ActionShowReceipt, receiptTarget(id), ResultOK, nil, err); err == nil && aerr != nil {
		return callbacks.Receipt{}, aerr
	}
	return r, err
}

func receiptTarget(id int64) string { return "receipt:" + strconv.FormatInt(id, 10) }

// Replay re-drives one receipt through the pipeline (see
// callbacks.Service.Redrive). A dry run writes nothing but its audit row:
// looking at what a replay would do is an admin action too.
func (s *Service) Replay(ctx context.Context, a Actor, id int64, dryRun bool) (callbacks.Redrive, error) {
	res, err := s.redriver.Redrive(ctx, id, dryRun)
	action := ActionReplay
	if dryRun {
		action = ActionReplayDryRun
	}
	if aerr := s.record(ctx, a, action, receiptTarget(id), string(res.Action), replayDetail(res), err); aerr != nil {
		if err != nil {
			return res, err
		}
		return res, fmt.Errorf("ops: receipt %d replayed (%s), but: %w", id, res.Action, aerr)
	}
	return res, err
}

func replayDetail(r callbacks.Redrive) map[string]any {
	d := map[string]any{"previous_status": r.Previous, "status": r.Receipt.Status, "changed": r.Changed}
	if r.Receipt.Provider != "" {
		d["provider"], d["txn_id"] = r.Receipt.Provider, r.Receipt.TxnID
	}
	if r.OrderAfter != nil {
		d["order_no"], d["order_status"], d["legs"] = r.OrderAfter.OrderNo, r.OrderAfter.Status, len(r.Legs)
	}
	for i, o := range r.Reprocessed {
		d["reprocessed_"+strconv.Itoa(i)] = fmt.Sprintf("receipt %d %s %s duplicate=%t", o.Receipt.ID, o.Receipt.TxnID, o.Receipt.Status, o.Duplicate)
	}
	return d
}

// BulkItem is the result of one receipt of a bulk replay.
type BulkItem struct {
	ReceiptID int64
	Provider  string
	TxnID     string
	Previous  callbacks.Status
	Action    callbacks.Action
	Status    callbacks.Status
	Err       error
}

// Bulk is the summary of a bulk replay.
type Bulk struct {
	Filter   ReceiptFilter
	DryRun   bool
	Selected int
	Done     int
	Actions  map[callbacks.Action]int
	Failed   int
	// Stopped is set when the context ended before every selected receipt
	// was replayed.
	Stopped bool
	Items   []BulkItem
}

// Progress is told about each receipt of a bulk replay as it is done.
type Progress func(done, total int, item BulkItem)

// BulkReplay replays up to f.Limit receipts of a waiting status (unknown,
// rejected, escalated), oldest first, one by one, each audited, and
// audits the summary. A receipt that fails is counted and the rest go on;
// the context's end stops the run.
func (s *Service) BulkReplay(ctx context.Context, a Actor, f ReceiptFilter, dryRun bool, progress Progress) (Bulk, error) {
	b, err := s.bulk(ctx, a, f, dryRun, progress)
	action := ActionBulkReplay
	if dryRun {
		action = ActionBulkReplayDryRun
	}
	detail := map[string]any{"selected": b.Selected, "done": b.Done, "failed": b.Failed, "stopped": b.Stopped}
	for k, v := range b.Actions {
		detail[string(k)] = v
	}
	if aerr := s.record(ctx, a, action, f.String(), ResultOK, detail, err); err == nil && aerr != nil {
		return b, aerr
	}
	return b, err
}

func (s *Service) bulk(ctx context.Context, a Actor, f ReceiptFilter, dryRun bool, progress Progress) (Bulk, error) {
	b := Bulk{Filter: f, DryRun: dryRun, Actions: map[callbacks.Action]int{}}
	switch f.Status {
	case callbacks.StatusUnknown, callbacks.StatusRejected, callbacks.StatusEscalated:
	default:
		return b, fmt.Errorf("%w: bulk replay needs status unknown, rejected or escalated", ErrInvalid)
	}
	f.Oldest, f.Cursor = true, 0
	if err := f.validate(DefaultBulk, MaxBulk); err != nil {
		return b, err
	}
	b.Filter = f
	rows, err := s.store.ListReceipts(ctx, f)
	if err != nil {
		return b, fmt.Errorf("ops: select receipts: %w", err)
	}
	b.Selected = len(rows)
	for _, r := range rows {
		if ctx.Err() != nil {
			b.Stopped = true
			break
		}
		res, err := s.Replay(ctx, a, r.ID, dryRun)
		if errors.Is(err, ErrAudit) {
			return b, err // no replay without its audit row
		}
		it := BulkItem{ReceiptID: r.ID, Provider: r.Provider, TxnID: r.TxnID, Previous: r.Status,
			Action: res.Action, Status: res.Receipt.Status, Err: err}
		if err != nil {
			it.Status = r.Status
			b.Failed++
		} else {
			b.Actions[res.Action]++
		}
		b.Done++
		b.Items = append(b.Items, it)
		if progress != nil {
			progress(b.Done, b.Selected, it)
		}
	}
	return b, nil
}

// Reconciliation computes the reconciliation report for a period.
func (s *Service) Reconciliation(ctx context.Context, a Actor, p report.Period) (report.Report, error) {
	r, err := s.reporter.Reconciliation(ctx, p)
	target := "period:" + p.String()
	if aerr := s.record(ctx, a, ActionReport, target, ResultOK, map[string]any{"ledger_ok": r.LedgerCheck.OK}, err); err == nil && aerr != nil {
		return report.Report{}, aerr
	}
	return r, err
}

// DailyReport returns a stored daily report (day is YYYY-MM-DD, UTC).
func (s *Service) DailyReport(ctx context.Context, a Actor, day string) (report.Report, error) {
	r, err := s.reporter.Daily(ctx, day)
	if aerr := s.record(ctx, a, ActionDailyReport, "day:"+day, ResultOK, nil, err); err == nil && aerr != nil {
		return report.Report{}, aerr
	}
	return r, err
}

// AuditFilter selects audit rows. Zero fields do not filter.
type AuditFilter struct {
	Actor  string
	Action string
	Target string
	// From and To bound the time: From <= at < To.
	From, To time.Time
	Limit    int
	// Cursor continues a listing after the row with this id.
	Cursor int64
}

// String renders the filter as a query string, for the audit log.
func (f AuditFilter) String() string {
	rf := ReceiptFilter{From: f.From, To: f.To, Limit: f.Limit, Cursor: f.Cursor}
	v, _ := url.ParseQuery(rf.String())
	for k, s := range map[string]string{"actor": f.Actor, "action": f.Action, "target": f.Target} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v.Encode()
}

// Audit lists the audit log, newest first, one page at a time.
func (s *Service) Audit(ctx context.Context, a Actor, f AuditFilter) (Page[AuditEntry], error) {
	res, err := s.audit(ctx, f)
	if aerr := s.record(ctx, a, ActionListAudit, f.String(), ResultOK, map[string]any{"items": len(res.Items)}, err); err == nil && aerr != nil {
		return Page[AuditEntry]{}, aerr
	}
	return res, err
}

func (s *Service) audit(ctx context.Context, f AuditFilter) (Page[AuditEntry], error) {
	if len(f.Actor) > 64 || len(f.Action) > 64 || len(f.Target) > maxFilterText {
		return Page[AuditEntry]{}, fmt.Errorf("%w: actor, action or target too long", ErrInvalid)
	}
	rf := ReceiptFilter{From: f.From, To: f.To, Limit: f.Limit, Cursor: f.Cursor}
	if err := rf.validate(DefaultLimit, MaxLimit); err != nil {
		return Page[AuditEntry]{}, err
	}
	f.Limit = rf.Limit + 1
	rows, err := s.store.ListAudit(ctx, f)
	if err != nil {
		return Page[AuditEntry]{}, fmt.Errorf("ops: list audit: %w", err)
	}
	return page(rows, rf.Limit, func(e AuditEntry) int64 { return e.ID }), nil
}

// record appends an audit row. A failed action is recorded with result
// "failed" and its error. The row is written even when the caller has gone
// away (the action may have happened); a row that cannot be written is
// logged in full and returned as an error.
func (s *Service) record(ctx context.Context, a Actor, action, target, result string, detail map[string]any, err error) error {
	if detail == nil {
		detail = map[string]any{}
	}
	if err != nil {
		result = ResultFailed
		detail["error"] = err.Error()
	}
	if result == "" {
		result = ResultOK
	}
	target = clip(target, maxFilterText)
	body, jerr := json.Marshal(detail)
	if jerr != nil {
		body = []byte(`{}`)
	}
	e := AuditEntry{At: s.Now().UTC(), Actor: clip(a.Name, 64), Via: a.Via, Action: action, Target: target,
		Result: result, Detail: body, RequestID: a.RequestID}
	if werr := s.store.AppendAudit(context.WithoutCancel(ctx), &e); werr != nil {
		s.log.Error("audit row not written", "actor", e.Actor, "via", e.Via, "action", action, "target", target,
			"result", result, "detail", string(body), "request_id", a.RequestID, "err", werr)
		return fmt.Errorf("%w: %w", ErrAudit, werr)
	}
	return nil
}

// clip cuts s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
