package main

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"

	"gateway/ledger"
)

// Violation kinds the checker reports.
const (
	vNotPaid        = "acknowledged but not paid"
	vPaidTwice      = "paid more than once"
	vLegs           = "posting without exactly two legs"
	vPostingBalance = "posting does not balance"
	vLedgerBalance  = "ledger does not balance per currency"
	vPaidAmount     = "paid_amount differs from the ledger"
	vRefunded       = "refunded_amount differs from the ledger"
	vWrongAmount    = "paid amount differs from the order amount"
	vReceipts       = "paid order without exactly one applied receipt"
	vVersion        = "paid order not at version 2"
)

// violation is one broken invariant, with a few examples.
type violation struct {
	Kind     string
	Count    int
	Examples []string
}

// checkReport is what the checker found.
type checkReport struct {
	Orders     int // orders of the run
	Paid       int
	Postings   int
	Entries    int
	Violations []violation
}

// OK reports whether every invariant holds.
func (r checkReport) OK() bool { return len(r.Violations) == 0 }

func (r checkReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d orders, %d paid, %d postings, %d ledger rows: ", r.Orders, r.Paid, r.Postings, r.Entries)
	if r.OK() {
		b.WriteString("every acknowledged order paid exactly once, two legs per posting, ledger balanced per currency, paid_amount = ledger")
		return b.String()
	}
	b.WriteString("VIOLATIONS")
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "\n  %s: %d (e.g. %s)", v.Kind, v.Count, strings.Join(v.Examples, "; "))
	}
	return b.String()
}

type orderFacts struct {
	amount                 int64
	currency, status       string
	version, paid, refunds int64
}

type posting struct{ provider, txnID string }

// checkDB reads the orders whose number starts with prefix, their ledger
// entries and receipts straight from the database and checks the
// gateway's promises: every order in acked (its payment was acknowledged)
// is paid exactly once; no order is paid twice; every posting has exactly
// two legs and balances; the run's ledger balances per currency; each
// order's paid_amount and refunded_amount equal what its ledger says; a
// paid order has exactly one applied receipt and was updated exactly once.
func checkDB(ctx context.Context, db *sql.DB, prefix string, acked map[string]bool) (checkReport, error) {
	if prefix == "" || strings.ContainsAny(prefix, `%_\`) {
		return checkReport{}, fmt.Errorf("check: prefix %q must be non-empty and free of LIKE wildcards", prefix)
	}
	like := prefix + "%"
	orders := map[string]orderFacts{}
	err := query(ctx, db, `SELECT order_no, amount, currency, status, version, paid_amount, refunded_amount
		FROM orders WHERE order_no LIKE ?`, []any{like}, func(rows *sql.Rows) error {
		var no string
		var o orderFacts
		if err := rows.Scan(&no, &o.amount, &o.currency, &o.status, &o.version, &o.paid, &o.refunds); err != nil {
			return err
		}
		orders[no] = o
		return nil
	})
	if err != nil {
		return checkReport{}, err
	}
	entries := map[string][]ledger.Entry{}
	legs := map[posting][]ledger.Entry{}
	var all []ledger.Entry
	err = query(ctx, db, `SELECT order_no, account, amount, currency, provider, txn_id
		FROM ledger_entries WHERE order_no LIKE ?`, []any{like}, func(rows *sql.Rows) error {
		var e ledger.Entry
		if err := rows.Scan(&e.OrderNo, &e.Account, &e.Amount, &e.Currency, &e.Provider, &e.TxnID); err != nil {
			return err
		}
		entries[e.OrderNo] = append(entries[e.OrderNo], e)
		k := posting{e.Provider, e.TxnID}
		legs[k] = append(legs[k], e)
		all = append(all, e)
		return nil
	})
	if err != nil {
		return checkReport{}, err
	}
	applied := map[string]int{}
	err = query(ctx, db, `SELECT order_no, COUNT(*) FROM callback_receipts
		WHERE order_no LIKE ? AND status = 'applied' GROUP BY order_no`, []any{like}, func(rows *sql.Rows) error {
		var no string
		var n int
		if err := rows.Scan(&no, &n); err != nil {
			return err
		}
		applied[no] = n
		return nil
	})
	if err != nil {
		return checkReport{}, err
	}

	found := map[string]*violation{}
	add := func(kind, example string) {
		v := found[kind]
		if v == nil {
			v = &violation{Kind: kind}
			found[kind] = v
		}
		v.Count++
		if len(v.Examples) < 3 {
			v.Examples = append(v.Examples, example)
		}
	}
	rep := checkReport{Orders: len(orders), Postings: len(legs), Entries: len(all)}
	for _, no := range sortedKeys(orders) {
		o := orders[no]
		es := entries[no]
		payments := map[posting]bool{}
		for _, e := range es {
			if e.Account == ledger.AccountSales {
				payments[posting{e.Provider, e.TxnID}] = true
			}
		}
		paid, refunded := ledger.Totals(es)
		switch {
		case len(payments) > 1:
			add(vPaidTwice, fmt.Sprintf("%s has %d payment postings", no, len(payments)))
		case len(payments) == 0 && acked[no]:
			add(vNotPaid, fmt.Sprintf("%s is %s with no payment posting", no, o.status))
		}
		if o.status == string(ledger.StatusPaid) {
			rep.Paid++
			if o.paid != o.amount {
				add(vWrongAmount, fmt.Sprintf("%s paid %d of %d", no, o.paid, o.amount))
			}
			if applied[no] != 1 {
				add(vReceipts, fmt.Sprintf("%s has %d applied receipts", no, applied[no]))
			}
			if o.version != 2 {
				add(vVersion, fmt.Sprintf("%s at version %d", no, o.version))
			}
		} else if acked[no] && len(payments) == 1 {
			add(vNotPaid, fmt.Sprintf("%s has a payment posting but status %s", no, o.status))
		}
		if paid != o.paid {
			add(vPaidAmount, fmt.Sprintf("%s paid_amount %d, ledger %d", no, o.paid, paid))
		}
		if refunded != o.refunds {
			add(vRefunded, fmt.Sprintf("%s refunded_amount %d, ledger %d", no, o.refunds, refunded))
		}
	}
	for no := range acked {
		if _, ok := orders[no]; !ok && strings.HasPrefix(no, prefix) {
			add(vNotPaid, fmt.Sprintf("%s does not exist", no))
		}
	}
	keys := slices.SortedFunc(maps.Keys(legs), func(a, b posting) int {
		return cmp.Or(cmp.Compare(a.provider, b.provider), cmp.Compare(a.txnID, b.txnID))
	})
	for _, k := range keys {
		ls := legs[k]
		if len(ls) != 2 {
			add(vLegs, fmt.Sprintf("%s/%s has %d legs", k.provider, k.txnID, len(ls)))
		}
		if !ledger.Balanced(ls) {
			add(vPostingBalance, fmt.Sprintf("%s/%s", k.provider, k.txnID))
		}
	}
	sums := map[string]int64{}
	for _, e := range all {
		sums[e.Currency] += e.Amount
	}
	for _, cur := range sortedKeys(sums) {
		if sums[cur] != 0 {
			add(vLedgerBalance, fmt.Sprintf("%s sums to %d", cur, sums[cur]))
		}
	}
	for _, k := range sortedKeys(found) {
		rep.Violations = append(rep.Violations, *found[k])
	}
	return rep, nil
}

func query(ctx context.Context, db *sql.DB, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("check: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	return nil
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}
