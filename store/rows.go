package store

import (
	"encoding/json"
	"net/http"
	"time"

	"gateway/callbacks"
	"gateway/ledger"
)

type orderRow struct {
	ID             int64 `gorm:"primaryKey"`
	OrderNo        string
	Amount         int64
	Currency       string
	Status         string
	Version        int64
	PaidAmount     int64
	RefundedAmount int64
	Provider       string
	ProviderRef    string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

func (orderRow) TableName() string { return "orders" }

func toOrder(r orderRow) ledger.Order {
	return ledger.Order{
		ID: r.ID, OrderNo: r.OrderNo, Price: ledger.Money{Amount: r.Amount, Currency: r.Currency},
		Status: ledger.Status(r.Status), Version: r.Version, PaidAmount: r.PaidAmount,
		RefundedAmount: r.RefundedAmount, Provider: r.Provider, ProviderRef: r.ProviderRef,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func toOrderRow(o ledger.Order) orderRow {
	return orderRow{
		ID: o.ID, OrderNo: o.OrderNo, Amount: o.Price.Amount, Currency: o.Price.Currency,
		Status: string(o.Status), Version: o.Version, PaidAmount: o.PaidAmount,
		RefundedAmount: o.RefundedAmount, Provider: o.Provider, ProviderRef: o.ProviderRef,
		CreatedAt: o.CreatedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC(),
	}
}

type entryRow struct {
	ID        int64 `gorm:"primaryKey"`
	OrderNo   string
	Account   string
	Amount    int64
	Currency  string
	Provider  string
	TxnID     string
	CreatedAt time.Time
}

func (entryRow) TableName() string { return "ledger_entries" }

func toEntry(r entryRow) ledger.Entry {
	return ledger.Entry{OrderNo: r.OrderNo, Account: r.Account, Amount: r.Amount, Currency: r.Currency,
		Provider: r.Provider, TxnID: r.TxnID, CreatedAt: r.CreatedAt.UTC()}
}

type receiptRow struct {
	ID             int64 `gorm:"primaryKey"`
	Provider       string
	TxnID          string
	EventID        string
	EventType      string
	Kind           string
	OrderNo        string
	Reference      string
	Amount         int64
	Currency       string
	Cumulative     bool
	Fingerprint    string
	Status         string
	Reason         string
	RawBody        []byte
	Headers        string
	Verified       string
	AckStatus      int
	AckContentType string
	AckBody        []byte
	Deliveries     int64
	Attempts       int
	NextCheckAt    *time.Time
	LeaseOwner     string
	LeaseUntil     *time.Time
	ConflictOf     *int64
	FirstSeenAt    time.Time
	LastSeenAt     time.Time
	UpdatedAt      time.Time
}

func (receiptRow) TableName() string { return "callback_receipts" }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// maxReason is the width of the reason column.
const maxReason = 512

func toReceiptRow(r callbacks.Receipt) receiptRow {
	h, _ := json.Marshal(r.Headers) // an http.Header always marshals
	reason := r.Reason
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	body := r.RawBody
	if body == nil {
		body = []byte{}
	}
	ack := r.Ack.Body
	if ack == nil {
		ack = []byte{}
	}
	return receiptRow{
		ID: r.ID, Provider: r.Provider, TxnID: r.TxnID, EventID: r.EventID, EventType: r.EventType,
		Kind: string(r.Kind), OrderNo: r.OrderNo, Reference: r.Reference, Amount: r.Money.Amount,
		Currency: r.Money.Currency, Cumulative: r.Cumulative, Fingerprint: r.Fingerprint,
		Status: string(r.Status), Reason: reason, RawBody: body, Headers: string(h),
		Verified: r.Verified, AckStatus: r.Ack.Status, AckContentType: r.Ack.ContentType, AckBody: ack,
		Deliveries: r.Deliveries, Attempts: r.Attempts, NextCheckAt: utcPtr(r.NextCheckAt),
		ConflictOf: r.ConflictOf, FirstSeenAt: r.FirstSeenAt.UTC(), LastSeenAt: r.LastSeenAt.UTC(),
		UpdatedAt: r.LastSeenAt.UTC(),
	}
}

func toReceipt(r receiptRow) callbacks.Receipt {
	var h http.Header
	if r.Headers != "" {
		_ = json.Unmarshal([]byte(r.Headers), &h) // written by toReceiptRow; tolerate hand edits
	}
	return callbacks.Receipt{
		ID: r.ID, Provider: r.Provider, TxnID: r.TxnID, EventID: r.EventID, EventType: r.EventType,
		Kind: ledger.Kind(r.Kind), OrderNo: r.OrderNo, Reference: r.Reference,
		Money: ledger.Money{Amount: r.Amount, Currency: r.Currency}, Cumulative: r.Cumulative,
		Fingerprint: r.Fingerprint, Status: callbacks.Status(r.Status), Reason: r.Reason,
		RawBody: r.RawBody, Headers: h, Verified: r.Verified,
		Ack:        callbacks.Ack{Status: r.AckStatus, ContentType: r.AckContentType, Body: r.AckBody},
		Deliveries: r.Deliveries, Attempts: r.Attempts, NextCheckAt: utcPtr(r.NextCheckAt),
		ConflictOf: r.ConflictOf, FirstSeenAt: r.FirstSeenAt.UTC(), LastSeenAt: r.LastSeenAt.UTC(),
	}
}
