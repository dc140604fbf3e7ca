package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"gateway/callbacks"
	"gateway/ops"
)

// ListReceipts implements ops.Store: receipts matching f, without raw
// bodies, by id (newest first, or oldest first with f.Oldest).
func (db *DB) ListReceipts(ctx context.Context, f ops.ReceiptFilter) ([]callbacks.Receipt, error) {
	q := db.gorm.WithContext(ctx).Model(&receiptRow{}).Select(receiptLookupColumns)
	if f.Status != "" {
		q = q.Where("status = ?", string(f.Status))
	}
	if f.Provider != "" {
		q = q.Where("provider = ?", f.Provider)
	}
	if f.OrderNo != "" {
		q = q.Where("order_no = ?", f.OrderNo)
	}
	if !f.From.IsZero() {
		q = q.Where("first_seen_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("first_seen_at < ?", f.To.UTC())
	}
	if f.Oldest {
		if f.Cursor > 0 {
			q = q.Where("id > ?", f.Cursor)
		}
		q = q.Order("id")
	} else {
		if f.Cursor > 0 {
			q = q.Where("id < ?", f.Cursor)
		}
		q = q.Order("id DESC")
	}
	var rows []receiptRow
	if err := q.Limit(f.Limit).Find(&rows).Error; err != nil {
		return nil, classify(fmt.Errorf("store: list receipts: %w", err))
	}
	out := make([]callbacks.Receipt, len(rows))
	for i, r := range rows {
		out[i] = toReceipt(r)
	}
	return out, nil
}

type auditRow struct {
	ID        int64 `gorm:"primaryKey"`
	At        time.Time
	Actor     string
	Via       string
	Action    string
	Target    string
	Result    string
	Detail    string
	RequestID string
}

func (auditRow) TableName() string { return "audit_log" }

// AppendAudit implements ops.Store. The audit log is append-only: the
// store has no method that changes or deletes a row.
func (db *DB) AppendAudit(ctx context.Context, e *ops.AuditEntry) error {
	row := auditRow{At: e.At.UTC(), Actor: e.Actor, Via: e.Via, Action: e.Action, Target: e.Target,
		Result: e.Result, Detail: string(e.Detail), RequestID: e.RequestID}
	if err := db.gorm.WithContext(ctx).Create(&row).Error; err != nil {
		return classify(fmt.Errorf("store: append audit %s: %w", e.Action, err))
	}
	e.ID = row.ID
	return nil
}

// ListAudit implements ops.Store: newest first.
func (db *DB) ListAudit(ctx context.Context, f ops.AuditFilter) ([]ops.AuditEntry, error) {
	q := db.gorm.WithContext(ctx).Model(&auditRow{})
	for col, v := range map[string]string{"actor": f.Actor, "action": f.Action, "target": f.Target} {
		if v != "" {
			q = q.Where(col+" = ?", v)
		}
	}
	if !f.From.IsZero() {
		q = q.Where("at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("at < ?", f.To.UTC())
	}
	if f.Cursor > 0 {
		q = q.Where("id < ?", f.Cursor)
	}
	var rows []auditRow
	if err := q.Order("id DESC").Limit(f.Limit).Find(&rows).Error; err != nil {
		return nil, classify(fmt.Errorf("store: list audit: %w", err))
	}
	out := make([]ops.AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = ops.AuditEntry{ID: r.ID, At: r.At.UTC(), Actor: r.Actor, Via: r.Via, Action: r.Action,
			Target: r.Target, Result: r.Result, Detail: []byte(r.Detail), RequestID: r.RequestID}
	}
	return out, nil
}

// Backlog returns, per provider, the number of unknown and escalated
// receipts and the oldest one's first sighting: one grouped count and one
// ordered single-row read per group, all on the index
// (status, provider, first_seen_at). Metrics call it on every scrape.
func (db *DB) Backlog(ctx context.Context) ([]callbacks.Backlog, error) {
	var groups []struct {
		Provider string
		Status   string
		N        int64
	}
	err := db.gorm.WithContext(ctx).Raw(`SELECT provider, status, COUNT(*) AS n FROM callback_receipts
		WHERE status IN (?, ?) GROUP BY status, provider ORDER BY status, provider`,
		string(callbacks.StatusUnknown), string(callbacks.StatusEscalated)).Scan(&groups).Error
	if err != nil {
		return nil, classify(fmt.Errorf("store: backlog: %w", err))
	}
	out := make([]callbacks.Backlog, 0, len(groups))
	for _, g := range groups {
		var row receiptRow
		err := db.gorm.WithContext(ctx).Select("first_seen_at").
			Where("status = ? AND provider = ?", g.Status, g.Provider).
			Order("first_seen_at").Limit(1).Take(&row).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			continue // resolved between the two reads
		}
		if err != nil {
			return nil, classify(fmt.Errorf("store: backlog oldest %s/%s: %w", g.Provider, g.Status, err))
		}
		out = append(out, callbacks.Backlog{Provider: g.Provider, Status: callbacks.Status(g.Status),
			Count: g.N, Oldest: row.FirstSeenAt.UTC()})
	}
	return out, nil
}
