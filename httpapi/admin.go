package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/ops"
	"gateway/report"
)

// adminRoutes adds the admin API (admin tokens only: an API token gets
// 403, none 401) and /metrics.
func (s *Server) adminRoutes(r *gin.Engine) {
	if s.metrics != nil {
		if s.metricsOpen {
			r.GET("/metrics", gin.WrapH(s.metrics))
		} else {
			r.GET("/metrics", s.auth(true), gin.WrapH(s.metrics))
		}
	}
	if s.ops == nil {
		return
	}
	adm := r.Group("/admin", s.auth(true))
	adm.GET("/callbacks", s.listReceipts())
	adm.GET("/callbacks/:id", s.showReceipt())
	adm.POST("/callbacks/:id/replay", s.replay())
	adm.POST("/callbacks/replay", s.bulkReplay())
	adm.GET("/audit", s.listAudit())
	adm.GET("/reports/reconciliation", s.reconciliation)
	adm.GET("/reports/reconciliation/daily/:date", s.dailyReport)
}

// actor is who the admin token says the caller is.
func actor(c *gin.Context) ops.Actor {
	p := c.GetString("principal")
	name, _ := strings.CutPrefix(p, "admin:")
	return ops.Actor{Name: name, Via: "http", RequestID: c.Writer.Header().Get("X-Request-Id")}
}

// receiptJSON is the Receipt shape of DESIGN §5.
type receiptJSON struct {
	ID          int64     `json:"id"`
	Provider    string    `json:"provider"`
	TxnID       string    `json:"txn_id"`
	EventID     string    `json:"event_id"`
	EventType   string    `json:"event_type"`
	OrderNo     string    `json:"order_no"`
	Amount      int64     `json:"amount"`
	Currency    string    `json:"currency"`
	Status      string    `json:"status"`
	Reason      string    `json:"reason"`
	Deliveries  int64     `json:"deliveries"`
	FirstSeenAt time.Time `json:"first_seen_at"`
	LastSeenAt  time.Time `json:"last_seen_at"`
}

func toReceiptJSON(r callbacks.Receipt) receiptJSON {
	return receiptJSON{ID: r.ID, Provider: r.Provider, TxnID: r.TxnID, EventID: r.EventID, EventType: r.EventType,
		OrderNo: r.OrderNo, Amount: r.Money.Amount, Currency: r.Money.Currency, Status: string(r.Status),
		Reason: r.Reason, Deliveries: r.Deliveries, FirstSeenAt: r.FirstSeenAt, LastSeenAt: r.LastSeenAt}
}

// receiptDetailJSON adds what an investigation needs: the raw body (as
// text when it is UTF-8, always as base64), the allow-listed headers, the
// acknowledgement that was sent, and the reconciler's fields.
type receiptDetailJSON struct {
	receiptJSON
	Kind          string              `json:"kind"`
	Reference     string              `json:"reference"`
	Cumulative    bool                `json:"cumulative"`
	Fingerprint   string              `json:"fingerprint"`
	Verified      string              `json:"verified"`
	Headers       map[string][]string `json:"headers"`
	RawBody       *string             `json:"raw_body"`
	RawBodyBase64 string              `json:"raw_body_base64"`
	Ack           ackJSON             `json:"ack"`
	Attempts      int                 `json:"attempts"`
	NextCheckAt   *time.Time          `json:"next_check_at"`
	ConflictOf    *int64              `json:"conflict_of"`
}

type ackJSON struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Body        string `json:"body"`
}

func toReceiptDetailJSON(r callbacks.Receipt) receiptDetailJSON {
	out := receiptDetailJSON{receiptJSON: toReceiptJSON(r), Kind: string(r.Kind), Reference: r.Reference,
		Cumulative: r.Cumulative, Fingerprint: r.Fingerprint, Verified: r.Verified, Headers: map[string][]string{},
		RawBodyBase64: base64.StdEncoding.EncodeToString(r.RawBody),
		Ack:           ackJSON{Status: r.Ack.Status, ContentType: r.Ack.ContentType, Body: string(r.Ack.Body)},
		Attempts:      r.Attempts, NextCheckAt: r.NextCheckAt, ConflictOf: r.ConflictOf}
	for k, v := range r.Headers {
		out.Headers[k] = v
	}
	if utf8.Valid(r.RawBody) {
		body := string(r.RawBody)
		out.RawBody = &body
	}
	return out
}

