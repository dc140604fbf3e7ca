package redislock_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"gateway/callbacks"
	"gateway/redislock"
	"gateway/redislock/redistest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newLocker(t *testing.T, addr, prefix string, ttl time.Duration) *redislock.Locker {
	t.Helper()
	l, err := redislock.New(redislock.Config{Addr: addr, TTL: ttl, Prefix: prefix, Timeout: redistest.Timeout}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// waitGone waits until key has expired in Redis: a condition, not a timed
// assertion; the deadline only stops a broken test from hanging.
func waitGone(t *testing.T, c *redis.Client, key string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		n, err := c.Exists(context.Background(), key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatalf("lock %s never expired", key)
}

func TestLockIsExclusiveAndReleased(t *testing.T) {
	ctx := context.Background()
	prefix, rc := redistest.Prefix(t), redistest.Client(t)
	l := newLocker(t, redistest.Addr(t), prefix, 10*time.Second)

	unlock, err := l.Lock(ctx, "stripe:pi_1:payment.succeeded")
	if err != nil {
		t.Fatalf("first Lock: %v", err)
	}
	pttl, err := rc.PTTL(ctx, prefix+"stripe:pi_1:payment.succeeded").Result()
	if err != nil || pttl <= 0 || pttl > 10*time.Second {
		t.Fatalf("lock TTL = %v, %v; want a PX expiry of at most 10s", pttl, err)
	}
	if _, err := l.Lock(ctx, "stripe:pi_1:payment.succeeded"); !errors.Is(err, callbacks.ErrLockHeld) {
		t.Fatalf("second Lock: %v, want ErrLockHeld", err)
	}
	other, err := l.Lock(ctx, "stripe:pi_2:payment.succeeded")
	if err != nil {
		t.Fatalf("Lock of another key: %v", err)
	}
	other()
	unlock()
	again, err := l.Lock(ctx, "stripe:pi_1:payment.succeeded")
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	again()
}

// A holder whose lock expired must not delete the next holder's lock.
func TestExpiredHolderDoesNotReleaseTheNextOne(t *testing.T) {
	ctx := context.Background()
	prefix, rc := redistest.Prefix(t), redistest.Client(t)
	l := newLocker(t, redistest.Addr(t), prefix, 30*time.Millisecond)

	unlockA, err := l.Lock(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	waitGone(t, rc, prefix+"k")
	long := newLocker(t, redistest.Addr(t), prefix, time.Minute)
	unlockB, err := long.Lock(ctx, "k")
	if err != nil {
		t.Fatalf("B could not take the expired lock: %v", err)
	}
	unlockA() // late: must be a no-op
	if _, err := long.Lock(ctx, "k"); !errors.Is(err, callbacks.ErrLockHeld) {
		t.Fatalf("after A's late release, Lock = %v; want B still holding it", err)
	}
	unlockB()
	if n, _ := rc.Exists(ctx, prefix+"k").Result(); n != 0 {
		t.Fatalf("B's release left the key in place")
	}
}

func TestUnreachableRedisDegrades(t *testing.T) {
	ctx := context.Background()
	l := newLocker(t, redistest.ClosedAddr(t), "gwtest:", time.Second)
	before := testutil.ToFloat64(redislock.Degraded)

	for i := range 3 { // the first fails on the wire, the others in the cooldown
		unlock, err := l.Lock(ctx, "k")
		if unlock != nil || !errors.Is(err, redislock.ErrUnavailable) || errors.Is(err, callbacks.ErrLockHeld) {
			t.Fatalf("Lock %d = %v; want ErrUnavailable (carry on without the lock)", i, err)
		}
	}
	if got := testutil.ToFloat64(redislock.Degraded) - before; got != 3 {
		t.Errorf("gateway_lock_degraded_total rose by %v, want 3", got)
	}
	if err := l.Ping(ctx); !errors.Is(err, redislock.ErrUnavailable) {
		t.Errorf("Ping = %v, want ErrUnavailable", err)
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  redislock.Config
	}{
		{"no ttl", redislock.Config{Addr: "127.0.0.1:6379"}},
		{"bad url", redislock.Config{Addr: "redis://x:y:z/q", TTL: time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := redislock.New(tc.cfg, quiet); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

// lock.redis_addr may be a URL; its password never shows in Addr (logged).
func TestURLAddr(t *testing.T) {
	addr := redistest.Addr(t)
	l := newLocker(t, "redis://"+addr+"/0", redistest.Prefix(t), time.Second)
	if l.Addr() != addr {
		t.Errorf("Addr() = %q, want %q", l.Addr(), addr)
	}
	unlock, err := l.Lock(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	withPassword := newLocker(t, "redis://:s3cret@"+addr+"/0", "gwtest:", time.Second)
	if strings.Contains(withPassword.Addr(), "s3cret") {
		t.Errorf("Addr() shows the password: %q", withPassword.Addr())
	}
}
