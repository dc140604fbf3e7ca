package providers_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gateway/config"
	"gateway/providers"
	"gateway/providers/providertest"
)

// The sections of docs/providers-cn.md load, validate and build.
func TestBuildWeChatPayAndAlipay(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	yaml := `
providers:
  wechatpay:
    mch_id: "1230000109"
    app_id: "wxd678efh567hg6787"
    apiv3_key: "Vb3JnZ8kQ2mW7pX4tY6uZ9aC1dF5hK0s"
    platform_public_keys:
      PUB_KEY_ID_0112300001092025112800000001: ` + file("pub_key.pem", providertest.Rotated.PublicPEM) + `
      ` + providertest.ProviderCertSerial + `: ` + file("wechatpay_cert.pem", providertest.ProviderCertPEM) + `
    tolerance: 5m
    merchant_private_key: ` + file("apiclient_key.pem", providertest.Merchant.PrivatePEM) + `
    merchant_serial: "5157F09EFDC096DE15EBE81A47057A7232F9B5A0"
  alipay:
    app_id: "2021000122671234"
    seller_id: "2088102146225135"
    alipay_public_keys: [` + file("alipayPublicKey_RSA2.txt", providertest.Provider.PublicPEM) + `]
    app_private_key: ` + file("appPrivateKey_RSA2.txt", providertest.Merchant.PrivatePEM) + `
`
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	ps, err := providers.Build(cfg.Providers, nil)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name())
	}
	if diff := cmp.Diff([]string{"alipay", "wechatpay"}, names); diff != "" {
		t.Errorf("providers (-want +got):\n%s", diff)
	}

	cfg.Providers["wechatpay"].APIv3Key = "too short"
	if _, err := providers.Build(cfg.Providers, nil); err == nil || !strings.Contains(err.Error(), "providers.wechatpay") {
		t.Errorf("Build(short apiv3_key) = %v, want an error naming providers.wechatpay", err)
	}
}
