package wechatpay_test

import (
	"encoding/json"
	"testing"
	"time"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/providertest"
	"gateway/store"
	"gateway/store/storetest"
)

// failBody is WeChat Pay's refusal body for err.
func failBody(err error) string {
	b, _ := json.Marshal(struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}{"FAIL", err.Error()})
	return string(b)
}

// Refused deliveries get a 401 FAIL answer and write nothing at all.
func TestRefusedWritesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := providertest.NewService(t, db, newProvider(t), now)
		providertest.CreateOrder(t, db, "O-1", ledger.Money{Amount: 2000, Currency: "CNY"})
		pay := payment("O-1", "4200000001", 2000)
		valid := delivery{eventType: "TRANSACTION.SUCCESS", resource: pay}.inbound(t)
		refused := func(name string, in callbacks.Inbound) providertest.Refusal {
			return providertest.Refusal{Name: name, In: in, Err: callbacks.ErrSignature, Status: 401}
		}
		providertest.CheckRefused(t, db, svc, "application/json; charset=utf-8", failBody, []providertest.Refusal{
			refused("tampered body", callbacks.Inbound{Provider: "wechatpay", Header: valid.Header,
				Body: append(valid.Body[:len(valid.Body)-1:len(valid.Body)-1], ' ', '}')}),
			refused("wrong key", delivery{eventType: "TRANSACTION.SUCCESS", resource: pay, signer: providertest.Stranger.Private, serial: providertest.ProviderCertSerial}.inbound(t)),
			refused("unknown serial", delivery{eventType: "TRANSACTION.SUCCESS", resource: pay, signer: providertest.Stranger.Private, serial: "PUB_KEY_ID_0199999999"}.inbound(t)),
			refused("out of window", delivery{eventType: "TRANSACTION.SUCCESS", resource: pay, at: now.Add(-10 * time.Minute)}.inbound(t)),
			refused("SIGNTEST probe", withHeader(valid, "Wechatpay-Signature", "WECHATPAY/SIGNTEST/"+valid.Header.Get("Wechatpay-Signature"))),
			refused("another merchant", delivery{eventType: "TRANSACTION.SUCCESS", resource: with(pay, "mchid", "1900000000")}.inbound(t)),
			refused("another APIv3 key", delivery{eventType: "TRANSACTION.SUCCESS", resource: pay, key: "00000000000000000000000000000000"}.inbound(t)),
		})
		if o, _ := providertest.Order(t, db, "O-1"); o.Status != ledger.StatusCreated || o.Version != 1 {
			t.Errorf("order = %s v%d, want created v1", o.Status, o.Version)
		}
	})
}

// A payment, its retry, a refund and its retry move money exactly once
// each; a payment of the wrong amount is rejected and acknowledged.
func TestPipeline(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := providertest.NewService(t, db, newProvider(t), now)
		providertest.CreateOrder(t, db, "O-1", ledger.Money{Amount: 2000, Currency: "CNY"})
		providertest.CreateOrder(t, db, "O-2", ledger.Money{Amount: 1000, Currency: "CNY"})
		applied, rejected := callbacks.StatusApplied, callbacks.StatusRejected
		providertest.RunSteps(t, db, svc, callbacks.Ack{Status: 204}, []providertest.Step{
			{Name: "payment", In: delivery{id: "EV-1", eventType: "TRANSACTION.SUCCESS", resource: payment("O-1", "4200000001", 2000)}.inbound(t),
				Receipt: applied, OrderNo: "O-1", Order: ledger.StatusPaid, Paid: 2000, Legs: 2},
			{Name: "payment retried, re-signed", In: delivery{id: "EV-1", eventType: "TRANSACTION.SUCCESS", resource: payment("O-1", "4200000001", 2000),
				at: now.Add(-time.Minute), nonce: "other-nonce", signer: providertest.Rotated.Private, serial: pubKeyID}.inbound(t),
				Duplicate: true, Receipt: applied, OrderNo: "O-1", Order: ledger.StatusPaid, Paid: 2000, Legs: 2},
			{Name: "partial refund", In: delivery{id: "EV-2", eventType: "REFUND.SUCCESS", resource: refund("O-1", "4200000001", "5001", "SUCCESS", 2000, 500)}.inbound(t),
				Receipt: applied, OrderNo: "O-1", Order: ledger.StatusPaid, Paid: 2000, Refunded: 500, Legs: 4},
			{Name: "partial refund retried", In: delivery{id: "EV-2", eventType: "REFUND.SUCCESS", resource: refund("O-1", "4200000001", "5001", "SUCCESS", 2000, 500), nonce: "n2"}.inbound(t),
				Duplicate: true, Receipt: applied, OrderNo: "O-1", Order: ledger.StatusPaid, Paid: 2000, Refunded: 500, Legs: 4},
			{Name: "failed refund", In: delivery{id: "EV-3", eventType: "REFUND.ABNORMAL", resource: refund("O-1", "4200000001", "5002", "ABNORMAL", 2000, 1500)}.inbound(t),
				Receipt: applied, OrderNo: "O-1", Order: ledger.StatusPaid, Paid: 2000, Refunded: 500, Legs: 4},
			{Name: "rest refunded", In: delivery{id: "EV-4", eventType: "REFUND.SUCCESS", resource: refund("O-1", "4200000001", "5003", "SUCCESS", 2000, 1500)}.inbound(t),
				Receipt: applied, OrderNo: "O-1", Order: ledger.StatusRefunded, Paid: 2000, Refunded: 2000, Legs: 6},
			{Name: "amount mismatch", In: delivery{id: "EV-5", eventType: "TRANSACTION.SUCCESS", resource: payment("O-2", "4200000002", 999)}.inbound(t),
				Receipt: rejected, OrderNo: "O-2", Order: ledger.StatusCreated},
		})
		r := providertest.Receipt(t, db, "wechatpay", "4200000002:payment.succeeded")
		if r.Reason == "" || r.Ack.Status != 204 {
			t.Errorf("mismatch receipt = %s %q ack %d, want a reason and the 204 ack", r.Status, r.Reason, r.Ack.Status)
		}
	})
}
