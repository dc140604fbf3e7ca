package alipay_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/encoding/simplifiedchinese"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/alipay"
	"gateway/providers/providertest"
)

// The SDK's DecodeNotification accepts what our Sign produces, and our
// Verify accepts what the SDK's SignValues produces.
func TestSDKCrossCheck(t *testing.T) {
	v := paid("O-1", "2025112822001446880500000001", "20.00")
	body, err := alipay.Sign(providertest.Provider.Private, v)
	if err != nil {
		t.Fatal(err)
	}
	form, err := url.ParseQuery(body)
	if err != nil {
		t.Fatal(err)
	}
	client := asAlipay(t, providertest.Merchant)
	if err := client.LoadAliPayPublicKey(providertest.Provider.PublicPEM); err != nil {
		t.Fatal(err)
	}
	n, err := client.DecodeNotification(context.Background(), form)
	if err != nil {
		t.Fatalf("SDK refuses our notification: %v", err)
	}
	if n.TradeNo != "2025112822001446880500000001" || n.TotalAmount != "20.00" {
		t.Errorf("SDK decoded %+v", n)
	}
	form.Set("total_amount", "0.01")
	if _, err := client.DecodeNotification(context.Background(), form); err == nil {
		t.Errorf("SDK accepts a tampered notification: the cross-check proves nothing")
	}

	p := newProvider(t)
	if err := p.Verify(inbound(signed(t, providertest.Provider, v)), now); err != nil {
		t.Errorf("Verify(SDK-signed) = %v", err)
	}
	if err := p.Verify(inbound([]byte(body)), now); err != nil {
		t.Errorf("Verify(our Sign) = %v", err)
	}
}

func TestVerify(t *testing.T) {
	p := newProvider(t)
	v := paid("O-1", "2025112822001446880500000001", "20.00")
	valid := signed(t, providertest.Provider, v)
	tests := []struct {
		name string
		body []byte
		err  error
	}{
		{"valid", valid, nil},
		{"rotated key", signed(t, providertest.Rotated, v), nil},
		{"empty values are signed too", signed(t, providertest.Provider, withEmpty(v, "body")), nil},
		{"tampered amount", []byte(strings.Replace(string(valid), "total_amount=20.00", "total_amount=0.01", 1)), callbacks.ErrSignature},
		{"tampered order", []byte(strings.Replace(string(valid), "out_trade_no=O-1", "out_trade_no=O-2", 1)), callbacks.ErrSignature},
		{"parameter added", append([]byte("refund_fee=20.00&"), valid...), callbacks.ErrSignature},
		{"wrong key", signed(t, providertest.Stranger, v), callbacks.ErrSignature},
		{"another app", signed(t, providertest.Provider, set(v, "app_id", "2021000000000000")), callbacks.ErrSignature},
		{"another seller", signed(t, providertest.Provider, set(v, "seller_id", "2088000000000000")), callbacks.ErrSignature},
		{"RSA (SHA1) sign type", signed(t, providertest.Provider, set(v, "sign_type", "RSA")), callbacks.ErrSignature},
		{"no sign", []byte(set(v).Encode()), callbacks.ErrSignature},
		{"sign not base64", []byte(set(v, "sign", "%%%").Encode()), callbacks.ErrSignature},
		{"parameter given twice", append(append([]byte{}, valid...), "&out_trade_no=O-2"...), callbacks.ErrMalformed},
		{"not a form", []byte("a=%zz"), callbacks.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Verify(inbound(tt.body), now)
			if tt.err == nil && err != nil || tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("Verify = %v, want %v", err, tt.err)
			}
		})
	}
	t.Run("any seller when seller_id is not configured", func(t *testing.T) {
		c := config()
		c.SellerID = ""
		p, err := alipay.New(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Verify(inbound(signed(t, providertest.Provider, set(v, "seller_id", "2088000000000000"))), now); err != nil {
			t.Errorf("Verify = %v", err)
		}
	})
}

// withEmpty returns a copy of v with k present and empty.
func withEmpty(v url.Values, k string) url.Values {
	v = set(v)
	v.Set(k, "")
	return v
}

