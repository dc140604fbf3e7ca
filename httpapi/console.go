package httpapi

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/ops"
	"gateway/report"
)

// The operations console: server-rendered HTML pages under /admin/ui for
// what the admin API does — the overview, receipts, a receipt with its
// order, replay with a dry-run preview and a confirmation, the
// reconciliation report and its CSV, the audit log. Every page and action
// calls the admin service (ops) as the logged-in token's principal, so it
// is audited like the API. Templates, CSS and everything else are embedded;
// the pages load nothing from elsewhere and run no JavaScript. The routes
// are in server.go; the login sessions in session.go.

//go:embed console
var consoleFiles embed.FS

// console holds the parsed pages and the session keys.
type console struct {
	sessions  *sessions
	pages     map[string]*template.Template
	css       []byte
	providers []string
}

// consolePages are the page templates; each is executed with layout.html.
var consolePages = []string{"login", "overview", "receipts", "receipt", "replay", "report", "audit", "error"}

var consoleFuncs = template.FuncMap{
	"money": func(amount int64, currency string) string {
		if currency == "" {
			return fmt.Sprint(amount)
		}
		return ledger.FormatDecimal(amount, currency) + " " + currency
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"age":       age,
	"count":     func(c ops.Counts, st callbacks.Status) int64 { return c[st] },
	"statuses":  func() []callbacks.Status { return ops.Statuses },
	"pageSizes": func() []string { return []string{"25", "50", "100", "200"} },
	"rejections": func(ps []report.ProviderReport) int {
		n := 0
		for _, p := range ps {
			n += len(p.Rejections)
		}
		return n
	},
	"sweeps": func(ps []report.ProviderReport) int {
		n := 0
		for _, p := range ps {
			n += len(p.PaidAtProviderNotLocally)
		}
		return n
	},
}

func newConsole(d Deps, admins []token, providers []string) *console {
	css, err := fs.ReadFile(consoleFiles, "console/console.css")
	if err != nil {
		panic(err) // embedded at build time
	}
	c := &console{pages: map[string]*template.Template{}, css: css, providers: providers,
		sessions: newSessions([]byte(d.Console.SessionKey), time.Duration(d.Console.SessionTTL), d.Console.SecureCookie, d.Now, admins)}
	for _, p := range consolePages {
		c.pages[p] = template.Must(template.New(p).Funcs(consoleFuncs).ParseFS(consoleFiles, "console/layout.html", "console/"+p+".html"))
	}
	return c
}

// page is what every template gets.
type page struct {
	Title string
	Nav   string
	// Actor and CSRF are set for a logged-in page: the principal, and the
	// token every form of the page posts back.
	Actor string
	CSRF  string
	// Error is shown above the page's content.
	Error string
	Data  any
}

// render executes a page into a buffer first, so that a template error is
// a clean 500, not half a page.
func (s *Server) render(c *gin.Context, status int, name string, p page) {
	if sess, ok := consoleSessionOf(c); ok {
		p.Actor, p.CSRF = sess.Name, s.console.sessions.csrf(purposeSession, sess)
	}
	var b bytes.Buffer
	if err := s.console.pages[name].ExecuteTemplate(&b, "layout", p); err != nil {
		logger(c, s.log).Error("console template", "page", name, "err", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error"))
		return
	}
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
}

type errorView struct {
	Status  int
	Code    string
	Message string
	Back    string
}

// consoleFail answers an error as a page, through the one error table.
func (s *Server) consoleFail(c *gin.Context, err error, back string) {
	status, body := toStatus(err)
	if status >= 500 {
		logger(c, s.log).Error("console request failed", "status", status, "err", err)
	}
	s.render(c, status, "error", page{Title: http.StatusText(status),
		Data: errorView{Status: status, Code: body.Error.Code, Message: body.Error.Message, Back: back}})
	c.Abort()
}

// consoleHeaders keeps the pages from being framed, cached, sniffed or
// from loading anything but this site's stylesheet.
func consoleHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	c.Next()
}

func (s *Server) consoleCSS(c *gin.Context) {
	c.Header("Cache-Control", "max-age=300")
	c.Data(http.StatusOK, "text/css; charset=utf-8", s.console.css)
}

// consoleSession requires a valid session cookie: a page sends the
// browser to log in, an action (POST) answers 401.
func (s *Server) consoleSession(action bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		sess, err := s.console.sessions.fromRequest(c.Request)
		if err == nil {
			c.Set("console_session", sess)
			c.Next()
			return
		}
		if !errors.Is(err, http.ErrNoCookie) {
			logger(c, s.log).Info("console session refused", "err", err)
			http.SetCookie(c.Writer, s.console.sessions.cookie(c.Request, sessionCookie, consoleBase, "", 0))
		}
		if action {
			s.consoleFail(c, errLoginRequired, loginPath)
			return
		}
		c.Redirect(http.StatusSeeOther, loginPath+"?next="+url.QueryEscape(c.Request.URL.RequestURI()))
		c.Abort()
	}
}

