package callbacks

import "time"

// Observer is told what the pipeline does, for metrics. It must be safe for
// concurrent use and must not block: it runs on the callback's hot path.
// The metrics package implements it; the pipeline knows nothing of HTTP or
// Prometheus.
type Observer interface {
	// Delivered is called once per Handle of a configured provider with
	// the outcome of each notification (several for a batch), the error
	// that refused or failed the delivery (nil once durable), and how long
	// the delivery took.
	Delivered(provider string, outs []Outcome, err error, took time.Duration)
	// Retried is called before a transaction is tried again after err: an
	// optimistic version conflict, a changed receipt, a deadlock or a
	// lock-wait timeout.
	Retried(provider string, err error)
	// Redriven is called after a successful re-drive of a stored receipt.
	Redriven(provider string, action Action, dryRun bool)
}

type nopObserver struct{}

func (nopObserver) Delivered(string, []Outcome, error, time.Duration) {}
func (nopObserver) Retried(string, error)                             {}
func (nopObserver) Redriven(string, Action, bool)                     {}

// Backlog is how many of a provider's receipts wait in a status (unknown,
// escalated) and when the oldest of them was first seen.
type Backlog struct {
	Provider string
	Status   Status
	Count    int64
	Oldest   time.Time
}
