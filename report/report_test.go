package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/callbacks/callbackstest"
	"gateway/ledger"
	"gateway/providers/standardwebhooks"
	"gateway/report"
	"gateway/store"
	"gateway/store/storetest"
)

const acmeSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func at(day, hh, mm int) time.Time { return time.Date(2025, 3, day, hh, mm, 0, 0, time.UTC) }

// scenario scripts a day of callbacks with known figures (see
// TestReconciliationScenario for the expected report, worked out by hand).
// It returns the sweep receipt's id.
func scenario(t *testing.T, db *store.DB) int64 {
	t.Helper()
	acme, err := standardwebhooks.New(standardwebhooks.Config{Name: "acme", Secrets: []string{acmeSecret},
		Fields: standardwebhooks.Fields{TxnID: "data.id", EventType: "type", OrderNo: "data.order_no", Amount: "data.amount", Currency: "data.currency"}})
	if err != nil {
		t.Fatal(err)
	}
	e := callbackstest.New(t, db, callbacks.Config{}, acme)
	ctx := context.Background()
	step := func(tm time.Time) { e.Clock.Set(tm) }
	pay := func(orderNo string, amount int64, currency string) callbacks.Outcome {
		return e.Deliver(t, callbackstest.Event{ID: "evt_" + orderNo + strconv.FormatInt(amount, 10), Type: "payment_intent.succeeded",
			ObjectID: "pi_" + orderNo, OrderNo: orderNo, Amount: amount, Currency: currency})
	}
	want := func(o callbacks.Outcome, s callbacks.Status) {
		t.Helper()
		if o.Receipt.Status != s || o.Duplicate {
			t.Fatalf("scenario: %s is %s (duplicate %t), want %s: %s", o.Receipt.TxnID, o.Receipt.Status, o.Duplicate, s, o.Receipt.Reason)
		}
	}

	// The day before: outside the period.
	step(at(9, 23, 0))
	e.Order(t, "X0", 100, "USD")
	want(pay("X0", 100, "USD"), callbacks.StatusApplied)

	// The period: 2025-03-10.
	step(at(10, 0, 5))
	for _, o := range []struct {
		no       string
		amount   int64
		currency string
	}{{"A1", 2000, "USD"}, {"A2", 3500, "USD"}, {"A3", 1000, "JPY"}, {"R1", 100, "USD"}, {"R2", 100, "EUR"}, {"E1", 4200, "EUR"}} {
		e.Order(t, o.no, o.amount, o.currency)
	}
	step(at(10, 1, 0))
	want(pay("A1", 2000, "USD"), callbacks.StatusApplied)
	pay("A1", 2000, "USD") // two duplicates
	pay("A1", 2000, "USD")
	step(at(10, 2, 0))
	want(pay("A2", 3500, "USD"), callbacks.StatusApplied)
	pay("A2", 3500, "USD") // one duplicate
	step(at(10, 3, 0))
	want(pay("A3", 1000, "JPY"), callbacks.StatusApplied)
	step(at(10, 4, 0))
	want(e.Refund(t, "A1", 500, "USD"), callbacks.StatusApplied)
	step(at(10, 5, 0))
	want(e.Refund(t, "A1", 800, "USD"), callbacks.StatusApplied) // cumulative: 300 more
	// Unknown (no order), at ages of exactly 24h, 12.5h, exactly 1h and
	// 45m when the report is made at 2025-03-11 00:30.
	step(at(10, 0, 30))
	want(pay("U1", 10, "USD"), callbacks.StatusUnknown)
	step(at(10, 12, 0))
	want(pay("U2", 20, "USD"), callbacks.StatusUnknown)
	step(at(10, 23, 30))
	want(pay("U4", 40, "USD"), callbacks.StatusUnknown)
	step(at(10, 23, 45))
	want(pay("U3", 30, "USD"), callbacks.StatusUnknown)
	// One escalated (the reconciler's budget spent).
	step(at(10, 10, 0))
	u5 := pay("U5", 50, "USD")
	storetest.Exec(t, db, "UPDATE callback_receipts SET status = 'escalated' WHERE id = ?", u5.Receipt.ID)
	// Rejections: two amount or currency mismatches, one impossible
	// transition, one unsupported event type.
	step(at(10, 6, 0))
	want(pay("R1", 150, "USD"), callbacks.StatusRejected)
	want(pay("R2", 100, "USD"), callbacks.StatusRejected)
	want(e.Deliver(t, callbackstest.Event{ID: "evt_A2b", Type: "payment_intent.succeeded", ObjectID: "pi_A2b",
		OrderNo: "A2", Amount: 3500, Currency: "USD"}), callbacks.StatusRejected)
	want(e.Deliver(t, callbackstest.Event{ID: "evt_cust", Type: "customer.created", ObjectID: "cus_1"}), callbacks.StatusRejected)
	// A conflict: A1's payment key with another amount.
	step(at(10, 7, 0))
	want(pay("A1", 2001, "USD"), callbacks.StatusConflict)
	// acme: one EUR payment.
	step(at(10, 8, 0))
	body := []byte(`{"type":"payment.succeeded","data":{"id":"tx_E1","order_no":"E1","amount":4200,"currency":"EUR"}}`)
	sig, err := standardwebhooks.Sign(acmeSecret, "msg_E1", e.Clock.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Webhook-Id": {"msg_E1"}, "Webhook-Timestamp": {strconv.FormatInt(e.Clock.Now().Unix(), 10)}, "Webhook-Signature": {sig}}
	if _, outs, err := e.Callbacks.Handle(ctx, callbacks.Inbound{Provider: "acme", Header: h, Body: body}); err != nil {
		t.Fatal(err)
	} else {
		want(outs[0], callbacks.StatusApplied)
	}
	// The reconciler's sweep found S1 paid at the provider (done here as
	// the sweep will: the same transaction writes order, ledger, receipt).
	step(at(10, 15, 0))
	sweep := sweepPayment(t, e, "S1", 700)

	// Ledger damage the check must find: a one-legged posting, and an
	// order whose paid total disagrees with its ledger.
	storetest.Exec(t, db, `INSERT INTO ledger_entries (order_no, account, amount, currency, provider, txn_id, created_at)
		VALUES ('A3', 'clearing:stripe', 5, 'JPY', 'stripe', 'manual:fix', ?)`, at(10, 10, 0))
	storetest.Exec(t, db, "UPDATE orders SET paid_amount = 3600 WHERE order_no = 'A2'")

	if err := e.Callbacks.Close(ctx); err != nil { // write the duplicate counts
		t.Fatal(err)
	}
	return sweep
}

func sweepPayment(t *testing.T, e *callbackstest.Env, orderNo string, amount int64) int64 {
	t.Helper()
	ctx := context.Background()
	now := e.Clock.Now()
	o := e.Order(t, orderNo, amount, "USD")
	n := callbacks.Notification{TxnID: callbacks.Key("pi_"+orderNo, ledger.KindPaymentSucceeded), EventID: "query",
		EventType: callbacks.SweepEventType(ledger.KindPaymentSucceeded), Kind: ledger.KindPaymentSucceeded,
		OrderNo: orderNo, Reference: "pi_" + orderNo, Money: ledger.Money{Amount: amount, Currency: "USD"}}
	rec := callbacks.Receipt{Provider: "stripe", TxnID: n.TxnID, EventID: n.EventID, EventType: n.EventType, Kind: n.Kind,
		OrderNo: orderNo, Reference: n.Reference, Money: n.Money, Fingerprint: n.Fingerprint(), Status: callbacks.StatusApplied,
		Verified: "query", Deliveries: 1, FirstSeenAt: now, LastSeenAt: now}
	err := e.DB.InTx(ctx, func(tx callbacks.Tx) error {
		next, legs, _, err := ledger.Apply(o, ledger.Event{Kind: n.Kind, Provider: "stripe", TxnID: n.TxnID, Money: n.Money}, now)
		if err != nil {
			return err
		}
		if err := tx.UpdateOrder(ctx, next, o.Version); err != nil {
			return err
		}
		if err := tx.Post(ctx, legs); err != nil {
			return err
		}
		return tx.InsertReceipt(ctx, &rec)
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec.ID
}

func newService(db *store.DB, now time.Time) *report.Service {
	s := report.NewService(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Now = func() time.Time { return now }
	return s
}

// TestReconciliationScenario checks the report of the scripted day against
// figures counted by hand from the script.
func TestReconciliationScenario(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		sweep := scenario(t, db)
		asOf := at(11, 0, 30)
		got, err := newService(db, asOf).Reconciliation(context.Background(), report.Period{From: at(10, 0, 0), To: at(11, 0, 0)})
		if err != nil {
			t.Fatal(err)
		}
		want := report.Report{
			From: at(10, 0, 0), To: at(11, 0, 0), GeneratedAt: asOf,
			Providers: []report.ProviderReport{
				{
					Provider: "acme", Receipts: 1, Outcomes: report.Outcomes{Applied: 1}, Deliveries: 1,
					Applied:    []report.CurrencyAmounts{{Currency: "EUR", Payments: 4200, PaymentPostings: 1, Net: 4200}},
					Rejections: []report.Rejection{}, PaidAtProviderNotLocally: []report.SweepPayment{},
				},
				{
					Provider: "stripe",
					// applied: A1, A2, A3, two A1 refunds, S1; rejected: R1,
					// R2, A2b, customer.created; unknown: U1-U4; U5
					// escalated; A1's conflict.
					Receipts:   16,
					Outcomes:   report.Outcomes{Applied: 6, Rejected: 4, Unknown: 4, Conflict: 1, Escalated: 1},
					Deliveries: 19, Duplicates: 3,
					Applied: []report.CurrencyAmounts{
						{Currency: "JPY", Payments: 1000, PaymentPostings: 1, Net: 1000},
						{Currency: "USD", Payments: 2000 + 3500 + 700, PaymentPostings: 3, Refunds: 800, RefundPostings: 2, Net: 5400},
					},
					UnknownByAge: report.AgeBuckets{Under1h: 1, From1hTo24h: 2, Over24h: 1},
					Escalated:    1, Conflicts: 1,
					Rejections: []report.Rejection{
						{Reason: "amount or currency mismatch", Count: 2},
						{Reason: "impossible order transition", Count: 1},
						{Reason: "unsupported event type customer.created", Count: 1},
					},
					PaidAtProviderNotLocally: []report.SweepPayment{
						{ReceiptID: sweep, OrderNo: "S1", TxnID: "pi_S1:payment.succeeded", Amount: 700, Currency: "USD", At: at(10, 15, 0)},
					},
				},
			},
			LedgerCheck: report.LedgerCheck{
				OK: false,
				// A1, A2, A3, two refunds, S1, E1, manual:fix.
				PostingsChecked: 8,
				// Created, changed or posted to in the period: A1, A2, A3,
				// R1, R2, E1, S1 (not X0).
				OrdersChecked: 7,
				Unbalanced:    []report.UnbalancedPosting{{Provider: "stripe", TxnID: "manual:fix", Currency: "JPY", Sum: 5}},
				Mismatched:    []report.OrderMismatch{{OrderNo: "A2", Currency: "USD", PaidAmount: 3600, LedgerPaid: 3500}},
			},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("report (-want +got):\n%s", diff)
		}

		t.Run("csv", func(t *testing.T) {
			var b bytes.Buffer
			if err := report.WriteCSV(&b, got); err != nil {
				t.Fatal(err)
			}
			records, err := csv.NewReader(&b).ReadAll()
			if err != nil {
				t.Fatalf("read back: %v", err)
			}
			wantCSV := [][]string{
				{"section", "provider", "key", "currency", "count", "amount_minor", "amount", "detail"},
				{"period", "", "from", "", "", "", "", "2025-03-10T00:00:00Z"},
				{"period", "", "to", "", "", "", "", "2025-03-11T00:00:00Z"},
				{"period", "", "generated_at", "", "", "", "", "2025-03-11T00:30:00Z"},
				{"outcome", "acme", "applied", "", "1", "", "", ""},
				{"outcome", "acme", "rejected", "", "0", "", "", ""},
				{"outcome", "acme", "unknown", "", "0", "", "", ""},
				{"outcome", "acme", "conflict", "", "0", "", "", ""},
				{"outcome", "acme", "escalated", "", "0", "", "", ""},
				{"deliveries", "acme", "", "", "1", "", "", ""},
				{"duplicates", "acme", "", "", "0", "", "", ""},
				{"payments", "acme", "", "EUR", "1", "4200", "42.00", ""},
				{"refunds", "acme", "", "EUR", "0", "0", "0.00", ""},
				{"unknown_age", "acme", "under_1h", "", "0", "", "", ""},
				{"unknown_age", "acme", "1h_to_24h", "", "0", "", "", ""},
				{"unknown_age", "acme", "over_24h", "", "0", "", "", ""},
				{"outcome", "stripe", "applied", "", "6", "", "", ""},
				{"outcome", "stripe", "rejected", "", "4", "", "", ""},
				{"outcome", "stripe", "unknown", "", "4", "", "", ""},
				{"outcome", "stripe", "conflict", "", "1", "", "", ""},
				{"outcome", "stripe", "escalated", "", "1", "", "", ""},
				{"deliveries", "stripe", "", "", "19", "", "", ""},
				{"duplicates", "stripe", "", "", "3", "", "", ""},
				{"payments", "stripe", "", "JPY", "1", "1000", "1000", ""},
				{"refunds", "stripe", "", "JPY", "0", "0", "0", ""},
				{"payments", "stripe", "", "USD", "3", "6200", "62.00", ""},
				{"refunds", "stripe", "", "USD", "2", "800", "8.00", ""},
				{"unknown_age", "stripe", "under_1h", "", "1", "", "", ""},
				{"unknown_age", "stripe", "1h_to_24h", "", "2", "", "", ""},
				{"unknown_age", "stripe", "over_24h", "", "1", "", "", ""},
				{"rejection", "stripe", "amount or currency mismatch", "", "2", "", "", ""},
				{"rejection", "stripe", "impossible order transition", "", "1", "", "", ""},
				{"rejection", "stripe", "unsupported event type customer.created", "", "1", "", "", ""},
				{"paid_at_provider_not_locally", "stripe", "S1", "USD", "1", "700", "7.00",
					"receipt " + strconv.FormatInt(sweep, 10) + " pi_S1:payment.succeeded at 2025-03-10T15:00:00Z"},
				{"ledger_check", "", "ok", "", "", "", "", "false"},
				{"ledger_check", "", "postings_checked", "", "8", "", "", ""},
				{"ledger_check", "", "orders_checked", "", "7", "", "", ""},
				{"unbalanced_posting", "stripe", "manual:fix", "JPY", "", "5", "5", ""},
				{"order_mismatch", "", "A2", "USD", "", "", "", "paid_amount=3600 ledger_paid=3500 refunded_amount=0 ledger_refunded=0 foreign_legs=0"},
			}
			if diff := cmp.Diff(wantCSV, records); diff != "" {
				t.Errorf("csv (-want +got):\n%s", diff)
			}
		})
		t.Run("empty period", func(t *testing.T) {
			r, err := newService(db, asOf).Reconciliation(context.Background(), report.Period{From: at(1, 0, 0), To: at(2, 0, 0)})
			if err != nil {
				t.Fatal(err)
			}
			want := report.Report{From: at(1, 0, 0), To: at(2, 0, 0), GeneratedAt: asOf, Providers: []report.ProviderReport{},
				LedgerCheck: report.LedgerCheck{OK: true, Unbalanced: []report.UnbalancedPosting{}, Mismatched: []report.OrderMismatch{}}}
			if diff := cmp.Diff(want, r); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	})
}

func TestStoreDaily(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		scenario(t, db)
		ctx := context.Background()
		// Two replicas run the job at 00:10 on the 11th: each day of the
		// last week is stored once.
		var wg sync.WaitGroup
		stored := make([][]string, 2)
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() { stored[i], errs[i] = newService(db, at(11, 0, 10)).StoreDaily(ctx) })
		}
		wg.Wait()
		if errors.Join(errs...) != nil {
			t.Fatal(errors.Join(errs...))
		}
		if n := len(stored[0]) + len(stored[1]); n != 7 {
			t.Errorf("stored %v and %v: %d days, want 7", stored[0], stored[1], n)
		}
		if n := storetest.Counts(t, db)["reconciliation_reports"]; n != 7 {
			t.Errorf("%d stored reports, want 7 (2025-03-04 to 2025-03-10)", n)
		}
		again, err := newService(db, at(11, 5, 0)).StoreDaily(ctx)
		if err != nil || len(again) != 0 {
			t.Errorf("second run: %v %v, want nothing stored", again, err)
		}
		s := newService(db, at(12, 9, 0))
		r, err := s.Daily(ctx, "2025-03-10")
		if err != nil {
			t.Fatal(err)
		}
		if r.Providers[1].Receipts != 16 || r.LedgerCheck.OK || !r.GeneratedAt.Equal(at(11, 0, 10)) {
			t.Errorf("stored report: %d stripe receipts, ledger ok %t, generated %s", r.Providers[1].Receipts, r.LedgerCheck.OK, r.GeneratedAt)
		}
		for _, tc := range []struct {
			day  string
			want error
		}{{"2025-03-11", report.ErrNotFound}, {"2025-3-1", report.ErrInvalid}, {"", report.ErrInvalid}} {
			if _, err := s.Daily(ctx, tc.day); !errors.Is(err, tc.want) {
				t.Errorf("Daily(%q): %v, want %v", tc.day, err, tc.want)
			}
		}
	})
}

