package ledger

import (
	"fmt"
	"slices"
	"time"
)

// Status is an order's place in its life.
type Status string

// Order statuses (DESIGN §4).
const (
	StatusCreated  Status = "created"
	StatusPaid     Status = "paid"
	StatusShipped  Status = "shipped"
	StatusReceived Status = "received"
	StatusClosed   Status = "closed"
	StatusRefunded Status = "refunded"
)

// transitions is the explicit table of allowed status changes.
var transitions = map[Status][]Status{
	StatusCreated:  {StatusPaid, StatusClosed},
	StatusPaid:     {StatusShipped, StatusRefunded},
	StatusShipped:  {StatusReceived, StatusRefunded},
	StatusReceived: {StatusRefunded},
}

// CanTransition reports whether an order may go from one status to another.
func CanTransition(from, to Status) bool {
	return slices.Contains(transitions[from], to)
}

// Order is a merchant's order as the ledger sees it.
type Order struct {
	ID             int64
	OrderNo        string
	Price          Money
	Status         Status
	Version        int64
	PaidAmount     int64
	RefundedAmount int64
	// Provider and ProviderRef name the provider's transaction, when known
	// (used by the reconciler to ask the provider about an unpaid order).
	Provider    string
	ProviderRef string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// NewOrder is what a merchant submits.
type NewOrder struct {
	OrderNo     string
	Price       Money
	Provider    string
	ProviderRef string
}

// Validate checks a submission.
func (n NewOrder) Validate() error {
	switch {
	case n.OrderNo == "" || len(n.OrderNo) > 64:
		return fmt.Errorf("%w: order_no must be 1 to 64 characters", ErrInvalid)
	case !printable(n.OrderNo):
		return fmt.Errorf("%w: order_no must be printable ASCII", ErrInvalid)
	case !ValidCurrency(n.Price.Currency):
		return fmt.Errorf("%w: unknown currency %q", ErrInvalid, n.Price.Currency)
	case n.Price.Amount <= 0 || n.Price.Amount > maxAmount:
		return fmt.Errorf("%w: amount must be between 1 and %d minor units", ErrInvalid, int64(maxAmount))
	case len(n.Provider) > 32 || len(n.ProviderRef) > 128:
		return fmt.Errorf("%w: provider or provider_ref too long", ErrInvalid)
	}
	return nil
}

// maxAmount keeps every amount and every sum of amounts inside int64.
const maxAmount = 1e15

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Entry is one leg of a posting. Debits are positive, credits negative; the
// legs of a posting sum to zero per currency.
type Entry struct {
	OrderNo   string
	Account   string
	Amount    int64
	Currency  string
	Provider  string
	TxnID     string
	CreatedAt time.Time
}

// Accounts of the chart. Clearing is per provider: money the provider holds
// for the merchant.
const (
	AccountSales   = "sales"
	AccountRefunds = "refunds"
)

// ClearingAccount names the provider's clearing account.
func ClearingAccount(provider string) string { return "clearing:" + provider }

// Balanced reports whether entries sum to zero per currency.
func Balanced(entries []Entry) bool {
	sums := map[string]int64{}
	for _, e := range entries {
		sums[e.Currency] += e.Amount
	}
	for _, s := range sums {
		if s != 0 {
			return false
		}
	}
	return true
}

// Totals derives an order's paid and refunded totals from its ledger entries.
func Totals(entries []Entry) (paid, refunded int64) {
	for _, e := range entries {
		switch e.Account {
		case AccountSales:
			paid -= e.Amount
		case AccountRefunds:
			refunded += e.Amount
		}
	}
	return paid, refunded
}
