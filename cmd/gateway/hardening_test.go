package main

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestSlowClientsAreCut: a client that never finishes its headers or its
// body does not hold a connection: the server's read timeouts end it (a
// callback whose body never arrives is answered 503, so that a real
// provider retries).
func TestSlowClientsAreCut(t *testing.T) {
	driver, dsn := "sqlite", "file:"+t.TempDir()+"/gateway.db"
	g := startGateway(t, map[string]string{
		"GATEWAY_HTTP_ADDR":                        "127.0.0.1:0",
		"GATEWAY_HTTP_READ_TIMEOUT":                "1s",
		"GATEWAY_DATABASE_DRIVER":                  driver,
		"GATEWAY_DATABASE_DSN":                     dsn,
		"GATEWAY_PROVIDERS_STRIPE_WEBHOOK_SECRETS": e2eSecret,
	})
	tests := []struct {
		name    string
		partial string
		answer  string // the start of the answer, "" for a closed connection
	}{
		{"headers never finished", "GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Slow: 1", ""},
		{"body never finished", "POST /callbacks/stripe HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n" +
			"Content-Length: 1000\r\n\r\n{\"id\":", "HTTP/1.1 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte(tt.partial)); err != nil {
				t.Fatal(err)
			}
			// A bound for the test itself, far above the 1s read timeout:
			// the assertion is that the server ends the exchange at all.
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			got, err := io.ReadAll(conn)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server held a slow client's connection open for 30s (read %q)", got)
			}
			if !strings.HasPrefix(string(got), tt.answer) {
				t.Fatalf("answer %q, want it to start with %q", got, tt.answer)
			}
		})
	}
}
