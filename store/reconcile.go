package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/reconcile"
)

// The reconciler's leases are plain conditional UPDATEs — claim where the
// lease is free or expired, write where the lease is still ours — judged by
// RowsAffected: no SELECT … FOR UPDATE SKIP LOCKED, no advisory locks, so
// they behave the same on MySQL, MariaDB, TiDB and SQLite. Every UPDATE
// below changes lease_until or lease_owner, so MySQL's "rows changed"
// count is the "rows matched" count.

// DueReceipts implements reconcile.Store, on the index (status, next_check_at).
func (db *DB) DueReceipts(ctx context.Context, now time.Time, limit int) ([]reconcile.Due, error) {
	now = now.UTC()
	var rows []receiptRow
	err := db.gorm.WithContext(ctx).Model(&receiptRow{}).Select("id", "provider").
		Where("status = ? AND next_check_at <= ? AND (lease_until IS NULL OR lease_until < ?)",
			string(callbacks.StatusUnknown), now, now).
		Order("next_check_at").Order("id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, classify(fmt.Errorf("store: due receipts: %w", err))
	}
	out := make([]reconcile.Due, len(rows))
	for i, r := range rows {
		out[i] = reconcile.Due{ID: r.ID, Provider: r.Provider}
	}
	return out, nil
}

