package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/callbacks/callbackstest"
	"gateway/config"
	"gateway/httpapi"
	"gateway/report"
	"gateway/store"
	"gateway/store/storetest"
)

// consoleClient is a browser without JavaScript: a cookie jar and no
// automatic redirects, so the tests see each 303.
type consoleClient struct {
	g   *gateway
	jar *cookiejar.Jar
	hc  *http.Client
}

func newConsoleClient(t testing.TB, g *gateway) *consoleClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &consoleClient{g: g, jar: jar, hc: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// do sends a GET (form nil) or a form POST, with any extra cookies.
func (b *consoleClient) do(t testing.TB, method, path string, form url.Values, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.g.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(out)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t testing.TB, html string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", html)
	}
	return m[1]
}

// login logs in through the form and returns the answer to the POST.
func (b *consoleClient) login(t testing.TB, token string) *http.Response {
	t.Helper()
	resp, page := b.do(t, http.MethodGet, "/admin/ui/login", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login form: %d", resp.StatusCode)
	}
	resp, _ = b.do(t, http.MethodPost, "/admin/ui/login", url.Values{"csrf": {csrfOf(t, page)}, "token": {token}, "next": {"/admin/ui/"}})
	return resp
}

// mustLogin logs in with the admin token and returns the session's CSRF token.
func (b *consoleClient) mustLogin(t testing.TB) string {
	t.Helper()
	if resp := b.login(t, adminToken); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	return b.csrf(t)
}

// csrf reads the session's CSRF token from a page.
func (b *consoleClient) csrf(t testing.TB) string {
	t.Helper()
	resp, page := b.do(t, http.MethodGet, "/admin/ui/audit?limit=1", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("audit page: %d %s", resp.StatusCode, page)
	}
	return csrfOf(t, page)
}

