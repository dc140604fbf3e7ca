package query_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gateway/providers/query"
)

// request is what the test server saw.
type request struct {
	Method, Path, Query, Auth, Accept, ContentType, Body string
}

// server answers every request with status and body, and records it.
func server(t *testing.T, status int, body string) (*query.Client, *request) {
	t.Helper()
	var seen request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization"),
			Accept: r.Header.Get("Accept"), ContentType: r.Header.Get("Content-Type"), Body: string(b)}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return query.New(srv.URL+"/", srv.Client()), &seen
}

func bearer(token string) func(*http.Request) error {
	return func(r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	}
}

func TestDoDecodes(t *testing.T) {
	c, seen := server(t, http.StatusOK, `{"id":"pi_1","amount":2000,"status":"succeeded"}`)
	var out struct {
		ID     string
		Amount int64
		Status string
	}
	if err := c.Do(context.Background(), http.MethodPost, "/v1/things?expand=x", []byte(`{"a":1}`), bearer("sk_1"), &out); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if out.ID != "pi_1" || out.Amount != 2000 || out.Status != "succeeded" {
		t.Errorf("decoded %+v", out)
	}
	want := request{Method: "POST", Path: "/v1/things", Query: "expand=x", Auth: "Bearer sk_1", Accept: "application/json",
		ContentType: "application/json", Body: `{"a":1}`}
	if diff := cmp.Diff(want, *seen); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

func TestDoRawAndNoBody(t *testing.T) {
	c, seen := server(t, http.StatusNoContent, ``)
	if err := c.Do(context.Background(), http.MethodGet, "/ping", nil, nil, nil); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if seen.ContentType != "" || seen.Auth != "" || seen.Body != "" {
		t.Errorf("GET without body or signer sent %+v", *seen)
	}
	c, _ = server(t, http.StatusOK, `not JSON, kept as it is`)
	var raw []byte
	if err := c.Do(context.Background(), http.MethodGet, "/raw", nil, nil, &raw); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if string(raw) != "not JSON, kept as it is" {
		t.Errorf("raw = %q", raw)
	}
}

func TestDoErrors(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		name   string
		status int
		body   string
		sign   func(*http.Request) error
		// want is the exact message; isProvider says whether it wraps ErrProvider.
		want       string
		isProvider bool
	}{
		{name: "server error", status: 500, body: `{"error":"boom"}`, isProvider: true,
			want: `provider API error: GET /v1/x: 500 {"error":"boom"}`},
		{name: "unauthorized", status: 401, body: `{"error":"bad key"}`, isProvider: true,
			want: `provider API error: GET /v1/x: 401 {"error":"bad key"}`},
		{name: "long error body is cut", status: 502, body: long, isProvider: true,
			want: `provider API error: GET /v1/x: 502 ` + strings.Repeat("x", 200) + "…"},
		{name: "redirect is not success", status: 304, isProvider: true,
			want: `provider API error: GET /v1/x: 304 `},
		{name: "undecodable answer", status: 200, body: `{"id":`,
			want: `decode GET /v1/x: unexpected end of JSON input`},
		{name: "signer fails", status: 200, body: `{}`, sign: func(*http.Request) error { return errors.New("no key") },
			want: `sign request: no key`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := server(t, tc.status, tc.body)
			var out map[string]any
			err := c.Do(context.Background(), http.MethodGet, "/v1/x", nil, tc.sign, &out)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("Do = %v, want %q", err, tc.want)
			}
			if errors.Is(err, query.ErrProvider) != tc.isProvider {
				t.Errorf("errors.Is(ErrProvider) = %v, want %v", !tc.isProvider, tc.isProvider)
			}
		})
	}
}

func TestDoSignerNotCalledTwiceAndSeesRequest(t *testing.T) {
	c, seen := server(t, http.StatusOK, `{}`)
	calls := 0
	sign := func(r *http.Request) error {
		calls++
		b, _ := io.ReadAll(r.Body) // a signer may hash the body…
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.Header.Set("Authorization", "SIG "+r.Method+" "+r.URL.Path+" "+string(b))
		return nil
	}
	if err := c.Do(context.Background(), http.MethodPost, "/pay", []byte(`{"n":1}`), sign, nil); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || seen.Auth != `SIG POST /pay {"n":1}` || seen.Body != `{"n":1}` {
		t.Errorf("calls %d, request %+v", calls, *seen)
	}
}

func TestDoResponseLimit(t *testing.T) {
	const limit = 4 << 20
	for _, tc := range []struct {
		name string
		size int
		ok   bool
	}{
		{"at the limit", limit, true},
		{"one byte over", limit + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := server(t, http.StatusOK, strings.Repeat("a", tc.size))
			var raw []byte
			err := c.Do(context.Background(), http.MethodGet, "/big", nil, nil, &raw)
			if tc.ok {
				if err != nil || len(raw) != tc.size {
					t.Fatalf("Do = %v, %d bytes; want %d bytes", err, len(raw), tc.size)
				}
				return
			}
			if err == nil || err.Error() != "GET /big: answer larger than 4194304 bytes" {
				t.Fatalf("Do = %v, %d bytes; want the size error, not a truncated answer", err, len(raw))
			}
		})
	}
}

func TestDoContext(t *testing.T) {
	c, _ := server(t, http.StatusOK, `{}`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Do(ctx, http.MethodGet, "/x", nil, nil, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do with a canceled context = %v", err)
	}
}

func TestBase(t *testing.T) {
	if got := query.New("https://api.example.com///", nil).Base(); got != "https://api.example.com" {
		t.Errorf("Base = %q", got)
	}
}
