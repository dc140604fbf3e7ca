package alipay_test

import (
	"errors"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"gateway/callbacks"
	"gateway/providers/providertest"
)

// seeds are form bodies: valid notifications signed as Alipay signs them,
// and a few broken ones.
func seeds(t testing.TB) [][]any {
	const tradeNo = "2025112822001446880500000001"
	gbk, err := simplifiedchinese.GBK.NewEncoder().String("测试订单")
	if err != nil {
		t.Fatal(err)
	}
	return [][]any{
		{signed(t, providertest.Provider, paid("O-1", tradeNo, "20.00"))},
		{signed(t, providertest.Provider, refunded("O-1", tradeNo, "20.00", "TRADE_SUCCESS", "RF1", "5.00"))},
		{signed(t, providertest.Provider, set(paid("O-1", tradeNo, "20.00"), "charset", "gbk", "subject", gbk))},
		{signed(t, providertest.Stranger, set(paid("O-1", tradeNo, "20.00"), "trade_status", "TRADE_CLOSED", "total_amount", "1e3"))},
		{[]byte("sign=%%&sign=x&charset=gb18030&notify_id=&refund_fee=0.001")},
	}
}

// FuzzVerify: no body panics; a refusal is a signature or format error
// (4xx), never one that would read as transient.
func FuzzVerify(f *testing.F) {
	p := newProvider(f)
	for _, s := range seeds(f) {
		f.Add(s[0].([]byte))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := p.Verify(inbound(body), now)
		if err != nil && !errors.Is(err, callbacks.ErrSignature) && !errors.Is(err, callbacks.ErrMalformed) {
			t.Fatalf("Verify = %v", err)
		}
	})
}

// FuzzParse: no body panics; failures are 4xx errors; what parses is a
// known kind or marked unsupported, with amounts that are never negative.
func FuzzParse(f *testing.F) {
	p := newProvider(f)
	for _, s := range seeds(f) {
		f.Add(s[0].([]byte))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ns, err := p.Parse(inbound(body))
		if err != nil {
			if !errors.Is(err, callbacks.ErrMalformed) && !errors.Is(err, callbacks.ErrSignature) {
				t.Fatalf("Parse = %v", err)
			}
			return
		}
		for _, n := range ns {
			if n.TxnID == "" || n.Unsupported == "" && (!n.Kind.Valid() || n.Money.Amount < 0) {
				t.Fatalf("Parse produced %+v", n)
			}
		}
	})
}

// The seed corpus in testdata/fuzz is what seeds makes
// (go test -run TestFuzzCorpus -update rewrites it).
func TestFuzzCorpus(t *testing.T) {
	providertest.CheckCorpus(t, "FuzzVerify", seeds(t))
	providertest.CheckCorpus(t, "FuzzParse", seeds(t))
}