type listJSON[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func toListJSON[A, B any](p ops.Page[A], conv func(A) B) listJSON[B] {
	out := listJSON[B]{Items: make([]B, len(p.Items)), NextCursor: p.NextCursor}
	for i, it := range p.Items {
		out.Items[i] = conv(it)
	}
	return out
}

// receiptFilter reads status, provider, order_no, from, to, limit and cursor.
func receiptFilter(c *gin.Context) (ops.ReceiptFilter, error) {
	return receiptFilterWith(c, report.ParseTime)
}

// receiptFilterWith reads the filter with a parser of from and to.
func receiptFilterWith(c *gin.Context, parseTime func(string) (time.Time, error)) (ops.ReceiptFilter, error) {
	f := ops.ReceiptFilter{Status: callbacks.Status(c.Query("status")), Provider: c.Query("provider"), OrderNo: c.Query("order_no")}
	var err error
	if f.From, f.To, err = timeRangeWith(c, parseTime); err != nil {
		return f, err
	}
	if f.Limit, err = intParam(c, "limit"); err != nil {
		return f, err
	}
	f.Cursor, err = ops.ParseCursor(c.Query("cursor"))
	return f, err
}

func timeRange(c *gin.Context) (from, to time.Time, err error) {
	return timeRangeWith(c, report.ParseTime)
}

func timeRangeWith(c *gin.Context, parseTime func(string) (time.Time, error)) (from, to time.Time, err error) {
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		if v := c.Query(p.name); v != "" {
			if *p.dst, err = parseTime(v); err != nil {
				return from, to, fmt.Errorf("%w: %s: %v", ops.ErrInvalid, p.name, err)
			}
		}
	}
	return from, to, nil
}

func intParam(c *gin.Context, name string) (int, error) {
	v := c.Query(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%w: %s %q is not a positive integer", ops.ErrInvalid, name, v)
	}
	return n, nil
}

func boolParam(c *gin.Context, name string) (bool, error) {
	v := c.Query(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%w: %s %q is not true or false", ops.ErrInvalid, name, v)
	}
	return b, nil
}

func idParam(c *gin.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: receipt id %q", errBadRequest, c.Param("id"))
	}
	return id, nil
}

// adminJSON is the shape of the admin handlers: read the request, call
// the admin service as the token's actor, answer JSON (or the error
// through the one error table).
func adminJSON[In, Out any](s *Server, read func(*gin.Context) (In, error),
	call func(ctx context.Context, a ops.Actor, in In) (Out, error), write func(In, Out) any) gin.HandlerFunc {
	return func(c *gin.Context) {
		in, err := read(c)
		if err == nil {
			var out Out
			if out, err = call(c.Request.Context(), actor(c), in); err == nil {
				c.JSON(http.StatusOK, write(in, out))
				return
			}
		}
		s.fail(c, err)
	}
}

// listReceipts is GET /admin/callbacks.
func (s *Server) listReceipts() gin.HandlerFunc {
	return adminJSON(s, receiptFilter, s.ops.Receipts, func(_ ops.ReceiptFilter, p ops.Page[callbacks.Receipt]) any {
		return toListJSON(p, toReceiptJSON)
	})
}

// showReceipt is GET /admin/callbacks/{id}.
func (s *Server) showReceipt() gin.HandlerFunc {
	return adminJSON(s, idParam, s.ops.Receipt, func(_ int64, r callbacks.Receipt) any { return toReceiptDetailJSON(r) })
}

// orderStateJSON is an order without its ledger: a replay's before and after.
type orderStateJSON struct {
	OrderNo        string `json:"order_no"`
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency"`
	Status         string `json:"status"`
	Version        int64  `json:"version"`
	PaidAmount     int64  `json:"paid_amount"`
	RefundedAmount int64  `json:"refunded_amount"`
}

func toOrderState(o *ledger.Order) *orderStateJSON {
	if o == nil {
		return nil
	}
	return &orderStateJSON{OrderNo: o.OrderNo, Amount: o.Price.Amount, Currency: o.Price.Currency, Status: string(o.Status),
		Version: o.Version, PaidAmount: o.PaidAmount, RefundedAmount: o.RefundedAmount}
}

