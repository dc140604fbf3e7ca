//go:build faults

package faults_test

import (
	"database/sql"
	"fmt"
	"sort"
	"strings"
)

// dbState is everything the checks read from the database, after the run.
type dbState struct {
	orders   map[string]orderRow
	receipts map[string]receiptRow // by provider + " " + txn_id
	legs     []legRow
}

type orderRow struct {
	amount                  int64
	currency, status        string
	paid, refunded, version int64
}

type receiptRow struct {
	id                   int64
	provider, txnID      string
	kind, status, reason string
	nextCheck            bool // next_check_at is set
	leaseOwner           string
	leaseUntil           bool
	ackStatus            int
}

type legRow struct {
	orderNo, account, currency, provider, txnID string
	amount                                      int64
}

func loadState(db *sql.DB) (dbState, error) {
	st := dbState{orders: map[string]orderRow{}, receipts: map[string]receiptRow{}}
	rows, err := db.Query("SELECT order_no, amount, currency, status, paid_amount, refunded_amount, version FROM orders")
	if err != nil {
		return st, err
	}
	for rows.Next() {
		var no string
		var o orderRow
		if err := rows.Scan(&no, &o.amount, &o.currency, &o.status, &o.paid, &o.refunded, &o.version); err != nil {
			return st, err
		}
		st.orders[no] = o
	}
	if err := rows.Err(); err != nil {
		return st, err
	}
	rows, err = db.Query(`SELECT id, provider, txn_id, kind, status, reason, next_check_at IS NOT NULL,
		lease_owner, lease_until IS NOT NULL, ack_status FROM callback_receipts`)
	if err != nil {
		return st, err
	}
	for rows.Next() {
		var r receiptRow
		if err := rows.Scan(&r.id, &r.provider, &r.txnID, &r.kind, &r.status, &r.reason, &r.nextCheck,
			&r.leaseOwner, &r.leaseUntil, &r.ackStatus); err != nil {
			return st, err
		}
		st.receipts[r.provider+" "+r.txnID] = r
	}
	if err := rows.Err(); err != nil {
		return st, err
	}
	rows, err = db.Query("SELECT order_no, account, amount, currency, provider, txn_id FROM ledger_entries ORDER BY id")
	if err != nil {
		return st, err
	}
	for rows.Next() {
		var l legRow
		if err := rows.Scan(&l.orderNo, &l.account, &l.amount, &l.currency, &l.provider, &l.txnID); err != nil {
			return st, err
		}
		st.legs = append(st.legs, l)
	}
	return st, rows.Err()
}

// verdict is what the checks found.
type verdict struct {
	lost, appliedTwice, stuck  int
	parked, rejected, conflict int
	receipts, legs, postings   int
	// per counts lost and applied twice by provider.
	per      map[string]*losses
	problems []string
}

type losses struct{ lost, appliedTwice int }

// count adds lost and applied-twice findings of a provider.
func (v *verdict) count(provider string, lost, twice int) {
	if v.per == nil {
		v.per = map[string]*losses{}
	}
	if v.per[provider] == nil {
		v.per[provider] = &losses{}
	}
	v.per[provider].lost += lost
	v.per[provider].appliedTwice += twice
	v.lost += lost
	v.appliedTwice += twice
}

func (v *verdict) fail(format string, a ...any) {
	v.problems = append(v.problems, fmt.Sprintf(format, a...))
}

const unchanged = "accepted; order unchanged"

