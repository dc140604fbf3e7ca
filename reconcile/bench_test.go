package reconcile_test

import (
	"context"
	"fmt"
	"testing"

	"gateway/ledger"
	"gateway/reconcile"
	"gateway/store/storetest"
)

// BenchmarkResolve measures one reconciler instance settling unknown
// receipts whose orders now exist: claim, re-drive (verify the stored
// bytes, one transaction), release — per receipt.
func BenchmarkResolve(b *testing.B) {
	for _, dialect := range storetest.Dialects {
		b.Run(dialect, func(b *testing.B) {
			db := storetest.New(b, dialect)
			api := newFakeAPI(b)
			e := newEnv(b, db, api, reconcile.Config{Batch: b.N, Workers: 4})
			for i := range b.N {
				no := fmt.Sprintf("B%07d", i)
				e.deliver(b, fakeEvent{ID: "ev_" + no, Kind: ledger.KindPaymentSucceeded, Ref: "tx_" + no, OrderNo: no, Amount: 100, Currency: "USD"})
				e.order(b, no, 100, "", "")
			}
			e.clock.Add(testBackoff[0])
			b.ResetTimer()
			sum, err := e.rec.Resolve(context.Background())
			b.StopTimer()
			if err != nil || sum.Applied != b.N {
				b.Fatalf("resolve: %+v %v", sum, err)
			}
		})
	}
}
