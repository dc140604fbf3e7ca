package alipay_test

import (
	"encoding/base64"
	"net/url"
	"testing"
	"time"

	sdk "github.com/smartwalle/alipay/v3"
	"github.com/smartwalle/nsign"

	"gateway/callbacks"
	"gateway/providers/alipay"
	"gateway/providers/providertest"
)

const (
	appID    = "2021000122671234"
	sellerID = "2088102146225135"
)

var now = time.Date(2025, 11, 28, 10, 0, 0, 0, time.UTC)

// config trusts two Alipay keys at once (rotation).
func config() alipay.Config {
	return alipay.Config{Name: "alipay", AppID: appID, SellerID: sellerID,
		PublicKeys:    []string{providertest.Provider.PublicPEM, providertest.Rotated.PublicPEM},
		AppPrivateKey: providertest.Merchant.PrivatePEM, Now: func() time.Time { return now }}
}

func newProvider(t testing.TB) *alipay.Provider {
	t.Helper()
	p, err := alipay.New(config())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// asAlipay is the SDK client holding a key that acts as Alipay's.
func asAlipay(t testing.TB, key providertest.Key) *sdk.Client {
	t.Helper()
	c, err := sdk.New(appID, key.PrivatePEM, false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// signed returns the form body Alipay POSTs for v, signed by the SDK's
// SignValues (sign and sign_type left out of the signed content).
func signed(t testing.TB, key providertest.Key, v url.Values) []byte {
	t.Helper()
	v = clone(v)
	v.Del("sign")
	if v.Get("sign_type") == "" {
		v.Set("sign_type", "RSA2")
	}
	sig, err := asAlipay(t, key).SignValues(v, nsign.WithIgnore("sign", "sign_type"))
	if err != nil {
		t.Fatal(err)
	}
	v.Set("sign", base64.StdEncoding.EncodeToString(sig))
	return []byte(v.Encode())
}

func inbound(body []byte) callbacks.Inbound {
	return callbacks.Inbound{Provider: "alipay", Body: body}
}

func clone(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// set returns a copy of v with kv pairs set ("" deletes).
func set(v url.Values, kv ...string) url.Values {
	v = clone(v)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v
}

// paid is a TRADE_SUCCESS notification as Alipay sends it.
func paid(orderNo, tradeNo, total string) url.Values {
	v := url.Values{}
	for k, s := range map[string]string{
		"gmt_create": "2025-11-28 17:59:40", "charset": "utf-8", "seller_email": "sandbox@example.com",
		"subject": "测试订单", "buyer_id": "2088102177846880", "invoice_amount": total,
		"notify_id": "2025112800222175944011201443829263", "fund_bill_list": `[{"amount":"` + total + `","fundChannel":"ALIPAYACCOUNT"}]`,
		"notify_type": "trade_status_sync", "trade_status": "TRADE_SUCCESS", "receipt_amount": total, "app_id": appID,
		"buyer_pay_amount": total, "seller_id": sellerID, "gmt_payment": "2025-11-28 17:59:44",
		"notify_time": "2025-11-28 17:59:45", "version": "1.0", "out_trade_no": orderNo, "total_amount": total,
		"trade_no": tradeNo, "auth_app_id": appID, "buyer_logon_id": "csq***@sandbox.com", "point_amount": "0.00",
	} {
		v.Set(k, s)
	}
	return v
}

// refunded is the notification of a refund: trade_status TRADE_SUCCESS
// (partial) or TRADE_CLOSED (the last one), refund_fee the total refunded.
func refunded(orderNo, tradeNo, total, status, outBizNo, refundFee string) url.Values {
	return set(paid(orderNo, tradeNo, total), "trade_status", status, "out_biz_no", outBizNo, "refund_fee", refundFee,
		"gmt_refund", "2025-11-28 18:10:00.123", "notify_id", "2025112800222181000011201443829263"+outBizNo)
}