type outcomeJSON struct {
	Receipt   receiptJSON `json:"receipt"`
	Duplicate bool        `json:"duplicate"`
}

type replayJSON struct {
	ReceiptID      int64           `json:"receipt_id"`
	DryRun         bool            `json:"dry_run"`
	Action         string          `json:"action"`
	Changed        bool            `json:"changed"`
	PreviousStatus string          `json:"previous_status"`
	Receipt        receiptJSON     `json:"receipt"`
	OrderBefore    *orderStateJSON `json:"order_before"`
	OrderAfter     *orderStateJSON `json:"order_after"`
	Ledger         []entryJSON     `json:"ledger"`
	Reprocessed    []outcomeJSON   `json:"reprocessed,omitempty"`
}

func toReplayJSON(id int64, r callbacks.Redrive) replayJSON {
	out := replayJSON{ReceiptID: id, DryRun: r.DryRun, Action: string(r.Action), Changed: r.Changed,
		PreviousStatus: string(r.Previous), Receipt: toReceiptJSON(r.Receipt),
		OrderBefore: toOrderState(r.OrderBefore), OrderAfter: toOrderState(r.OrderAfter), Ledger: []entryJSON{}}
	for _, e := range r.Legs {
		out.Ledger = append(out.Ledger, entryJSON{Account: e.Account, Amount: e.Amount, Currency: e.Currency,
			TxnID: e.TxnID, Provider: e.Provider, CreatedAt: e.CreatedAt})
	}
	for _, o := range r.Reprocessed {
		out.Reprocessed = append(out.Reprocessed, outcomeJSON{Receipt: toReceiptJSON(o.Receipt), Duplicate: o.Duplicate})
	}
	return out
}

type replayRequest struct {
	id  int64
	dry bool
}

// replay is POST /admin/callbacks/{id}/replay[?dry_run=true].
func (s *Server) replay() gin.HandlerFunc {
	read := func(c *gin.Context) (replayRequest, error) {
		id, err := idParam(c)
		if err != nil {
			return replayRequest{}, err
		}
		dry, err := boolParam(c, "dry_run")
		return replayRequest{id, dry}, err
	}
	call := func(ctx context.Context, a ops.Actor, r replayRequest) (callbacks.Redrive, error) {
		return s.ops.Replay(ctx, a, r.id, r.dry)
	}
	return adminJSON(s, read, call, func(r replayRequest, res callbacks.Redrive) any { return toReplayJSON(r.id, res) })
}

type bulkItemJSON struct {
	ReceiptID      int64  `json:"receipt_id"`
	Provider       string `json:"provider"`
	TxnID          string `json:"txn_id"`
	PreviousStatus string `json:"previous_status"`
	Action         string `json:"action,omitempty"`
	Status         string `json:"status"`
	Error          string `json:"error,omitempty"`
}

type bulkJSON struct {
	DryRun  bool           `json:"dry_run"`
	Filter  string         `json:"filter"`
	Summary map[string]int `json:"summary"`
	Stopped bool           `json:"stopped"`
	Items   []bulkItemJSON `json:"items"`
}

func toBulkJSON(b ops.Bulk) bulkJSON {
	out := bulkJSON{DryRun: b.DryRun, Filter: b.Filter.String(), Stopped: b.Stopped, Items: []bulkItemJSON{},
		Summary: map[string]int{"selected": b.Selected, "done": b.Done, "failed": b.Failed}}
	for a, n := range b.Actions {
		out.Summary[string(a)] = n
	}
	for _, it := range b.Items {
		j := bulkItemJSON{ReceiptID: it.ReceiptID, Provider: it.Provider, TxnID: it.TxnID,
			PreviousStatus: string(it.Previous), Action: string(it.Action), Status: string(it.Status)}
		if it.Err != nil {
			_, body := toStatus(it.Err)
			j.Error = body.Error.Code + ": " + body.Error.Message
		}
		out.Items = append(out.Items, j)
	}
	return out
}

type bulkRequest struct {
	filter   ops.ReceiptFilter
	dry      bool
	progress ops.Progress
}