func (b *consoleClient) cookie(t testing.TB, name string) *http.Cookie {
	t.Helper()
	u, _ := url.Parse(b.g.srv.URL + "/admin/ui/")
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func setCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// consoleData gives the console something to show: over four hours, an
// applied payment, an unknown one (its order is created afterwards, so a
// replay applies it), a rejected one (amount mismatch) and an escalated
// one. It returns the unknown receipt's id.
func consoleData(t *testing.T, g *gateway, db *store.DB) int64 {
	t.Helper()
	g.Order(t, "C-100", 1000, "USD")
	g.callback(t, pay("C-100", 1000))
	g.Clock.Add(time.Hour)
	g.callback(t, pay("C-200", 2500))
	g.Clock.Add(time.Hour)
	g.Order(t, "C-300", 500, "USD")
	g.callback(t, pay("C-300", 501))
	g.Clock.Add(time.Hour)
	g.callback(t, pay("C-400", 700))
	storetest.Exec(t, db, `UPDATE callback_receipts SET status = 'escalated' WHERE order_no = 'C-400'`)
	g.Order(t, "C-200", 2500, "USD")
	g.Clock.Add(30 * time.Minute)
	return receiptIDs(t, g, "order_no=C-200")[0]
}

func TestConsoleLogin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGateway(t, db, false)

		t.Run("pages send you to log in", func(t *testing.T) {
			b := newConsoleClient(t, g)
			resp, _ := b.do(t, http.MethodGet, "/admin/ui/receipts?status=unknown", nil)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/ui/login?next=%2Fadmin%2Fui%2Freceipts%3Fstatus%3Dunknown" {
				t.Errorf("no session: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			resp, _ = b.do(t, http.MethodGet, "/admin/ui", nil)
			if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/admin/ui/" {
				t.Errorf("/admin/ui: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
		t.Run("wrong tokens", func(t *testing.T) {
			for _, tok := range []string{"", "not-a-token-0123456789", apiToken, adminSecret, adminToken + " "} {
				rows := storetest.Counts(t, db)
				b := newConsoleClient(t, g)
				resp := b.login(t, tok)
				if resp.StatusCode != http.StatusUnauthorized || setCookie(resp, "gateway_console") != nil {
					t.Errorf("token %q: %d, session cookie %v", tok, resp.StatusCode, setCookie(resp, "gateway_console"))
				}
				if diff := cmp.Diff(rows, storetest.Counts(t, db)); diff != "" {
					t.Errorf("token %q: a refused login wrote (-want +got):\n%s", tok, diff)
				}
			}
		})
		t.Run("the admin token", func(t *testing.T) {
			b := newConsoleClient(t, g)
			resp := b.login(t, adminToken)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/ui/" {
				t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			c := setCookie(resp, "gateway_console")
			if c == nil {
				t.Fatal("no session cookie")
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/admin/ui" || c.Secure || c.MaxAge != 8*3600 {
				t.Errorf("cookie attributes: %+v", c)
			}
			if strings.Contains(c.Value, adminToken) || strings.Contains(decodeParts(c.Value), adminToken) {
				t.Errorf("the cookie carries the admin token: %s", c.Value)
			}
			if !strings.Contains(decodeParts(c.Value), `"n":"ops"`) {
				t.Errorf("the cookie does not name the principal: %s", decodeParts(c.Value))
			}
			if lc := setCookie(resp, "gateway_console_login"); lc == nil || lc.MaxAge >= 0 {
				t.Errorf("the login form's cookie is not deleted: %+v", lc)
			}
			resp, page := b.do(t, http.MethodGet, "/admin/ui/", nil)
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, `<span class="who"`) || !strings.Contains(page, ">ops</span>") {
				t.Errorf("overview after login: %d\n%s", resp.StatusCode, page)
			}
			if last := auditRows(t, g, "limit=1")[0]; last.Action != "callbacks.overview" || last.Actor != "ops" || last.Via != "console" {
				t.Errorf("last audit row: %+v", last)
			}
			rows := auditRows(t, g, "action=console.login")
			if len(rows) != 1 || rows[0].Actor != "ops" || rows[0].Via != "console" || !strings.HasPrefix(rows[0].Target, "session:") ||
				rows[0].Result != "ok" {
				t.Errorf("login audit rows: %+v", rows)
			}
			// The login form of a logged-in browser goes on to the console.
			if resp, _ := b.do(t, http.MethodGet, "/admin/ui/login?next=/admin/ui/report", nil); resp.StatusCode != http.StatusSeeOther ||
				resp.Header.Get("Location") != "/admin/ui/report" {
				t.Errorf("login form when logged in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
		t.Run("next stays in the console", func(t *testing.T) {
			for next, want := range map[string]string{
				"/admin/ui/receipts?status=unknown": "/admin/ui/receipts?status=unknown",
				"https://evil.example/":             "/admin/ui/",
				"//evil.example/admin/ui/":          "/admin/ui/",
				"/admin/callbacks":                  "/admin/ui/",
				"/admin/ui/../../api/orders":        "/admin/ui/",
				"/\\evil.example":                   "/admin/ui/",
			} {
				b := newConsoleClient(t, g)
				_, page := b.do(t, http.MethodGet, "/admin/ui/login", nil)
				resp, _ := b.do(t, http.MethodPost, "/admin/ui/login", url.Values{"csrf": {csrfOf(t, page)}, "token": {adminToken}, "next": {next}})
				if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != want {
					t.Errorf("next %q: %d to %q, want %q", next, resp.StatusCode, got, want)
				}
			}
		})
		t.Run("secure cookie when configured", func(t *testing.T) {
			sg := newGateway(t, db, false, func(d *httpapi.Deps) { d.Console.SecureCookie = true })
			b := newConsoleClient(t, sg)
			// A cookie jar keeps Secure cookies from plain HTTP: send the
			// login form's cookie by hand.
			resp, page := b.do(t, http.MethodGet, "/admin/ui/login", nil)
			lc := setCookie(resp, "gateway_console_login")
			if lc == nil || !lc.Secure || !lc.HttpOnly || lc.SameSite != http.SameSiteStrictMode || lc.Path != "/admin/ui/login" {
				t.Fatalf("login form cookie: %+v", lc)
			}
			resp, _ = b.do(t, http.MethodPost, "/admin/ui/login", url.Values{"csrf": {csrfOf(t, page)}, "token": {adminToken}},
				&http.Cookie{Name: lc.Name, Value: lc.Value})
			if c := setCookie(resp, "gateway_console"); resp.StatusCode != http.StatusSeeOther || c == nil || !c.Secure || !c.HttpOnly {
				t.Errorf("login: %d, cookie %+v", resp.StatusCode, c)
			}
		})
	})
}

// decodeParts decodes a cookie value's payload, to look inside it.
func decodeParts(v string) string {
	payload, _, _ := strings.Cut(v, ".")
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return ""
	}
	return string(b)
}

type auditRow struct {
	Actor  string `json:"actor"`
	Via    string `json:"via"`
	Action string `json:"action"`
	Target string `json:"target"`
	Result string `json:"result"`
}

// auditRows lists the audit log through the admin API, newest first.
func auditRows(t *testing.T, g *gateway, query string) []auditRow {
	t.Helper()
	var l struct {
		Items []auditRow `json:"items"`
	}
	g.admin(t, http.MethodGet, "/admin/audit?"+query, &l)
	return l.Items
}

// consoleActions are the console's POSTs, each with a valid form but for
// its CSRF token.
func consoleActions(id int64) []struct {
	path string
	form url.Values
} {
	replay := fmt.Sprintf("/admin/ui/receipts/%d/replay", id)
	return []struct {
		path string
		form url.Values
	}{
		{replay, url.Values{"mode": {"preview"}}},
		{replay, url.Values{"mode": {"confirm"}}},
		{"/admin/ui/logout", url.Values{}},
	}
}

func withCSRF(form url.Values, csrf string, set bool) url.Values {
	out := url.Values{}
	for k, v := range form {
		out[k] = v
	}
	if set {
		out.Set("csrf", csrf)
	}
	return out
}

func TestConsoleRefusesWithoutSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGateway(t, db, false)
		id := consoleData(t, g, db)
		// A CSRF token of a real session, to show it is worth nothing
		// without that session's cookie.
		csrf := newConsoleClient(t, g).mustLogin(t)
		rows := storetest.Counts(t, db)
		b := newConsoleClient(t, g)
		for _, path := range []string{"/admin/ui/", "/admin/ui/?window=7d", "/admin/ui/receipts", "/admin/ui/receipts?status=unknown",
			fmt.Sprintf("/admin/ui/receipts/%d", id), "/admin/ui/report", "/admin/ui/report?from=2025-03-10&to=2025-03-11",
			"/admin/ui/report.csv?from=2025-03-10&to=2025-03-11", "/admin/ui/audit"} {
			resp, _ := b.do(t, http.MethodGet, path, nil)
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/ui/login?next=") {
				t.Errorf("GET %s: %d to %q, want 303 to the login form", path, resp.StatusCode, loc)
			}
		}
		for _, a := range consoleActions(id) {
			for _, set := range []bool{false, true} {
				resp, page := b.do(t, http.MethodPost, a.path, withCSRF(a.form, csrf, set))
				if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "login_required") {
					t.Errorf("POST %s %v (csrf %t): %d, want 401 login_required", a.path, a.form, set, resp.StatusCode)
				}
			}
		}
		// An admin bearer token is for the API, not for the console.
		resp, _ := b.do(t, http.MethodPost, fmt.Sprintf("/admin/ui/receipts/%d/replay", id), url.Values{"mode": {"confirm"}, "csrf": {csrf}},
			&http.Cookie{Name: "Authorization", Value: "Bearer " + adminToken})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("replay with a bearer-token cookie: %d, want 401", resp.StatusCode)
		}
		if diff := cmp.Diff(rows, storetest.Counts(t, db)); diff != "" {
			t.Errorf("refused requests wrote (-want +got):\n%s", diff)
		}
	})
}

