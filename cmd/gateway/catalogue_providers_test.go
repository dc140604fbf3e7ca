package main

import (
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/adyen/adyen-go-api-library/v16/src/webhook"

	"gateway/providers/providertest"
)

// The catalogue's cases for WeChat Pay, Alipay, Adyen and PayPal: signers
// acting as each provider (providertest's, on the providers' SDKs and the
// committed test keys), request builders, and one line per case. Each
// refusal is the provider's own: WeChat Pay {"code":"FAIL",…}, Alipay the
// body "fail", Adyen and PayPal the gateway's JSON error.

const (
	catWechatMch    = "1230000109"
	catWechatApp    = "wxca7a1090000c0de0"
	catWechatKey    = "CatalogueAPIv3Key0123456789abcde" // 32 bytes
	catAlipayApp    = "2021000122679999"
	catAlipaySeller = "2088102146229999"
	catAdyenKey     = "C47A1060E0A0B1C2D3E4F5061728394A5B6C7D8E9F00112233445566778899AA"
	catAdyenOther   = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
	catPayPalHook   = "1JE4291016473214C"
	// catUnknownSerial names no configured WeChat Pay platform key.
	catUnknownSerial = "PUB_KEY_ID_0112300001092026112800000099"
)

// catProvidersConfig adds the four providers to catConfig; keys and
// certificates are the committed test ones, inline as PEM text.
var catProvidersConfig = `  wechatpay:
    mch_id: "` + catWechatMch + `"
    app_id: "` + catWechatApp + `"
    apiv3_key: "` + catWechatKey + `"
    platform_public_keys:
      ` + providertest.ProviderCertSerial + `: ` + strconv.Quote(providertest.ProviderCertPEM) + `
  alipay:
    app_id: "` + catAlipayApp + `"
    seller_id: "` + catAlipaySeller + `"
    alipay_public_keys: [` + strconv.Quote(providertest.Provider.PublicPEM) + `]
  adyen:
    hmac_keys: ["` + catAdyenKey + `"]
  paypal:
    webhook_id: "` + catPayPalHook + `"
    certificates: [` + strconv.Quote(providertest.ProviderCertPEM) + `]
`

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// WeChat Pay.

// wechatAt signs as WeChat Pay does, with key under serial, at now+offset.
func wechatAt(key *rsa.PrivateKey, serial string, offset time.Duration) signer {
	return func(body []byte) http.Header {
		return must(providertest.WeChatPayHeaders(key, serial, time.Now().Add(offset), "catalogue-nonce", body))
	}
}

// wechatSigned is a valid signature by the platform key, now.
var wechatSigned = wechatAt(providertest.Provider.Private, providertest.ProviderCertSerial, 0)

func wechatFor(other []byte) signer {
	return func([]byte) http.Header { return wechatSigned(other) }
}

// wechatWith signs validly, then sets header k to v (v may use %s for the
// valid value).
func wechatWith(k, v string) signer {
	return func(body []byte) http.Header {
		h := wechatSigned(body)
		h.Set(k, strings.ReplaceAll(v, "%s", h.Get(k)))
		return h
	}
}

// wechatTxn is a TRANSACTION.SUCCESS resource for our merchant and app.
func wechatTxn(orderNo, mch, app string) map[string]any {
	return map[string]any{"mchid": mch, "appid": app, "out_trade_no": orderNo, "transaction_id": "4200002001202611280000000001",
		"trade_type": "JSAPI", "trade_state": "SUCCESS", "amount": map[string]any{"total": 1000, "currency": "USD"}}
}

// wechatBody is a notification with resource encrypted under apiv3Key
// (raw bytes, or marshalled to JSON).
func wechatBody(apiv3Key string, resource any) []byte {
	return must(providertest.WeChatPayNotification(apiv3Key, "EV-CAT-1", "TRANSACTION.SUCCESS", "支付成功", "transaction", "catnonce0001", resource))
}

func wechatCB(body []byte, sign signer) func() request { return callback("wechatpay", body, sign) }

// Alipay.

var alipaySigner, alipayStranger = must(providertest.NewAlipaySigner(providertest.Provider)), must(providertest.NewAlipaySigner(providertest.Stranger))

// alipayParams is a TRADE_SUCCESS notification for our app and seller;
// kv set further parameters ("" deletes).
func alipayParams(kv ...string) url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"notify_id": "2026112800222175944011201443829263", "notify_type": "trade_status_sync",
		"notify_time": "2026-11-28 17:59:45", "charset": "utf-8", "version": "1.0", "app_id": catAlipayApp,
		"seller_id": catAlipaySeller, "out_trade_no": catOrder, "trade_no": "2026112822001400000000000001",
		"trade_status": "TRADE_SUCCESS", "total_amount": "10.00", "trans_currency": "USD", "subject": "目录"} {
		v.Set(k, s)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v
}

