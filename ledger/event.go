package ledger

import (
	"fmt"
	"time"
)

// Kind is the normalized kind of a business event, whatever provider sent it.
type Kind string

// Event kinds.
const (
	KindPaymentSucceeded Kind = "payment.succeeded"
	KindPaymentFailed    Kind = "payment.failed"
	KindPaymentPending   Kind = "payment.pending"
	KindPaymentClosed    Kind = "payment.closed"
	KindRefundSucceeded  Kind = "refund.succeeded"
	KindRefundFailed     Kind = "refund.failed"
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	switch k {
	case KindPaymentSucceeded, KindPaymentFailed, KindPaymentPending, KindPaymentClosed,
		KindRefundSucceeded, KindRefundFailed:
		return true
	}
	return false
}

// Event is a business event that may change an order.
type Event struct {
	Kind     Kind
	Provider string
	TxnID    string
	Money    Money
	// Cumulative marks a refund whose amount is the total refunded to date
	// (Stripe's charge.refunded) rather than this refund alone.
	Cumulative bool
}

// Apply decides what an event does to an order. It returns the order as it
// must become and the ledger legs to post; changed is false when the event is
// accepted but leaves the order as it is. The error says why the event cannot
// apply: ErrMismatch, ErrTransition and ErrOverRefund are final refusals,
// ErrUndecided means "not now". Apply is pure: persisting is the caller's job.
func Apply(o Order, e Event, now time.Time) (next Order, legs []Entry, changed bool, err error) {
	next = o
	if e.Money.Currency != o.Price.Currency {
		return o, nil, false, fmt.Errorf("%w: event currency %s, order currency %s", ErrMismatch, e.Money.Currency, o.Price.Currency)
	}
	post := func(debit, credit string, amount int64) []Entry {
		mk := func(account string, a int64) Entry {
			return Entry{OrderNo: o.OrderNo, Account: account, Amount: a, Currency: o.Price.Currency,
				Provider: e.Provider, TxnID: e.TxnID, CreatedAt: now}
		}
		return []Entry{mk(debit, amount), mk(credit, -amount)}
	}
	switch e.Kind {
	case KindPaymentSucceeded:
		if e.Money.Amount != o.Price.Amount {
			return o, nil, false, fmt.Errorf("%w: paid %d, order amount %d", ErrMismatch, e.Money.Amount, o.Price.Amount)
		}
		if o.Status != StatusCreated {
			return o, nil, false, fmt.Errorf("%w: payment for an order that is %s", ErrTransition, o.Status)
		}
		next.Status, next.PaidAmount = StatusPaid, e.Money.Amount
		legs = post(ClearingAccount(e.Provider), AccountSales, e.Money.Amount)
	case KindPaymentFailed, KindRefundFailed:
		return o, nil, false, nil // recorded on the receipt; the order is unchanged
	case KindPaymentPending:
		if o.Status != StatusCreated {
			return o, nil, false, nil // stale "pending" after the outcome is known
		}
		return o, nil, false, fmt.Errorf("%w: provider reports the payment pending", ErrUndecided)
	case KindPaymentClosed:
		switch o.Status {
		case StatusCreated:
			next.Status = StatusClosed
		case StatusClosed, StatusRefunded:
			return o, nil, false, nil
		default:
			return o, nil, false, fmt.Errorf("%w: provider closed a trade the order records as %s", ErrUndecided, o.Status)
		}
	case KindRefundSucceeded:
		switch o.Status {
		case StatusCreated:
			return o, nil, false, fmt.Errorf("%w: refund before payment", ErrUndecided)
		case StatusClosed:
			return o, nil, false, fmt.Errorf("%w: refund for a closed order", ErrTransition)
		}
		amount := e.Money.Amount
		if e.Cumulative {
			amount -= o.RefundedAmount
			if amount <= 0 {
				return o, nil, false, nil // an older cumulative total: already reflected
			}
		}
		if amount <= 0 {
			return o, nil, false, fmt.Errorf("%w: refund amount %d", ErrMismatch, amount)
		}
		if o.RefundedAmount+amount > o.PaidAmount {
			return o, nil, false, fmt.Errorf("%w: refunded %d + %d > paid %d", ErrOverRefund, o.RefundedAmount, amount, o.PaidAmount)
		}
		next.RefundedAmount += amount
		if next.RefundedAmount == next.PaidAmount {
			next.Status = StatusRefunded
		}
		legs = post(AccountRefunds, ClearingAccount(e.Provider), amount)
	default:
		return o, nil, false, fmt.Errorf("%w: unsupported event kind %q", ErrTransition, e.Kind)
	}
	next.UpdatedAt = now
	return next, legs, true, nil
}
