//go:build faults

package faults_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/adyen/adyen-go-api-library/v16/src/webhook"

	"gateway/ledger"
	"gateway/providers/providertest"
)

const (
	faultAdyenKey      = "5AF1E7C0DE0F4A017B3C9D2E8F6A4B1C0D9E8F7A6B5C4D3E2F1A0B9C8D7E6F5A"
	faultAdyenAccount  = "FaultHarnessECOM"
	faultPayPalWebhook = "8FH40219EX6732144"
)

// adyenSender is Adyen's standard notification webhook: every item signed
// by the Adyen library's CalculateHmac (additionalData.hmacSignature), no
// timestamp, so a delivery is the same bytes on every retry; the answer is
// "[accepted]". The payment is an AUTHORISATION (paid_on authorisation),
// its second event the CAPTURE of the same payment (one dedup key), a
// refund a REFUND keyed by its own pspReference. A step of several events
// goes as one batch half of the time. ISK is sent in Adyen's two decimals.
func adyenSender() *sender {
	s := &sender{name: "adyen", ackStatus: http.StatusOK, ack: "[accepted]", currencies: []string{"EUR", "USD", "JPY", "ISK"},
		secrets: []string{faultAdyenKey},
		config:  "    hmac_keys: [\"" + faultAdyenKey + "\"]\n    merchant_account: \"" + faultAdyenAccount + "\"\n"}
	s.sign = func(*event, time.Time) http.Header {
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		return h
	}
	// value is an amount in Adyen's minor units (ISK has two decimals at
	// Adyen, none in ISO 4217).
	value := func(o order, a int64) int64 {
		if o.currency == "ISK" {
			return a * 100
		}
		return a
	}
	ev := func(psp, original, code string, o order, a int64, key, want string) *event {
		at := time.Now().UTC()
		it, err := providertest.AdyenSign(faultAdyenKey, webhook.NotificationRequestItem{
			PspReference: psp, OriginalReference: original, MerchantAccountCode: faultAdyenAccount,
			MerchantReference: o.no, EventCode: code, Success: "true", EventDate: &at,
			Amount: webhook.Amount{Value: value(o, a), Currency: o.currency}, PaymentMethod: "visa"})
		if err != nil {
			panic(err)
		}
		body, err := providertest.AdyenBody(it)
		if err != nil {
			panic(err)
		}
		return &event{sender: s, id: psp + ":" + code, body: body, key: key, want: want}
	}
	psp := func(o order, kind int) string { return fmt.Sprintf("88%02d%012d", kind, o.i) }
	payKey := func(o order) string { return psp(o, 0) + ":payment.succeeded" }
	s.payment = func(o order) *event {
		return ev(psp(o, 0), "", "AUTHORISATION", o, o.amount, payKey(o), "applied")
	}
	s.samePayment = func(o order) *event {
		return ev(psp(o, 1), psp(o, 0), "CAPTURE", o, o.amount, payKey(o), "applied")
	}
	s.refund = func(o order, n int, amount, _ int64) *event {
		ref := psp(o, 10+n)
		return ev(ref, psp(o, 0), "REFUND", o, amount, ref+":refund.succeeded", "applied")
	}
	s.unsupported = func(o order) *event {
		ref := fmt.Sprintf("settlement_detail_report_batch_%d.csv", o.i)
		return ev(ref, "", "REPORT_AVAILABLE", o, 0, ref+":REPORT_AVAILABLE:true", "rejected")
	}
	s.conflicting = func(o order) *event {
		e := ev(psp(o, 0), "", "AUTHORISATION", o, o.amount+1, payKey(o), "conflict")
		e.conflict = true
		return e
	}
	// batch puts the signed items of several deliveries into one.
	s.batch = func(evs []*event) *event {
		var items []webhook.NotificationRequestItem
		for _, e := range evs {
			var w webhook.Webhook
			if err := json.Unmarshal(e.body, &w); err != nil {
				panic(err)
			}
			for _, ni := range *w.NotificationItems {
				items = append(items, ni.NotificationRequestItem)
			}
		}
		body, err := providertest.AdyenBody(items...)
		if err != nil {
			panic(err)
		}
		return &event{sender: s, id: "batch:" + evs[0].id, body: body, key: "batch of " + evs[0].key, items: evs}
	}
	return s
}