// check holds the database against what the simulated world did:
//   - every acknowledged event has its receipt, in the status it must have (P1);
//   - every order is as its script says, and equals its ledger; no order
//     holds more money than its events carry (P2) nor less (P8);
//   - every posting has exactly two legs that sum to zero, under an applied
//     receipt, and every applied money-moving receipt has its posting (P5);
//   - the ledger is balanced per currency;
//   - no receipt is stuck without an owner: final, or unknown/escalated
//     with a next check for the reconciler, and no lease without an expiry;
//   - no receipt exists that the world did not cause.
func checkState(st dbState, scripts []*script, acked map[*event]bool) verdict {
	var v verdict
	v.receipts, v.legs = len(st.receipts), len(st.legs)
	expected := map[string]bool{}
	for _, sc := range scripts {
		for _, stp := range sc.steps {
			for _, delivery := range stp.events {
				for _, ev := range delivery.facts() {
					if !acked[delivery] {
						v.count(ev.sender.name, 1, 0)
						v.fail("%s: %s %s was never acknowledged", sc.scenario, ev.sender.name, ev.key)
						continue
					}
					r, ok := receiptOf(st, ev)
					if !ok {
						v.count(ev.sender.name, 1, 0)
						v.fail("%s: acknowledged %s %s has no receipt", sc.scenario, ev.sender.name, ev.key)
						continue
					}
					expected[r.provider+" "+r.txnID] = true
					if r.status != ev.want {
						if ev.want == "applied" {
							v.count(ev.sender.name, 1, 0)
						}
						v.fail("%s: %s %s is %s (%s), want %s", sc.scenario, ev.sender.name, ev.key, r.status, r.reason, ev.want)
					}
				}
			}
		}
	}
	for key, r := range st.receipts {
		switch r.status {
		case "unknown":
			v.parked++
		case "rejected":
			v.rejected++
		case "conflict":
			v.conflict++
		}
		if !expected[key] {
			v.fail("receipt %d %s is not one the world caused", r.id, key)
		}
		owned := r.status == "applied" || r.status == "rejected" || r.status == "conflict" ||
			(r.status == "unknown" || r.status == "escalated") && r.nextCheck
		if !owned || r.leaseOwner != "" && !r.leaseUntil {
			v.stuck++
			v.fail("receipt %d %s (%s) is stuck without an owner", r.id, key, r.status)
		}
		if r.ackStatus < 200 || r.ackStatus > 299 {
			v.fail("receipt %d %s stores ack status %d", r.id, key, r.ackStatus)
		}
	}

	// Postings: two legs, zero sum, an applied receipt.
	type posting struct {
		provider string
		n        int
		sum      int64
	}
	postings := map[string]*posting{}
	perCurrency := map[string]int64{}
	type totals struct{ paid, refunded int64 }
	perOrder := map[string]*totals{}
	for _, l := range st.legs {
		k := l.provider + " " + l.txnID
		if postings[k] == nil {
			postings[k] = &posting{provider: l.provider}
		}
		postings[k].n++
		postings[k].sum += l.amount
		perCurrency[l.currency] += l.amount
		if perOrder[l.orderNo] == nil {
			perOrder[l.orderNo] = &totals{}
		}
		switch l.account {
		case "sales":
			perOrder[l.orderNo].paid -= l.amount
		case "refunds":
			perOrder[l.orderNo].refunded += l.amount
		}
	}
	v.postings = len(postings)
	for k, p := range sorted(postings) {
		if p.n > 2 {
			v.count(p.provider, 0, 1)
		}
		if p.n != 2 || p.sum != 0 {
			v.fail("posting %s has %d legs summing to %d", k, p.n, p.sum)
		}
		if r, ok := st.receipts[k]; !ok || r.status != "applied" {
			v.fail("posting %s has no applied receipt", k)
		}
	}
	for k, r := range st.receipts {
		moves := r.kind == "payment.succeeded" || r.kind == "refund.succeeded"
		if r.status == "applied" && moves && r.reason != unchanged && postings[k] == nil {
			v.count(r.provider, 1, 0)
			v.fail("applied receipt %d %s has no posting", r.id, k)
		}
	}
	for cur, sum := range perCurrency {
		if sum != 0 {
			v.fail("the ledger is unbalanced in %s by %d", cur, sum)
		}
	}

	// Orders: as the script says, and equal to their ledger.
	for _, sc := range scripts {
		o, ok := st.orders[sc.order.no]
		if !ok {
			v.count(sc.sender.name, 1, 0)
			v.fail("%s: order %s is missing", sc.scenario, sc.order.no)
			continue
		}
		t := perOrder[sc.order.no]
		if t == nil {
			t = &totals{}
		}
		if t.paid > sc.expect.paid || t.refunded > sc.expect.refunded {
			v.count(sc.sender.name, 0, 1)
		}
		if t.paid < sc.expect.paid || t.refunded < sc.expect.refunded {
			v.count(sc.sender.name, 1, 0)
		}
		if o.paid != t.paid || o.refunded != t.refunded {
			v.fail("%s: order %s says paid %d refunded %d, its ledger %d and %d", sc.scenario, sc.order.no, o.paid, o.refunded, t.paid, t.refunded)
		}
		if o.status != sc.expect.status || o.paid != sc.expect.paid || o.refunded != sc.expect.refunded ||
			o.amount != sc.order.amount || o.currency != sc.order.currency {
			v.fail("%s: order %s is %s paid %d refunded %d, want %s paid %d refunded %d",
				sc.scenario, sc.order.no, o.status, o.paid, o.refunded, sc.expect.status, sc.expect.paid, sc.expect.refunded)
		}
	}
	if len(st.orders) != len(scripts) {
		v.fail("%d orders in the database, %d in the world", len(st.orders), len(scripts))
	}
	return v
}

// receiptOf finds the receipt an event must have made.
func receiptOf(st dbState, ev *event) (receiptRow, bool) {
	if !ev.conflict {
		r, ok := st.receipts[ev.sender.name+" "+ev.key]
		return r, ok
	}
	prefix := ev.sender.name + " " + ev.key + "#conflict:"
	for k, r := range st.receipts {
		if strings.HasPrefix(k, prefix) {
			return r, true
		}
	}
	return receiptRow{}, false
}

// sorted iterates a map in key order, so that failures read the same twice.
func sorted[V any](m map[string]V) func(func(string, V) bool) {
	return func(yield func(string, V) bool) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}