func consoleSessionOf(c *gin.Context) (session, bool) {
	v, ok := c.Get("console_session")
	if !ok {
		return session{}, false
	}
	sess, ok := v.(session)
	return sess, ok
}

// consoleActor is who the session says the caller is.
func consoleActor(c *gin.Context) ops.Actor {
	sess, _ := consoleSessionOf(c)
	return sessionActor(c, sess)
}

func sessionActor(c *gin.Context, sess session) ops.Actor {
	return ops.Actor{Name: sess.Name, Via: "console", RequestID: c.Writer.Header().Get("X-Request-Id")}
}

// maxFormBytes bounds a console form.
const maxFormBytes = 16 << 10

func parseForm(c *gin.Context) error {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxFormBytes)
	if err := c.Request.ParseForm(); err != nil {
		return fmt.Errorf("%w: %v", errBadRequest, err)
	}
	return nil
}

// consoleCSRF requires the session's CSRF token in the posted form.
func (s *Server) consoleCSRF(c *gin.Context) {
	if err := parseForm(c); err != nil {
		s.consoleFail(c, err, consoleBase+"/")
		return
	}
	sess, _ := consoleSessionOf(c)
	if !s.console.sessions.checkCSRF(purposeSession, sess, c.Request.PostForm.Get("csrf")) {
		logger(c, s.log).Warn("console CSRF token refused", "actor", sess.Name, "path", c.Request.URL.Path)
		s.consoleFail(c, errCSRF, consoleBase+"/")
		return
	}
	c.Next()
}

// --- login and logout ---

type loginView struct {
	CSRF string
	Next string
}