func TestConsoleCSRF(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGateway(t, db, false)
		id := consoleData(t, g, db)
		b := newConsoleClient(t, g)
		csrf := b.mustLogin(t)
		other := newConsoleClient(t, g).mustLogin(t)
		_, loginPage := newConsoleClient(t, g).do(t, http.MethodGet, "/admin/ui/login", nil)
		loginCSRF := csrfOf(t, loginPage)
		if other == csrf || loginCSRF == csrf {
			t.Fatal("two sessions, or a session and a login form, share a CSRF token")
		}
		rows := storetest.Counts(t, db)
		for _, a := range consoleActions(id) {
			for _, tc := range []struct {
				name  string
				token string
				set   bool
			}{
				{"missing", "", false},
				{"empty", "", true},
				{"wrong", flip(csrf), true},
				{"truncated", csrf[:len(csrf)-1], true},
				{"another session's", other, true},
				{"a login form's", loginCSRF, true},
			} {
				resp, page := b.do(t, http.MethodPost, a.path, withCSRF(a.form, tc.token, tc.set))
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "csrf") {
					t.Errorf("POST %s %v with %s token: %d, want 403 csrf", a.path, a.form, tc.name, resp.StatusCode)
				}
			}
		}
		if diff := cmp.Diff(rows, storetest.Counts(t, db)); diff != "" {
			t.Errorf("refused actions wrote (-want +got):\n%s", diff)
		}
		// The token sent in the query string instead of the form is not
		// taken either.
		resp, _ := b.do(t, http.MethodPost, fmt.Sprintf("/admin/ui/receipts/%d/replay?csrf=%s", id, url.QueryEscape(csrf)), url.Values{"mode": {"confirm"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("CSRF token in the query: %d, want 403", resp.StatusCode)
		}
		if st := receiptStatus(t, g, id); st != "unknown" {
			t.Fatalf("receipt %d is %s after refused replays", id, st)
		}
		// The right token does it: the refusals were the token's doing.
		if resp, page := b.do(t, http.MethodPost, fmt.Sprintf("/admin/ui/receipts/%d/replay", id), url.Values{"mode": {"confirm"}, "csrf": {csrf}}); resp.StatusCode != http.StatusOK {
			t.Fatalf("replay with the session's token: %d\n%s", resp.StatusCode, page)
		}
		if st := receiptStatus(t, g, id); st != "applied" {
			t.Errorf("receipt %d is %s after the replay, want applied", id, st)
		}

		t.Run("login form", func(t *testing.T) {
			rows := storetest.Counts(t, db)
			for _, tc := range []struct {
				name   string
				cookie bool
				token  func(page string) string
			}{
				{"no form cookie", false, func(page string) string { return csrfOf(t, page) }},
				{"no token", true, func(string) string { return "" }},
				{"another form's token", true, func(string) string { return loginCSRF }},
				{"a session's token", true, func(string) string { return csrf }},
			} {
				c := newConsoleClient(t, g)
				_, page := c.do(t, http.MethodGet, "/admin/ui/login", nil)
				if !tc.cookie {
					c = newConsoleClient(t, g) // a browser that never saw the form
				}
				resp, _ := c.do(t, http.MethodPost, "/admin/ui/login", url.Values{"csrf": {tc.token(page)}, "token": {adminToken}})
				if resp.StatusCode != http.StatusForbidden || setCookie(resp, "gateway_console") != nil {
					t.Errorf("%s: %d, session cookie %v; want 403 and none", tc.name, resp.StatusCode, setCookie(resp, "gateway_console"))
				}
			}
			if diff := cmp.Diff(rows, storetest.Counts(t, db)); diff != "" {
				t.Errorf("refused logins wrote (-want +got):\n%s", diff)
			}
		})
	})
}

