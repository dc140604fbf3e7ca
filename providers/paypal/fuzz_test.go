package paypal_test

import (
	"errors"
	"net/http"
	"testing"

	"gateway/callbacks"
	"gateway/providers/paypal"
	"gateway/providers/providertest"
)

// FuzzVerify: no body or header values panic, a refusal is always
// ErrSignature, and bytes changed after signing never pass.
func FuzzVerify(f *testing.F) {
	current, _, _, _ := pki(f)
	p := newProvider(f, paypal.Config{})
	body := completed()
	good := current.sent(f, "8b8b4b60-1a2f-11f0-9b3e-0d1ad2c4b5e1", now, body)
	f.Add(body, good.Get("Paypal-Transmission-Id"), good.Get("Paypal-Transmission-Time"), good.Get("Paypal-Transmission-Sig"))
	f.Add([]byte(`{}`), "", "", "")
	f.Fuzz(func(t *testing.T, b []byte, id, ts, sig string) {
		h := http.Header{}
		h.Set("Paypal-Transmission-Id", id)
		h.Set("Paypal-Transmission-Time", ts)
		h.Set("Paypal-Transmission-Sig", sig)
		h.Set("Paypal-Auth-Algo", "SHA256withRSA")
		for _, replay := range []bool{false, true} {
			err := p.Verify(callbacks.Inbound{Header: h, Body: b, Replay: replay}, now)
			if err != nil && !errors.Is(err, callbacks.ErrSignature) {
				t.Fatalf("Verify = %v, not ErrSignature", err)
			}
			signedAsSeeded := id == good.Get("Paypal-Transmission-Id") && ts == good.Get("Paypal-Transmission-Time") &&
				sig == good.Get("Paypal-Transmission-Sig") && string(b) == string(body)
			if err == nil && !signedAsSeeded {
				t.Fatalf("Verify accepted bytes nobody signed: id %q ts %q body %q", id, ts, b)
			}
		}
	})
}

// FuzzParse: no body panics; a refusal is ErrMalformed; what parses has a
// dedup key, and a notification the pipeline would act on passes Validate.
func FuzzParse(f *testing.F) {
	f.Add(completed())
	f.Fuzz(providertest.FuzzParse(newProvider(f, paypal.Config{}), 1))
}

// BenchmarkVerify measures the check of one transmission against the
// second of two pinned certificates (the worse case).
func BenchmarkVerify(b *testing.B) {
	_, next, _, _ := pki(b)
	p := newProvider(b, paypal.Config{})
	body := completed()
	in := callbacks.Inbound{Header: next.sent(b, "t-1", now, body), Body: body}
	for b.Loop() {
		if err := p.Verify(in, now); err != nil {
			b.Fatal(err)
		}
	}
}
