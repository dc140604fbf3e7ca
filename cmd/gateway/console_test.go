package main

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"gateway/store/storetest"
)

// TestConsoleServed checks the console's wiring in `gateway serve`: the
// console.* settings from the environment, and two replicas with the same
// console.session_key sharing a login.
func TestConsoleServed(t *testing.T) {
	const key = "e2e-console-session-key-0123456789abcdef"
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			driver, dsn := storetest.DSN(t, dialect)
			env := map[string]string{
				"GATEWAY_HTTP_ADDR":             "127.0.0.1:0",
				"GATEWAY_DATABASE_DRIVER":       driver,
				"GATEWAY_DATABASE_DSN":          dsn,
				"GATEWAY_AUTH_ADMIN_TOKENS":     e2eAdmin,
				"GATEWAY_CONSOLE_SESSION_KEY":   key,
				"GATEWAY_CONSOLE_SECURE_COOKIE": "true",
			}
			g1, g2 := startGateway(t, env), startGateway(t, env)
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			get := func(u string, cookies ...*http.Cookie) (*http.Response, string) {
				t.Helper()
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				for _, c := range cookies {
					req.AddCookie(c)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp, string(b)
			}
			cookie := func(resp *http.Response, name string) *http.Cookie {
				for _, c := range resp.Cookies() {
					if c.Name == name {
						return c
					}
				}
				t.Fatalf("no %s cookie", name)
				return nil
			}

			resp, page := get(g1.url + "/admin/ui/login")
			form := cookie(resp, "gateway_console_login")
			if resp.StatusCode != http.StatusOK || !form.Secure || !form.HttpOnly {
				t.Fatalf("login form: %d, cookie %+v", resp.StatusCode, form)
			}
			csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)[1]
			req, _ := http.NewRequest(http.MethodPost, g1.url+"/admin/ui/login", strings.NewReader(url.Values{
				"csrf": {csrf}, "token": {strings.SplitN(e2eAdmin, ":", 2)[1]}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(form)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			session := cookie(resp, "gateway_console")
			if resp.StatusCode != http.StatusSeeOther || !session.Secure || session.SameSite != http.SameSiteStrictMode {
				t.Fatalf("login: %d, cookie %+v", resp.StatusCode, session)
			}
			// The other replica takes the session: same key.
			if resp, page := get(g2.url+"/admin/ui/", session); resp.StatusCode != http.StatusOK || !strings.Contains(page, ">ops</span>") {
				t.Errorf("the session on the other replica: %d", resp.StatusCode)
			}
			for _, g := range []*gateway{g1, g2} {
				if err := g.stop(); err != nil {
					t.Fatal(err)
				}
				if logs := g.out.String(); strings.Contains(logs, key) || strings.Contains(logs, session.Value) {
					t.Error("the session key or a session cookie is in the logs")
				}
			}
		})
	}
}
