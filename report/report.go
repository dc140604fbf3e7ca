// Package report builds the reconciliation report: for a period, per
// provider, what the callbacks came to (receipts by outcome, duplicates,
// money applied per currency, the unknown backlog by age, rejections by
// reason, payments found only by the reconciler's sweep) and a check of the
// ledger (every posting balances; every order's paid and refunded totals
// equal its ledger). It renders JSON and CSV and stores a daily report.
package report

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"gateway/callbacks"
	"gateway/ledger"
)

// Errors of the report domain.
var (
	// ErrInvalid: the period or day is not acceptable.
	ErrInvalid = errors.New("invalid report period")
	// ErrNotFound: no daily report is stored for that day.
	ErrNotFound = errors.New("report not found")
)

// MaxPeriod bounds a report's period.
const MaxPeriod = 366 * 24 * time.Hour

// Period is [From, To).
type Period struct{ From, To time.Time }

func (p Period) String() string {
	return p.From.UTC().Format(time.RFC3339) + "/" + p.To.UTC().Format(time.RFC3339)
}

// Validate checks that the period is set, ordered and not too long.
func (p Period) Validate() error {
	switch {
	case p.From.IsZero() || p.To.IsZero():
		return fmt.Errorf("%w: from and to are required", ErrInvalid)
	case !p.To.After(p.From):
		return fmt.Errorf("%w: to must be after from", ErrInvalid)
	case p.To.Sub(p.From) > MaxPeriod:
		return fmt.Errorf("%w: at most 366 days", ErrInvalid)
	}
	return nil
}

// ParseTime reads a time as RFC 3339 ("2025-01-02T15:04:05Z") or a date
// ("2025-01-02", midnight UTC).
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%w: %q is neither RFC 3339 nor YYYY-MM-DD", ErrInvalid, s)
}

// ParsePeriod reads and validates a period.
func ParsePeriod(from, to string) (Period, error) {
	if from == "" || to == "" {
		return Period{}, fmt.Errorf("%w: from and to are required", ErrInvalid)
	}
	f, err := ParseTime(from)
	if err != nil {
		return Period{}, err
	}
	t, err := ParseTime(to)
	if err != nil {
		return Period{}, err
	}
	p := Period{From: f, To: t}
	return p, p.Validate()
}

// Report is the reconciliation report. Amounts are integers in minor units.
type Report struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// GeneratedAt is when the report was computed; the unknown receipts'
	// ages are taken at this moment.
	GeneratedAt time.Time        `json:"generated_at"`
	Providers   []ProviderReport `json:"providers"`
	LedgerCheck LedgerCheck      `json:"ledger_check"`
}

// ProviderReport is one provider's part of the report. Receipt figures count
// receipts first seen in the period; money figures count ledger postings
// made in the period.
type ProviderReport struct {
	Provider string   `json:"provider"`
	Receipts int64    `json:"receipts"`
	Outcomes Outcomes `json:"outcomes"`
	// Deliveries counts every delivery of those receipts (the first and
	// every duplicate); Duplicates is Deliveries - Receipts.
	Deliveries int64 `json:"deliveries"`
	Duplicates int64 `json:"duplicates"`
	// Applied is the money moved by applied events, per currency.
	Applied []CurrencyAmounts `json:"applied"`
	// UnknownByAge buckets the receipts still unknown at GeneratedAt.
	UnknownByAge AgeBuckets `json:"unknown_by_age"`
	Escalated    int64      `json:"escalated"`
	Conflicts    int64      `json:"conflicts"`
	// Rejections groups rejected receipts by reason (the reason's text up
	// to its first colon, which drops per-receipt detail such as amounts).
	Rejections []Rejection `json:"rejections"`
	// PaidAtProviderNotLocally lists payments the gateway learned of only
	// from the reconciler's sweep (receipts whose event type starts with
	// callbacks.SweepEventPrefix): the provider had them, no callback came.
	PaidAtProviderNotLocally []SweepPayment `json:"paid_at_provider_not_locally"`
}

// Outcomes counts receipts by status.
type Outcomes struct {
	Applied   int64 `json:"applied"`
	Rejected  int64 `json:"rejected"`
	Unknown   int64 `json:"unknown"`
	Conflict  int64 `json:"conflict"`
	Escalated int64 `json:"escalated"`
}

// CurrencyAmounts is the money applied in one currency.
type CurrencyAmounts struct {
	Currency        string `json:"currency"`
	Payments        int64  `json:"payments"`
	PaymentPostings int64  `json:"payment_postings"`
	Refunds         int64  `json:"refunds"`
	RefundPostings  int64  `json:"refund_postings"`
	// Net is Payments - Refunds.
	Net int64 `json:"net"`
}

// AgeBuckets counts unknown receipts by age: under an hour, from one hour
// up to 24 hours, and 24 hours or more.
type AgeBuckets struct {
	Under1h     int64 `json:"under_1h"`
	From1hTo24h int64 `json:"1h_to_24h"`
	Over24h     int64 `json:"over_24h"`
}

