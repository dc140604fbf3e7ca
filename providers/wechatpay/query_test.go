package wechatpay_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/providertest"
	"gateway/providers/query"
	"gateway/providers/wechatpay"
)

// fakeAPI is WeChat Pay's order query API: it refuses any request whose
// Authorization does not verify with the merchant's public key, and signs
// its answers with a platform key.
type fakeAPI struct {
	t      testing.TB
	signer *rsa.PrivateKey
	serial string
	clock  func() time.Time
	// answer returns the status and body for an out_trade_no.
	answer func(orderNo string) (int, string)

	mu       sync.Mutex
	requests int
	refused  []string
}

var authRE = regexp.MustCompile(`^WECHATPAY2-SHA256-RSA2048 mchid="([^"]*)",nonce_str="([^"]*)",timestamp="([0-9]+)",serial_no="([^"]*)",signature="([^"]*)"$`)

// checkAuth verifies a request's Authorization header as WeChat Pay does.
func checkAuth(r *http.Request, merchant *rsa.PublicKey) error {
	m := authRE.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return fmt.Errorf("malformed Authorization %q", r.Header.Get("Authorization"))
	}
	if m[1] != mchID || m[4] != merchantSerial {
		return fmt.Errorf("mchid %q serial %q", m[1], m[4])
	}
	if r.Header.Get("User-Agent") == "" {
		return errors.New("no User-Agent")
	}
	msg := r.Method + "\n" + r.URL.RequestURI() + "\n" + m[3] + "\n" + m[2] + "\n" + "" + "\n"
	sig, err := base64.StdEncoding.DecodeString(m[5])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(msg))
	return rsa.VerifyPKCS1v15(merchant, crypto.SHA256, sum[:], sig)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()
	const prefix = "/v3/pay/transactions/out-trade-no/"
	if err := checkAuth(r, &providertest.Merchant.Private.PublicKey); err != nil {
		f.mu.Lock()
		f.refused = append(f.refused, err.Error())
		f.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"code":"SIGN_ERROR","message":"签名错误"}`)
		return
	}
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, prefix) || r.URL.Query().Get("mchid") != mchID {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"code":"PARAM_ERROR","message":"参数错误"}`)
		return
	}
	status, body := f.answer(strings.TrimPrefix(r.URL.Path, prefix))
	h, err := wechatpay.Sign(f.signer, f.serial, f.clock(), "answer-nonce", []byte(body))
	if err != nil {
		f.t.Error(err)
	}
	for k, v := range h {
		w.Header()[k] = v
	}
	w.Header().Set("Request-ID", "08F0B9F3B7061011")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

func transactionJSON(orderNo, state string, txnID string, total int64) string {
	tid := ""
	if txnID != "" {
		tid = `"transaction_id":"` + txnID + `",`
	}
	return `{"appid":"` + appID + `","mchid":"` + mchID + `","out_trade_no":"` + orderNo + `",` + tid +
		`"trade_type":"NATIVE","trade_state":"` + state + `","trade_state_desc":"…",` +
		`"amount":{"total":` + strconv.FormatInt(total, 10) + `,"currency":"CNY"}}`
}

// answers is the fake's book of orders.
func answers(orderNo string) (int, string) {
	switch orderNo {
	case "O-paid":
		return 200, transactionJSON(orderNo, "SUCCESS", "4200000001", 2000)
	case "O-pending":
		return 200, transactionJSON(orderNo, "NOTPAY", "", 2000)
	case "O-paying":
		return 200, transactionJSON(orderNo, "USERPAYING", "4200000003", 2000)
	case "O-closed":
		return 200, transactionJSON(orderNo, "CLOSED", "", 2000)
	case "O-refunded":
		return 200, transactionJSON(orderNo, "REFUND", "4200000004", 2000)
	case "O-failed":
		return 200, transactionJSON(orderNo, "PAYERROR", "4200000005", 2000)
	case "O-other-merchant":
		return 200, strings.Replace(transactionJSON(orderNo, "SUCCESS", "4200000006", 2000), mchID, "1900000000", 1)
	case "O-other-order":
		return 200, transactionJSON("O-else", "SUCCESS", "4200000007", 2000)
	case "O-error":
		return 500, `{"code":"SYSTEM_ERROR","message":"系统错误"}`
	default:
		return 404, `{"code":"ORDER_NOT_EXIST","message":"订单不存在"}`
	}
}

