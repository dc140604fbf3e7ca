// Harness runs a provider's deliveries through the real
// callback pipeline over a storetest database, for provider tests: create
// an order, deliver raw bytes and headers, read back the order, its ledger
// and the row count of every table.

package providertest

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/store"
)

// Harness is one provider wired to a fresh database.
type Harness struct {
	DB        *store.DB
	Orders    *ledger.Service
	Callbacks *callbacks.Service
	Provider  callbacks.Provider
	// Now is the pipeline's clock (and so the provider's verification time).
	Now time.Time
}

// New wires p to db with the clock at now.
func New(tb testing.TB, db *store.DB, p callbacks.Provider, now time.Time) *Harness {
	tb.Helper()
	h := &Harness{DB: db, Orders: ledger.NewService(db), Provider: p, Now: now}
	h.Orders.Now = func() time.Time { return h.Now }
	h.UseStore(tb, db)
	return h
}

// UseStore runs the pipeline over s (a wrapper of DB that injects faults).
func (h *Harness) UseStore(tb testing.TB, s callbacks.Store) {
	tb.Helper()
	svc := callbacks.NewService(s, []callbacks.Provider{h.Provider}, callbacks.Config{},
		slog.New(slog.DiscardHandler))
	svc.Now = func() time.Time { return h.Now }
	tb.Cleanup(func() {
		if err := svc.Close(context.Background()); err != nil {
			tb.Errorf("providertest: close pipeline: %v", err)
		}
	})
	h.Callbacks = svc
}

// CreateOrder submits an order and fails the test if it cannot.
func (h *Harness) CreateOrder(tb testing.TB, orderNo string, amount int64, currency string) {
	tb.Helper()
	if _, _, err := h.Orders.Create(context.Background(), ledger.NewOrder{OrderNo: orderNo,
		Price: ledger.Money{Amount: amount, Currency: currency}}); err != nil {
		tb.Fatalf("create order %s: %v", orderNo, err)
	}
}

// Deliver runs one delivery through the pipeline, as POST /callbacks/{name}.
func (h *Harness) Deliver(header http.Header, body []byte) (callbacks.Ack, []callbacks.Outcome, error) {
	return h.Callbacks.Handle(context.Background(), callbacks.Inbound{Provider: h.Provider.Name(), Header: header, Body: body})
}

// Order returns an order and its ledger, and checks the ledger: every
// posting balanced per currency, the order's paid and refunded totals equal
// to what its ledger says (P5).
func (h *Harness) Order(tb testing.TB, orderNo string) (ledger.Order, []ledger.Entry) {
	tb.Helper()
	o, entries, err := h.Orders.Get(context.Background(), orderNo)
	if err != nil {
		tb.Fatalf("get order %s: %v", orderNo, err)
	}
	if !ledger.Balanced(entries) {
		tb.Errorf("order %s: ledger does not balance: %+v", orderNo, entries)
	}
	byTxn := map[string][]ledger.Entry{}
	for _, e := range entries {
		byTxn[e.TxnID] = append(byTxn[e.TxnID], e)
	}
	for txn, legs := range byTxn {
		if len(legs) != 2 || !ledger.Balanced(legs) {
			tb.Errorf("order %s: posting %s is not two balanced legs: %+v", orderNo, txn, legs)
		}
	}
	if paid, refunded := ledger.Totals(entries); paid != o.PaidAmount || refunded != o.RefundedAmount {
		tb.Errorf("order %s: ledger says paid %d refunded %d, order says paid %d refunded %d",
			orderNo, paid, refunded, o.PaidAmount, o.RefundedAmount)
	}
	return o, entries
}

// Receipt returns the receipt of a dedup key.
func (h *Harness) Receipt(tb testing.TB, txnID string) callbacks.Receipt {
	tb.Helper()
	r, err := h.DB.Receipt(context.Background(), h.Provider.Name(), txnID)
	if err != nil {
		tb.Fatalf("receipt %s: %v", txnID, err)
	}
	return r
}

// RowCounts counts the rows of every table but the migrations' own, so a
// test sees any write wherever it lands (see Counts).
func RowCounts(tb testing.TB, db *store.DB) map[string]int64 {
	tb.Helper()
	return Counts(tb, db)
}

// DeliverAck runs one delivery and fails the test unless the provider's
// acknowledgement is exactly wantStatus and wantBody.
func (h *Harness) DeliverAck(tb testing.TB, header http.Header, body []byte, wantStatus int, wantBody string) []callbacks.Outcome {
	tb.Helper()
	ack, outs, err := h.Deliver(header, body)
	if ack.Status != wantStatus || string(ack.Body) != wantBody {
		tb.Fatalf("ack = %d %s (err %v), want %d %s", ack.Status, ack.Body, err, wantStatus, wantBody)
	}
	return outs
}

// CheckNotification compares a parsed notification with want: reason, when
// set, must be part of got.Unsupported (and got must be supported when it
// is not), the rest must be equal, and got must pass Validate.
func CheckNotification(tb testing.TB, got, want callbacks.Notification, reason string) {
	tb.Helper()
	if reason != "" && !strings.Contains(got.Unsupported, reason) || reason == "" && got.Unsupported != "" {
		tb.Errorf("Unsupported = %q, want %q", got.Unsupported, reason)
	}
	if err := got.Validate(); err != nil {
		tb.Errorf("Validate = %v", err)
	}
	got.Unsupported = ""
	if diff := cmp.Diff(want, got); diff != "" {
		tb.Errorf("notification (-want +got):\n%s", diff)
	}
}

// FuzzParse returns the body of a FuzzParse target for p: no input panics,
// a refusal is ErrMalformed, and what parses satisfies CheckParsed with at
// most max notifications (0: any number).
func FuzzParse(p callbacks.Provider, max int) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		ns, err := p.Parse(callbacks.Inbound{Provider: p.Name(), Body: b})
		if err != nil {
			if !errors.Is(err, callbacks.ErrMalformed) {
				t.Fatalf("Parse = %v, not ErrMalformed", err)
			}
			return
		}
		if max > 0 && len(ns) > max {
			t.Fatalf("Parse gave %d notifications, want at most %d", len(ns), max)
		}
		CheckParsed(t, ns)
	}
}

// CheckParsed is the invariant of a fuzzed Parse that succeeded: at least
// one notification, each with a dedup key, and each one the pipeline would
// act on valid unless a field is out of the range that Validate refuses.
func CheckParsed(tb testing.TB, ns []callbacks.Notification) {
	tb.Helper()
	if len(ns) == 0 {
		tb.Fatal("Parse gave no notification and no error")
	}
	for _, n := range ns {
		if n.TxnID == "" {
			tb.Fatalf("notification without a dedup key: %+v", n)
		}
		inRange := n.Money.Amount >= 0 && n.Money.Amount <= 1e15 && len(n.TxnID) <= 160 &&
			len(n.EventType) <= 64 && len(n.EventID) <= 191 && len(n.Reference) <= 128
		if n.Unsupported == "" && inRange && n.Validate() != nil {
			tb.Fatalf("supported notification fails Validate: %v: %+v", n.Validate(), n)
		}
	}
}