func TestParsePeriod(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		want     report.Period
		err      error
	}{
		{"2025-03-10", "2025-03-11", report.Period{From: at(10, 0, 0), To: at(11, 0, 0)}, nil},
		{"2025-03-10T08:00:00+08:00", "2025-03-10T01:30:00Z", report.Period{From: at(10, 0, 0), To: at(10, 1, 30)}, nil},
		{"", "2025-03-11", report.Period{}, report.ErrInvalid},
		{"2025-03-11", "2025-03-10", report.Period{}, report.ErrInvalid},
		{"2025-03-10", "2025-03-10", report.Period{}, report.ErrInvalid},
		{"2024-01-01", "2025-03-10", report.Period{}, report.ErrInvalid},
		{"10/03/2025", "2025-03-11", report.Period{}, report.ErrInvalid},
	} {
		t.Run(tc.from+"_"+tc.to, func(t *testing.T) {
			got, err := report.ParsePeriod(tc.from, tc.to)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if err == nil {
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestReasonCategory(t *testing.T) {
	for in, want := range map[string]string{
		"amount or currency mismatch: paid 150, order amount 100": "amount or currency mismatch",
		"unsupported event type customer.created":                 "unsupported event type customer.created",
		"": "",
	} {
		if got := report.ReasonCategory(in); got != want {
			t.Errorf("ReasonCategory(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCSVNeutralizesFormulas(t *testing.T) {
	r := report.Report{Providers: []report.ProviderReport{{Provider: "p", Rejections: []report.Rejection{{Reason: "=HYPERLINK(\"x\")", Count: 1}}}}}
	var b bytes.Buffer
	if err := report.WriteCSV(&b, r); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range records {
		if rec[0] == "rejection" && rec[2] != `'=HYPERLINK("x")` {
			t.Errorf("rejection key %q, want a leading apostrophe", rec[2])
		}
	}
}