// Rejection counts rejected receipts with one reason.
type Rejection struct {
	Reason string `json:"reason"`
	Count  int64  `json:"count"`
}

// SweepPayment is a payment applied from the reconciler's sweep.
type SweepPayment struct {
	ReceiptID int64     `json:"receipt_id"`
	OrderNo   string    `json:"order_no"`
	TxnID     string    `json:"txn_id"`
	Amount    int64     `json:"amount"`
	Currency  string    `json:"currency"`
	At        time.Time `json:"at"`
}

// LedgerCheck is the check of the ledger over the period's postings and the
// orders that changed or were posted to in the period.
type LedgerCheck struct {
	OK              bool                `json:"ok"`
	PostingsChecked int64               `json:"postings_checked"`
	OrdersChecked   int64               `json:"orders_checked"`
	Unbalanced      []UnbalancedPosting `json:"unbalanced_postings"`
	Mismatched      []OrderMismatch     `json:"order_mismatches"`
	// Truncated is set when there were more offenders than MaxOffenders
	// of a kind; only the first are listed.
	Truncated bool `json:"truncated"`
}

// MaxOffenders bounds each list of ledger offenders.
const MaxOffenders = 1000

// UnbalancedPosting is a posting whose legs do not sum to zero in a currency.
type UnbalancedPosting struct {
	Provider string `json:"provider"`
	TxnID    string `json:"txn_id"`
	Currency string `json:"currency"`
	Sum      int64  `json:"sum"`
}

// OrderMismatch is an order whose totals differ from its ledger, or that
// has ledger legs in another currency.
type OrderMismatch struct {
	OrderNo        string `json:"order_no"`
	Currency       string `json:"currency"`
	PaidAmount     int64  `json:"paid_amount"`
	LedgerPaid     int64  `json:"ledger_paid"`
	RefundedAmount int64  `json:"refunded_amount"`
	LedgerRefunded int64  `json:"ledger_refunded"`
	ForeignLegs    int64  `json:"foreign_legs"`
}

// Data is what the store gathers for a period, in one transaction.
type Data struct {
	Receipts        []ReceiptCount
	UnknownAges     []UnknownAge
	Rejections      []RejectionCount
	Ledger          []LedgerSum
	Sweep           []SweepRow
	PostingsChecked int64
	Unbalanced      []UnbalancedPosting
	OrdersChecked   int64
	Mismatched      []OrderMismatch
}

// ReceiptCount counts one provider's receipts of one status.
type ReceiptCount struct {
	Provider   string
	Status     callbacks.Status
	Receipts   int64
	Deliveries int64
}

// UnknownAge buckets one provider's unknown receipts by age.
type UnknownAge struct {
	Provider string
	AgeBuckets
}

// RejectionCount counts one provider's rejected receipts with one reason.
type RejectionCount struct {
	Provider string
	Reason   string
	Count    int64
}

// LedgerSum sums one provider's legs on one account in one currency.
type LedgerSum struct {
	Provider string
	Currency string
	Account  string
	Legs     int64
	Sum      int64
}

// SweepRow is a sweep payment with its provider.
type SweepRow struct {
	Provider string
	SweepPayment
}

// Daily is a stored daily report.
type Daily struct {
	Day         string
	From, To    time.Time
	GeneratedAt time.Time
	Body        []byte // the report as JSON
}

// Store is what reports need from the database.
type Store interface {
	// ReconciliationData gathers the figures of [from, to); unknown ages
	// are taken at asOf.
	ReconciliationData(ctx context.Context, from, to, asOf time.Time) (Data, error)
	// SaveDaily stores a daily report; false if the day is stored already.
	SaveDaily(ctx context.Context, d Daily) (bool, error)
	// Daily returns a stored daily report; ErrNotFound if there is none.
	Daily(ctx context.Context, day string) (Daily, error)
	// DailyDays lists the stored days in [from, to] (YYYY-MM-DD).
	DailyDays(ctx context.Context, from, to string) ([]string, error)
}