// loginForm shows the login form, with a CSRF token bound to a short-lived
// cookie of its own (so that no other site can log a browser in).
func (s *Server) loginForm(c *gin.Context) {
	next := safeNext(c.Query("next"))
	if _, err := s.console.sessions.fromRequest(c.Request); err == nil {
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	s.renderLogin(c, http.StatusOK, next, "")
}

func (s *Server) renderLogin(c *gin.Context, status int, next, msg string) {
	ss := s.console.sessions
	var form session
	if ck, err := c.Request.Cookie(loginCookie); err == nil {
		form, err = ss.decode(purposeLogin, ck.Value)
		if err != nil || time.Unix(form.Expires, 0).Sub(ss.now()) < loginFormTTL/2 {
			form = session{}
		}
	}
	if form.Nonce == "" {
		now := ss.now()
		form = session{Issued: now.Unix(), Expires: now.Add(loginFormTTL).Unix(), Nonce: newNonce()}
		http.SetCookie(c.Writer, ss.cookie(c.Request, loginCookie, loginPath, ss.encode(purposeLogin, form), form.Expires))
	}
	s.render(c, status, "login", page{Title: "Log in", Error: msg, Data: loginView{CSRF: ss.csrf(purposeLogin, form), Next: next}})
}

// login checks the admin token (in constant time, against the same table
// as the API's bearer tokens) and starts a session that names its principal.
func (s *Server) login(c *gin.Context) {
	ss := s.console.sessions
	if err := parseForm(c); err != nil {
		s.consoleFail(c, err, loginPath)
		return
	}
	var form session
	ck, err := c.Request.Cookie(loginCookie)
	if err == nil {
		form, err = ss.decode(purposeLogin, ck.Value)
	}
	if err != nil || !ss.checkCSRF(purposeLogin, form, c.Request.PostForm.Get("csrf")) {
		logger(c, s.log).Warn("console login: CSRF token refused", "remote", c.ClientIP())
		s.consoleFail(c, errCSRF, loginPath)
		return
	}
	next := safeNext(c.Request.PostForm.Get("next"))
	presented := c.Request.PostForm.Get("token")
	name, ok := match(presented, s.adminTokens)
	if !ok || presented == "" {
		logger(c, s.log).Warn("console login refused", "remote", c.ClientIP())
		s.renderLogin(c, http.StatusUnauthorized, next, "That is not an admin token.")
		return
	}
	sess := ss.issue(name, tokenDigest(presented))
	if err := s.ops.Login(c.Request.Context(), sessionActor(c, sess), sess.ID()); err != nil {
		s.consoleFail(c, err, loginPath)
		return
	}
	http.SetCookie(c.Writer, ss.cookie(c.Request, sessionCookie, consoleBase, ss.encode(purposeSession, sess), sess.Expires))
	http.SetCookie(c.Writer, ss.cookie(c.Request, loginCookie, loginPath, "", 0))
	c.Redirect(http.StatusSeeOther, next)
}

// logout ends the session: the cookie is deleted and the session refused
// from now on by this process (see docs/console.md for replicas).
func (s *Server) logout(c *gin.Context) {
	sess, _ := consoleSessionOf(c)
	s.console.sessions.revoke(sess)
	http.SetCookie(c.Writer, s.console.sessions.cookie(c.Request, sessionCookie, consoleBase, "", 0))
	c.Set("console_session", nil) // an error page after this is a logged-out page
	if err := s.ops.Logout(c.Request.Context(), sessionActor(c, sess), sess.ID()); err != nil {
		s.consoleFail(c, err, loginPath)
		return
	}
	c.Redirect(http.StatusSeeOther, loginPath)
}

// safeNext keeps a post-login redirect inside the console.
func safeNext(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(v, "//") || strings.ContainsAny(v, "\\\r\n") {
		return consoleBase + "/"
	}
	p := path.Clean(u.Path)
	if u.Path != p && u.Path != p+"/" || !strings.HasPrefix(u.Path, consoleBase+"/") || strings.HasPrefix(u.Path, loginPath) {
		return consoleBase + "/"
	}
	return u.RequestURI()
}

// --- overview ---

type backlogRow struct {
	Provider                 string
	Unknown, Escalated       int64
	UnknownAge, EscalatedAge time.Duration
}

type overviewView struct {
	O        ops.Overview
	Windows  []ops.Window
	Charts   []barChart
	Receipts int64
	Backlog  []backlogRow
	Total    backlogRow
}

func (s *Server) overviewPage(c *gin.Context) {
	w, err := ops.WindowByName(c.Query("window"))
	var o ops.Overview
	if err == nil {
		o, err = s.ops.Overview(c.Request.Context(), consoleActor(c), w)
	}
	if err != nil {
		s.consoleFail(c, err, consoleBase+"/")
		return
	}
	v := overviewView{O: o, Windows: ops.Windows, Charts: charts(o)}
	for _, sr := range o.Series {
		v.Receipts += sr.Total.Sum()
	}
	v.Backlog, v.Total = backlogRows(o.Backlog, o.At)
	s.render(c, http.StatusOK, "overview", page{Title: "Overview", Nav: "overview", Data: v})
}

// backlogRows puts each provider's unknown and escalated receipts on one
// row, with the oldest one's age, and totals them.
func backlogRows(bl []callbacks.Backlog, at time.Time) ([]backlogRow, backlogRow) {
	var rows []backlogRow
	var total backlogRow
	idx := map[string]int{}
	for _, b := range bl {
		i, ok := idx[b.Provider]
		if !ok {
			i = len(rows)
			idx[b.Provider] = i
			rows = append(rows, backlogRow{Provider: b.Provider})
		}
		r := &rows[i]
		a := max(at.Sub(b.Oldest), 0)
		switch b.Status {
		case callbacks.StatusUnknown:
			r.Unknown, r.UnknownAge = b.Count, a
			total.Unknown += b.Count
			total.UnknownAge = max(total.UnknownAge, a)
		case callbacks.StatusEscalated:
			r.Escalated, r.EscalatedAge = b.Count, a
			total.Escalated += b.Count
			total.EscalatedAge = max(total.EscalatedAge, a)
		}
	}
	slices.SortFunc(rows, func(a, b backlogRow) int { return strings.Compare(a.Provider, b.Provider) })
	return rows, total
}

// age writes a duration for people: "45s", "12m", "3h 5m", "2d 4h".
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd %dh", int(d.Hours())/24, int(d.Hours())%24)
}

