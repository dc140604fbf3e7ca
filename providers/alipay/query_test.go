package alipay_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	sdk "github.com/smartwalle/alipay/v3"
	"github.com/smartwalle/nsign"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/alipay"
	"gateway/providers/providertest"
	"gateway/providers/query"
	"gateway/providers/rsakey"
)

// fakeGateway is Alipay's openapi gateway for alipay.trade.query. It checks
// each request's sign with the app's public key (through the SDK's own
// verifier and encoder) and signs its answers with a key acting as Alipay's.
type fakeGateway struct {
	t      testing.TB
	signer *rsa.PrivateKey
	// trades maps out_trade_no to the members of the answer; nil means
	// no answer member at all.
	trades map[string]map[string]string

	mu       sync.Mutex
	requests int
	refused  []string
}

func (f *fakeGateway) refuse(w http.ResponseWriter, why string) {
	f.mu.Lock()
	f.refused = append(f.refused, why)
	f.mu.Unlock()
	fmt.Fprint(w, `{"alipay_trade_query_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}}`)
}

func (f *fakeGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/html;charset=utf-8") // as Alipay answers
	body, _ := io.ReadAll(r.Body)
	form, err := url.ParseQuery(string(body))
	if err != nil || r.Method != http.MethodPost {
		f.refuse(w, "not a form POST")
		return
	}
	sig, err := base64.StdEncoding.DecodeString(form.Get("sign"))
	if err != nil {
		f.refuse(w, "sign not base64")
		return
	}
	verifier := nsign.New(nsign.WithMethod(nsign.NewRSAMethod(crypto.SHA256, nil, &providertest.Merchant.Private.PublicKey)), nsign.WithEncoder(sdk.Encoder{}))
	if err := verifier.VerifyValues(form, sig, nsign.WithIgnore("sign")); err != nil {
		f.refuse(w, "sign: "+err.Error())
		return
	}
	if _, err := time.Parse(time.DateTime, form.Get("timestamp")); err != nil || form.Get("app_id") != appID ||
		form.Get("method") != "alipay.trade.query" || form.Get("sign_type") != "RSA2" || form.Get("version") != "1.0" {
		f.refuse(w, "parameters: "+form.Encode())
		return
	}
	var biz struct {
		OutTradeNo string `json:"out_trade_no"`
	}
	if err := json.Unmarshal([]byte(form.Get("biz_content")), &biz); err != nil {
		f.refuse(w, "biz_content")
		return
	}
	switch biz.OutTradeNo {
	case "O-http-error":
		w.WriteHeader(http.StatusBadGateway)
		return
	case "O-app-error":
		fmt.Fprint(w, `{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}}`)
		return
	}
	trade, ok := f.trades[biz.OutTradeNo]
	if !ok {
		trade = map[string]string{"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST", "sub_msg": "交易不存在",
			"out_trade_no": biz.OutTradeNo, "buyer_pay_amount": "0.00", "point_amount": "0.00", "invoice_amount": "0.00", "receipt_amount": "0.00"}
	}
	member, err := json.Marshal(trade)
	if err != nil {
		f.t.Error(err)
	}
	answer := `{"alipay_trade_query_response":` + string(member)
	if biz.OutTradeNo != "O-unsigned" {
		s, err := rsakey.Sign(f.signer, member)
		if err != nil {
			f.t.Error(err)
		}
		answer += `,"sign":"` + base64.StdEncoding.EncodeToString(s) + `"`
	}
	fmt.Fprint(w, answer+"}")
}

// trade is a successful answer member.
func trade(orderNo, tradeNo, status, total, paidAt string) map[string]string {
	m := map[string]string{"code": "10000", "msg": "Success", "buyer_logon_id": "csq***@sandbox.com", "buyer_pay_amount": "0.00",
		"buyer_user_id": "2088102177846880", "invoice_amount": "0.00", "out_trade_no": orderNo, "point_amount": "0.00",
		"receipt_amount": "0.00", "total_amount": total, "trade_no": tradeNo, "trade_status": status}
	if paidAt != "" {
		m["send_pay_date"], m["buyer_pay_amount"], m["receipt_amount"] = paidAt, total, total
	}
	return m
}