func TestParse(t *testing.T) {
	p := newProvider(t)
	const tradeNo = "2025112822001446880500000001"
	v := paid("O-1", tradeNo, "20.00")
	cny := func(a int64) ledger.Money { return ledger.Money{Amount: a, Currency: "CNY"} }
	notify := "2025112800222175944011201443829263"
	tests := []struct {
		name string
		v    url.Values
		want callbacks.Notification
		err  error
	}{
		{"TRADE_SUCCESS", v, callbacks.Notification{TxnID: tradeNo + ":payment.succeeded", EventID: notify, EventType: "TRADE_SUCCESS",
			Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: tradeNo, Money: cny(2000)}, nil},
		{"TRADE_FINISHED is the same event", set(v, "trade_status", "TRADE_FINISHED", "notify_id", "N2"), callbacks.Notification{
			TxnID: tradeNo + ":payment.succeeded", EventID: "N2", EventType: "TRADE_FINISHED",
			Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: tradeNo, Money: cny(2000)}, nil},
		{"TRADE_FINISHED after refunds is still the payment", set(v, "trade_status", "TRADE_FINISHED", "refund_fee", "5.00", "notify_id", "N3"), callbacks.Notification{
			TxnID: tradeNo + ":payment.succeeded", EventID: "N3", EventType: "TRADE_FINISHED",
			Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: tradeNo, Money: cny(2000)}, nil},
		{"partial refund", refunded("O-1", tradeNo, "20.00", "TRADE_SUCCESS", "RF1", "5.00"), callbacks.Notification{
			TxnID: tradeNo + "/RF1:refund.succeeded", EventID: "2025112800222181000011201443829263RF1", EventType: "TRADE_SUCCESS",
			Kind: ledger.KindRefundSucceeded, OrderNo: "O-1", Reference: tradeNo, Money: cny(500), Cumulative: true}, nil},
		{"last refund closes the trade", refunded("O-1", tradeNo, "20.00", "TRADE_CLOSED", "RF3", "20.00"), callbacks.Notification{
			TxnID: tradeNo + "/RF3:refund.succeeded", EventID: "2025112800222181000011201443829263RF3", EventType: "TRADE_CLOSED",
			Kind: ledger.KindRefundSucceeded, OrderNo: "O-1", Reference: tradeNo, Money: cny(2000), Cumulative: true}, nil},
		{"zero refund_fee is no refund", set(v, "refund_fee", "0.00"), callbacks.Notification{TxnID: tradeNo + ":payment.succeeded",
			EventID: notify, EventType: "TRADE_SUCCESS", Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: tradeNo, Money: cny(2000)}, nil},
		{"closed unpaid", set(v, "trade_status", "TRADE_CLOSED"), callbacks.Notification{TxnID: tradeNo + ":payment.closed",
			EventID: notify, EventType: "TRADE_CLOSED", Kind: ledger.KindPaymentClosed, OrderNo: "O-1", Reference: tradeNo, Money: cny(2000)}, nil},
		{"waiting", set(v, "trade_status", "WAIT_BUYER_PAY"), callbacks.Notification{TxnID: tradeNo + ":payment.pending",
			EventID: notify, EventType: "WAIT_BUYER_PAY", Kind: ledger.KindPaymentPending, OrderNo: "O-1", Reference: tradeNo, Money: cny(2000)}, nil},
		{"unknown status is asked about later", set(v, "trade_status", "TRADE_PENDING_REVIEW"), callbacks.Notification{TxnID: tradeNo + ":payment.pending",
			EventID: notify, EventType: "TRADE_PENDING_REVIEW", Kind: ledger.KindPaymentPending, OrderNo: "O-1", Reference: tradeNo, Money: cny(2000)}, nil},
		{"cross-border currency", set(v, "trans_currency", "usd", "total_amount", "3.50"), callbacks.Notification{TxnID: tradeNo + ":payment.succeeded",
			EventID: notify, EventType: "TRADE_SUCCESS", Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: tradeNo,
			Money: ledger.Money{Amount: 350, Currency: "USD"}}, nil},
		{"yuan without decimals", set(v, "total_amount", "20"), callbacks.Notification{TxnID: tradeNo + ":payment.succeeded",
			EventID: notify, EventType: "TRADE_SUCCESS", Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: tradeNo, Money: cny(2000)}, nil},
		{"other notify type", set(v, "notify_type", "fund_auth_freeze"), callbacks.Notification{TxnID: notify + ":unsupported",
			EventID: notify, EventType: "fund_auth_freeze", Unsupported: "unsupported notify_type fund_auth_freeze"}, nil},
		{"three decimals", set(v, "total_amount", "20.001"), callbacks.Notification{}, callbacks.ErrMalformed},
		{"float notation", set(v, "total_amount", "2e1"), callbacks.Notification{}, callbacks.ErrMalformed},
		{"negative", set(v, "total_amount", "-20.00"), callbacks.Notification{}, callbacks.ErrMalformed},
		{"no amount", set(v, "total_amount", ""), callbacks.Notification{}, callbacks.ErrMalformed},
		{"unknown currency", set(v, "trans_currency", "XYZ"), callbacks.Notification{}, callbacks.ErrMalformed},
		{"refund without out_biz_no", set(refunded("O-1", tradeNo, "20.00", "TRADE_SUCCESS", "RF1", "5.00"), "out_biz_no", ""), callbacks.Notification{}, callbacks.ErrMalformed},
		{"bad refund_fee", refunded("O-1", tradeNo, "20.00", "TRADE_SUCCESS", "RF1", "5.005"), callbacks.Notification{}, callbacks.ErrMalformed},
		{"no notify_id", set(v, "notify_id", ""), callbacks.Notification{}, callbacks.ErrMalformed},
		{"no out_trade_no", set(v, "out_trade_no", ""), callbacks.Notification{}, callbacks.ErrMalformed},
		{"no trade_status", set(v, "trade_status", ""), callbacks.Notification{}, callbacks.ErrMalformed},
		{"paid without trade_no", set(v, "trade_no", ""), callbacks.Notification{}, callbacks.ErrMalformed},
		{"unknown charset", set(v, "charset", "latin-1"), callbacks.Notification{}, callbacks.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Parse(inbound(signed(t, providertest.Provider, tt.v)))
			providertest.CheckResult(t, got, err, []callbacks.Notification{tt.want}, tt.err)
		})
	}
}

