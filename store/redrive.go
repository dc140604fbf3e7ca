package store

import (
	"context"
	"fmt"

	"gateway/callbacks"
)

// UpdateReceipt implements callbacks.Tx: the re-drive's write of a receipt,
// guarded by the status it was read with, so that of two concurrent
// re-drives only one changes it. The lease columns are the reconciler's and
// are left alone.
func (t tx) UpdateReceipt(ctx context.Context, r callbacks.Receipt, from callbacks.Status) error {
	row := toReceiptRow(r)
	res := t.g.WithContext(ctx).Model(&receiptRow{}).
		Where("id = ? AND status = ?", r.ID, string(from)).
		Updates(map[string]any{
			"event_id":      row.EventID,
			"event_type":    row.EventType,
			"kind":          row.Kind,
			"order_no":      row.OrderNo,
			"reference":     row.Reference,
			"amount":        row.Amount,
			"currency":      row.Currency,
			"cumulative":    row.Cumulative,
			"fingerprint":   row.Fingerprint,
			"status":        row.Status,
			"reason":        row.Reason,
			"next_check_at": row.NextCheckAt,
			"updated_at":    t.g.NowFunc(),
		})
	if res.Error != nil {
		return classify(fmt.Errorf("store: update receipt %d: %w", r.ID, res.Error))
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("store: receipt %d is no longer %s: %w", r.ID, from, callbacks.ErrReceiptChanged)
	}
	return nil
}
