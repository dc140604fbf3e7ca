package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"gateway/config"
	"gateway/redislock"
	"gateway/submission"
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

// scheduleWorkflowCleanup registers the cleanup of expired idempotency keys
// and form tokens on c.
func scheduleWorkflowCleanup(c *cron.Cron, s *submission.Service, log *slog.Logger) error {
	_, err := c.AddFunc(workflowCleanupSchedule, func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n, err := s.Cleanup(ctx, time.Now())
		if err != nil {
			log.Error("workflow cleanup failed; expired keys and tokens stay until the next run", "deleted", n, "err", err)
			return
		}
		log.Info("workflow cleanup", "deleted", n)
	})
	if err != nil {
		return fmt.Errorf("schedule workflow cleanup: %w", err)
	}
	return nil
}
