package main

import (
	"log/slog"
	"time"

	"gateway/config"
	"gateway/redislock"
)

// openLock returns the optional Redis lock of the callback pipeline, or nil
// when lock.redis_addr is empty. It does not dial: Redis down at start is a
// degraded gateway (see /readyz), not a failed one.
func openLock(cfg config.Lock, log *slog.Logger) (*redislock.Locker, error) {
	if cfg.RedisAddr == "" {
		return nil, nil
	}
	l, err := redislock.New(redislock.Config{Addr: string(cfg.RedisAddr), TTL: time.Duration(cfg.TTL)}, log)
	if err != nil {
		return nil, err
	}
	log.Info("redis lock enabled", "addr", l.Addr(), "ttl", time.Duration(cfg.TTL).String())
	return l, nil
}

// workflowCleanupSchedule is how often expired idempotency keys and form
// tokens are deleted. Every replica runs it; deletes are idempotent.
const workflowCleanupSchedule = "@every 10m"
