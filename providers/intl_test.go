package providers_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/config"
	"gateway/providers"
)

func certificatePEM(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestBuildAdyenAndPayPal(t *testing.T) {
	certFile := filepath.Join(t.TempDir(), "paypal.pem")
	if err := os.WriteFile(certFile, []byte(certificatePEM(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	sections := map[string]*config.Provider{
		"adyen":    {Type: config.Adyen, HMACKeys: []config.Secret{"44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"}, PaidOn: "capture"},
		"adyen-eu": {Type: config.Adyen, HMACKeys: []config.Secret{"00ff"}, MerchantAccount: "ShopEU"},
		"paypal":   {Type: config.PayPal, WebhookID: "1JE4291016473214C", Certificates: []string{certFile}, ClientID: "id", ClientSecret: "secret"},
	}
	ps, err := providers.Build(sections, nil)
	if err != nil {
		t.Fatalf("Build = %v", err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name())
	}
	if diff := cmp.Diff([]string{"adyen", "adyen-eu", "paypal"}, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
}

func TestBuildRefusesBadSections(t *testing.T) {
	tests := []struct {
		name    string
		section *config.Provider
		want    string
	}{
		{"adyen key not hex", &config.Provider{Type: config.Adyen, HMACKeys: []config.Secret{"zz"}}, "providers.x: adyen: hmac key 1 is not hex"},
		{"adyen paid_on", &config.Provider{Type: config.Adyen, HMACKeys: []config.Secret{"00"}, PaidOn: "later"}, "paid_on"},
		{"paypal certificate missing", &config.Provider{Type: config.PayPal, WebhookID: "W", Certificates: []string{"/nonexistent/paypal.pem"}}, "providers.x: paypal: certificate 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := providers.Build(map[string]*config.Provider{"x": tc.section}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build = %v, want %q", err, tc.want)
			}
		})
	}
}