// A gbk notification is verified over its gbk bytes and read as UTF-8.
func TestGBK(t *testing.T) {
	p := newProvider(t)
	enc := simplifiedchinese.GBK.NewEncoder()
	gbk := func(s string) string {
		out, err := enc.String(s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	const tradeNo = "2025112822001446880500000001"
	v := set(refunded("O-1", tradeNo, "20.00", "TRADE_SUCCESS", "x", "5.00"),
		"charset", "gbk", "subject", gbk("测试订单"), "out_biz_no", gbk("退款-1"))
	body := signed(t, providertest.Provider, v)
	if err := p.Verify(inbound(body), now); err != nil {
		t.Fatalf("Verify(gbk) = %v", err)
	}
	ns, err := p.Parse(inbound(body))
	if err != nil {
		t.Fatalf("Parse(gbk) = %v", err)
	}
	if want := tradeNo + "/退款-1:refund.succeeded"; len(ns) != 1 || ns[0].TxnID != want {
		t.Errorf("Parse(gbk) = %+v, want TxnID %q", ns, want)
	}
	// Deliveries are parsed concurrently (go test -race checks the decoder).
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if _, err := p.Parse(inbound(body)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// The same bytes declared utf-8 are not UTF-8: refused, not mangled.
	bad := signed(t, providertest.Provider, set(v, "charset", "utf-8"))
	if _, err := p.Parse(inbound(bad)); !errors.Is(err, callbacks.ErrMalformed) {
		t.Errorf("Parse(gbk bytes as utf-8) = %v, want ErrMalformed", err)
	}
	// A subject the gateway does not use cannot block the payment.
	ok := signed(t, providertest.Provider, set(paid("O-1", tradeNo, "20.00"), "subject", gbk("测试订单")))
	if _, err := p.Parse(inbound(ok)); err != nil {
		t.Errorf("Parse(stray gbk subject in utf-8) = %v", err)
	}
}

func TestAck(t *testing.T) {
	p := newProvider(t)
	tests := []struct {
		err    error
		status int
		body   string
	}{
		{nil, 200, "success"},
		{fmt.Errorf("%w: x", callbacks.ErrSignature), 401, "fail"},
		{callbacks.ErrMalformed, 400, "fail"},
		{callbacks.ErrTransient, 503, "fail"},
		{errors.New("deadlock"), 503, "fail"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.err), func(t *testing.T) {
			want := callbacks.Ack{Status: tt.status, ContentType: "text/plain; charset=utf-8", Body: []byte(tt.body)}
			if diff := cmp.Diff(want, p.Ack(tt.err)); diff != "" {
				t.Errorf("Ack (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alipayPublicKey_RSA2.txt")
	// Alipay's console gives keys as one base64 line, no PEM armour.
	bare := strings.Join(strings.Split(strings.TrimSpace(providertest.Rotated.PublicPEM), "\n")[1:], "")
	bare = strings.TrimSuffix(bare, "-----END PUBLIC KEY-----")
	if err := os.WriteFile(path, []byte(bare+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("bare base64, file and certificate keys", func(t *testing.T) {
		c := config()
		c.PublicKeys = []string{bare, path, providertest.ProviderCertPEM}
		p, err := alipay.New(c)
		if err != nil {
			t.Fatal(err)
		}
		v := paid("O-1", "T1", "1.00")
		for _, k := range []providertest.Key{providertest.Rotated, providertest.Provider} {
			if err := p.Verify(inbound(signed(t, k, v)), now); err != nil {
				t.Errorf("Verify = %v", err)
			}
		}
	})
	tests := []struct {
		name   string
		change func(*alipay.Config)
		want   string
	}{
		{"no app_id", func(c *alipay.Config) { c.AppID = "" }, "app_id"},
		{"no public key", func(c *alipay.Config) { c.PublicKeys = nil }, "alipay_public_keys"},
		{"bad public key", func(c *alipay.Config) { c.PublicKeys = []string{"MIIBIjANBgkq"} }, "alipay_public_keys[0]"},
		{"bad private key", func(c *alipay.Config) { c.AppPrivateKey = "secret-but-not-a-key" }, "app_private_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config()
			tt.change(&c)
			_, err := alipay.New(c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error about %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret-but-not-a-key") {
				t.Errorf("error repeats the configured secret: %v", err)
			}
		})
	}
}

// BenchmarkVerifyParse is the provider's share of a delivery: form
// decoding, RSA2 verification and parsing.
func BenchmarkVerifyParse(b *testing.B) {
	p := newProvider(b)
	in := inbound(signed(b, providertest.Provider, paid("O-1", "2025112822001446880500000001", "20.00")))
	for b.Loop() {
		if err := p.Verify(in, now); err != nil {
			b.Fatal(err)
		}
		if _, err := p.Parse(in); err != nil {
			b.Fatal(err)
		}
	}
}
