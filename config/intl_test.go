package config_test

import (
	"strings"
	"testing"

	"gateway/config"
)

func TestAdyenPaidOn(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{"default", `providers: {adyen: {hmac_keys: ["00ff"]}}`, ""},
		{"capture", `providers: {adyen: {hmac_keys: ["00ff"], paid_on: capture}}`, ""},
		{"authorisation", `providers: {adyen: {hmac_keys: ["00ff"], paid_on: authorisation}}`, ""},
		{"unknown value", `providers: {adyen: {hmac_keys: ["00ff"], paid_on: settled}}`, "providers.adyen.paid_on"},
		{"not an adyen key", `providers: {paypal: {webhook_id: "W", certificates: ["x"], paid_on: capture}}`, "providers.paypal.paid_on: not a paypal setting"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.yaml))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Parse = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestAdyenPaidOnFromEnvironment(t *testing.T) {
	env := map[string]string{"GATEWAY_PROVIDERS_ADYEN_HMAC_KEYS": "00ff", "GATEWAY_PROVIDERS_ADYEN_PAID_ON": "capture"}
	c, err := config.Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Providers["adyen"].PaidOn; got != "capture" {
		t.Fatalf("paid_on = %q", got)
	}
}
