// Package redislock is the Redis adapter of callbacks.Locker: a lock per
// dedup key, taken with SET key owner PX ttl NX and released by an atomic
// compare-and-delete script, so a holder whose lock expired never deletes
// the next holder's lock.
//
// The lock is an optimisation, not a guarantee: when Redis does not answer,
// Lock fails fast, the pipeline carries on with the database checks alone,
// the gateway_lock_degraded_total counter says how often, and after a
// failure Redis is left alone for a short cooldown so that a dead Redis
// costs the callbacks nothing.
package redislock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"

	"gateway/callbacks"
)

// Degraded counts lock attempts that went ahead without the lock because
// Redis was unreachable.
var Degraded = promauto.NewCounter(prometheus.CounterOpts{
	Name: "gateway_lock_degraded_total",
	Help: "Callback lock attempts that carried on without the Redis lock (Redis unreachable); the database checks alone kept them exactly-once.",
})

// ErrUnavailable: Redis did not answer (or is in its cooldown after failing).
var ErrUnavailable = errors.New("redis lock unavailable")

// Config configures the lock.
type Config struct {
	// Addr is host:port, or a redis:// or rediss:// URL (password, db, TLS).
	Addr string
	// TTL is how long a lock lives unless released (lock.ttl).
	TTL time.Duration
	// Prefix starts every key (default "gateway:lock:"); tests use their own.
	Prefix string
	// Timeout bounds each Redis call (default 250ms): a slow Redis must not
	// slow the callbacks down.
	Timeout time.Duration
	// Cooldown is how long Redis is left alone after it failed (default 1s).
	Cooldown time.Duration
}

// Locker implements callbacks.Locker over Redis.
type Locker struct {
	client *redis.Client
	cfg    Config
	log    *slog.Logger
	// downUntil is the UnixNano until which Redis is not tried.
	downUntil atomic.Int64
}

var _ callbacks.Locker = (*Locker)(nil)

// New returns a Locker. It does not dial: an unreachable Redis at start is
// a degraded gateway, not a failed one.
func New(cfg Config, log *slog.Logger) (*Locker, error) {
	if cfg.TTL <= 0 {
		return nil, fmt.Errorf("redislock: ttl must be positive")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "gateway:lock:"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 250 * time.Millisecond
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = time.Second
	}
	opt := &redis.Options{Addr: cfg.Addr}
	if strings.Contains(cfg.Addr, "://") {
		var err error
		if opt, err = redis.ParseURL(cfg.Addr); err != nil {
			return nil, fmt.Errorf("redislock: lock.redis_addr: %w", err)
		}
	}
	// No retries: a retried SET NX whose first reply was lost would find
	// its own lock and wait for itself. Fail fast instead and degrade.
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	opt.DialTimeout = cfg.Timeout
	opt.ReadTimeout = cfg.Timeout
	opt.WriteTimeout = cfg.Timeout
	opt.PoolTimeout = cfg.Timeout
	opt.ContextTimeoutEnabled = true
	opt.DisableIdentity = true
	quietClientLog.Do(func() { redis.SetLogger(clientLog{log}) })
	return &Locker{client: redis.NewClient(opt), cfg: cfg, log: log}, nil
}

// go-redis logs every failed dial to stderr through a process-wide logger;
// the Locker says once per outage what matters, so the client's own lines
// go to the gateway's log at debug level.
var quietClientLog sync.Once

type clientLog struct{ log *slog.Logger }

func (l clientLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}

// unlockScript deletes the key only if it still holds this owner's token.
var unlockScript = redis.NewScript(`if redis.call("get", KEYS[1]) == ARGV[1] then
  return redis.call("del", KEYS[1])
end
return 0`)

// Lock implements callbacks.Locker.
func (l *Locker) Lock(ctx context.Context, key string) (func(), error) {
	if time.Now().UnixNano() < l.downUntil.Load() {
		Degraded.Inc()
		return nil, fmt.Errorf("%w: cooling down after a failure", ErrUnavailable)
	}
	key = l.cfg.Prefix + key
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	owner := hex.EncodeToString(b[:])
	cctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	err := l.client.Do(cctx, "set", key, owner, "px", l.cfg.TTL.Milliseconds(), "nx").Err()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, callbacks.ErrLockHeld
	case err != nil:
		if ctx.Err() != nil {
			return nil, ctx.Err() // the caller gave up; Redis is not to blame
		}
		l.down(err)
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return func() { l.unlock(key, owner) }, nil
}

// unlock releases the lock if this owner still holds it. A failure only
// leaves the lock to expire at its TTL.
func (l *Locker) unlock(key, owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Timeout)
	defer cancel()
	if err := unlockScript.Run(ctx, l.client, []string{key}, owner).Err(); err != nil {
		l.log.Warn("redis lock not released; it expires on its own", "key", key, "err", err)
	}
}

// down starts a cooldown and says so once per outage.
func (l *Locker) down(err error) {
	until := time.Now().Add(l.cfg.Cooldown).UnixNano()
	if prev := l.downUntil.Swap(until); prev < time.Now().UnixNano() {
		l.log.Warn("redis lock unreachable; callbacks rely on the database checks alone", "err", err)
	}
	Degraded.Inc()
}

// Ping reports whether Redis answers (for /readyz).
func (l *Locker) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	if err := l.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Addr is Redis's host:port (without any password the URL had).
func (l *Locker) Addr() string { return l.client.Options().Addr }

// Close closes the connections.
func (l *Locker) Close() error { return l.client.Close() }