func newFake(t *testing.T) (*fakeAPI, *httptest.Server) {
	f := &fakeAPI{t: t, signer: providertest.Provider.Private, serial: providertest.ProviderCertSerial,
		clock: func() time.Time { return now }, answer: answers}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func queryProvider(t *testing.T, base string) *wechatpay.Provider {
	t.Helper()
	c := config()
	c.APIBase = base
	p, err := wechatpay.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestQuery(t *testing.T) {
	f, srv := newFake(t)
	p := queryProvider(t, srv.URL)
	cny := func(a int64) ledger.Money { return ledger.Money{Amount: a, Currency: "CNY"} }
	tests := []struct {
		orderNo string
		want    []callbacks.Notification
		err     error
	}{
		{"O-paid", []callbacks.Notification{{TxnID: "4200000001:payment.succeeded", EventType: "trade_state.SUCCESS",
			Kind: ledger.KindPaymentSucceeded, OrderNo: "O-paid", Reference: "4200000001", Money: cny(2000)}}, nil},
		{"O-pending", []callbacks.Notification{{TxnID: "O-pending:payment.pending", EventType: "trade_state.NOTPAY",
			Kind: ledger.KindPaymentPending, OrderNo: "O-pending", Money: cny(2000)}}, nil},
		{"O-paying", []callbacks.Notification{{TxnID: "4200000003:payment.pending", EventType: "trade_state.USERPAYING",
			Kind: ledger.KindPaymentPending, OrderNo: "O-paying", Reference: "4200000003", Money: cny(2000)}}, nil},
		{"O-closed", []callbacks.Notification{{TxnID: "O-closed:payment.closed", EventType: "trade_state.CLOSED",
			Kind: ledger.KindPaymentClosed, OrderNo: "O-closed", Money: cny(2000)}}, nil},
		// Refunded: the payment is what the state proves; same key as the callback.
		{"O-refunded", []callbacks.Notification{{TxnID: "4200000004:payment.succeeded", EventType: "trade_state.REFUND",
			Kind: ledger.KindPaymentSucceeded, OrderNo: "O-refunded", Reference: "4200000004", Money: cny(2000)}}, nil},
		{"O-failed", []callbacks.Notification{{TxnID: "4200000005:payment.failed", EventType: "trade_state.PAYERROR",
			Kind: ledger.KindPaymentFailed, OrderNo: "O-failed", Reference: "4200000005", Money: cny(2000)}}, nil},
		{"O-unknown", nil, nil},
		{"O-error", nil, query.ErrProvider},
		{"O-other-merchant", nil, callbacks.ErrSignature},
		{"O-other-order", nil, callbacks.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.orderNo, func(t *testing.T) {
			got, err := p.Query(context.Background(), callbacks.StatusQuery{OrderNo: tt.orderNo})
			providertest.CheckResult(t, got, err, tt.want, tt.err)
		})
	}
	if len(f.refused) != 0 || f.requests != len(tests) {
		t.Errorf("fake API saw %d requests, refused %v", f.requests, f.refused)
	}
}

// The fake refuses what is not signed with the merchant key, and the
// provider refuses answers not signed with a platform key.
func TestQuerySignatures(t *testing.T) {
	ctx := context.Background()
	t.Run("request signed with another key", func(t *testing.T) {
		f, srv := newFake(t)
		c := config()
		c.APIBase, c.MerchantPrivateKey = srv.URL, providertest.Stranger.PrivatePEM
		p, err := wechatpay.New(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Query(ctx, callbacks.StatusQuery{OrderNo: "O-paid"}); !errors.Is(err, query.ErrProvider) {
			t.Errorf("Query = %v, want the API's refusal", err)
		}
		if len(f.refused) != 1 {
			t.Errorf("fake refused %v, want one verification error", f.refused)
		}
	})
	for _, tt := range []struct {
		name   string
		signer *rsa.PrivateKey
		serial string
		clock  func() time.Time
	}{
		{"answer signed with a stranger's key", providertest.Stranger.Private, providertest.ProviderCertSerial, func() time.Time { return now }},
		{"answer under an unknown serial", providertest.Provider.Private, "PUB_KEY_ID_0199", func() time.Time { return now }},
		{"stale answer", providertest.Provider.Private, providertest.ProviderCertSerial, func() time.Time { return now.Add(-time.Hour) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, srv := newFake(t)
			f.signer, f.serial, f.clock = tt.signer, tt.serial, tt.clock
			if _, err := queryProvider(t, srv.URL).Query(ctx, callbacks.StatusQuery{OrderNo: "O-paid"}); !errors.Is(err, callbacks.ErrSignature) {
				t.Errorf("Query = %v, want ErrSignature", err)
			}
		})
	}
	t.Run("answer from the rotated key", func(t *testing.T) {
		f, srv := newFake(t)
		f.signer, f.serial = providertest.Rotated.Private, pubKeyID
		if _, err := queryProvider(t, srv.URL).Query(ctx, callbacks.StatusQuery{OrderNo: "O-paid"}); err != nil {
			t.Errorf("Query: %v", err)
		}
	})
	t.Run("without a merchant key", func(t *testing.T) {
		c := config()
		c.MerchantPrivateKey, c.MerchantSerial = "", ""
		p, err := wechatpay.New(c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Query(ctx, callbacks.StatusQuery{OrderNo: "O-paid"}); !errors.Is(err, callbacks.ErrQueryUnsupported) {
			t.Errorf("Query = %v, want ErrQueryUnsupported", err)
		}
	})
}

// The fake is faithful: the SDK's own client signs requests the fake
// accepts, and accepts the fake's signed answers (real clock: the SDK
// checks it).
func TestFakeAgreesWithSDK(t *testing.T) {
	f, srv := newFake(t)
	f.clock = time.Now
	client, err := core.NewClient(context.Background(),
		option.WithMerchantCredential(mchID, merchantSerial, providertest.Merchant.Private),
		option.WithVerifier(verifiers.NewSHA256WithRSAPubkeyVerifier(providertest.ProviderCertSerial, providertest.Provider.Private.PublicKey)),
		option.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.Get(context.Background(), srv.URL+"/v3/pay/transactions/out-trade-no/O-paid?mchid="+mchID)
	if err != nil {
		t.Fatalf("SDK query against the fake: %v (fake refused %v)", err, f.refused)
	}
	if res.Response.StatusCode != 200 {
		t.Errorf("status %d", res.Response.StatusCode)
	}
	// Our client passes the same check on the same clock.
	c := config()
	c.APIBase, c.Now = srv.URL, time.Now
	p, err := wechatpay.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Query(context.Background(), callbacks.StatusQuery{OrderNo: "O-paid"}); err != nil {
		t.Errorf("Query: %v", err)
	}
	if len(f.refused) != 0 {
		t.Errorf("fake refused %v", f.refused)
	}
}
