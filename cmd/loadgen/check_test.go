package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"gateway/store"
	"gateway/store/storetest"
)

// fixture is a database state written for the checker to read.
type fixture struct {
	orders []fixOrder
	acked  map[string]bool
}

type fixOrder struct {
	no, currency, status string
	amount, version      int64
	paid, refunded       int64
	postings             []fixPosting
	receipts             []string // statuses of receipts naming the order
}

type fixPosting struct {
	txn  string
	legs []fixLeg
}

type fixLeg struct {
	account string
	amount  int64
}

// pay returns a correct payment posting of amount.
func pay(txn string, amount int64) fixPosting {
	return fixPosting{txn: txn, legs: []fixLeg{{"clearing:stripe", amount}, {"sales", -amount}}}
}

// goodFixture: three paid orders in three currencies, one order whose
// payment was never sent, one whose delivery failed before anything
// committed. Every invariant holds.
func goodFixture() fixture {
	return fixture{
		orders: []fixOrder{
			{no: "run-1", currency: "USD", status: "paid", amount: 1000, version: 2, paid: 1000,
				postings: []fixPosting{pay("pi_1:payment.succeeded", 1000)}, receipts: []string{"applied"}},
			{no: "run-2", currency: "EUR", status: "paid", amount: 2550, version: 2, paid: 2550,
				postings: []fixPosting{pay("pi_2:payment.succeeded", 2550)}, receipts: []string{"applied"}},
			{no: "run-3", currency: "JPY", status: "paid", amount: 4200, version: 2, paid: 4200,
				postings: []fixPosting{pay("pi_3:payment.succeeded", 4200)}, receipts: []string{"applied"}},
			{no: "run-4", currency: "USD", status: "created", amount: 1000, version: 1},
			{no: "run-5", currency: "USD", status: "created", amount: 1000, version: 1},
			// Another run's order: not the checker's business.
			{no: "other-1", currency: "USD", status: "paid", amount: 1, version: 9, paid: 7},
		},
		acked: map[string]bool{"run-1": true, "run-2": true, "run-3": true},
	}
}

func (f fixture) write(t *testing.T, db *sql.DB) {
	t.Helper()
	now := time.Now().UTC()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, o := range f.orders {
		exec(`INSERT INTO orders (order_no, amount, currency, status, version, paid_amount, refunded_amount, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, o.no, o.amount, o.currency, o.status, o.version, o.paid, o.refunded, now, now)
		for _, p := range o.postings {
			for _, l := range p.legs {
				exec(`INSERT INTO ledger_entries (order_no, account, amount, currency, provider, txn_id, created_at)
					VALUES (?, ?, ?, ?, 'stripe', ?, ?)`, o.no, l.account, l.amount, o.currency, p.txn, now)
			}
		}
		for i, st := range o.receipts {
			exec(`INSERT INTO callback_receipts (provider, txn_id, order_no, fingerprint, status, raw_body, headers,
				verified, ack_status, ack_body, first_seen_at, last_seen_at, updated_at)
				VALUES ('stripe', ?, ?, 'f', ?, '{}', '{}', 'ok', 200, '', ?, ?, ?)`,
				fmt.Sprintf("pi_%s_%d:payment.succeeded", o.no, i), o.no, st, now, now, now)
		}
	}
}

// TestCheckDB shows that the checker passes a correct run and catches each
// way a run can break the promises, on SQLite and MariaDB.
func TestCheckDB(t *testing.T) {
	cases := []struct {
		name   string
		change func(f *fixture)
		want   []string // violation kinds, sorted
	}{
		{"all promises kept", func(*fixture) {}, nil},
		{"double posting: one order paid by two events", func(f *fixture) {
			f.orders[0].postings = append(f.orders[0].postings, pay("pi_1b:payment.succeeded", 1000))
		}, []string{vPaidAmount, vPaidTwice}},
		{"double posting recorded on the order as well", func(f *fixture) {
			f.orders[0].postings = append(f.orders[0].postings, pay("pi_1b:payment.succeeded", 1000))
			f.orders[0].paid = 2000
		}, []string{vWrongAmount, vPaidTwice}},
		{"unbalanced ledger: one leg short", func(f *fixture) {
			f.orders[1].postings[0].legs[0].amount = 2500
		}, []string{vLedgerBalance, vPostingBalance}},
		{"posting with three legs", func(f *fixture) {
			p := &f.orders[2].postings[0]
			p.legs = append(p.legs, fixLeg{"fees", 0})
		}, []string{vLegs}},
		{"posting with a single leg", func(f *fixture) {
			p := &f.orders[2].postings[0]
			p.legs = p.legs[1:]
		}, []string{vLedgerBalance, vLegs, vPostingBalance}},
		{"acknowledged but never applied", func(f *fixture) {
			f.acked["run-4"] = true
		}, []string{vNotPaid}},
		{"acknowledged order that does not exist", func(f *fixture) {
			f.acked["run-99"] = true
		}, []string{vNotPaid}},
		{"paid_amount differs from the ledger", func(f *fixture) {
			f.orders[0].paid = 999
		}, []string{vPaidAmount, vWrongAmount}},
		{"refund on the order but not in the ledger", func(f *fixture) {
			f.orders[0].refunded = 10
		}, []string{vRefunded}},
		{"paid order updated twice", func(f *fixture) {
			f.orders[1].version = 3
		}, []string{vVersion}},
		{"paid order with two applied receipts", func(f *fixture) {
			f.orders[1].receipts = append(f.orders[1].receipts, "applied")
		}, []string{vReceipts}},
		{"paid order whose receipt is unknown", func(f *fixture) {
			f.orders[1].receipts = []string{"unknown"}
		}, []string{vReceipts}},
		{"posting on the ledger, order still created", func(f *fixture) {
			f.orders[0].status = "created"
		}, []string{vNotPaid}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				f := goodFixture()
				tc.change(&f)
				f.write(t, db.SQL())
				rep, err := checkDB(context.Background(), db.SQL(), "run-", f.acked)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, v := range rep.Violations {
					got = append(got, v.Kind)
					if v.Count < 1 || len(v.Examples) == 0 {
						t.Errorf("violation %q without count or example: %+v", v.Kind, v)
					}
				}
				if diff := cmp.Diff(tc.want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
					t.Errorf("violations (-want +got):\n%s\n%s", diff, rep)
				}
				if rep.OK() != (len(tc.want) == 0) {
					t.Errorf("OK() = %v with violations %v", rep.OK(), got)
				}
				if rep.Orders != 5 {
					t.Errorf("checked %d orders, want the run's 5", rep.Orders)
				}
				if !rep.OK() && !strings.Contains(rep.String(), "VIOLATIONS") {
					t.Errorf("report does not say it failed: %s", rep)
				}
			})
		})
	}
}

func TestCheckDBRefusesWildcardPrefix(t *testing.T) {
	for _, prefix := range []string{"", "run_", "50%"} {
		t.Run(prefix, func(t *testing.T) {
			if _, err := checkDB(context.Background(), nil, prefix, nil); err == nil {
				t.Fatalf("prefix %q accepted", prefix)
			}
		})
	}
}
