package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/store"
	"gateway/store/storetest"
)

// newService returns an order service over db with a fixed clock.
func newService(db *store.DB) *ledger.Service {
	s := ledger.NewService(db)
	s.Now = func() time.Time { return created }
	return s
}

// createO1 creates order O1 of 20.00 USD.
func createO1(t *testing.T, s *ledger.Service) ledger.Order {
	t.Helper()
	o, _, err := s.Create(context.Background(), ledger.NewOrder{OrderNo: "O1", Price: usd(2000)})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func usd(amount int64) ledger.Money { return ledger.Money{Amount: amount, Currency: "USD"} }

// ignoreID leaves out the database id, which differs between dialects.
var ignoreID = cmpopts.IgnoreFields(ledger.Order{}, "ID")

func TestServiceCreate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(db)
		n := ledger.NewOrder{OrderNo: "O1", Price: usd(2000), Provider: "stripe", ProviderRef: "pi_1"}
		first, isNew, err := s.Create(ctx, n)
		if err != nil || !isNew {
			t.Fatalf("Create = %v, %v; want a new order", isNew, err)
		}
		want := ledger.Order{OrderNo: "O1", Price: usd(2000), Status: ledger.StatusCreated, Version: 1,
			Provider: "stripe", ProviderRef: "pi_1", CreatedAt: created, UpdatedAt: created}
		if diff := cmp.Diff(want, first, ignoreID); diff != "" {
			t.Errorf("created order (-want +got):\n%s", diff)
		}
		if first.ID == 0 {
			t.Error("created order has no id")
		}

		t.Run("same order again", func(t *testing.T) {
			s.Now = func() time.Time { return now } // a later submission
			again, isNew, err := s.Create(ctx, n)
			if err != nil || isNew {
				t.Fatalf("Create again = %v, %v; want the stored order, not new", isNew, err)
			}
			if diff := cmp.Diff(first, again); diff != "" {
				t.Errorf("second Create (-first +second):\n%s", diff)
			}
		})
		for _, c := range []struct {
			name string
			n    ledger.NewOrder
		}{
			{"different amount", ledger.NewOrder{OrderNo: "O1", Price: usd(2001), Provider: "stripe", ProviderRef: "pi_1"}},
			{"different currency", ledger.NewOrder{OrderNo: "O1", Price: ledger.Money{Amount: 2000, Currency: "EUR"}, Provider: "stripe", ProviderRef: "pi_1"}},
			{"different provider reference", ledger.NewOrder{OrderNo: "O1", Price: usd(2000), Provider: "stripe", ProviderRef: "pi_2"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, isNew, err := s.Create(ctx, c.n)
				checkErrorClass(t, err, ledger.ErrExists)
				if isNew {
					t.Error("created = true")
				}
			})
		}
		t.Run("the stored order is unchanged", func(t *testing.T) {
			got, entries, err := s.Get(ctx, "O1")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(first, got); diff != "" {
				t.Errorf("stored order (-want +got):\n%s", diff)
			}
			if len(entries) != 0 {
				t.Errorf("entries = %+v, want none", entries)
			}
		})
	})
}

func TestServiceCreateInvalid(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s := newService(db)
		for _, c := range []struct {
			name string
			n    ledger.NewOrder
		}{
			{"empty order number", ledger.NewOrder{Price: usd(1)}},
			{"order number too long", ledger.NewOrder{OrderNo: strings.Repeat("x", 65), Price: usd(1)}},
			{"order number with a space", ledger.NewOrder{OrderNo: "O 1", Price: usd(1)}},
			{"order number not ASCII", ledger.NewOrder{OrderNo: "订单1", Price: usd(1)}},
			{"unknown currency", ledger.NewOrder{OrderNo: "O1", Price: ledger.Money{Amount: 1, Currency: "usd"}}},
			{"zero amount", ledger.NewOrder{OrderNo: "O1", Price: usd(0)}},
			{"negative amount", ledger.NewOrder{OrderNo: "O1", Price: usd(-1)}},
			{"amount too large", ledger.NewOrder{OrderNo: "O1", Price: usd(1e15 + 1)}},
			{"provider reference too long", ledger.NewOrder{OrderNo: "O1", Price: usd(1), ProviderRef: strings.Repeat("r", 129)}},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, _, err := s.Create(context.Background(), c.n)
				checkErrorClass(t, err, ledger.ErrInvalid)
			})
		}
		if _, _, err := s.Get(context.Background(), "O1"); !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("an invalid order was stored: Get = %v", err)
		}
		// The limits themselves are accepted.
		n := ledger.NewOrder{OrderNo: strings.Repeat("x", 64), Price: usd(1e15), ProviderRef: strings.Repeat("r", 128)}
		if _, _, err := s.Create(context.Background(), n); err != nil {
			t.Errorf("Create at the limits: %v", err)
		}
	})
}

