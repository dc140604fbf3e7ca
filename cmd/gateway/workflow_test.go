package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"gateway/redislock/redistest"
	"gateway/store/storetest"
)

// wfServe starts the whole gateway on a free port with env on top of a
// fresh database and returns its base URL; it stops at cleanup.
func wfServe(t *testing.T, dialect string, env map[string]string) string {
	t.Helper()
	driver, dsn := storetest.DSN(t, dialect)
	env["GATEWAY_DATABASE_DRIVER"], env["GATEWAY_DATABASE_DSN"] = driver, dsn
	env["GATEWAY_HTTP_ADDR"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, func(k string) string { return env[k] }, pw)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway stopped with %v", err)
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
			}
		}
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case err := <-done:
		t.Fatalf("gateway did not start: %v", err)
	}
	return ""
}

func wfDo(t *testing.T, method, url, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer wf-merchant-token-0001")
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// The served gateway wires the workflow: tokens, idempotency keys, and a
// Redis lock that, unreachable, leaves the gateway ready but degraded.
func TestServeWiresTheWorkflow(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			url := wfServe(t, dialect, map[string]string{
				"GATEWAY_AUTH_API_TOKENS": "wf:wf-merchant-token-0001",
				"GATEWAY_LOCK_REDIS_ADDR": redistest.ClosedAddr(t),
			})
			if code, _, body := wfDo(t, "GET", url+"/readyz", ""); code != http.StatusOK || !strings.Contains(body, `"status":"degraded"`) {
				t.Fatalf("/readyz = %d %s, want 200 degraded", code, body)
			}
			code, _, body := wfDo(t, "POST", url+"/api/tokens", "")
			var tok struct{ Token string }
			if err := json.Unmarshal([]byte(body), &tok); err != nil || code != http.StatusCreated {
				t.Fatalf("POST /api/tokens = %d %s", code, body)
			}
			order := `{"order_no":"W1","amount":100,"currency":"USD","form_token":"` + tok.Token + `"}`
			c1, _, b1 := wfDo(t, "POST", url+"/api/orders", order, "Idempotency-Key", "w-1")
			c2, h2, b2 := wfDo(t, "POST", url+"/api/orders", order, "Idempotency-Key", "w-1")
			if c1 != http.StatusCreated || c2 != c1 || b2 != b1 || h2.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("submission %d %s; repeat %d %s", c1, b1, c2, b2)
			}
			if c3, _, b3 := wfDo(t, "POST", url+"/api/orders", order); c3 != http.StatusConflict || !strings.Contains(b3, "token_used") {
				t.Fatalf("the token again without the key = %d %s, want 409 token_used", c3, b3)
			}
		})
	}
}
