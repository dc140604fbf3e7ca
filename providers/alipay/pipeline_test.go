package alipay_test

import (
	"strings"
	"testing"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/providertest"
	"gateway/store"
	"gateway/store/storetest"
)

// Refused notifications are answered "fail" with a 4xx and write nothing.
func TestRefusedWritesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := providertest.NewService(t, db, newProvider(t), now)
		providertest.CreateOrder(t, db, "O-1", ledger.Money{Amount: 2000, Currency: "CNY"})
		v := paid("O-1", "2025112822001446880500000001", "20.00")
		valid := string(signed(t, providertest.Provider, v))
		refused := func(name string, body []byte, err error, status int) providertest.Refusal {
			return providertest.Refusal{Name: name, In: inbound(body), Err: err, Status: status}
		}
		sig, bad := callbacks.ErrSignature, callbacks.ErrMalformed
		providertest.CheckRefused(t, db, svc, "text/plain; charset=utf-8", func(error) string { return "fail" }, []providertest.Refusal{
			refused("tampered amount", []byte(strings.Replace(valid, "total_amount=20.00", "total_amount=0.01", 1)), sig, 401),
			refused("wrong key", signed(t, providertest.Stranger, v), sig, 401),
			refused("another app", signed(t, providertest.Provider, set(v, "app_id", "2021000000000000")), sig, 401),
			refused("another seller", signed(t, providertest.Provider, set(v, "seller_id", "2088000000000000")), sig, 401),
			refused("unsigned", []byte(set(v).Encode()), sig, 401),
			refused("parameter given twice", []byte(valid+"&total_amount=0.01"), bad, 400),
			refused("bad amount, validly signed", signed(t, providertest.Provider, set(v, "total_amount", "20.001")), bad, 400),
		})
		if o, _ := providertest.Order(t, db, "O-1"); o.Status != ledger.StatusCreated || o.Version != 1 {
			t.Errorf("order = %s v%d, want created v1", o.Status, o.Version)
		}
	})
}

// TRADE_SUCCESS then TRADE_FINISHED move the money once; cumulative
// refunds (in order or not) add up to what Alipay says; a wrong amount is
// rejected and acknowledged.
func TestPipeline(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := providertest.NewService(t, db, newProvider(t), now)
		for no, amount := range map[string]int64{"O-1": 2000, "O-2": 1000, "O-3": 3000, "O-4": 2000, "O-5": 2000} {
			providertest.CreateOrder(t, db, no, ledger.Money{Amount: amount, Currency: "CNY"})
		}
		const t1, t4, t5 = "2025112822001446880500000001", "2025112822001446880500000004", "2025112822001446880500000005"
		in := func(v map[string][]string) callbacks.Inbound { return inbound(signed(t, providertest.Provider, v)) }
		applied, paidS, created := callbacks.StatusApplied, ledger.StatusPaid, ledger.StatusCreated
		finished := set(paid("O-1", t1, "20.00"), "trade_status", "TRADE_FINISHED", "notify_id", "N-fin")
		providertest.RunSteps(t, db, svc, callbacks.Ack{Status: 200, ContentType: "text/plain; charset=utf-8", Body: []byte("success")}, []providertest.Step{
			{Name: "TRADE_SUCCESS", In: in(paid("O-1", t1, "20.00")), Receipt: applied, OrderNo: "O-1", Order: paidS, Paid: 2000, Legs: 2},
			{Name: "TRADE_SUCCESS re-sent", In: in(paid("O-1", t1, "20.00")), Duplicate: true, Receipt: applied, OrderNo: "O-1", Order: paidS, Paid: 2000, Legs: 2},
			{Name: "TRADE_FINISHED", In: in(finished), Duplicate: true, Receipt: applied, OrderNo: "O-1", Order: paidS, Paid: 2000, Legs: 2},
			{Name: "refund 5.00", In: in(refunded("O-1", t1, "20.00", "TRADE_SUCCESS", "RF1", "5.00")),
				Receipt: applied, OrderNo: "O-1", Order: paidS, Paid: 2000, Refunded: 500, Legs: 4},
			{Name: "refund 7.00 (12.00 in all)", In: in(refunded("O-1", t1, "20.00", "TRADE_SUCCESS", "RF2", "12.00")),
				Receipt: applied, OrderNo: "O-1", Order: paidS, Paid: 2000, Refunded: 1200, Legs: 6},
			{Name: "refund 5.00 re-sent", In: in(refunded("O-1", t1, "20.00", "TRADE_SUCCESS", "RF1", "5.00")),
				Duplicate: true, Receipt: applied, OrderNo: "O-1", Order: paidS, Paid: 2000, Refunded: 1200, Legs: 6},
			{Name: "last refund closes", In: in(refunded("O-1", t1, "20.00", "TRADE_CLOSED", "RF3", "20.00")),
				Receipt: applied, OrderNo: "O-1", Order: ledger.StatusRefunded, Paid: 2000, Refunded: 2000, Legs: 8},
			{Name: "TRADE_FINISHED after all", In: in(finished),
				Duplicate: true, Receipt: applied, OrderNo: "O-1", Order: ledger.StatusRefunded, Paid: 2000, Refunded: 2000, Legs: 8},
			{Name: "amount mismatch", In: in(paid("O-2", "T2", "9.99")), Receipt: callbacks.StatusRejected, OrderNo: "O-2", Order: created},
			{Name: "closed unpaid", In: in(set(paid("O-3", "T3", "30.00"), "trade_status", "TRADE_CLOSED")),
				Receipt: applied, OrderNo: "O-3", Order: ledger.StatusClosed},
			{Name: "refund before payment waits", In: in(refunded("O-4", t4, "20.00", "TRADE_SUCCESS", "RF2", "12.00")),
				Receipt: callbacks.StatusUnknown, OrderNo: "O-4", Order: created},
			{Name: "payment of O-4", In: in(paid("O-4", t4, "20.00")), Receipt: applied, OrderNo: "O-4", Order: paidS, Paid: 2000, Legs: 2},
			{Name: "earlier refund while the later one is parked", In: in(refunded("O-4", t4, "20.00", "TRADE_SUCCESS", "RF1", "5.00")),
				Receipt: applied, OrderNo: "O-4", Order: paidS, Paid: 2000, Refunded: 500, Legs: 4},
			{Name: "payment of O-5", In: in(paid("O-5", t5, "20.00")), Receipt: applied, OrderNo: "O-5", Order: paidS, Paid: 2000, Legs: 2},
			{Name: "later refund first (12.00 in all)", In: in(refunded("O-5", t5, "20.00", "TRADE_SUCCESS", "RF2", "12.00")),
				Receipt: applied, OrderNo: "O-5", Order: paidS, Paid: 2000, Refunded: 1200, Legs: 4},
			{Name: "earlier refund (5.00 in all) changes nothing", In: in(refunded("O-5", t5, "20.00", "TRADE_SUCCESS", "RF1", "5.00")),
				Receipt: applied, OrderNo: "O-5", Order: paidS, Paid: 2000, Refunded: 1200, Legs: 4},
		})
		// The refund that came before the payment waits for the reconciler;
		// being cumulative (12.00 in all) it will add the 7.00 still missing.
		r := providertest.Receipt(t, db, "alipay", t4+"/RF2:refund.succeeded")
		if r.Status != callbacks.StatusUnknown || r.NextCheckAt == nil {
			t.Errorf("early refund receipt = %s next check %v, want unknown with a check time", r.Status, r.NextCheckAt)
		}
	})
}
