package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"gateway/ledger"
)

// CSVHeader names the columns of the CSV form: one figure per row.
//
//	section    what the row is (see docs/operations.md)
//	provider   the provider, empty for report-wide rows
//	key        the status, age bucket, reason, order number or transaction
//	currency   ISO-4217, for money rows
//	count      receipts, deliveries or postings
//	amount_minor  integer minor units
//	amount     the same as a decimal string ("12.34")
//	detail     anything else, as text
var CSVHeader = []string{"section", "provider", "key", "currency", "count", "amount_minor", "amount", "detail"}

// CSV sections.
const (
	SectionPeriod        = "period"
	SectionOutcome       = "outcome"
	SectionDeliveries    = "deliveries"
	SectionDuplicates    = "duplicates"
	SectionPayments      = "payments"
	SectionRefunds       = "refunds"
	SectionUnknownAge    = "unknown_age"
	SectionRejection     = "rejection"
	SectionSweep         = "paid_at_provider_not_locally"
	SectionLedgerCheck   = "ledger_check"
	SectionUnbalanced    = "unbalanced_posting"
	SectionOrderMismatch = "order_mismatch"
)

// WriteCSV writes the report in its CSV form.
func WriteCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	row := func(section, provider, key, currency string, count *int64, amount *int64, detail string) {
		rec := []string{section, cell(provider), cell(key), currency, "", "", "", cell(detail)}
		if count != nil {
			rec[4] = strconv.FormatInt(*count, 10)
		}
		if amount != nil {
			rec[5], rec[6] = strconv.FormatInt(*amount, 10), ledger.FormatDecimal(*amount, currency)
		}
		_ = cw.Write(rec) // errors surface through cw.Error
	}
	n := func(v int64) *int64 { return &v }
	_ = cw.Write(CSVHeader)
	row(SectionPeriod, "", "from", "", nil, nil, r.From.UTC().Format(time.RFC3339))
	row(SectionPeriod, "", "to", "", nil, nil, r.To.UTC().Format(time.RFC3339))
	row(SectionPeriod, "", "generated_at", "", nil, nil, r.GeneratedAt.UTC().Format(time.RFC3339))
	for _, p := range r.Providers {
		o := p.Outcomes
		for _, s := range []struct {
			k string
			v int64
		}{{"applied", o.Applied}, {"rejected", o.Rejected}, {"unknown", o.Unknown}, {"conflict", o.Conflict}, {"escalated", o.Escalated}} {
			row(SectionOutcome, p.Provider, s.k, "", n(s.v), nil, "")
		}
		row(SectionDeliveries, p.Provider, "", "", n(p.Deliveries), nil, "")
		row(SectionDuplicates, p.Provider, "", "", n(p.Duplicates), nil, "")
		for _, a := range p.Applied {
			row(SectionPayments, p.Provider, "", a.Currency, n(a.PaymentPostings), n(a.Payments), "")
			row(SectionRefunds, p.Provider, "", a.Currency, n(a.RefundPostings), n(a.Refunds), "")
		}
		row(SectionUnknownAge, p.Provider, "under_1h", "", n(p.UnknownByAge.Under1h), nil, "")
		row(SectionUnknownAge, p.Provider, "1h_to_24h", "", n(p.UnknownByAge.From1hTo24h), nil, "")
		row(SectionUnknownAge, p.Provider, "over_24h", "", n(p.UnknownByAge.Over24h), nil, "")
		for _, rj := range p.Rejections {
			row(SectionRejection, p.Provider, rj.Reason, "", n(rj.Count), nil, "")
		}
		for _, sw := range p.PaidAtProviderNotLocally {
			row(SectionSweep, p.Provider, sw.OrderNo, sw.Currency, n(1), n(sw.Amount),
				fmt.Sprintf("receipt %d %s at %s", sw.ReceiptID, sw.TxnID, sw.At.UTC().Format(time.RFC3339)))
		}
	}
	lc := r.LedgerCheck
	row(SectionLedgerCheck, "", "ok", "", nil, nil, strconv.FormatBool(lc.OK))
	row(SectionLedgerCheck, "", "postings_checked", "", n(lc.PostingsChecked), nil, "")
	row(SectionLedgerCheck, "", "orders_checked", "", n(lc.OrdersChecked), nil, "")
	if lc.Truncated {
		row(SectionLedgerCheck, "", "truncated", "", nil, nil, "true")
	}
	for _, u := range lc.Unbalanced {
		row(SectionUnbalanced, u.Provider, u.TxnID, u.Currency, nil, n(u.Sum), "")
	}
	for _, m := range lc.Mismatched {
		row(SectionOrderMismatch, "", m.OrderNo, m.Currency, nil, nil,
			fmt.Sprintf("paid_amount=%d ledger_paid=%d refunded_amount=%d ledger_refunded=%d foreign_legs=%d",
				m.PaidAmount, m.LedgerPaid, m.RefundedAmount, m.LedgerRefunded, m.ForeignLegs))
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("report: csv: %w", err)
	}
	return nil
}

// cell keeps a spreadsheet from reading text as a formula: text that
// starts with = + - @ or a control character gets a leading apostrophe.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