// --- receipts ---

type receiptsView struct {
	Form      url.Values
	Items     []callbacks.Receipt
	Next      string
	First     string
	Providers []string
}

// consoleTime reads a time from a filter field: what the API accepts, or a
// browser's datetime-local value ("2025-03-10T12:00"), taken as UTC.
func consoleTime(v string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return report.ParseTime(v)
}

func (s *Server) receiptsPage(c *gin.Context) {
	f, err := receiptFilterWith(c, consoleTime)
	var p ops.Page[callbacks.Receipt]
	if err == nil {
		p, err = s.ops.Receipts(c.Request.Context(), consoleActor(c), f)
	}
	v := receiptsView{Items: p.Items, Providers: s.console.providers}
	v.Form, v.Next, v.First = pager(c, consoleBase+"/receipts", p.NextCursor, "status", "provider", "order_no", "from", "to", "limit")
	if p := v.Form.Get("provider"); p != "" && !slices.Contains(v.Providers, p) {
		v.Providers = append(slices.Clone(v.Providers), p) // a provider no longer configured
	}
	pg := page{Title: "Receipts", Nav: "receipts", Data: v}
	status := http.StatusOK
	if err != nil {
		var body errorBody
		status, body = toStatus(err)
		if status >= 500 {
			s.consoleFail(c, err, consoleBase+"/receipts")
			return
		}
		pg.Error = body.Error.Message
	}
	s.render(c, status, "receipts", pg)
}

// pager reads a list page's filter fields and makes its links: to the next
// page (when there is one) and back to the first (when not on it).
func pager(c *gin.Context, path, nextCursor string, keys ...string) (form url.Values, next, first string) {
	form = url.Values{}
	for _, k := range keys {
		if v := c.Query(k); v != "" {
			form.Set(k, v)
		}
	}
	if c.Query("cursor") != "" {
		first = path + "?" + form.Encode()
	}
	if nextCursor != "" {
		form.Set("cursor", nextCursor)
		next = path + "?" + form.Encode()
		form.Del("cursor")
	}
	return form, next, first
}

type headerLine struct{ Name, Value string }

type receiptView struct {
	R          callbacks.Receipt
	Body       string
	BodyBase64 bool
	Headers    []headerLine
	Order      *ledger.Order
	Ledger     []ledger.Entry
	Replayable bool
}

func (s *Server) receiptPage(c *gin.Context) {
	id, err := idParam(c)
	var r callbacks.Receipt
	if err == nil {
		r, err = s.ops.Receipt(c.Request.Context(), consoleActor(c), id)
	}
	if err != nil {
		s.consoleFail(c, err, consoleBase+"/receipts")
		return
	}
	v := receiptView{R: r, Replayable: r.Status != callbacks.StatusConflict}
	v.Body = string(r.RawBody)
	if !utf8.Valid(r.RawBody) {
		v.Body, v.BodyBase64 = toReceiptDetailJSON(r).RawBodyBase64, true
	}
	for _, k := range slices.Sorted(maps.Keys(r.Headers)) {
		for _, val := range r.Headers[k] {
			v.Headers = append(v.Headers, headerLine{k, val})
		}
	}
	if r.OrderNo != "" && s.orders != nil {
		o, entries, err := s.orders.Get(c.Request.Context(), r.OrderNo)
		switch {
		case err == nil:
			v.Order, v.Ledger = &o, entries
		case !errors.Is(err, ledger.ErrNotFound):
			s.consoleFail(c, err, consoleBase+"/receipts")
			return
		}
	}
	s.render(c, http.StatusOK, "receipt", page{Title: fmt.Sprintf("Receipt %d", r.ID), Nav: "receipts", Data: v})
}

