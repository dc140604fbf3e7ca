package ledger

import "errors"

// Errors of the ledger domain. Callers test them with errors.Is; the HTTP
// edge maps them to status codes in one table.
var (
	// ErrInvalid: the input is malformed (bad amount, unknown currency, empty order number).
	ErrInvalid = errors.New("invalid input")
	// ErrNotFound: no order with that number.
	ErrNotFound = errors.New("order not found")
	// ErrExists: an order with that number exists with different content.
	ErrExists = errors.New("order exists with different content")
	// ErrVersionConflict: the order changed since it was read (optimistic lock).
	ErrVersionConflict = errors.New("order version conflict")
	// ErrTransition: the event or action cannot apply to the order as it stands.
	ErrTransition = errors.New("impossible order transition")
	// ErrMismatch: the event's amount or currency differs from the order's.
	ErrMismatch = errors.New("amount or currency mismatch")
	// ErrOverRefund: the refund would exceed what was paid.
	ErrOverRefund = errors.New("refund exceeds paid amount")
	// ErrUndecided: the event cannot be decided now (refund before payment,
	// provider says pending); it must be parked and resolved later.
	ErrUndecided = errors.New("outcome undecided")
)
