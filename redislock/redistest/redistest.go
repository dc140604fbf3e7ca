// Package redistest gives tests the real Redis with a key prefix of their
// own, a proxy they can cut to play "Redis stopped", and an address where
// nothing listens.
//
// The server is GATEWAY_TEST_REDIS_ADDR (default 127.0.0.1:6379). Tests skip
// Redis only under -short; an unreachable server otherwise fails the test.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Timeout is the per-call bound for lockers in tests: the shared machine may
// be loaded, and a timed-out call would degrade the lock where a test wants
// it held. Fail-fast is shown with refused connections, not with timeouts.
const Timeout = 5 * time.Second

// Addr returns the test Redis address, checking that it answers.
func Addr(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("redistest: Redis tests skipped under -short")
	}
	addr := os.Getenv("GATEWAY_TEST_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		tb.Fatalf("redistest: Redis at %s is not reachable (%v); start it, or use -short to skip Redis tests", addr, err)
	}
	return addr
}

// Client returns a client of the test Redis, closed at cleanup.
func Client(tb testing.TB) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: Addr(tb)})
	tb.Cleanup(func() { c.Close() })
	return c
}

// Prefix returns a random key prefix for one test; its keys are deleted at
// cleanup, so tests running side by side never see each other's locks.
func Prefix(tb testing.TB) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "gwtest:" + hex.EncodeToString(b[:]) + ":"
	c := Client(tb)
	tb.Cleanup(func() {
		ctx := context.Background()
		keys, err := c.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			err = c.Del(ctx, keys...).Err()
		}
		if err != nil {
			tb.Logf("redistest: delete %s*: %v", prefix, err)
		}
	})
	return prefix
}

// ClosedAddr returns a local address on which nothing listens.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Proxy forwards TCP connections to Redis until it is cut.
type Proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

// NewProxy starts a proxy to the test Redis; it is cut at cleanup.
func NewProxy(tb testing.TB) *Proxy {
	tb.Helper()
	target := Addr(tb)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	p := &Proxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.serve()
	tb.Cleanup(p.Cut)
	return p
}

// Addr is where clients connect.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, up) {
			return
		}
		p.wg.Add(2)
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	p.conns = append(p.conns, cs...)
	return true
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// Cut stops the proxy: the listener closes and every connection drops, as
// if Redis had stopped. It is safe to call twice.
func (p *Proxy) Cut() {
	p.ln.Close()
	p.mu.Lock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