// alipayForm signs v as Alipay does, with signer's key.
func alipayForm(signer *providertest.AlipaySigner, v url.Values) []byte { return must(signer.Form(v)) }

// alipayResigned is a signed form whose sign parameter is then replaced.
func alipayResigned(sign string) []byte {
	v := must(url.ParseQuery(string(alipayForm(alipaySigner, alipayParams()))))
	v.Set("sign", sign)
	return []byte(v.Encode())
}

func alipayCB(body []byte) func() request {
	return callback("alipay", body, fixedHeaders(), "Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
}

// Adyen.

// adyenItem is an AUTHORISATION item for orderNo, signed with key ("" =
// unsigned).
func adyenItem(key, psp, orderNo string, value int64) webhook.NotificationRequestItem {
	it := webhook.NotificationRequestItem{PspReference: psp, MerchantAccountCode: "CatalogueECOM", MerchantReference: orderNo,
		EventCode: "AUTHORISATION", Success: "true", Amount: webhook.Amount{Value: value, Currency: "USD"}, PaymentMethod: "visa"}
	if key == "" {
		return it
	}
	return must(providertest.AdyenSign(key, it))
}

func adyenBody(items ...webhook.NotificationRequestItem) []byte {
	return must(providertest.AdyenBody(items...))
}

// adyenSigOf sets its hmacSignature to sig.
func adyenSigOf(it webhook.NotificationRequestItem, sig any) webhook.NotificationRequestItem {
	it.AdditionalData = &map[string]any{"hmacSignature": sig}
	return it
}

// adyenInvalidUTF8 is an item whose merchantReference is invalid UTF-8 in
// the body's bytes, signed over those bytes (what the gateway decodes is
// not what was signed).
func adyenInvalidUTF8() []byte {
	it := adyenItem(catAdyenKey, "8815000000000006", "CAT-"+invalid8, 1000)
	it.MerchantReference = "CAT-PLACEHOLDER"
	return []byte(strings.Replace(string(adyenBody(it)), "CAT-PLACEHOLDER", "CAT-"+invalid8, 1))
}

func adyenCB(body []byte) func() request { return callback("adyen", body, fixedHeaders()) }

// PayPal.

// paypalAt signs a transmission as PayPal does: key, our webhook id
// unless hook is set, the transmission time now+offset.
func paypalAt(key *rsa.PrivateKey, hook string, offset time.Duration) signer {
	return paypalTime(key, hook, time.Now().Add(offset).UTC().Format(time.RFC3339))
}

// paypalTime signs a transmission sent at the given time text.
func paypalTime(key *rsa.PrivateKey, hook, at string) signer {
	if hook == "" {
		hook = catPayPalHook
	}
	return func(body []byte) http.Header {
		return must(providertest.PayPalHeaders(key, fmt.Sprintf("cat-%d", time.Now().UnixNano()), at, hook, body))
	}
}

var paypalSigned = paypalAt(providertest.Provider.Private, "", 0)

// paypalWith signs validly, then sets header k to v.
func paypalWith(k, v string) signer {
	return func(body []byte) http.Header {
		h := paypalSigned(body)
		h.Set(k, v)
		return h
	}
}

// paypalCapture is a PAYMENT.CAPTURE.COMPLETED event; value is the
// decimal amount as sent.
func paypalCapture(id, orderNo, value string) []byte {
	return []byte(`{"id":"WH-` + id + `","event_version":"1.0","resource_type":"capture","event_type":"PAYMENT.CAPTURE.COMPLETED",` +
		`"resource":{"id":"` + id + `","status":"COMPLETED","amount":{"currency_code":"USD","value":"` + value + `"},"custom_id":"` + orderNo + `"}}`)
}

func paypalCB(body []byte, sign signer) func() request { return callback("paypal", body, sign) }

// providerCatalogue is the catalogue's lines for the four providers.
func providerCatalogue() []badInput {
	goodWechat := wechatBody(catWechatKey, wechatTxn(catOrder, catWechatMch, catWechatApp))
	goodAlipay := alipayForm(alipaySigner, alipayParams())
	goodAdyen := adyenItem(catAdyenKey, "8815000000000001", catOrder, 1000)
	goodPayPal := paypalCapture("CAT0000000000001", catOrder, "10.00")
	now := strconv.FormatInt(time.Now().Unix(), 10)
	return []badInput{
		// WeChat Pay API v3: 401/400 {"code":"FAIL","message":…}.
		{"wechatpay: signature headers missing", wechatCB(goodWechat, fixedHeaders()), 401, "FAIL", ""},
		{"wechatpay: signature garbage", wechatCB(goodWechat, fixedHeaders("Wechatpay-Timestamp", now, "Wechatpay-Nonce", "n", "Wechatpay-Signature", "garbage!", "Wechatpay-Serial", providertest.ProviderCertSerial)), 401, "FAIL", ""},
		{"wechatpay: signature for another body", wechatCB(goodWechat, wechatFor(goodPI)), 401, "FAIL", ""},
		{"wechatpay: signed by a key its serial does not name", wechatCB(goodWechat, wechatAt(providertest.Stranger.Private, providertest.ProviderCertSerial, 0)), 401, "FAIL", ""},
		{"wechatpay: unknown serial", wechatCB(goodWechat, wechatAt(providertest.Stranger.Private, catUnknownSerial, 0)), 401, "FAIL", ""},
		{"wechatpay: timestamp 10 minutes old", wechatCB(goodWechat, wechatAt(providertest.Provider.Private, providertest.ProviderCertSerial, -10*time.Minute)), 401, "FAIL", ""},
		{"wechatpay: timestamp 10 minutes ahead", wechatCB(goodWechat, wechatAt(providertest.Provider.Private, providertest.ProviderCertSerial, 10*time.Minute)), 401, "FAIL", ""},
		{"wechatpay: timestamp not a number", wechatCB(goodWechat, wechatWith("Wechatpay-Timestamp", "yesterday")), 401, "FAIL", ""},
		{"wechatpay: SIGNTEST probe", wechatCB(goodWechat, wechatWith("Wechatpay-Signature", "WECHATPAY/SIGNTEST/%s")), 401, "FAIL", ""},
		{"wechatpay: other signature type", wechatCB(goodWechat, wechatWith("Wechatpay-Signature-Type", "WECHATPAY2-SM2-WITH-SM3")), 401, "FAIL", ""},
		{"wechatpay: another mchid", wechatCB(wechatBody(catWechatKey, wechatTxn(catOrder, "1900000000", catWechatApp)), wechatSigned), 401, "FAIL", ""},
		{"wechatpay: another appid", wechatCB(wechatBody(catWechatKey, wechatTxn(catOrder, catWechatMch, "wx0000000000000000")), wechatSigned), 401, "FAIL", ""},
		{"wechatpay: resource under another APIv3 key", wechatCB(wechatBody("00000000000000000000000000000000", wechatTxn(catOrder, catWechatMch, catWechatApp)), wechatSigned), 401, "FAIL", ""},
		{"wechatpay: malformed JSON signed", wechatCB([]byte(`{"id":"EV-CAT-2","event_type":"TRANSACTION.SUCCESS","resource":{`), wechatSigned), 400, "FAIL", ""},
		{"wechatpay: invalid UTF-8 in the resource", wechatCB(wechatBody(catWechatKey, []byte(`{"mchid":"`+catWechatMch+`","appid":"`+catWechatApp+`","out_trade_no":"CAT-`+invalid8+`","transaction_id":"4200002001202611280000000002","trade_state":"SUCCESS","amount":{"total":1000,"currency":"USD"}}`)), wechatSigned), 400, "FAIL", ""},

		// Alipay: 401/400 with the body "fail".
		{"alipay: sign missing", alipayCB([]byte(alipayParams().Encode())), 401, "body:fail", ""},
		{"alipay: sign garbage", alipayCB(alipayResigned("garbage!")), 401, "body:fail", ""},
		{"alipay: sign of another notification", alipayCB(alipayResigned(must(url.ParseQuery(string(alipayForm(alipaySigner, alipayParams("total_amount", "99.00"))))).Get("sign"))), 401, "body:fail", ""},
		{"alipay: signed with a stranger's key", alipayCB(alipayForm(alipayStranger, alipayParams())), 401, "body:fail", ""},
		{"alipay: sign_type RSA (SHA-1)", alipayCB(alipayForm(alipaySigner, alipayParams("sign_type", "RSA"))), 401, "body:fail", ""},
		{"alipay: another app_id", alipayCB(alipayForm(alipaySigner, alipayParams("app_id", "2021000000000000"))), 401, "body:fail", ""},
		{"alipay: another seller_id", alipayCB(alipayForm(alipaySigner, alipayParams("seller_id", "2088000000000000"))), 401, "body:fail", ""},
		{"alipay: over-precise amount 12.345", alipayCB(alipayForm(alipaySigner, alipayParams("total_amount", "12.345"))), 400, "body:fail", ""},
		{"alipay: malformed form", alipayCB([]byte("out_trade_no=%zz&sign=x")), 400, "body:fail", ""},
		{"alipay: parameter given twice", alipayCB(append(append([]byte(nil), goodAlipay...), "&out_trade_no=CAT-2"...)), 400, "body:fail", ""},
		{"alipay: invalid UTF-8", alipayCB(alipayForm(alipaySigner, alipayParams("out_trade_no", "CAT-"+invalid8))), 400, "body:fail", ""},
		{"alipay: unsupported charset", alipayCB(alipayForm(alipaySigner, alipayParams("charset", "big5"))), 400, "body:fail", ""},
		{"alipay: JSON body", alipayCB(goodPI), 401, "body:fail", ""},

		// Adyen: 401 bad_signature / 400 malformed, the whole batch refused.
		{"adyen: item without hmacSignature", adyenCB(adyenBody(adyenItem("", "8815000000000002", catOrder, 1000))), 401, "bad_signature", ""},
		{"adyen: hmacSignature garbage", adyenCB(adyenBody(adyenSigOf(goodAdyen, "garbage!"))), 401, "bad_signature", ""},
		{"adyen: signature of another item", adyenCB(adyenBody(adyenSigOf(adyenItem("", "8815000000000003", catOrder, 1000), (*goodAdyen.AdditionalData)["hmacSignature"]))), 401, "bad_signature", ""},
		{"adyen: signed with another key", adyenCB(adyenBody(adyenItem(catAdyenOther, "8815000000000004", catOrder, 1000))), 401, "bad_signature", ""},
		{"adyen: batch with one bad item", adyenCB(adyenBody(goodAdyen, adyenItem(catAdyenOther, "8815000000000005", "CAT-2", 500))), 401, "bad_signature", ""},
		{"adyen: amount changed after signing", adyenCB([]byte(strings.Replace(string(adyenBody(goodAdyen)), `"value":1000`, `"value":1`, 1))), 401, "bad_signature", ""},
		{"adyen: float amount", adyenCB([]byte(strings.Replace(string(adyenBody(goodAdyen)), `"value":1000`, `"value":10.5`, 1))), 400, "malformed", ""},
		{"adyen: no notification items", adyenCB([]byte(`{"live":"false","notificationItems":[]}`)), 400, "malformed", ""},
		{"adyen: malformed JSON", adyenCB([]byte(`{"live":"false","notificationItems":[{`)), 400, "malformed", ""},
		{"adyen: invalid UTF-8, signed as sent", adyenCB(adyenInvalidUTF8()), 401, "bad_signature", ""},

		// PayPal: 401 bad_signature / 400 malformed.
		{"paypal: headers missing", paypalCB(goodPayPal, fixedHeaders()), 401, "bad_signature", ""},
		{"paypal: signature garbage", paypalCB(goodPayPal, paypalWith("Paypal-Transmission-Sig", "garbage!")), 401, "bad_signature", ""},
		{"paypal: signature for another body", paypalCB(goodPayPal, func([]byte) http.Header { return paypalSigned(goodPI) }), 401, "bad_signature", ""},
		{"paypal: signed by a certificate not pinned", paypalCB(goodPayPal, paypalAt(providertest.Stranger.Private, "", 0)), 401, "bad_signature", ""},
		{"paypal: signed for another webhook", paypalCB(goodPayPal, paypalAt(providertest.Provider.Private, "9XX00000000000000", 0)), 401, "bad_signature", ""},
		{"paypal: transmission 10 minutes old", paypalCB(goodPayPal, paypalAt(providertest.Provider.Private, "", -10*time.Minute)), 401, "bad_signature", ""},
		{"paypal: transmission 10 minutes ahead", paypalCB(goodPayPal, paypalAt(providertest.Provider.Private, "", 10*time.Minute)), 401, "bad_signature", ""},
		{"paypal: transmission time not a time", paypalCB(goodPayPal, paypalTime(providertest.Provider.Private, "", "yesterday")), 401, "bad_signature", ""},
		{"paypal: transmission time in unix seconds", paypalCB(goodPayPal, paypalTime(providertest.Provider.Private, "", now)), 401, "bad_signature", ""},
		{"paypal: auth algo SHA1withRSA", paypalCB(goodPayPal, paypalWith("Paypal-Auth-Algo", "SHA1withRSA")), 401, "bad_signature", ""},
		{"paypal: over-precise amount", paypalCB(paypalCapture("CAT0000000000002", catOrder, "10.005"), paypalSigned), 400, "malformed", ""},
		{"paypal: malformed JSON", paypalCB([]byte(`{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{`), paypalSigned), 400, "malformed", ""},
		{"paypal: invalid UTF-8", paypalCB(paypalCapture("CAT0000000000003", "CAT-"+invalid8, "10.00"), paypalSigned), 400, "malformed", ""},
	}
}