func newFake(t *testing.T) (*fakeGateway, *httptest.Server) {
	f := &fakeGateway{t: t, signer: providertest.Provider.Private, trades: map[string]map[string]string{
		"O-paid":        trade("O-paid", "T-paid", "TRADE_SUCCESS", "20.00", "2025-11-28 17:59:44"),
		"O-finished":    trade("O-finished", "T-finished", "TRADE_FINISHED", "20.00", "2025-11-28 17:59:44"),
		"O-pending":     trade("O-pending", "T-pending", "WAIT_BUYER_PAY", "20.00", ""),
		"O-closed":      trade("O-closed", "T-closed", "TRADE_CLOSED", "20.00", ""),
		"O-refunded":    trade("O-refunded", "T-refunded", "TRADE_CLOSED", "20.00", "2025-11-28 17:59:44"),
		"O-unsigned":    trade("O-unsigned", "T-unsigned", "TRADE_SUCCESS", "20.00", "2025-11-28 17:59:44"),
		"O-other-order": trade("O-else", "T-else", "TRADE_SUCCESS", "20.00", "2025-11-28 17:59:44"),
		"O-busy":        {"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "aop.ACQ.SYSTEM_ERROR", "sub_msg": "系统繁忙"},
	}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func queryProvider(t *testing.T, base string, change func(*alipay.Config)) *alipay.Provider {
	t.Helper()
	c := config()
	c.APIBase = base
	if change != nil {
		change(&c)
	}
	p, err := alipay.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestQuery(t *testing.T) {
	f, srv := newFake(t)
	p := queryProvider(t, srv.URL, nil)
	cny := ledger.Money{Amount: 2000, Currency: "CNY"}
	tests := []struct {
		orderNo string
		want    []callbacks.Notification
		err     error
	}{
		{"O-paid", []callbacks.Notification{{TxnID: "T-paid:payment.succeeded", EventType: "alipay.trade.query/TRADE_SUCCESS",
			Kind: ledger.KindPaymentSucceeded, OrderNo: "O-paid", Reference: "T-paid", Money: cny}}, nil},
		{"O-finished", []callbacks.Notification{{TxnID: "T-finished:payment.succeeded", EventType: "alipay.trade.query/TRADE_FINISHED",
			Kind: ledger.KindPaymentSucceeded, OrderNo: "O-finished", Reference: "T-finished", Money: cny}}, nil},
		{"O-pending", []callbacks.Notification{{TxnID: "T-pending:payment.pending", EventType: "alipay.trade.query/WAIT_BUYER_PAY",
			Kind: ledger.KindPaymentPending, OrderNo: "O-pending", Reference: "T-pending", Money: cny}}, nil},
		{"O-closed", []callbacks.Notification{{TxnID: "T-closed:payment.closed", EventType: "alipay.trade.query/TRADE_CLOSED",
			Kind: ledger.KindPaymentClosed, OrderNo: "O-closed", Reference: "T-closed", Money: cny}}, nil},
		// Closed after payment = fully refunded: the payment is the fact the
		// answer proves (same key as its callback); the refunds come from
		// their own notifications, whose keys the query cannot know.
		{"O-refunded", []callbacks.Notification{{TxnID: "T-refunded:payment.succeeded", EventType: "alipay.trade.query/TRADE_CLOSED",
			Kind: ledger.KindPaymentSucceeded, OrderNo: "O-refunded", Reference: "T-refunded", Money: cny}}, nil},
		{"O-unknown", nil, nil},
		{"O-busy", nil, query.ErrProvider},
		{"O-app-error", nil, query.ErrProvider},
		{"O-http-error", nil, query.ErrProvider},
		{"O-unsigned", nil, callbacks.ErrSignature},
		{"O-other-order", nil, callbacks.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.orderNo, func(t *testing.T) {
			got, err := p.Query(context.Background(), callbacks.StatusQuery{OrderNo: tt.orderNo})
			providertest.CheckResult(t, got, err, tt.want, tt.err)
		})
	}
	if len(f.refused) != 0 || f.requests != len(tests) {
		t.Errorf("fake saw %d requests, refused %v", f.requests, f.refused)
	}
}

func TestQuerySignatures(t *testing.T) {
	ctx := context.Background()
	t.Run("request signed with another app key", func(t *testing.T) {
		f, srv := newFake(t)
		p := queryProvider(t, srv.URL, func(c *alipay.Config) { c.AppPrivateKey = providertest.Stranger.PrivatePEM })
		if _, err := p.Query(ctx, callbacks.StatusQuery{OrderNo: "O-paid"}); !errors.Is(err, query.ErrProvider) {
			t.Errorf("Query = %v, want the gateway's refusal", err)
		}
		if len(f.refused) != 1 {
			t.Errorf("fake refused %v, want one sign error", f.refused)
		}
	})
	t.Run("answer signed by a stranger", func(t *testing.T) {
		f, srv := newFake(t)
		f.signer = providertest.Stranger.Private
		if _, err := queryProvider(t, srv.URL, nil).Query(ctx, callbacks.StatusQuery{OrderNo: "O-paid"}); !errors.Is(err, callbacks.ErrSignature) {
			t.Errorf("Query = %v, want ErrSignature", err)
		}
	})
	t.Run("answer signed by the rotated key", func(t *testing.T) {
		f, srv := newFake(t)
		f.signer = providertest.Rotated.Private
		if _, err := queryProvider(t, srv.URL, nil).Query(ctx, callbacks.StatusQuery{OrderNo: "O-paid"}); err != nil {
			t.Errorf("Query = %v", err)
		}
	})
	t.Run("without an app key", func(t *testing.T) {
		p := queryProvider(t, "http://127.0.0.1:1", func(c *alipay.Config) { c.AppPrivateKey = "" })
		if _, err := p.Query(ctx, callbacks.StatusQuery{OrderNo: "O-paid"}); !errors.Is(err, callbacks.ErrQueryUnsupported) {
			t.Errorf("Query = %v, want ErrQueryUnsupported", err)
		}
	})
}

// The fake is faithful: the SDK's own TradeQuery passes its sign check and
// accepts its signed answer.
func TestFakeAgreesWithSDK(t *testing.T) {
	f, srv := newFake(t)
	client, err := sdk.New(appID, providertest.Merchant.PrivatePEM, false, sdk.WithSandboxGateway(srv.URL), sdk.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.LoadAliPayPublicKey(providertest.Provider.PublicPEM); err != nil {
		t.Fatal(err)
	}
	res, err := client.TradeQuery(context.Background(), sdk.TradeQuery{OutTradeNo: "O-paid"})
	if err != nil {
		t.Fatalf("SDK TradeQuery against the fake: %v (refused %v)", err, f.refused)
	}
	if res.TradeStatus != sdk.TradeStatusSuccess || res.TotalAmount != "20.00" {
		t.Errorf("SDK read %+v", res)
	}
	if len(f.refused) != 0 {
		t.Errorf("fake refused the SDK: %v", f.refused)
	}
}
