package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/config"
)

func TestConsoleSettings(t *testing.T) {
	key := strings.Repeat("k", 32)
	for _, tc := range []struct {
		name string
		env  map[string]string
		yaml string
		want config.Console
	}{
		{"defaults", nil, "", config.Console{SessionTTL: dur(8 * time.Hour)}},
		{"environment", map[string]string{"GATEWAY_CONSOLE_SESSION_KEY": key, "GATEWAY_CONSOLE_SESSION_TTL": "30m",
			"GATEWAY_CONSOLE_SECURE_COOKIE": "true"}, "",
			config.Console{SessionKey: config.Secret(key), SessionTTL: dur(30 * time.Minute), SecureCookie: true}},
		{"yaml", nil, "console: {session_key: " + key + ", session_ttl: 168h}",
			config.Console{SessionKey: config.Secret(key), SessionTTL: dur(168 * time.Hour)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c config.Config
			var err error
			if tc.yaml != "" {
				c, err = config.Parse([]byte(tc.yaml))
			} else {
				c, err = config.Load("", env(tc.env))
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, c.Console); diff != "" {
				t.Errorf("console (-want +got):\n%s", diff)
			}
		})
	}
	for _, tc := range []struct {
		name string
		yaml string
		want string
	}{
		{"short key", "console: {session_key: too-short}", "console.session_key: shorter than 32 characters"},
		{"zero ttl", "console: {session_ttl: 0s}", "console.session_ttl"},
		{"ttl too long", "console: {session_ttl: 169h}", "console.session_ttl"},
		{"unknown key", "console: {session_secret: x}", "console.session_secret: unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
	t.Run("masked", func(t *testing.T) {
		c, err := config.Parse([]byte("console: {session_key: " + key + "}"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(c.Masked(), key) {
			t.Errorf("the session key is printed:\n%s", c.Masked())
		}
	})
}
