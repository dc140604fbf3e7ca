package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"gorm.io/gorm"

	"gateway/ledger"
	"gateway/submission"
)

// This file implements submission.Store: idempotency keys and form tokens.

type idempotencyRow struct {
	ID          int64 `gorm:"primaryKey"`
	Principal   string
	IdemKey     string
	Fingerprint string
	State       string
	Owner       string
	LeaseUntil  *time.Time
	RespStatus  int
	RespHeaders string
	RespBody    []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

func (idempotencyRow) TableName() string { return "idempotency_keys" }

func toKeyRow(k submission.Key) idempotencyRow {
	h := []byte("{}")
	if k.Response.Header != nil {
		h, _ = json.Marshal(k.Response.Header) // an http.Header always marshals
	}
	body := k.Response.Body
	if body == nil {
		body = []byte{}
	}
	var lease *time.Time
	if !k.LeaseUntil.IsZero() {
		lease = utcPtr(&k.LeaseUntil)
	}
	return idempotencyRow{ID: k.ID, Principal: k.Principal, IdemKey: k.Key, Fingerprint: k.Fingerprint,
		State: string(k.State), Owner: k.Owner, LeaseUntil: lease, RespStatus: k.Response.Status,
		RespHeaders: string(h), RespBody: body, CreatedAt: k.CreatedAt.UTC(), ExpiresAt: k.ExpiresAt.UTC()}
}

func toKey(r idempotencyRow) (submission.Key, error) {
	var h http.Header
	if err := json.Unmarshal([]byte(r.RespHeaders), &h); err != nil {
		return submission.Key{}, fmt.Errorf("store: idempotency key %d: stored headers: %w", r.ID, err)
	}
	k := submission.Key{ID: r.ID, Principal: r.Principal, Key: r.IdemKey, Fingerprint: r.Fingerprint,
		State: submission.State(r.State), Owner: r.Owner,
		Response:  submission.Response{Status: r.RespStatus, Header: h, Body: r.RespBody},
		CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC()}
	if r.LeaseUntil != nil {
		k.LeaseUntil = r.LeaseUntil.UTC()
	}
	return k, nil
}

type formTokenRow struct {
	ID        int64 `gorm:"primaryKey"`
	TokenHash string
	Principal string
	OrderNo   string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

func (formTokenRow) TableName() string { return "form_tokens" }

// InsertKey implements submission.Store.
func (db *DB) InsertKey(ctx context.Context, k *submission.Key) error {
	row := toKeyRow(*k)
	err := db.gorm.WithContext(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return fmt.Errorf("store: idempotency key %q: %w", k.Key, submission.ErrKeyExists)
	}
	if err != nil {
		return classify(fmt.Errorf("store: insert idempotency key %q: %w", k.Key, err))
	}
	k.ID = row.ID
	return nil
}

// Key implements submission.Store.
func (db *DB) Key(ctx context.Context, principal, key string) (submission.Key, error) {
	var row idempotencyRow
	err := db.gorm.WithContext(ctx).Where("principal = ? AND idem_key = ?", principal, key).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return submission.Key{}, fmt.Errorf("store: idempotency key %q: %w", key, submission.ErrKeyNotFound)
	}
	if err != nil {
		return submission.Key{}, classify(fmt.Errorf("store: idempotency key %q: %w", key, err))
	}
	return toKey(row)
}

// pendingOf selects the key id while owner runs it.
func (db *DB) pendingOf(ctx context.Context, id int64, owner string) *gorm.DB {
	return db.gorm.WithContext(ctx).Model(&idempotencyRow{}).
		Where("id = ? AND owner = ? AND state = ?", id, owner, string(submission.StatePending))
}

// ClaimKey implements submission.Store.
func (db *DB) ClaimKey(ctx context.Context, id int64, oldOwner, newOwner string, leaseUntil time.Time) error {
	res := db.pendingOf(ctx, id, oldOwner).Updates(map[string]any{"owner": newOwner, "lease_until": leaseUntil.UTC()})
	return affectedOne(res, "claim idempotency key", id)
}

// CompleteKey implements submission.Store.
func (db *DB) CompleteKey(ctx context.Context, id int64, owner string, r submission.Response) error {
	row := toKeyRow(submission.Key{Response: r})
	res := db.pendingOf(ctx, id, owner).Updates(map[string]any{
		"state": string(submission.StateDone), "lease_until": nil,
		"resp_status": row.RespStatus, "resp_headers": row.RespHeaders, "resp_body": row.RespBody,
	})
	return affectedOne(res, "complete idempotency key", id)
}

func affectedOne(res *gorm.DB, what string, id int64) error {
	if res.Error != nil {
		return classify(fmt.Errorf("store: %s %d: %w", what, id, res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: %s %d: %w", what, id, submission.ErrLeaseLost)
	}
	return nil
}

// ReleaseKey implements submission.Store.
func (db *DB) ReleaseKey(ctx context.Context, id int64, owner string) error {
	err := db.gorm.WithContext(ctx).Where("id = ? AND owner = ? AND state = ?", id, owner, string(submission.StatePending)).
		Delete(&idempotencyRow{}).Error
	if err != nil {
		return classify(fmt.Errorf("store: release idempotency key %d: %w", id, err))
	}
	return nil
}

// DeleteExpiredKey implements submission.Store.
func (db *DB) DeleteExpiredKey(ctx context.Context, id int64, now time.Time) error {
	err := db.gorm.WithContext(ctx).Where("id = ? AND expires_at <= ?", id, now.UTC()).Delete(&idempotencyRow{}).Error
	if err != nil {
		return classify(fmt.Errorf("store: delete expired idempotency key %d: %w", id, err))
	}
	return nil
}

// InsertToken implements submission.Store.
func (db *DB) InsertToken(ctx context.Context, t *submission.Token) error {
	row := formTokenRow{TokenHash: t.Hash, Principal: t.Principal, CreatedAt: t.CreatedAt.UTC(), ExpiresAt: t.ExpiresAt.UTC()}
	if err := db.gorm.WithContext(ctx).Create(&row).Error; err != nil {
		return classify(fmt.Errorf("store: insert form token: %w", err))
	}
	t.ID = row.ID
	return nil
}

// CreateOrderWithToken implements submission.Store: the token is marked
// used by a conditional UPDATE (the row lock makes a concurrent second use
// wait, then find it used), and the order is inserted in the same
// transaction; a taken order number rolls the token back.
func (db *DB) CreateOrderWithToken(ctx context.Context, o *ledger.Order, principal, tokenHash string, now time.Time) error {
	now = now.UTC()
	err := db.gorm.WithContext(ctx).Transaction(func(g *gorm.DB) error {
		res := g.Model(&formTokenRow{}).
			Where("token_hash = ? AND principal = ? AND used_at IS NULL AND expires_at > ?", tokenHash, principal, now).
			Updates(map[string]any{"used_at": now, "order_no": o.OrderNo})
		if res.Error != nil {
			return classify(fmt.Errorf("store: consume form token: %w", res.Error))
		}
		if res.RowsAffected == 0 {
			return tokenRefusal(g, principal, tokenHash, now)
		}
		return insertOrder(g, o)
	})
	return classify(err)
}

// tokenRefusal says why a token could not be consumed.
func tokenRefusal(g *gorm.DB, principal, tokenHash string, now time.Time) error {
	var row formTokenRow
	err := g.Where("token_hash = ?", tokenHash).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound) || err == nil && row.Principal != principal:
		return submission.ErrTokenUnknown
	case err != nil:
		return classify(fmt.Errorf("store: form token: %w", err))
	case row.UsedAt != nil:
		return fmt.Errorf("%w (by order %q at %s)", submission.ErrTokenUsed, row.OrderNo, row.UsedAt.UTC().Format(time.RFC3339))
	case !row.ExpiresAt.After(now):
		return fmt.Errorf("%w (at %s)", submission.ErrTokenExpired, row.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return fmt.Errorf("store: form token %d neither usable nor refused", row.ID)
}

// DeleteExpired implements submission.Store. It selects a batch of ids and
// deletes those (MySQL refuses LIMIT in an IN subquery; SQLite has no
// DELETE … LIMIT by default).
func (db *DB) DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	total := 0
	for _, model := range []any{&idempotencyRow{}, &formTokenRow{}} {
		var ids []int64
		g := db.gorm.WithContext(ctx)
		if err := g.Model(model).Where("expires_at <= ?", now.UTC()).Order("id").Limit(limit).Pluck("id", &ids).Error; err != nil {
			return total, classify(fmt.Errorf("store: find expired: %w", err))
		}
		if len(ids) == 0 {
			continue
		}
		res := g.Where("id IN ? AND expires_at <= ?", ids, now.UTC()).Delete(model)
		if res.Error != nil {
			return total, classify(fmt.Errorf("store: delete expired: %w", res.Error))
		}
		total += int(res.RowsAffected)
	}
	return total, nil
}
