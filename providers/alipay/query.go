package alipay

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gateway/callbacks"
	"gateway/providers/query"
	"gateway/providers/rsakey"
)

// beijing is the zone of Alipay request timestamps (a fixed zone: no tzdata needed).
var beijing = time.FixedZone("CST", 8*3600)

// queryMethod is the API the reconciler calls, and responseField the member
// of the answer that holds (and is signed over) its result.
const (
	queryMethod   = "alipay.trade.query"
	responseField = "alipay_trade_query_response"
)

// SignRequest adds sign to gateway request parameters: RSA2 over the
// non-empty parameters (sign_type included) sorted by name.
func SignRequest(key *rsa.PrivateKey, v url.Values) error {
	v.Del("sign")
	sig, err := rsakey.Sign(key, Content(v, true, "sign"))
	if err != nil {
		return err
	}
	v.Set("sign", base64.StdEncoding.EncodeToString(sig))
	return nil
}

// queryAnswer is the part of alipay.trade.query's answer the gateway reads.
type queryAnswer struct {
	Code          string `json:"code"`
	Msg           string `json:"msg"`
	SubCode       string `json:"sub_code"`
	SubMsg        string `json:"sub_msg"`
	TradeNo       string `json:"trade_no"`
	OutTradeNo    string `json:"out_trade_no"`
	TradeStatus   string `json:"trade_status"`
	TotalAmount   string `json:"total_amount"`
	TransCurrency string `json:"trans_currency"`
	SendPayDate   string `json:"send_pay_date"`
}

// Query implements callbacks.Provider with alipay.trade.query, by
// out_trade_no (or trade_no when only that is known). The answer's sign is
// verified over the exact bytes of alipay_trade_query_response. A trade
// Alipay does not know (ACQ.TRADE_NOT_EXIST) yields no notification.
func (p *Provider) Query(ctx context.Context, q callbacks.StatusQuery) ([]callbacks.Notification, error) {
	if p.app == nil {
		return nil, fmt.Errorf("alipay: %w: app_private_key is not configured", callbacks.ErrQueryUnsupported)
	}
	biz := map[string]string{}
	switch {
	case q.OrderNo != "":
		biz["out_trade_no"] = q.OrderNo
	case q.Reference != "":
		biz["trade_no"] = q.Reference
	default:
		return nil, fmt.Errorf("alipay: query needs an order number or a trade number")
	}
	bizJSON, err := json.Marshal(biz)
	if err != nil {
		return nil, err
	}
	v := url.Values{}
	v.Set("app_id", p.cfg.AppID)
	v.Set("method", queryMethod)
	v.Set("format", "JSON")
	v.Set("charset", "utf-8")
	v.Set("sign_type", "RSA2")
	v.Set("timestamp", p.cfg.Now().In(beijing).Format(time.DateTime))
	v.Set("version", "1.0")
	v.Set("biz_content", string(bizJSON))
	if err := SignRequest(p.app, v); err != nil {
		return nil, fmt.Errorf("alipay: sign query: %w", err)
	}
	form := func(r *http.Request) error {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
		return nil
	}
	what := fmt.Sprintf("alipay: %s %s", queryMethod, bizJSON)
	resp, err := p.api.Send(ctx, http.MethodPost, "", []byte(v.Encode()), form)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if resp.Status/100 != 2 {
		return nil, fmt.Errorf("%s: %w: %d %s", what, query.ErrProvider, resp.Status, query.Truncate(resp.Body, 200))
	}
	a, err := p.answer(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	switch {
	case a.Code == "40004" && a.SubCode == "ACQ.TRADE_NOT_EXIST":
		return nil, nil
	case a.Code != "10000":
		return nil, fmt.Errorf("%s: %w: %s %s %s %s", what, query.ErrProvider, a.Code, a.Msg, a.SubCode, a.SubMsg)
	case q.OrderNo != "" && a.OutTradeNo != q.OrderNo:
		return nil, fmt.Errorf("%s: %w: answer is for order %q", what, callbacks.ErrMalformed, a.OutTradeNo)
	}
	cur := "CNY"
	if a.TransCurrency != "" {
		cur = strings.ToUpper(a.TransCurrency)
	}
	n, err := trade(tradeFields{status: a.TradeStatus, tradeNo: a.TradeNo, outTradeNo: a.OutTradeNo,
		total: a.TotalAmount, currency: cur, paidAt: a.SendPayDate})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	n.EventType = queryMethod + "/" + a.TradeStatus
	return []callbacks.Notification{n}, nil
}

// answer decodes a gateway answer and verifies its sign over the raw bytes
// of the response member. An answer without sign is accepted only as an
// error report, never as a result.
func (p *Provider) answer(body []byte) (queryAnswer, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return queryAnswer{}, fmt.Errorf("%w: answer is not JSON: %v", callbacks.ErrMalformed, err)
	}
	raw, ok := top[responseField]
	if !ok {
		raw, ok = top["error_response"]
	}
	if !ok {
		return queryAnswer{}, fmt.Errorf("%w: answer has no %s", callbacks.ErrMalformed, responseField)
	}
	var a queryAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return queryAnswer{}, fmt.Errorf("%w: %s: %v", callbacks.ErrMalformed, responseField, err)
	}
	var sign string
	if s, ok := top["sign"]; ok {
		if err := json.Unmarshal(s, &sign); err != nil {
			return queryAnswer{}, fmt.Errorf("%w: sign is not a string", callbacks.ErrMalformed)
		}
	}
	switch {
	case sign != "":
		if err := verifyAny(p.keys, raw, sign); err != nil {
			return queryAnswer{}, err
		}
	case a.Code == "10000":
		return queryAnswer{}, fmt.Errorf("%w: successful answer without sign", callbacks.ErrSignature)
	}
	return a, nil
}