func TestServiceTransition(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(db)
		o := createO1(t, s)
		s.Now = func() time.Time { return now }

		// created: neither shipping nor a merchant-made payment.
		for _, to := range []ledger.Status{ledger.StatusShipped, ledger.StatusReceived, ledger.StatusPaid, ledger.StatusRefunded, "bogus"} {
			_, err := s.Transition(ctx, "O1", 1, to)
			checkErrorClass(t, err, ledger.ErrTransition)
		}
		// Pay the order as the callback pipeline does: Apply, then the
		// optimistic update and the legs in one transaction.
		paid, paymentLegs, _, err := ledger.Apply(o, ledger.Event{Kind: ledger.KindPaymentSucceeded, Provider: "stripe",
			TxnID: "pi_1:payment.succeeded", Money: usd(2000)}, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.InTx(ctx, func(tx callbacks.Tx) error {
			if err := tx.UpdateOrder(ctx, paid, o.Version); err != nil {
				return err
			}
			return tx.Post(ctx, paymentLegs)
		}); err != nil {
			t.Fatal(err)
		}

		for _, c := range []struct {
			name    string
			orderNo string
			version int64
			to      ledger.Status
			wantErr error
		}{
			{"stale version", "O1", 1, ledger.StatusShipped, ledger.ErrVersionConflict},
			{"future version", "O1", 3, ledger.StatusShipped, ledger.ErrVersionConflict},
			{"refunded only through the ledger", "O1", 2, ledger.StatusRefunded, ledger.ErrTransition},
			{"receive before ship", "O1", 2, ledger.StatusReceived, ledger.ErrTransition},
			{"unknown order", "O2", 1, ledger.StatusShipped, ledger.ErrNotFound},
		} {
			t.Run(c.name, func(t *testing.T) {
				_, err := s.Transition(ctx, c.orderNo, c.version, c.to)
				checkErrorClass(t, err, c.wantErr)
			})
		}

		shipped, err := s.Transition(ctx, "O1", 2, ledger.StatusShipped)
		if err != nil {
			t.Fatalf("ship: %v", err)
		}
		want := o
		want.Status, want.Version, want.PaidAmount, want.UpdatedAt = ledger.StatusShipped, 3, 2000, now
		if diff := cmp.Diff(want, shipped); diff != "" {
			t.Errorf("shipped order (-want +got):\n%s", diff)
		}
		t.Run("the same If-Match twice", func(t *testing.T) {
			_, err := s.Transition(ctx, "O1", 2, ledger.StatusShipped)
			checkErrorClass(t, err, ledger.ErrVersionConflict)
		})
		received, err := s.Transition(ctx, "O1", 3, ledger.StatusReceived)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		want.Status, want.Version = ledger.StatusReceived, 4
		if diff := cmp.Diff(want, received); diff != "" {
			t.Errorf("received order (-want +got):\n%s", diff)
		}

		got, entries, err := s.Get(ctx, "O1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(received, got); diff != "" {
			t.Errorf("Get after transitions (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(paymentLegs, entries); diff != "" {
			t.Errorf("ledger (-want +got):\n%s", diff)
		}
		if p, r := ledger.Totals(entries); p != got.PaidAmount || r != got.RefundedAmount || !ledger.Balanced(entries) {
			t.Errorf("ledger totals %d/%d (balanced %v), order %d/%d", p, r, ledger.Balanced(entries), got.PaidAmount, got.RefundedAmount)
		}
	})
}

func TestServiceGetUnknown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		_, _, err := newService(db).Get(context.Background(), "nope")
		checkErrorClass(t, err, ledger.ErrNotFound)
	})
}

// TestServiceTransitionConcurrent: of several requests with the same
// If-Match, exactly one wins; the others see a version conflict (P4).
func TestServiceTransitionConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(db)
		o := createO1(t, s)
		o.Status, o.PaidAmount = ledger.StatusPaid, 2000
		if err := db.UpdateOrder(ctx, o, 1); err != nil {
			t.Fatal(err)
		}
		const n = 8
		errs := make(chan error, n)
		for range n {
			go func() {
				_, err := s.Transition(ctx, "O1", 2, ledger.StatusShipped)
				errs <- err
			}()
		}
		won := 0
		for range n {
			err := <-errs
			if err == nil {
				won++
				continue
			}
			if !errors.Is(err, ledger.ErrVersionConflict) {
				t.Errorf("a losing request got %v, want ErrVersionConflict", err)
			}
		}
		if won != 1 {
			t.Errorf("%d requests won, want exactly 1", won)
		}
		got, _, err := s.Get(ctx, "O1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != ledger.StatusShipped || got.Version != 3 {
			t.Errorf("order is %s at version %d, want shipped at 3", got.Status, got.Version)
		}
	})
}
