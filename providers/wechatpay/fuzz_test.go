package wechatpay_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"gateway/callbacks"
	"gateway/providers/providertest"
	"gateway/providers/wechatpay"
)

// verifySeeds are FuzzVerify's inputs (ts, nonce, signature, serial, body);
// the first is a valid notification, signed at fuzzNow.
func verifySeeds(t testing.TB) [][]any {
	valid := delivery{eventType: "TRANSACTION.SUCCESS", resource: payment("O-1", "4200000001", 2000), at: fuzzNow}.inbound(t)
	h := valid.Header
	return [][]any{
		{h.Get("Wechatpay-Timestamp"), h.Get("Wechatpay-Nonce"), h.Get("Wechatpay-Signature"), h.Get("Wechatpay-Serial"), valid.Body},
		{h.Get("Wechatpay-Timestamp"), h.Get("Wechatpay-Nonce"), "WECHATPAY/SIGNTEST/" + h.Get("Wechatpay-Signature"), h.Get("Wechatpay-Serial"), valid.Body},
		{"-1", "", "", pubKeyID, []byte("{}")},
		{"99999999999999999999", "n", "AAAA", pubKeyID, []byte(nil)},
	}
}

var fuzzNow = time.Unix(1764324000, 0)

// FuzzVerify: no input panics, and every refusal is a signature error (a
// 4xx), never something that would read as a transient failure.
func FuzzVerify(f *testing.F) {
	p := newProvider(f)
	for _, s := range verifySeeds(f) {
		f.Add(s[0].(string), s[1].(string), s[2].(string), s[3].(string), s[4].([]byte))
	}
	f.Fuzz(func(t *testing.T, ts, nonce, sig, serial string, body []byte) {
		h := http.Header{}
		h.Set("Wechatpay-Timestamp", ts)
		h.Set("Wechatpay-Nonce", nonce)
		h.Set("Wechatpay-Signature", sig)
		h.Set("Wechatpay-Serial", serial)
		for _, replay := range []bool{false, true} {
			err := p.Verify(callbacks.Inbound{Header: h, Body: body, Replay: replay}, fuzzNow)
			if err != nil && !errors.Is(err, callbacks.ErrSignature) {
				t.Fatalf("Verify = %v, want nil or ErrSignature", err)
			}
		}
	})
}

// parseSeeds are FuzzParse's inputs (a raw body; an event type and a
// plaintext resource that the fuzzer encrypts with our key).
func parseSeeds(t testing.TB) [][]any {
	return [][]any{
		{delivery{eventType: "TRANSACTION.SUCCESS", resource: payment("O-1", "4200000001", 2000)}.defaults().body(t),
			"TRANSACTION.SUCCESS", []byte(`{"mchid":"1230000109","appid":"wxd678efh567hg6787","out_trade_no":"O-1","transaction_id":"4200000001","trade_state":"SUCCESS","amount":{"total":2000,"currency":"CNY"}}`)},
		{[]byte(`{"id":"EV-1","event_type":"REFUND.SUCCESS","resource":{"algorithm":"AEAD_AES_256_GCM","nonce":"abc","ciphertext":"AAAA"}}`),
			"REFUND.SUCCESS", []byte(`{"mchid":"1230000109","out_trade_no":"O-1","transaction_id":"4200000001","refund_id":"5001","refund_status":"SUCCESS","amount":{"total":2000,"refund":500}}`)},
		{[]byte(`{"id":"EV-2","event_type":"REFUND.ABNORMAL"}`), "REFUND.CLOSED",
			[]byte(`{"mchid":"1230000109","refund_id":"5002","refund_status":"CLOSED","amount":{"refund":-1,"currency":"XXX"}}`)},
		{[]byte(`null`), "TRANSACTION.SUCCESS", []byte(`{"mchid":"1230000109","trade_state":"SUCCESS","amount":{"total":1e30}}`)},
	}
}

// FuzzParse: no body and no decrypted resource panics; a failure is always
// malformed or a signature error (4xx); whatever parses names a kind the
// ledger knows or is marked unsupported.
func FuzzParse(f *testing.F) {
	p := newProvider(f)
	aead, err := wechatpay.NewAEAD([]byte(apiv3Key))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range parseSeeds(f) {
		f.Add(s[0].([]byte), s[1].(string), s[2].([]byte))
	}
	check := func(t *testing.T, body []byte) {
		ns, err := p.Parse(callbacks.Inbound{Body: body})
		if err != nil {
			if !errors.Is(err, callbacks.ErrMalformed) && !errors.Is(err, callbacks.ErrSignature) {
				t.Fatalf("Parse = %v, want ErrMalformed or ErrSignature", err)
			}
			return
		}
		for _, n := range ns {
			if n.Unsupported == "" && !n.Kind.Valid() || n.TxnID == "" {
				t.Fatalf("Parse produced %+v", n)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, eventType string, plaintext []byte) {
		check(t, body)
		r := wechatpay.Seal(aead, "fuzznonce012", "transaction", plaintext)
		typ, _ := json.Marshal(eventType)
		env := []byte(`{"id":"EV-F","event_type":` + string(typ) + `,"resource":{"algorithm":"` + r.Algorithm +
			`","ciphertext":"` + r.Ciphertext + `","associated_data":"transaction","nonce":"fuzznonce012"}}`)
		check(t, env)
	})
}

// The seed corpus in testdata/fuzz is what verifySeeds and parseSeeds
// make (go test -run TestFuzzCorpus -update rewrites it).
func TestFuzzCorpus(t *testing.T) {
	providertest.CheckCorpus(t, "FuzzVerify", verifySeeds(t))
	providertest.CheckCorpus(t, "FuzzParse", parseSeeds(t))
}