// flip changes a token's first character.
func flip(s string) string {
	if s[0] == 'x' {
		return "y" + s[1:]
	}
	return "x" + s[1:]
}

// receiptStatus reads a receipt's status through the admin API.
func receiptStatus(t *testing.T, g *gateway, id int64) string {
	t.Helper()
	var r struct {
		Status string `json:"status"`
	}
	g.admin(t, http.MethodGet, fmt.Sprintf("/admin/callbacks/%d", id), &r)
	return r.Status
}

// logBuffer collects a gateway's log, to see why it refused a session.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func logTo(l *logBuffer) func(*httpapi.Deps) {
	return func(d *httpapi.Deps) { d.Log = slog.New(slog.NewTextHandler(l, nil)) }
}

// refused checks that a session cookie value opens nothing: a page sends
// the browser to log in (and deletes the cookie), an action answers 401;
// and that the gateway logged why (when why is not empty).
func refused(t *testing.T, g *gateway, logs *logBuffer, why, name, value, csrf string, id int64) {
	t.Helper()
	before := len(logs.String())
	b := newConsoleClient(t, g)
	c := &http.Cookie{Name: "gateway_console", Value: value}
	resp, _ := b.do(t, http.MethodGet, "/admin/ui/receipts", nil, c)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/ui/login") {
		t.Errorf("%s: GET %d to %q, want 303 to the login form", name, resp.StatusCode, loc)
	}
	if value != "" {
		if del := setCookie(resp, "gateway_console"); del == nil || del.MaxAge >= 0 {
			t.Errorf("%s: the refused cookie is not deleted: %+v", name, del)
		}
	}
	if got := logs.String()[before:]; why != "" && !strings.Contains(got, why) {
		t.Errorf("%s: refused, but not because %q:\n%s", name, why, got)
	}
	resp, _ = b.do(t, http.MethodPost, fmt.Sprintf("/admin/ui/receipts/%d/replay", id), url.Values{"mode": {"confirm"}, "csrf": {csrf}}, c)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("%s: POST %d, want 401", name, resp.StatusCode)
	}
}

// accepted checks that a session cookie value opens a page.
func accepted(t *testing.T, g *gateway, name, value string) {
	t.Helper()
	resp, page := newConsoleClient(t, g).do(t, http.MethodGet, "/admin/ui/audit?limit=1", nil, &http.Cookie{Name: "gateway_console", Value: value})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("%s: %d, want 200\n%s", name, resp.StatusCode, page)
	}
}

// forge rewrites a cookie's payload and keeps its signature.
func forge(value string, edit func(string) string) string {
	_, sig, _ := strings.Cut(value, ".")
	return base64.RawURLEncoding.EncodeToString([]byte(edit(decodeParts(value)))) + "." + sig
}

func TestConsoleSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		key := func(d *httpapi.Deps) { d.Console.SessionKey = "a-shared-console-session-key-0123456789" }
		logs := &logBuffer{}
		g := newGateway(t, db, false, key, logTo(logs))
		id := consoleData(t, g, db)
		rows := storetest.Counts(t, db)
		b := newConsoleClient(t, g)
		csrf := b.mustLogin(t)
		value := b.cookie(t, "gateway_console").Value
		accepted(t, g, "the session as issued", value)

		t.Run("forged", func(t *testing.T) {
			other := newGateway(t, db, false, func(d *httpapi.Deps) { d.Console.SessionKey = "another-console-session-key-0123456789" })
			otherValue := func() string {
				ob := newConsoleClient(t, other)
				ob.mustLogin(t)
				return ob.cookie(t, "gateway_console").Value
			}()
			payload, sig, _ := strings.Cut(value, ".")
			const malformed, signature = "session cookie malformed", "signature does not verify"
			for _, tc := range []struct{ name, value, why string }{
				{"no cookie", "", ""},
				{"garbage", "garbage", malformed},
				{"no signature", payload, malformed},
				{"empty signature", payload + ".", signature},
				{"signature not base64", payload + ".!!!", malformed},
				{"another principal", forge(value, func(p string) string { return strings.Replace(p, `"n":"ops"`, `"n":"root"`, 1) }), signature},
				{"a later expiry", forge(value, func(p string) string { return regexp.MustCompile(`"e":\d+`).ReplaceAllString(p, `"e":99999999999`) }), signature},
				{"signature of another payload", forge(value, func(p string) string { return p + " " }), signature},
				{"truncated signature", payload + "." + sig[:len(sig)-3], signature},
				{"signed with another key", otherValue, signature},
				{"huge", strings.Repeat("a", 2000) + "." + sig, malformed},
			} {
				refused(t, g, logs, tc.why, tc.name, tc.value, csrf, id)
			}
		})
		t.Run("login form cookie is not a session", func(t *testing.T) {
			resp, _ := newConsoleClient(t, g).do(t, http.MethodGet, "/admin/ui/login", nil)
			refused(t, g, logs, "signature does not verify", "login form cookie", setCookie(resp, "gateway_console_login").Value, csrf, id)
		})
		t.Run("replicas with the same key share sessions while the token is configured", func(t *testing.T) {
			replica := func(with ...func(*httpapi.Deps)) (*gateway, *logBuffer) {
				logs := &logBuffer{}
				r := newGateway(t, db, false, append([]func(*httpapi.Deps){key, logTo(logs)}, with...)...)
				r.Clock.Set(g.Clock.Now())
				return r, logs
			}
			same, _ := replica()
			accepted(t, same, "same key, same tokens", value)
			r, rlogs := replica(func(d *httpapi.Deps) { d.Auth.AdminTokens = []config.Secret{"ops:a-new-admin-token-0123456789"} })
			refused(t, r, rlogs, "no longer configured", "the token is no longer configured", value, csrf, id)
			r, rlogs = replica(func(d *httpapi.Deps) { d.Auth.AdminTokens = []config.Secret{"root:" + adminToken} })
			refused(t, r, rlogs, "no longer configured", "the token has another name now", value, csrf, id)
		})
		t.Run("expiry", func(t *testing.T) {
			elogs := &logBuffer{}
			eg := newGateway(t, db, false, key, logTo(elogs), func(d *httpapi.Deps) { d.Console.SessionTTL = config.Duration(time.Hour) })
			eb := newConsoleClient(t, eg)
			ecsrf := eb.mustLogin(t)
			v := eb.cookie(t, "gateway_console").Value
			eg.Clock.Add(time.Hour - time.Second)
			accepted(t, eg, "a second before it expires", v)
			eg.Clock.Add(time.Second)
			refused(t, eg, elogs, "session expired", "expired", v, ecsrf, id)
			// A session issued more than a minute in the future (a
			// clock far off, or a forgery) is refused too.
			eg.Clock.Add(-time.Hour - 2*time.Minute)
			refused(t, eg, elogs, "issued in the future", "issued in the future", v, ecsrf, id)
		})
		t.Run("logout", func(t *testing.T) {
			lb := newConsoleClient(t, g)
			lcsrf := lb.mustLogin(t)
			v := lb.cookie(t, "gateway_console").Value
			resp, _ := lb.do(t, http.MethodPost, "/admin/ui/logout", url.Values{"csrf": {lcsrf}})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/ui/login" {
				t.Errorf("logout: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if c := setCookie(resp, "gateway_console"); c == nil || c.MaxAge >= 0 {
				t.Errorf("logout does not delete the cookie: %+v", c)
			}
			refused(t, g, logs, "session logged out", "logged out", v, lcsrf, id)
			if rows := auditRows(t, g, "action=console.logout"); len(rows) != 1 || rows[0].Actor != "ops" {
				t.Errorf("logout audit rows: %+v", rows)
			}
			accepted(t, g, "another session of the same token", value)
		})
		after := storetest.Counts(t, db)
		if after["callback_receipts"] != rows["callback_receipts"] || after["orders"] != rows["orders"] || after["ledger_entries"] != rows["ledger_entries"] {
			t.Errorf("refused sessions changed data: %v → %v", rows, after)
		}
		if st := receiptStatus(t, g, id); st != "unknown" {
			t.Errorf("receipt %d is %s, want unknown: a refused session replayed it", id, st)
		}
	})
}