// bulkReplay is POST /admin/callbacks/replay?status=&provider=&order_no=&from=&to=&limit=&dry_run=.
// It answers when the run is done, with a summary and one line per receipt;
// progress goes to the log.
func (s *Server) bulkReplay() gin.HandlerFunc {
	read := func(c *gin.Context) (bulkRequest, error) {
		f, err := receiptFilter(c)
		if err != nil {
			return bulkRequest{}, err
		}
		dry, err := boolParam(c, "dry_run")
		log := logger(c, s.log)
		return bulkRequest{f, dry, func(done, total int, it ops.BulkItem) {
			if done%25 == 0 || done == total {
				log.Info("bulk replay progress", "done", done, "total", total, "last", it.ReceiptID)
			}
		}}, err
	}
	call := func(ctx context.Context, a ops.Actor, r bulkRequest) (ops.Bulk, error) {
		return s.ops.BulkReplay(ctx, a, r.filter, r.dry, r.progress)
	}
	return adminJSON(s, read, call, func(_ bulkRequest, b ops.Bulk) any { return toBulkJSON(b) })
}

type auditJSON struct {
	ID        int64           `json:"id"`
	At        time.Time       `json:"at"`
	Actor     string          `json:"actor"`
	Via       string          `json:"via"`
	Action    string          `json:"action"`
	Target    string          `json:"target"`
	Result    string          `json:"result"`
	Detail    json.RawMessage `json:"detail"`
	RequestID string          `json:"request_id,omitempty"`
}

func toAuditJSON(e ops.AuditEntry) auditJSON {
	d := e.Detail
	if !json.Valid(d) {
		d = json.RawMessage(`{}`)
	}
	return auditJSON{ID: e.ID, At: e.At, Actor: e.Actor, Via: e.Via, Action: e.Action, Target: e.Target,
		Result: e.Result, Detail: d, RequestID: e.RequestID}
}

// listAudit is GET /admin/audit?actor=&action=&target=&from=&to=&limit=&cursor=.
func (s *Server) listAudit() gin.HandlerFunc {
	read := func(c *gin.Context) (ops.AuditFilter, error) {
		f := ops.AuditFilter{Actor: c.Query("actor"), Action: c.Query("action"), Target: c.Query("target")}
		var err error
		if f.From, f.To, err = timeRange(c); err == nil {
			if f.Limit, err = intParam(c, "limit"); err == nil {
				f.Cursor, err = ops.ParseCursor(c.Query("cursor"))
			}
		}
		return f, err
	}
	return adminJSON(s, read, s.ops.Audit, func(_ ops.AuditFilter, p ops.Page[ops.AuditEntry]) any {
		return toListJSON(p, toAuditJSON)
	})
}

// reconciliation is GET /admin/reports/reconciliation?from=&to=&format=json|csv.
func (s *Server) reconciliation(c *gin.Context) {
	format, err := reportFormat(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	p, err := report.ParsePeriod(c.Query("from"), c.Query("to"))
	if err != nil {
		s.fail(c, err)
		return
	}
	r, err := s.ops.Reconciliation(c.Request.Context(), actor(c), p)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeReport(c, r, format, periodReportName(r))
}

// periodReportName names a period's report file.
func periodReportName(r report.Report) string {
	return "reconciliation_" + r.From.Format("20060102T150405Z") + "_" + r.To.Format("20060102T150405Z")
}

// dailyReport is GET /admin/reports/reconciliation/daily/{date}?format=json|csv.
func (s *Server) dailyReport(c *gin.Context) {
	format, err := reportFormat(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	r, err := s.ops.DailyReport(c.Request.Context(), actor(c), c.Param("date"))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeReport(c, r, format, "reconciliation_"+r.From.Format(time.DateOnly))
}

func reportFormat(c *gin.Context) (string, error) {
	switch f := c.DefaultQuery("format", "json"); f {
	case "json", "csv":
		return f, nil
	default:
		return "", fmt.Errorf("%w: format %q is not json or csv", errBadRequest, f)
	}
}

func (s *Server) writeReport(c *gin.Context, r report.Report, format, name string) {
	if format == "json" {
		c.JSON(http.StatusOK, r)
		return
	}
	var b strings.Builder
	if err := report.WriteCSV(&b, r); err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	c.Data(http.StatusOK, "text/csv; charset=utf-8", []byte(b.String()))
}