// ClaimReceipt implements reconcile.Store.
func (db *DB) ClaimReceipt(ctx context.Context, id int64, owner string, now, until time.Time) error {
	now = now.UTC()
	res := db.gorm.WithContext(ctx).Model(&receiptRow{}).
		Where("id = ? AND status = ? AND next_check_at <= ? AND (lease_until IS NULL OR lease_until < ?)",
			id, string(callbacks.StatusUnknown), now, now).
		Updates(map[string]any{"lease_owner": owner, "lease_until": until.UTC()})
	if res.Error != nil {
		return classify(fmt.Errorf("store: claim receipt %d: %w", id, res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: receipt %d: %w", id, reconcile.ErrNotClaimed)
	}
	return nil
}

// leased updates receipt id with set if it is owner's (and, when status is
// given, still in it); reconcile.ErrLeaseLost otherwise.
func (db *DB) leased(ctx context.Context, what string, id int64, owner string, status callbacks.Status, set map[string]any) error {
	q := db.gorm.WithContext(ctx).Model(&receiptRow{}).Where("id = ? AND lease_owner = ?", id, owner)
	if status != "" {
		q = q.Where("status = ?", string(status))
	}
	set["lease_owner"], set["lease_until"], set["updated_at"] = "", nil, db.gorm.NowFunc()
	res := q.Updates(set)
	if res.Error != nil {
		return classify(fmt.Errorf("store: %s receipt %d: %w", what, id, res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: %s receipt %d: %w", what, id, reconcile.ErrLeaseLost)
	}
	return nil
}

// RescheduleReceipt implements reconcile.Store.
func (db *DB) RescheduleReceipt(ctx context.Context, id int64, owner string, next time.Time) error {
	return db.leased(ctx, "reschedule", id, owner, callbacks.StatusUnknown, map[string]any{
		"attempts": gorm.Expr("attempts + 1"), "next_check_at": next.UTC()})
}

// EscalateReceipt implements reconcile.Store.
func (db *DB) EscalateReceipt(ctx context.Context, id int64, owner, reason string) error {
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	return db.leased(ctx, "escalate", id, owner, callbacks.StatusUnknown, map[string]any{
		"attempts": gorm.Expr("attempts + 1"), "next_check_at": nil,
		"status": string(callbacks.StatusEscalated), "reason": reason})
}

// ReleaseReceipt implements reconcile.Store.
func (db *DB) ReleaseReceipt(ctx context.Context, id int64, owner string, checked bool) error {
	set := map[string]any{}
	if checked {
		set["attempts"] = gorm.Expr("attempts + 1")
	}
	return db.leased(ctx, "release", id, owner, "", set)
}

type sweepRow struct {
	OrderNo     string `gorm:"primaryKey"`
	Provider    string
	Attempts    int
	NextCheckAt *time.Time
	LeaseOwner  string
	LeaseUntil  *time.Time
	Result      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (sweepRow) TableName() string { return "order_sweeps" }

// maxSweepResult is the width of order_sweeps.result.
const maxSweepResult = 255

// SweepCandidates implements reconcile.Store: created orders in the window
// on the index (status, created_at), joined to their sweep row if any.
func (db *DB) SweepCandidates(ctx context.Context, q reconcile.SweepQuery) ([]ledger.Order, error) {
	now := q.Now.UTC()
	var rows []orderRow
	err := db.gorm.WithContext(ctx).Raw(`SELECT o.* FROM orders o
		LEFT JOIN order_sweeps s ON s.order_no = o.order_no
		WHERE o.status = ? AND o.created_at > ? AND o.created_at <= ? AND o.provider <> '' AND o.provider_ref <> ''
		  AND (s.order_no IS NULL OR (s.next_check_at <= ? AND (s.lease_until IS NULL OR s.lease_until < ?)))
		ORDER BY o.created_at, o.id LIMIT ?`,
		string(ledger.StatusCreated), q.CreatedAfter.UTC(), q.CreatedBefore.UTC(), now, now, q.Limit).Scan(&rows).Error
	if err != nil {
		return nil, classify(fmt.Errorf("store: sweep candidates: %w", err))
	}
	out := make([]ledger.Order, len(rows))
	for i, r := range rows {
		out[i] = toOrder(r)
	}
	return out, nil
}

// ClaimSweep implements reconcile.Store: take a due row over, or be the
// first to insert one (the primary key lets one instance win).
func (db *DB) ClaimSweep(ctx context.Context, orderNo, provider, owner string, now, until time.Time) (int, error) {
	now, until = now.UTC(), until.UTC()
	g := db.gorm.WithContext(ctx)
	res := g.Model(&sweepRow{}).
		Where("order_no = ? AND next_check_at <= ? AND (lease_until IS NULL OR lease_until < ?)", orderNo, now, now).
		Updates(map[string]any{"lease_owner": owner, "lease_until": until, "updated_at": db.gorm.NowFunc()})
	if res.Error != nil {
		return 0, classify(fmt.Errorf("store: claim sweep of %s: %w", orderNo, res.Error))
	}
	if res.RowsAffected == 0 {
		row := sweepRow{OrderNo: orderNo, Provider: provider, NextCheckAt: &now, LeaseOwner: owner, LeaseUntil: &until,
			CreatedAt: db.gorm.NowFunc(), UpdatedAt: db.gorm.NowFunc()}
		err := g.Create(&row).Error
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return 0, fmt.Errorf("store: sweep of %s: %w", orderNo, reconcile.ErrNotClaimed)
		}
		if err != nil {
			return 0, classify(fmt.Errorf("store: claim sweep of %s: %w", orderNo, err))
		}
		return 0, nil
	}
	var row sweepRow
	if err := g.Select("attempts").Where("order_no = ?", orderNo).Take(&row).Error; err != nil {
		return 0, classify(fmt.Errorf("store: sweep of %s: %w", orderNo, err))
	}
	return row.Attempts, nil
}

// FinishSweep implements reconcile.Store.
func (db *DB) FinishSweep(ctx context.Context, orderNo, owner string, next *time.Time, result string) error {
	if len(result) > maxSweepResult {
		result = result[:maxSweepResult]
	}
	var at any // NULL: not swept again
	if next != nil {
		at = next.UTC()
	}
	res := db.gorm.WithContext(ctx).Model(&sweepRow{}).Where("order_no = ? AND lease_owner = ?", orderNo, owner).
		Updates(map[string]any{"attempts": gorm.Expr("attempts + 1"), "next_check_at": at, "result": result,
			"lease_owner": "", "lease_until": nil, "updated_at": db.gorm.NowFunc()})
	if res.Error != nil {
		return classify(fmt.Errorf("store: finish sweep of %s: %w", orderNo, res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: finish sweep of %s: %w", orderNo, reconcile.ErrLeaseLost)
	}
	return nil
}

// ReleaseSweep implements reconcile.Store.
func (db *DB) ReleaseSweep(ctx context.Context, orderNo, owner string) error {
	res := db.gorm.WithContext(ctx).Model(&sweepRow{}).Where("order_no = ? AND lease_owner = ?", orderNo, owner).
		Updates(map[string]any{"lease_owner": "", "lease_until": nil, "updated_at": db.gorm.NowFunc()})
	if res.Error != nil {
		return classify(fmt.Errorf("store: release sweep of %s: %w", orderNo, res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: release sweep of %s: %w", orderNo, reconcile.ErrLeaseLost)
	}
	return nil
}

var _ reconcile.Store = (*DB)(nil)