// wants checks that a page has each of the fragments.
func wants(t *testing.T, name, page string, fragments ...string) {
	t.Helper()
	for _, f := range fragments {
		if !strings.Contains(page, f) {
			t.Errorf("%s: no %q in the page", name, f)
		}
	}
}

func TestConsolePages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGateway(t, db, false)
		id := consoleData(t, g, db)
		b := newConsoleClient(t, g)
		csrf := b.mustLogin(t)
		get := func(t *testing.T, path string, want int) (*http.Response, string) {
			t.Helper()
			resp, page := b.do(t, http.MethodGet, path, nil)
			if resp.StatusCode != want {
				t.Fatalf("GET %s: %d, want %d\n%s", path, resp.StatusCode, want, page)
			}
			return resp, page
		}

		t.Run("overview", func(t *testing.T) {
			resp, page := get(t, "/admin/ui/", http.StatusOK)
			for h, want := range map[string]string{
				"Content-Type":            "text/html; charset=utf-8",
				"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
				"X-Frame-Options":         "DENY",
				"Cache-Control":           "no-store",
			} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("%s: %q, want %q", h, got, want)
				}
			}
			// The clock is at 15:30 on March 10: the 24 hourly buckets run
			// from 16:00 the day before, and the receipts are in the
			// buckets of 12:00, 13:00, 14:00 and 15:00.
			wants(t, "overview", page,
				`id="receipts-total">4<`, `id="unknown-total">1<`, `id="unknown-oldest">2h 30m<`, `id="escalated-total">1<`,
				`id="chart-stripe"`, `class="st-applied"><title>stripe applied, Mar 10 12:00–13:00 UTC: 1</title>`,
				`<title>stripe unknown, Mar 10 13:00–14:00 UTC: 1</title>`, `<title>stripe rejected, Mar 10 14:00–15:00 UTC: 1</title>`,
				`<title>stripe escalated, Mar 10 15:00–16:00 UTC: 1</title>`, `>16:00</text>`)
			if strings.Contains(page, "<script") {
				t.Error("the overview has a script")
			}
			if n := strings.Count(page, "<rect "); n != 4 {
				t.Errorf("%d bars, want 4", n)
			}
			_, page = get(t, "/admin/ui/?window=30d", http.StatusOK)
			wants(t, "30 days", page, `<title>stripe applied, Mon Mar 10 UTC: 1</title>`, `class="on">30d</a>`)
			_, page = get(t, "/admin/ui/?window=1y", http.StatusBadRequest)
			wants(t, "bad window", page, "invalid_filter", `window &#34;1y&#34;`)
		})
		t.Run("stylesheet", func(t *testing.T) {
			resp, css := get(t, "/admin/ui/static/console.css", http.StatusOK)
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || !strings.Contains(css, ".badge") {
				t.Errorf("css: %s, %d bytes", resp.Header.Get("Content-Type"), len(css))
			}
		})
		t.Run("receipts", func(t *testing.T) {
			_, page := get(t, "/admin/ui/receipts", http.StatusOK)
			if n := strings.Count(page, `class="receipt-link"`); n != 4 {
				t.Errorf("%d receipts listed, want 4", n)
			}
			_, page = get(t, "/admin/ui/receipts?status=unknown", http.StatusOK)
			wants(t, "unknown", page, fmt.Sprintf(`href="/admin/ui/receipts/%d" class="receipt-link"`, id), "C-200", `<option value="unknown" selected>`)
			if n := strings.Count(page, `class="receipt-link"`); n != 1 {
				t.Errorf("%d unknown receipts listed, want 1", n)
			}
			// A browser's datetime-local values, taken as UTC.
			_, page = get(t, "/admin/ui/receipts?from=2025-03-10T13:00&to=2025-03-10T14:00:00", http.StatusOK)
			if n := strings.Count(page, `class="receipt-link"`); n != 1 || !strings.Contains(page, "C-200") {
				t.Errorf("time range: %d receipts", n)
			}
			_, page = get(t, "/admin/ui/receipts?limit=25&status=applied&provider=stripe&order_no=C-100", http.StatusOK)
			wants(t, "filters", page, "C-100", "10.00 USD", `value="C-100"`)
			_, page = get(t, "/admin/ui/receipts?status=paid", http.StatusBadRequest)
			wants(t, "bad filter", page, `id="error"`, "status &#34;paid&#34; is not")
		})
		t.Run("pagination", func(t *testing.T) {
			_, page := get(t, "/admin/ui/receipts?limit=3", http.StatusOK)
			next := regexp.MustCompile(`href="([^"]+)" id="next-page"`).FindStringSubmatch(page)
			if next == nil || strings.Count(page, `class="receipt-link"`) != 3 {
				t.Fatalf("first page: no next link or not 3 rows")
			}
			_, page = get(t, strings.ReplaceAll(next[1], "&amp;", "&"), http.StatusOK)
			if n := strings.Count(page, `class="receipt-link"`); n != 1 || strings.Contains(page, `id="next-page"`) || !strings.Contains(page, `id="first-page"`) {
				t.Errorf("second page: %d rows", n)
			}
		})
		t.Run("receipt", func(t *testing.T) {
			_, page := get(t, fmt.Sprintf("/admin/ui/receipts/%d", id), http.StatusOK)
			raw := strings.NewReplacer(`"`, "&#34;").Replace(string(pay("C-200", 2500).Body()))
			wants(t, "receipt", page, raw, "Stripe-Signature", "pi_C-200:payment.succeeded", `id="order-status">created<`,
				"25.00 USD", "No postings for this order.", `id="preview-replay"`)
			get(t, "/admin/ui/receipts/999999", http.StatusNotFound)
			get(t, "/admin/ui/receipts/x", http.StatusBadRequest)
			_, page = get(t, "/admin/ui/receipts/"+fmt.Sprint(receiptIDs(t, g, "order_no=C-100")[0]), http.StatusOK)
			wants(t, "applied receipt", page, `id="order-status">paid<`, "clearing:stripe", "-10.00 USD", "An applied receipt replays as a no-op.")
		})
		t.Run("replay", func(t *testing.T) {
			path := fmt.Sprintf("/admin/ui/receipts/%d/replay", id)
			rows := storetest.Counts(t, db)
			resp, page := b.do(t, http.MethodPost, path, url.Values{"mode": {"preview"}, "csrf": {csrf}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("preview: %d\n%s", resp.StatusCode, page)
			}
			wants(t, "preview", page, "Replay preview", `id="action">applied<`, `id="after-status">paid<`, "clearing:stripe",
				"25.00 USD", "-25.00 USD", `id="confirm-replay"`, `name="mode" value="confirm"`)
			rows["audit_log"]++
			if diff := cmp.Diff(rows, storetest.Counts(t, db)); diff != "" {
				t.Errorf("the preview wrote more than its audit row (-want +got):\n%s", diff)
			}
			resp, page = b.do(t, http.MethodPost, path, url.Values{"mode": {"confirm"}, "csrf": {csrf}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("confirm: %d\n%s", resp.StatusCode, page)
			}
			wants(t, "replayed", page, "Replayed", `id="new-status">applied<`, "Written.")
			if st := receiptStatus(t, g, id); st != "applied" {
				t.Errorf("receipt is %s, want applied", st)
			}
			wants(t, "the order", orderLedger(t, g, "C-200"), `"status":"paid"`, `"paid_amount":2500`)
			resp, page = b.do(t, http.MethodPost, path, url.Values{"mode": {"preview"}, "csrf": {csrf}})
			wants(t, "preview of an applied receipt", page, "nothing would change")
			if resp.StatusCode != http.StatusOK || strings.Contains(page, `id="confirm-replay"`) {
				t.Errorf("preview of an applied receipt: %d, offers to confirm: %t", resp.StatusCode, strings.Contains(page, `id="confirm-replay"`))
			}
			resp, _ = b.do(t, http.MethodPost, path, url.Values{"mode": {"later"}, "csrf": {csrf}})
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("bad mode: %d, want 400", resp.StatusCode)
			}
			resp, _ = b.do(t, http.MethodPost, "/admin/ui/receipts/999999/replay", url.Values{"mode": {"preview"}, "csrf": {csrf}})
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("replay of no receipt: %d, want 404", resp.StatusCode)
			}
		})
		t.Run("report", func(t *testing.T) {
			_, page := get(t, "/admin/ui/report?from=2025-03-10&to=2025-03-11", http.StatusOK)
			wants(t, "report", page, `id="ledger-ok">balanced<`, `id="report-receipts"`, "<td>stripe</td>", "amount or currency mismatch",
				`href="/admin/ui/report.csv?from=2025-03-10&amp;to=2025-03-11"`)
			_, page = get(t, "/admin/ui/report", http.StatusOK)
			wants(t, "default period", page, `value="2025-03-04"`, `value="2025-03-11"`)
			_, page = get(t, "/admin/ui/report?from=2025-03-11&to=2025-03-10", http.StatusBadRequest)
			wants(t, "bad period", page, `id="error"`, "to must be after from")

			resp, body := get(t, "/admin/ui/report.csv?from=2025-03-10&to=2025-03-11", http.StatusOK)
			if resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
				resp.Header.Get("Content-Disposition") != `attachment; filename="reconciliation_20250310T000000Z_20250311T000000Z.csv"` {
				t.Errorf("csv headers: %v", resp.Header)
			}
			recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
			if err != nil || len(recs) < 2 || !cmp.Equal(recs[0], report.CSVHeader) {
				t.Fatalf("csv: %v\n%s", err, body)
			}
			// The same report as the admin API's CSV.
			apiResp, apiBody := g.do(t, http.MethodGet, "/admin/reports/reconciliation?from=2025-03-10&to=2025-03-11&format=csv", adminToken, nil)
			if apiResp.StatusCode != http.StatusOK || string(apiBody) != body {
				t.Errorf("console CSV differs from the API's:\n%s\n%s", body, apiBody)
			}
			get(t, "/admin/ui/report.csv?from=2025-03-10&to=2024-03-11", http.StatusBadRequest)
		})
		t.Run("audit", func(t *testing.T) {
			_, page := get(t, "/admin/ui/audit?actor=ops&action=callbacks.replay", http.StatusOK)
			wants(t, "audit", page, "<td>console</td>", fmt.Sprintf("receipt:%d", id))
		})
		t.Run("every page and action is audited as the session's principal", func(t *testing.T) {
			seen := map[string]bool{}
			for _, r := range auditRows(t, g, "actor=ops&limit=500") {
				if r.Via == "console" {
					seen[r.Action] = true
				}
			}
			for _, a := range []string{"console.login", "callbacks.overview", "callbacks.list", "callbacks.show",
				"callbacks.replay_dry_run", "callbacks.replay", "reports.reconciliation", "audit.list"} {
				if !seen[a] {
					t.Errorf("no %s audit row by ops via console", a)
				}
			}
		})
	})
}