// Service computes, stores and serves reports.
type Service struct {
	store Store
	log   *slog.Logger
	// Backfill is how many past days the daily job makes sure are stored.
	Backfill int
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// NewService returns the report service.
func NewService(store Store, log *slog.Logger) *Service {
	return &Service{store: store, log: log, Backfill: 7, Now: time.Now}
}

// Reconciliation computes the report of a period.
func (s *Service) Reconciliation(ctx context.Context, p Period) (Report, error) {
	if err := p.Validate(); err != nil {
		return Report{}, err
	}
	p = Period{From: p.From.UTC(), To: p.To.UTC()}
	asOf := s.Now().UTC()
	d, err := s.store.ReconciliationData(ctx, p.From, p.To, asOf)
	if err != nil {
		return Report{}, fmt.Errorf("report: %s: %w", p, err)
	}
	return Build(d, p, asOf), nil
}

// Build assembles a report from the gathered figures.
func Build(d Data, p Period, asOf time.Time) Report {
	r := Report{From: p.From, To: p.To, GeneratedAt: asOf}
	by := map[string]*ProviderReport{}
	get := func(name string) *ProviderReport {
		pr, ok := by[name]
		if !ok {
			pr = &ProviderReport{Provider: name, Applied: []CurrencyAmounts{}, Rejections: []Rejection{},
				PaidAtProviderNotLocally: []SweepPayment{}}
			by[name] = pr
		}
		return pr
	}
	for _, c := range d.Receipts {
		pr := get(c.Provider)
		pr.Receipts += c.Receipts
		pr.Deliveries += c.Deliveries
		switch c.Status {
		case callbacks.StatusApplied:
			pr.Outcomes.Applied += c.Receipts
		case callbacks.StatusRejected:
			pr.Outcomes.Rejected += c.Receipts
		case callbacks.StatusUnknown:
			pr.Outcomes.Unknown += c.Receipts
		case callbacks.StatusConflict:
			pr.Outcomes.Conflict += c.Receipts
		case callbacks.StatusEscalated:
			pr.Outcomes.Escalated += c.Receipts
		}
	}
	for _, pr := range by {
		pr.Duplicates = pr.Deliveries - pr.Receipts
		pr.Escalated, pr.Conflicts = pr.Outcomes.Escalated, pr.Outcomes.Conflict
	}
	for _, u := range d.UnknownAges {
		get(u.Provider).UnknownByAge = u.AgeBuckets
	}
	reasons := map[string]map[string]int64{}
	for _, rj := range d.Rejections {
		if reasons[rj.Provider] == nil {
			reasons[rj.Provider] = map[string]int64{}
		}
		reasons[rj.Provider][ReasonCategory(rj.Reason)] += rj.Count
	}
	for name, m := range reasons {
		pr := get(name)
		for reason, n := range m {
			pr.Rejections = append(pr.Rejections, Rejection{Reason: reason, Count: n})
		}
		sort.Slice(pr.Rejections, func(i, j int) bool {
			a, b := pr.Rejections[i], pr.Rejections[j]
			return a.Count > b.Count || a.Count == b.Count && a.Reason < b.Reason
		})
	}
	amounts := map[string]map[string]*CurrencyAmounts{}
	for _, l := range d.Ledger {
		if amounts[l.Provider] == nil {
			amounts[l.Provider] = map[string]*CurrencyAmounts{}
		}
		ca := amounts[l.Provider][l.Currency]
		if ca == nil {
			ca = &CurrencyAmounts{Currency: l.Currency}
			amounts[l.Provider][l.Currency] = ca
		}
		switch l.Account {
		case ledger.AccountSales: // credited: a payment's sales leg is negative
			ca.Payments -= l.Sum
			ca.PaymentPostings += l.Legs
		case ledger.AccountRefunds:
			ca.Refunds += l.Sum
			ca.RefundPostings += l.Legs
		}
		ca.Net = ca.Payments - ca.Refunds
	}
	for name, m := range amounts {
		pr := get(name)
		for _, ca := range m {
			pr.Applied = append(pr.Applied, *ca)
		}
		sort.Slice(pr.Applied, func(i, j int) bool { return pr.Applied[i].Currency < pr.Applied[j].Currency })
	}
	for _, sw := range d.Sweep {
		pr := get(sw.Provider)
		pr.PaidAtProviderNotLocally = append(pr.PaidAtProviderNotLocally, sw.SweepPayment)
	}
	r.Providers = make([]ProviderReport, 0, len(by))
	for _, pr := range by {
		r.Providers = append(r.Providers, *pr)
	}
	sort.Slice(r.Providers, func(i, j int) bool { return r.Providers[i].Provider < r.Providers[j].Provider })

	lc := LedgerCheck{PostingsChecked: d.PostingsChecked, OrdersChecked: d.OrdersChecked,
		Unbalanced: d.Unbalanced, Mismatched: d.Mismatched}
	if lc.Unbalanced == nil {
		lc.Unbalanced = []UnbalancedPosting{}
	}
	if lc.Mismatched == nil {
		lc.Mismatched = []OrderMismatch{}
	}
	lc.Truncated = len(lc.Unbalanced) >= MaxOffenders || len(lc.Mismatched) >= MaxOffenders
	lc.OK = len(lc.Unbalanced) == 0 && len(lc.Mismatched) == 0
	r.LedgerCheck = lc
	return r
}

// ReasonCategory is a rejection reason without its per-receipt detail: the
// text up to the first colon ("amount or currency mismatch: paid 1999,
// order amount 2000" → "amount or currency mismatch").
func ReasonCategory(reason string) string {
	if c, _, ok := strings.Cut(reason, ":"); ok {
		return strings.TrimSpace(c)
	}
	return strings.TrimSpace(reason)
}
