package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/store"
	"gateway/store/storetest"
)

func newOrders(t *testing.T, db *store.DB, nos ...string) {
	t.Helper()
	for _, no := range nos {
		o := ledger.Order{OrderNo: no, Price: ledger.Money{Amount: 500, Currency: "EUR"}, Status: ledger.StatusCreated, Version: 1,
			CreatedAt: time.Now().UTC(), UpdatedAt: time.Now().UTC()}
		if err := db.CreateOrder(context.Background(), &o); err != nil {
			t.Fatal(err)
		}
	}
}

func receipt(txn string) *callbacks.Receipt {
	now := time.Now().UTC()
	return &callbacks.Receipt{Provider: "stripe", TxnID: txn, Fingerprint: "f", Status: callbacks.StatusApplied,
		RawBody: []byte("{}"), Verified: callbacks.VerifiedOK, Ack: callbacks.Ack{Status: 200}, Deliveries: 1,
		FirstSeenAt: now, LastSeenAt: now}
}

// The statements a group commit shares: one read of several orders, one
// update of several orders under their versions, one insert of several
// receipts with the ids the database gave them.
func TestBatchStatements(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		newOrders(t, db, "b1", "b2", "b3")
		err := db.InTx(ctx, func(tx callbacks.Tx) error {
			m, err := tx.Orders(ctx, []string{"b1", "b2", "nope", "b3"})
			if err != nil {
				return err
			}
			if len(m) != 3 || m["b2"].OrderNo != "b2" || m["b2"].Version != 1 {
				return fmt.Errorf("orders: %v", m)
			}
			var ups []callbacks.OrderUpdate
			for _, no := range []string{"b1", "b3"} {
				next := m[no]
				next.Status, next.PaidAmount = ledger.StatusPaid, 500
				ups = append(ups, callbacks.OrderUpdate{Next: next, Version: 1})
			}
			return tx.UpdateOrders(ctx, ups)
		})
		if err != nil {
			t.Fatal(err)
		}
		for no, want := range map[string]ledger.Status{"b1": ledger.StatusPaid, "b2": ledger.StatusCreated, "b3": ledger.StatusPaid} {
			o, err := db.Order(ctx, no)
			if err != nil {
				t.Fatal(err)
			}
			if o.Status != want || (want == ledger.StatusPaid) != (o.Version == 2 && o.PaidAmount == 500) {
				t.Errorf("%s: %s version %d paid %d, want %s", no, o.Status, o.Version, o.PaidAmount, want)
			}
		}

		// One stale version fails the whole statement's promise.
		err = db.InTx(ctx, func(tx callbacks.Tx) error {
			m, err := tx.Orders(ctx, []string{"b1", "b2"})
			if err != nil {
				return err
			}
			return tx.UpdateOrders(ctx, []callbacks.OrderUpdate{{Next: m["b2"], Version: 1}, {Next: m["b1"], Version: 1}})
		})
		if !errors.Is(err, ledger.ErrVersionConflict) {
			t.Fatalf("stale version: %v, want a version conflict", err)
		}
		if o, _ := db.Order(ctx, "b2"); o.Version != 1 {
			t.Fatalf("b2 after a rolled-back batch update: version %d", o.Version)
		}

		// Receipts: ids as stored, by consecutive numbering and by reading back.
		for _, readBack := range []bool{false, true} {
			if readBack {
				store.ReadIDsBack(db)
			}
			recs := []*callbacks.Receipt{receipt(fmt.Sprintf("r1-%v", readBack)), receipt(fmt.Sprintf("r2-%v", readBack)), receipt(fmt.Sprintf("r3-%v", readBack))}
			if err := db.InTx(ctx, func(tx callbacks.Tx) error { return tx.InsertReceipts(ctx, recs) }); err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, r := range recs {
				keys = append(keys, r.TxnID)
			}
			got, err := db.Receipts(ctx, "stripe", append(keys, "absent"))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 3 {
				t.Fatalf("read back %d receipts, want 3", len(got))
			}
			for _, r := range recs {
				if r.ID == 0 || got[r.TxnID].ID != r.ID {
					t.Errorf("read back %v: id %d, stored %d", readBack, r.ID, got[r.TxnID].ID)
				}
			}
		}

		// A taken key fails the insert: nothing of the batch is written.
		before := storetest.Counts(t, db)
		err = db.InTx(ctx, func(tx callbacks.Tx) error {
			return tx.InsertReceipts(ctx, []*callbacks.Receipt{receipt("new"), receipt("r1-false")})
		})
		if !errors.Is(err, callbacks.ErrDuplicate) {
			t.Fatalf("taken key: %v, want ErrDuplicate", err)
		}
		if after := storetest.Counts(t, db); after["callback_receipts"] != before["callback_receipts"] {
			t.Fatalf("receipts %d → %d after a failed batch insert", before["callback_receipts"], after["callback_receipts"])
		}
	})
}

// A flush of delivery counts adds to every receipt's count in one
// transaction, moves last_seen_at only forward, and spans chunks.
func TestAddDeliveries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var recs []*callbacks.Receipt
		for i := range 1203 {
			recs = append(recs, receipt(fmt.Sprintf("d%d", i)))
		}
		if err := db.InTx(ctx, func(tx callbacks.Tx) error { return tx.InsertReceipts(ctx, recs) }); err != nil {
			t.Fatal(err)
		}
		counts := map[int64]callbacks.Delivery{}
		for i, r := range recs {
			at := r.LastSeenAt.Add(time.Hour)
			if i%2 == 1 {
				at = r.LastSeenAt.Add(-time.Hour)
			}
			counts[r.ID] = callbacks.Delivery{Count: int64(i%3 + 1), Last: at}
		}
		for range 2 {
			if err := db.AddDeliveries(ctx, counts); err != nil {
				t.Fatal(err)
			}
		}
		for _, i := range []int{0, 1, 2, 499, 500, 501, 1202} {
			got, err := db.ReceiptByID(ctx, recs[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			want := recs[i].LastSeenAt.Truncate(time.Microsecond)
			if i%2 == 0 {
				want = want.Add(time.Hour)
			}
			if got.Deliveries != 1+2*int64(i%3+1) || !got.LastSeenAt.Truncate(time.Microsecond).Equal(want) {
				t.Errorf("receipt %d: deliveries %d last seen %v, want %d and %v", i, got.Deliveries, got.LastSeenAt,
					1+2*int64(i%3+1), want)
			}
		}
	})
}
