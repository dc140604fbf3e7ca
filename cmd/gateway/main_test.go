package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/stripe/stripe-go/v84/webhook"

	"gateway/providers/standardwebhooks"
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
	e2eStripeSK = "sk_test_e2e_api_key_0123456789"
	// e2eAcmeKey is the base64 body of e2eAcme, the Standard Webhooks secret.
	e2eAcmeKey = "ZTJlLWFjbWUtc2lnbmluZy1rZXktMDEyMzQ1Njc4OSE="
	e2eAcme    = "whsec_" + e2eAcmeKey
)

// e2eConfig configures what the environment cannot switch on alone: a
// Standard Webhooks sender named acme.
const e2eConfig = `
providers:
  acme:
    type: standardwebhooks
    secrets: ["` + e2eAcme + `"]
    fields: {txn_id: data.id, event_type: type, order_no: data.order_no, amount: data.amount, currency: data.currency}
`

// writeConfig writes a YAML configuration file for a test gateway.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// configuredSecrets lists every secret in a test gateway's environment and
// configuration, in every form it could leak in: whole, the token part of
// "name:token", the key part of "whsec_key", the DSN's password.
func configuredSecrets(t *testing.T, dsn string) []string {
	t.Helper()
	out := []string{e2eSecret, e2eAPIToken, strings.SplitN(e2eAPIToken, ":", 2)[1], e2eAdmin,
		strings.SplitN(e2eAdmin, ":", 2)[1], e2eStripeSK, e2eAcme, e2eAcmeKey}
	if c, err := gomysql.ParseDSN(dsn); err == nil && c.Passwd != "" && c.Passwd != c.User {
		out = append(out, c.Passwd)
	}
	return out
}

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
				"GATEWAY_CONFIG":                           writeConfig(t, e2eConfig),
				"GATEWAY_LOG_LEVEL":                        "debug",
				"GATEWAY_HTTP_ADDR":                        "127.0.0.1:0",
				"GATEWAY_HTTP_MAX_BODY_BYTES":              "65536",
				"GATEWAY_DATABASE_DRIVER":                  driver,
				"GATEWAY_DATABASE_DSN":                     dsn,
				"GATEWAY_AUTH_API_TOKENS":                  e2eAPIToken,
				"GATEWAY_AUTH_ADMIN_TOKENS":                e2eAdmin,
				"GATEWAY_PROVIDERS_STRIPE_WEBHOOK_SECRETS": e2eSecret,
				"GATEWAY_PROVIDERS_STRIPE_API_KEY":         e2eStripeSK,
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
			// A second order paid and half refunded through the Standard Webhooks sender.
			if code, body, _ := g.do(t, "POST", "/api/orders", api, []byte(`{"order_no":"E2E-2","amount":1000,"currency":"EUR"}`), ct); code != 201 {
				t.Fatalf("create E2E-2: %d %s", code, body)
			}
			for i, ev := range []string{
				`{"type":"payment.succeeded","data":{"id":"acp_1","order_no":"E2E-2","amount":"10.00","currency":"EUR"}}`,
				`{"type":"refund.succeeded","data":{"id":"acr_1","order_no":"E2E-2","amount":500,"currency":"EUR"}}`,
				`{"type":"refund.succeeded","data":{"id":"acr_1","order_no":"E2E-2","amount":500,"currency":"EUR"}}`,
				`{"type":"customer.updated","data":{"id":"cus_1"}}`,
			} {
				id := fmt.Sprintf("msg_e2e_%d", i)
				sig, err := standardwebhooks.Sign(e2eAcme, id, time.Now(), []byte(ev))
				if err != nil {
					t.Fatal(err)
				}
				hdr := map[string]string{"Webhook-Id": id, "Webhook-Timestamp": fmt.Sprint(time.Now().Unix()), "Webhook-Signature": sig}
				if code, body, _ := g.do(t, "POST", "/callbacks/acme", "", []byte(ev), hdr); code != 200 {
					t.Fatalf("acme callback %d: %d %s", i, code, body)
				}
				hdr["Webhook-Signature"] = "v1,Zm9yZ2Vk"
				if code, body, _ := g.do(t, "POST", "/callbacks/acme", "", []byte(ev), hdr); code != 401 {
					t.Fatalf("acme callback %d with a forged signature: %d %s", i, code, body)
				}
			}
			if code, body, _ := g.do(t, "GET", "/api/orders/E2E-2", api, nil, nil); code != 200 ||
				!strings.Contains(string(body), `"paid_amount":1000,"refunded_amount":500`) {
				t.Fatalf("E2E-2 after payment and a refund delivered twice: %d %s", code, body)
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
			if !strings.Contains(logs, `"level":"DEBUG"`) {
				t.Fatalf("no debug lines: the secret search below would prove little")
			}
			for i, secret := range configuredSecrets(t, dsn) {
				if strings.Contains(logs, secret) {
					t.Errorf("configured secret %d appears in the debug logs", i)
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
