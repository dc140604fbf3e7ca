package wechatpay

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"gateway/callbacks"
	"gateway/providers/query"
	"gateway/providers/rsakey"
)

// userAgent is sent with API requests: WeChat Pay refuses requests without one.
const userAgent = "gateway-wechatpay/1 (+https://pay.weixin.qq.com/doc/v3)"

// Authorization returns the Authorization header value of an API v3
// request: WECHATPAY2-SHA256-RSA2048 over "METHOD\nURL\ntimestamp\nnonce\nbody\n",
// URL being the path and query as sent.
func Authorization(key *rsa.PrivateKey, mchID, serial, method, canonicalURL string, ts int64, nonce string, body []byte) (string, error) {
	msg := method + "\n" + canonicalURL + "\n" + strconv.FormatInt(ts, 10) + "\n" + nonce + "\n" + string(body) + "\n"
	sig, err := rsakey.Sign(key, []byte(msg))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`%s mchid="%s",nonce_str="%s",timestamp="%d",serial_no="%s",signature="%s"`,
		signatureType, mchID, nonce, ts, serial, base64.StdEncoding.EncodeToString(sig)), nil
}

// authorize signs an API request with the merchant key.
func (p *Provider) authorize(r *http.Request) error {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	var body []byte
	if r.GetBody != nil {
		rc, err := r.GetBody()
		if err != nil {
			return err
		}
		defer rc.Close()
		if body, err = io.ReadAll(rc); err != nil {
			return err
		}
	}
	auth, err := Authorization(p.merchant, p.cfg.MchID, p.cfg.MerchantSerial, r.Method, r.URL.RequestURI(),
		p.cfg.Now().Unix(), hex.EncodeToString(b[:]), body)
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", auth)
	r.Header.Set("User-Agent", userAgent)
	return nil
}

// apiError is WeChat Pay's error answer.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Query implements callbacks.Provider: it asks for the order by
// out_trade_no (or by transaction_id when only that is known), checks the
// answer's signature with the platform key, and maps trade_state to a
// notification keyed as the callback would be. An order WeChat Pay does
// not know (ORDER_NOT_EXIST) yields no notification.
func (p *Provider) Query(ctx context.Context, q callbacks.StatusQuery) ([]callbacks.Notification, error) {
	if p.merchant == nil {
		return nil, fmt.Errorf("wechatpay: %w: merchant_private_key and merchant_serial are not configured", callbacks.ErrQueryUnsupported)
	}
	mchid := "?mchid=" + url.QueryEscape(p.cfg.MchID)
	var path string
	switch {
	case q.OrderNo != "":
		path = "/v3/pay/transactions/out-trade-no/" + url.PathEscape(q.OrderNo) + mchid
	case q.Reference != "":
		path = "/v3/pay/transactions/id/" + url.PathEscape(q.Reference) + mchid
	default:
		return nil, fmt.Errorf("wechatpay: query needs an order number or a transaction id")
	}
	resp, err := p.api.Send(ctx, http.MethodGet, path, nil, p.authorize)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: query %s: %w", path, err)
	}
	if resp.Status/100 != 2 {
		var e apiError
		_ = json.Unmarshal(resp.Body, &e)
		if resp.Status == http.StatusNotFound && e.Code == "ORDER_NOT_EXIST" {
			return nil, nil
		}
		return nil, fmt.Errorf("wechatpay: query %s: %w: %d %s", path, query.ErrProvider, resp.Status, query.Truncate(resp.Body, 200))
	}
	if err := p.verify(resp.Header, resp.Body, p.cfg.Now(), true); err != nil {
		return nil, fmt.Errorf("wechatpay: query %s: answer: %w", path, err)
	}
	var tx transaction
	if err := json.Unmarshal(resp.Body, &tx); err != nil {
		return nil, fmt.Errorf("wechatpay: query %s: %w: %v", path, callbacks.ErrMalformed, err)
	}
	if q.OrderNo != "" && tx.OutTradeNo != q.OrderNo {
		return nil, fmt.Errorf("wechatpay: query %s: %w: answer is for order %q", path, callbacks.ErrMalformed, tx.OutTradeNo)
	}
	n, err := p.payment(tx)
	if err != nil {
		return nil, fmt.Errorf("wechatpay: query %s: %w", path, err)
	}
	n.EventType = "trade_state." + tx.TradeState
	return []callbacks.Notification{n}, nil
}