// paypalSender is PayPal's webhooks: every attempt a new transmission
// (its own PAYPAL-TRANSMISSION-ID and -TIME) signed by the key of the test
// certificate the gateway pins (providertest.ProviderCertPEM); the event
// id stays. PAYMENT.CAPTURE.COMPLETED is the payment and
// PAYMENT.CAPTURE.REFUNDED a refund of its own amount, keyed by the refund
// id. PayPal sends one event per payment fact, so it has no samePayment.
func paypalSender() *sender {
	s := &sender{name: "paypal", ackStatus: http.StatusOK, ack: `{"received":true}`,
		config: "    webhook_id: \"" + faultPayPalWebhook + "\"\n    certificates: [" + yamlString(providertest.ProviderCertPEM) + "]\n"}
	s.sign = func(ev *event, at time.Time) http.Header {
		id := fmt.Sprintf("%s-%s-%s", randomText(8), randomText(4), randomText(12))
		h, err := providertest.PayPalHeaders(providertest.Provider.Private, id, at.UTC().Format(time.RFC3339), faultPayPalWebhook, ev.body)
		if err != nil {
			panic(err)
		}
		return h
	}
	ev := func(id, typ, resourceType string, resource map[string]any, key, want string) *event {
		body := mustJSON(map[string]any{"id": id, "event_version": "1.0", "create_time": time.Now().UTC().Format(time.RFC3339Nano),
			"resource_type": resourceType, "resource_version": "2.0", "event_type": typ, "summary": "fault harness " + typ,
			"resource": resource, "links": []map[string]string{{"href": "https://api.paypal.com/v1/notifications/webhooks-events/" + id,
				"rel": "self", "method": "GET"}}})
		return &event{sender: s, id: id, body: body, key: key, want: want}
	}
	captureID := func(o order) string { return fmt.Sprintf("%08dFH%07d", o.i, 0) }
	capture := func(o order, amount int64) map[string]any {
		id := captureID(o)
		return map[string]any{"id": id, "status": "COMPLETED", "final_capture": true,
			"amount":    map[string]string{"currency_code": o.currency, "value": ledger.FormatDecimal(amount, o.currency)},
			"custom_id": o.no, "invoice_id": "INV-" + o.no, "seller_protection": map[string]string{"status": "ELIGIBLE"},
			"links": []map[string]string{{"href": "https://api.paypal.com/v2/payments/captures/" + id, "rel": "self", "method": "GET"}}}
	}
	payKey := func(o order) string { return captureID(o) + ":payment.succeeded" }
	s.payment = func(o order) *event {
		return ev(fmt.Sprintf("WH-%08d-CAPTURE", o.i), "PAYMENT.CAPTURE.COMPLETED", "capture", capture(o, o.amount), payKey(o), "applied")
	}
	s.refund = func(o order, n int, amount, _ int64) *event {
		id := fmt.Sprintf("%08dFR%07d", o.i, n)
		return ev(fmt.Sprintf("WH-%08d-REFUND-%d", o.i, n), "PAYMENT.CAPTURE.REFUNDED", "refund", map[string]any{
			"id": id, "status": "COMPLETED", "custom_id": o.no, "invoice_id": "INV-" + o.no,
			"amount": map[string]string{"currency_code": o.currency, "value": ledger.FormatDecimal(amount, o.currency)},
			"links": []map[string]string{{"href": "https://api.paypal.com/v2/payments/refunds/" + id, "rel": "self", "method": "GET"},
				{"href": "https://api.paypal.com/v2/payments/captures/" + captureID(o), "rel": "up", "method": "GET"}},
		}, id+":refund.succeeded", "applied")
	}
	s.unsupported = func(o order) *event {
		id := fmt.Sprintf("WH-%08d-APPROVED", o.i)
		return ev(id, "CHECKOUT.ORDER.APPROVED", "checkout-order", map[string]any{"id": fmt.Sprintf("5O%08dFH", o.i),
			"status": "APPROVED", "purchase_units": []map[string]string{{"custom_id": o.no}}}, id+":unsupported", "rejected")
	}
	s.conflicting = func(o order) *event {
		e := ev(fmt.Sprintf("WH-%08d-CAPTURE-OTHER", o.i), "PAYMENT.CAPTURE.COMPLETED", "capture", capture(o, o.amount+1), payKey(o), "conflict")
		e.conflict = true
		return e
	}
	return s
}
