package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The tool's client against net/http's server: statuses, bodies, headers
// and body as sent, connections kept alive unless the server closes them.
func TestClient(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/callbacks/ok":
			if r.Header.Get("Stripe-Signature") != "t=1,v1=ab" || string(b) != `{"id":"evt"}` || r.Host == "" {
				http.Error(w, "bad request as received", http.StatusTeapot)
				return
			}
			_, _ = io.WriteString(w, `{"received":true}`)
		case "/callbacks/busy":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"error":{"code":"unavailable"}}`)
		case "/callbacks/big":
			_, _ = io.WriteString(w, strings.Repeat("x", 10000))
		case "/callbacks/close":
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "bye")
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Config.IdleTimeout = 50 * time.Millisecond
	srv.Start()
	defer srv.Close()
	s, err := newSender(srv.URL, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	ctx := context.Background()
	d := func(p string) delivery {
		return delivery{Provider: p, Body: []byte(`{"id":"evt"}`), Header: http.Header{"Stripe-Signature": {"t=1,v1=ab"}}}
	}
	for range 3 {
		if got := s.send(ctx, d("ok")); got != "" {
			t.Fatalf("ok: %q", got)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for three sequential requests, want 1 kept alive", n)
	}
	if got := s.send(ctx, d("busy")); got != "http 503 unavailable" {
		t.Fatalf("busy: %q", got)
	}
	if got := s.send(ctx, d("big")); got != "" {
		t.Fatalf("big: %q", got)
	}
	if got := s.send(ctx, d("close")); got != "" {
		t.Fatalf("close: %q", got)
	}
	if got := s.send(ctx, d("ok")); got != "" {
		t.Fatalf("after a closed connection: %q", got)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (one closed by the server)", n)
	}
	time.Sleep(200 * time.Millisecond) // the server closes the idle connection
	if got := s.send(ctx, d("ok")); got != "" {
		t.Fatalf("after the server's idle timeout: %q", got)
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
	srv.Close()
	if got := s.send(ctx, d("ok")); got != "transport" {
		t.Fatalf("server gone: %q", got)
	}
}
