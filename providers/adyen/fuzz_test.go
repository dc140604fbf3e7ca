package adyen_test

import (
	"errors"
	"testing"

	"gateway/callbacks"
	"gateway/providers/adyen"
	"gateway/providers/providertest"
)

// fuzzProvider acts on every merchant account and pays on authorisation.
func fuzzProvider(f *testing.F) *adyen.Provider {
	f.Helper()
	p, err := adyen.New(adyen.Config{HMACKeys: []string{key, oldKey}})
	if err != nil {
		f.Fatal(err)
	}
	return p
}

// FuzzVerify: no input panics, and every refusal is ErrSignature or
// ErrMalformed (the pipeline's 401 and 400), never anything else.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(katBody))
	p := fuzzProvider(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		err := p.Verify(callbacks.Inbound{Body: b}, now)
		if err != nil && !errors.Is(err, callbacks.ErrSignature) && !errors.Is(err, callbacks.ErrMalformed) {
			t.Fatalf("Verify = %v: neither ErrSignature nor ErrMalformed", err)
		}
	})
}

// FuzzParse: no input panics; what parses has a dedup key for every item,
// and a notification the pipeline would act on passes Validate.
func FuzzParse(f *testing.F) {
	f.Add([]byte(katBody))
	f.Fuzz(providertest.FuzzParse(fuzzProvider(f), 0))
}

// BenchmarkVerify measures the check of a one-item delivery under two keys.
func BenchmarkVerify(b *testing.B) {
	p, err := adyen.New(adyen.Config{HMACKeys: []string{key, oldKey}})
	if err != nil {
		b.Fatal(err)
	}
	in := callbacks.Inbound{Body: []byte(katBody)}
	for b.Loop() {
		if err := p.Verify(in, now); err != nil {
			b.Fatal(err)
		}
	}
}
