//go:build faults

package faults_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"gateway/ledger"
	"gateway/providers/providertest"
)

const (
	faultWechatMchID  = "1230000109"
	faultWechatAppID  = "wxfa17ba5e0c0de001"
	faultWechatAPIv3  = "FaultHarnessAPIv3Key0123456789ab" // 32 bytes
	faultAlipayAppID  = "2021000122670001"
	faultAlipaySeller = "2088102146220001"
)

// yamlString quotes s for YAML: Go's double-quoted form is YAML's for the
// ASCII text of a PEM block.
func yamlString(s string) string { return strconv.Quote(s) }

// randomText is n letters and digits, as the providers' nonces and ids are.
func randomText(n int) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[rand.IntN(len(alnum))]
	}
	return string(b)
}

// wechatpaySender is WeChat Pay API v3: each notification's resource
// encrypted with AEAD_AES_256_GCM under the APIv3 key, every attempt signed
// at the current time with a fresh nonce by the platform key its
// certificate names (providertest.Provider, the committed test key), as
// the SDK's utils.SignSHA256WithRSA signs; the answer is 204 with no body.
// Refunds are REFUND.SUCCESS, each for its own amount, keyed by refund_id.
func wechatpaySender() *sender {
	s := &sender{name: "wechatpay", ackStatus: http.StatusNoContent, ack: "", currencies: []string{"CNY"},
		secrets: []string{faultWechatAPIv3},
		config: "    mch_id: \"" + faultWechatMchID + "\"\n    app_id: \"" + faultWechatAppID + "\"\n" +
			"    apiv3_key: \"" + faultWechatAPIv3 + "\"\n    platform_public_keys:\n" +
			"      " + providertest.ProviderCertSerial + ": " + yamlString(providertest.ProviderCertPEM) + "\n"}
	s.sign = func(ev *event, at time.Time) http.Header {
		h, err := providertest.WeChatPayHeaders(providertest.Provider.Private, providertest.ProviderCertSerial, at, randomText(32), ev.body)
		if err != nil {
			panic(err)
		}
		return h
	}
	// ev wraps a resource in a notification of its own id, encrypted with
	// a fresh nonce: a notification is the same bytes on every retry.
	ev := func(id, typ, summary, original string, resource any, key, want string) *event {
		body, err := providertest.WeChatPayNotification(faultWechatAPIv3, id, typ, summary, original, randomText(12), resource)
		if err != nil {
			panic(err)
		}
		return &event{sender: s, id: id, body: body, key: key, want: want}
	}
	txnID := func(o order) string { return fmt.Sprintf("42000020012026%014d", o.i) }
	transaction := func(o order, total int64) map[string]any {
		return map[string]any{"mchid": faultWechatMchID, "appid": faultWechatAppID, "out_trade_no": o.no,
			"transaction_id": txnID(o), "trade_type": "JSAPI", "trade_state": "SUCCESS", "trade_state_desc": "支付成功",
			"bank_type": "CMC", "attach": "", "success_time": "2026-11-28T18:00:00+08:00",
			"payer":  map[string]string{"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
			"amount": map[string]any{"total": total, "payer_total": total, "currency": o.currency, "payer_currency": o.currency}}
	}
	payKey := func(o order) string { return txnID(o) + ":payment.succeeded" }
	s.payment = func(o order) *event {
		return ev(fmt.Sprintf("EV-%d-PAY", o.i), "TRANSACTION.SUCCESS", "支付成功", "transaction",
			transaction(o, o.amount), payKey(o), "applied")
	}
	// samePayment is the same transaction in a notification of its own
	// (another id, encrypted again): one fact, whatever the envelope.
	s.samePayment = func(o order) *event {
		return ev(fmt.Sprintf("EV-%d-PAY2", o.i), "TRANSACTION.SUCCESS", "支付成功", "transaction",
			transaction(o, o.amount), payKey(o), "applied")
	}
	s.refund = func(o order, n int, amount, _ int64) *event {
		refundID := fmt.Sprintf("503000000120261128%02d%09d", n, o.i)
		return ev(fmt.Sprintf("EV-%d-RF%d", o.i, n), "REFUND.SUCCESS", "退款成功", "refund",
			map[string]any{"mchid": faultWechatMchID, "out_trade_no": o.no, "transaction_id": txnID(o),
				"out_refund_no": fmt.Sprintf("R-%s-%d", o.no, n), "refund_id": refundID, "refund_status": "SUCCESS",
				"success_time": "2026-11-28T18:10:00+08:00", "user_received_account": "招商银行信用卡0403",
				"amount": map[string]any{"total": o.amount, "refund": amount, "payer_total": o.amount, "payer_refund": amount}},
			refundID+":refund.succeeded", "applied")
	}
	s.unsupported = func(o order) *event {
		id := fmt.Sprintf("EV-%d-XFER", o.i)
		return ev(id, "MCHTRANSFER.BILL.FINISHED", "商家转账单据终态通知", "mch_payment",
			map[string]any{"mch_id": faultWechatMchID, "out_bill_no": o.no, "state": "SUCCESS"}, id+":unsupported", "rejected")
	}
	s.conflicting = func(o order) *event {
		e := ev(fmt.Sprintf("EV-%d-PAY-OTHER", o.i), "TRANSACTION.SUCCESS", "支付成功", "transaction",
			transaction(o, o.amount+1), payKey(o), "conflict")
		e.conflict = true
		return e
	}
	return s
}

// alipaySender is Alipay: form-encoded notifications signed RSA2 by the
// SDK's SignValues under Alipay's key (providertest.Provider). Alipay signs
// no timestamp: a notification is the same bytes, sign included, on every
// re-send. The answer is the body "success". TRADE_FINISHED is the
// payment's second event (one dedup key); a refund is a TRADE_SUCCESS (or,
// emptying the trade, TRADE_CLOSED) carrying the trade's cumulative
// refund_fee and its own out_biz_no.
func alipaySender() *sender {
	signer, err := providertest.NewAlipaySigner(providertest.Provider)
	if err != nil {
		panic(err)
	}
	s := &sender{name: "alipay", ackStatus: http.StatusOK, ack: "success", currencies: []string{"CNY"},
		config: "    app_id: \"" + faultAlipayAppID + "\"\n    seller_id: \"" + faultAlipaySeller + "\"\n" +
			"    alipay_public_keys: [" + yamlString(providertest.Provider.PublicPEM) + "]\n"}
	s.sign = func(*event, time.Time) http.Header {
		h := http.Header{}
		h.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		return h
	}
	tradeNo := func(o order) string { return fmt.Sprintf("2026112822001%015d", o.i) }
	// trade is a trade_status_sync notification's parameters.
	trade := func(notifyID string, o order, status string, total int64) url.Values {
		amount := ledger.FormatDecimal(total, o.currency)
		v := url.Values{}
		for k, x := range map[string]string{
			"notify_id": notifyID, "notify_type": "trade_status_sync", "notify_time": "2026-11-28 18:00:05",
			"charset": "utf-8", "version": "1.0", "app_id": faultAlipayAppID, "auth_app_id": faultAlipayAppID,
			"seller_id": faultAlipaySeller, "seller_email": "faults@example.com", "buyer_id": "2088102177846880",
			"buyer_logon_id": "fau***@example.com", "subject": "故障测试订单 " + o.no, "out_trade_no": o.no,
			"trade_no": tradeNo(o), "trade_status": status, "total_amount": amount, "receipt_amount": amount,
			"invoice_amount": amount, "buyer_pay_amount": amount, "point_amount": "0.00",
			"gmt_create": "2026-11-28 17:59:40", "gmt_payment": "2026-11-28 17:59:44",
			"fund_bill_list": `[{"amount":"` + amount + `","fundChannel":"ALIPAYACCOUNT"}]`,
		} {
			v.Set(k, x)
		}
		return v
	}
	ev := func(v url.Values, key, want string) *event {
		body, err := signer.Form(v)
		if err != nil {
			panic(err)
		}
		return &event{sender: s, id: v.Get("notify_id"), body: body, key: key, want: want}
	}
	payKey := func(o order) string { return tradeNo(o) + ":payment.succeeded" }
	s.payment = func(o order) *event {
		return ev(trade(fmt.Sprintf("2026112800222%010d01", o.i), o, "TRADE_SUCCESS", o.amount), payKey(o), "applied")
	}
	s.samePayment = func(o order) *event {
		return ev(trade(fmt.Sprintf("2026112800222%010d02", o.i), o, "TRADE_FINISHED", o.amount), payKey(o), "applied")
	}
	s.refund = func(o order, n int, _, total int64) *event {
		status := "TRADE_SUCCESS"
		if total == o.amount {
			status = "TRADE_CLOSED"
		}
		v := trade(fmt.Sprintf("2026112800222%010d1%d", o.i, n), o, status, o.amount)
		outBizNo := fmt.Sprintf("RF%d", n)
		v.Set("out_biz_no", outBizNo)
		v.Set("refund_fee", ledger.FormatDecimal(total, o.currency))
		v.Set("gmt_refund", "2026-11-28 18:10:00.123")
		return ev(v, tradeNo(o)+"/"+outBizNo+":refund.succeeded", "applied")
	}
	s.unsupported = func(o order) *event {
		id := fmt.Sprintf("2026112800222%010d99", o.i)
		v := trade(id, o, "TRADE_SUCCESS", o.amount)
		v.Set("notify_type", "trade_settle_sync")
		return ev(v, id+":unsupported", "rejected")
	}
	s.conflicting = func(o order) *event {
		e := ev(trade(fmt.Sprintf("2026112800222%010d03", o.i), o, "TRADE_SUCCESS", o.amount+1), payKey(o), "conflict")
		e.conflict = true
		return e
	}
	return s
}