func TestConsoleOffWithoutOps(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		env := callbackstest.New(t, db, callbacks.Config{})
		srv := httptest.NewServer(httpapi.New(httpapi.Deps{Callbacks: env.Callbacks, Orders: env.Orders, DB: db, MaxBodyBytes: 1 << 20,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Auth: config.Auth{AdminTokens: []config.Secret{adminSecret}}}).Handler())
		t.Cleanup(srv.Close)
		resp, err := http.Get(srv.URL + "/admin/ui/login")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("console without the admin service: %d, want 404", resp.StatusCode)
		}
	})
}

// FuzzConsoleSessionCookie sends arbitrary session cookies: none but the
// one the console issued opens a page.
func FuzzConsoleSessionCookie(f *testing.F) {
	db := storetest.New(f, "sqlite")
	g := newGateway(f, db, false)
	b := newConsoleClient(f, g)
	b.mustLogin(f)
	valid := b.cookie(f, "gateway_console").Value
	payload, sig, _ := strings.Cut(valid, ".")
	for _, seed := range []string{valid, payload, payload + ".", "." + sig, flip(valid), forge(valid, func(p string) string { return p }),
		forge(valid, func(p string) string { return strings.Replace(p, "ops", "opz", 1) }), "", "a.b.c", `"` + valid + `"`} {
		f.Add(seed)
	}
	h := g.srv.Config.Handler
	f.Fuzz(func(t *testing.T, value string) {
		req := httptest.NewRequest(http.MethodGet, "/admin/ui/receipts?limit=1", nil)
		req.Header.Set("Cookie", "gateway_console="+value)
		if c, err := req.Cookie("gateway_console"); err == nil && c.Value == valid {
			return // the real session, however it is written
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), "/admin/ui/login") {
			t.Fatalf("cookie %q: %d, want 303 to the login form", value, rec.Code)
		}
	})
}