type replayView struct {
	ID  int64
	Res callbacks.Redrive
}

// replayAction is the replay button: mode "preview" runs a dry run and
// shows what would change with a confirmation form; mode "confirm"
// replays. Both go through the admin service and are audited.
func (s *Server) replayAction(c *gin.Context) {
	id, err := idParam(c)
	back := consoleBase + "/receipts"
	if err == nil {
		back = fmt.Sprintf("%s/receipts/%d", consoleBase, id)
	}
	mode := c.Request.PostForm.Get("mode")
	dry := mode == "preview"
	if err == nil && !dry && mode != "confirm" {
		err = fmt.Errorf("%w: mode %q is not preview or confirm", errBadRequest, mode)
	}
	var res callbacks.Redrive
	if err == nil {
		res, err = s.ops.Replay(c.Request.Context(), consoleActor(c), id, dry)
	}
	if err != nil {
		s.consoleFail(c, err, back)
		return
	}
	title := "Replay"
	if dry {
		title = "Replay preview"
	}
	s.render(c, http.StatusOK, "replay", page{Title: fmt.Sprintf("%s — receipt %d", title, id), Nav: "receipts",
		Data: replayView{ID: id, Res: res}})
}

// --- reconciliation report ---

type reportView struct {
	From, To string
	R        *report.Report
	CSV      string
}

// reportPeriod reads from and to (days or RFC 3339); none given is the
// last seven UTC days, today included.
func (s *Server) reportPeriod(c *gin.Context) (from, to string, p report.Period, err error) {
	from, to = c.Query("from"), c.Query("to")
	if from == "" && to == "" {
		today := s.console.sessions.now().UTC().Truncate(24 * time.Hour)
		from, to = today.AddDate(0, 0, -6).Format(time.DateOnly), today.AddDate(0, 0, 1).Format(time.DateOnly)
	}
	p, err = report.ParsePeriod(from, to)
	return from, to, p, err
}

func (s *Server) reportPage(c *gin.Context) {
	from, to, p, err := s.reportPeriod(c)
	var r report.Report
	if err == nil {
		r, err = s.ops.Reconciliation(c.Request.Context(), consoleActor(c), p)
	}
	v := reportView{From: from, To: to}
	pg := page{Title: "Reconciliation report", Nav: "report", Data: &v}
	status := http.StatusOK
	if err != nil {
		var body errorBody
		if status, body = toStatus(err); status >= 500 {
			s.consoleFail(c, err, consoleBase+"/report")
			return
		}
		pg.Error = body.Error.Message
	} else {
		v.R = &r
		v.CSV = consoleBase + "/report.csv?" + url.Values{"from": {from}, "to": {to}}.Encode()
	}
	s.render(c, status, "report", pg)
}

func (s *Server) reportCSV(c *gin.Context) {
	_, _, p, err := s.reportPeriod(c)
	var r report.Report
	if err == nil {
		r, err = s.ops.Reconciliation(c.Request.Context(), consoleActor(c), p)
	}
	if err != nil {
		s.consoleFail(c, err, consoleBase+"/report")
		return
	}
	s.writeReport(c, r, "csv", periodReportName(r))
}

// --- audit log ---

type auditView struct {
	Form  url.Values
	Items []ops.AuditEntry
	Next  string
	First string
}

func (s *Server) auditPage(c *gin.Context) {
	f := ops.AuditFilter{Actor: c.Query("actor"), Action: c.Query("action"), Target: c.Query("target")}
	var err error
	if f.Cursor, err = ops.ParseCursor(c.Query("cursor")); err == nil {
		f.Limit, err = intParam(c, "limit")
	}
	var p ops.Page[ops.AuditEntry]
	if err == nil {
		p, err = s.ops.Audit(c.Request.Context(), consoleActor(c), f)
	}
	if err != nil {
		s.consoleFail(c, err, consoleBase+"/audit")
		return
	}
	v := auditView{Items: p.Items}
	v.Form, v.Next, v.First = pager(c, consoleBase+"/audit", p.NextCursor, "actor", "action", "target", "limit")
	s.render(c, http.StatusOK, "audit", page{Title: "Audit log", Nav: "audit", Data: v})
}
