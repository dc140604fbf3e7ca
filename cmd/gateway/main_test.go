package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v84/webhook"

	"gateway/store/storetest"
)

// syncBuffer collects the program's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const (
	e2eSecret   = "whsec_e2e_secret_value"
	e2eAPIToken = "merchant:e2e-api-token-0123456789"
	e2eAdmin    = "ops:e2e-admin-token-0123456789"
)

// gateway is a whole gateway process (run) listening on a free port.
type gateway struct {
	url  string
	out  *syncBuffer
	stop func() error
}

func startGateway(t *testing.T, env map[string]string) *gateway {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, out) }()
	re := regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			g := &gateway{url: "http://" + m[1], out: out}
			var once sync.Once
			var err error
			g.stop = func() error {
				once.Do(func() { cancel(); err = <-done })
				return err
			}
			t.Cleanup(func() { g.stop() })
			return g
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("gateway exited: %v\n%s", err, out)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("gateway did not start:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (g *gateway) do(t *testing.T, method, path, token string, body []byte, hdr map[string]string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, g.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// TestEndToEnd starts the whole program on each database and drives it the
// way a merchant and Stripe would.
func TestEndToEnd(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			driver, dsn := storetest.DSN(t, dialect)
			g := startGateway(t, map[string]string{
				"GATEWAY_HTTP_ADDR":                        "127.0.0.1:0",
				"GATEWAY_HTTP_MAX_BODY_BYTES":              "65536",
				"GATEWAY_DATABASE_DRIVER":                  driver,
				"GATEWAY_DATABASE_DSN":                     dsn,
				"GATEWAY_AUTH_API_TOKENS":                  e2eAPIToken,
				"GATEWAY_AUTH_ADMIN_TOKENS":                e2eAdmin,
				"GATEWAY_PROVIDERS_STRIPE_WEBHOOK_SECRETS": e2eSecret,
			})
			api := strings.SplitN(e2eAPIToken, ":", 2)[1]
			ct := map[string]string{"Content-Type": "application/json"}

			if code, _, _ := g.do(t, "GET", "/healthz", "", nil, nil); code != 200 {
				t.Fatalf("healthz %d", code)
			}
			if code, body, _ := g.do(t, "GET", "/readyz", "", nil, nil); code != 200 || !strings.Contains(string(body), `"database":"ok"`) {
				t.Fatalf("readyz %d %s", code, body)
			}
			if code, _, _ := g.do(t, "POST", "/api/orders", "", []byte(`{}`), ct); code != 401 {
				t.Fatalf("no token: %d, want 401", code)
			}
			order := []byte(`{"order_no":"E2E-1","amount":4200,"currency":"JPY"}`)
			code, body, hdr := g.do(t, "POST", "/api/orders", api, order, ct)
			if code != 201 || hdr.Get("ETag") != `"1"` {
				t.Fatalf("create: %d %s etag %q", code, body, hdr.Get("ETag"))
			}
			if code, body, _ := g.do(t, "POST", "/api/orders", api, []byte(`{"order_no":"E2E-1","amount":1,"currency":"JPY"}`), ct); code != 409 || !strings.Contains(string(body), `"code":"order_exists"`) {
				t.Fatalf("same number, other amount: %d %s", code, body)
			}
			if code, body, _ := g.do(t, "POST", "/api/orders", api, []byte(`{"order_no":"E2E-2","amount":1.5,"currency":"JPY"}`), ct); code != 400 {
				t.Fatalf("float amount: %d %s", code, body)
			}

			event := []byte(`{"id":"evt_e2e","object":"event","type":"payment_intent.succeeded","api_version":"2099-01-01.future",` +
				`"data":{"object":{"id":"pi_e2e","object":"payment_intent","amount":4200,"amount_received":4200,"currency":"jpy","metadata":{"order_no":"E2E-1"}}}}`)
			signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: event, Secret: e2eSecret, Timestamp: time.Now()})
			for i := range 3 {
				code, body, _ := g.do(t, "POST", "/callbacks/stripe", "", event, map[string]string{"Stripe-Signature": signed.Header, "Content-Type": "application/json"})
				if code != 200 || string(body) != `{"received":true}` {
					t.Fatalf("callback %d: %d %s", i, code, body)
				}
			}
			code, body, _ = g.do(t, "POST", "/callbacks/stripe", "", append(event, ' '), map[string]string{"Stripe-Signature": signed.Header})
			if code != 401 {
				t.Fatalf("tampered callback: %d %s", code, body)
			}
			if code, _, _ := g.do(t, "POST", "/callbacks/nope", "", event, nil); code != 404 {
				t.Fatalf("unknown provider: %d", code)
			}
			if code, _, _ := g.do(t, "POST", "/callbacks/stripe", "", bytes.Repeat([]byte("x"), 70000), nil); code != 413 {
				t.Fatalf("oversized body: %d", code)
			}

			code, body, hdr = g.do(t, "GET", "/api/orders/E2E-1", api, nil, nil)
			var got struct {
				Status     string `json:"status"`
				Version    int64  `json:"version"`
				PaidAmount int64  `json:"paid_amount"`
				Ledger     []struct {
					Account string `json:"account"`
					Amount  int64  `json:"amount"`
				} `json:"ledger"`
			}
			if err := jsonUnmarshal(body, &got); err != nil || code != 200 {
				t.Fatalf("get: %d %s %v", code, body, err)
			}
			if got.Status != "paid" || got.PaidAmount != 4200 || got.Version != 2 || len(got.Ledger) != 2 || hdr.Get("ETag") != `"2"` {
				t.Fatalf("order after payment: %s", body)
			}

			// Dispatch and receipt under If-Match.
			if code, _, _ := g.do(t, "POST", "/api/orders/E2E-1/ship", api, nil, map[string]string{"If-Match": `"1"`}); code != 412 {
				t.Fatalf("stale ship: %d", code)
			}
			if code, body, _ := g.do(t, "POST", "/api/orders/E2E-1/ship", api, nil, map[string]string{"If-Match": `"2"`}); code != 200 {
				t.Fatalf("ship: %d %s", code, body)
			}
			if code, _, _ := g.do(t, "POST", "/api/orders/E2E-1/close", api, nil, map[string]string{"If-Match": "3"}); code != 409 {
				t.Fatalf("close a shipped order: %d", code)
			}
			if code, _, _ := g.do(t, "POST", "/api/orders/E2E-1/receive", api, nil, map[string]string{"If-Match": "3"}); code != 200 {
				t.Fatalf("receive: %d", code)
			}

			if err := g.stop(); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			logs := g.out.String()
			for _, secret := range []string{e2eSecret, api, strings.SplitN(e2eAdmin, ":", 2)[1]} {
				if strings.Contains(logs, secret) {
					t.Fatalf("a secret appears in the logs")
				}
			}
			if !strings.Contains(logs, `"msg":"stopped"`) {
				t.Fatalf("no clean stop in logs:\n%s", logs)
			}
		})
	}
}

func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s", err, b)
	}
	return nil
}
