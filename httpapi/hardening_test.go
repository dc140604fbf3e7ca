package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/config"
	"gateway/httpapi"
	"gateway/ledger"
	"gateway/providers"
	"gateway/providers/stripe"
	"gateway/store"
	"gateway/store/storetest"
)

const (
	stripeSecret   = "whsec_hardening_secret"
	hardAPIToken   = "shop:api-token-0123456789abcdef"
	hardAdminToken = "ops:admin-token-0123456789abcdef"
)

// newServer wires the HTTP edge the way `gateway serve` does, from a YAML
// configuration, over db.
func newServer(t *testing.T, db *store.DB, yamlConfig string) http.Handler {
	t.Helper()
	cfg, err := config.Parse([]byte(yamlConfig))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := providers.Build(cfg.Providers, nil)
	if err != nil {
		t.Fatal(err)
	}
	allow, trusted, err := cfg.IPRules()
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := callbacks.NewService(db, ps, callbacks.Config{}, log)
	t.Cleanup(func() { svc.Close(t.Context()) })
	return httpapi.New(httpapi.Deps{Callbacks: svc, Orders: ledger.NewService(db), DB: db, Auth: cfg.Auth,
		MaxBodyBytes: cfg.HTTP.MaxBodyBytes, Log: log, AllowIPs: allow, TrustedProxies: trusted}).Handler()
}

// TestCallbackAllowIPs: a provider with allow_ips takes callbacks only from
// those addresses; X-Forwarded-For counts only when the connection comes
// from a trusted proxy, read from the right; a refusal is 403 and writes
// nothing.
func TestCallbackAllowIPs(t *testing.T) {
	const base = `
providers:
  stripe:
    webhook_secrets: ["` + stripeSecret + `"]
    allow_ips: ["203.0.113.0/24", "2001:db8::/32"]
  open:
    type: stripe
    webhook_secrets: ["` + stripeSecret + `"]
`
	const noProxy = base
	const withProxy = base + `
http:
  trusted_proxies: ["10.0.0.0/8", "fd00::/8"]
`
	tests := []struct {
		name     string
		config   string
		provider string
		remote   string
		xff      []string
		want     int
	}{
		{"allowed peer", noProxy, "stripe", "203.0.113.7:4242", nil, http.StatusOK},
		{"allowed IPv6 peer", noProxy, "stripe", "[2001:db8::5]:4242", nil, http.StatusOK},
		{"allowed peer as IPv4-mapped IPv6", noProxy, "stripe", "[::ffff:203.0.113.7]:4242", nil, http.StatusOK},
		{"peer not allowed", noProxy, "stripe", "198.51.100.1:4242", nil, http.StatusForbidden},
		{"forwarded-for ignored without trusted proxies", noProxy, "stripe", "198.51.100.1:4242", []string{"203.0.113.7"}, http.StatusForbidden},
		{"provider without allow-list takes any address", noProxy, "open", "198.51.100.1:4242", nil, http.StatusOK},
		{"trusted proxy forwards an allowed client", withProxy, "stripe", "10.1.1.1:4242", []string{"203.0.113.7"}, http.StatusOK},
		{"two trusted proxies forward an allowed client", withProxy, "stripe", "10.1.1.1:4242", []string{"203.0.113.7, 10.2.2.2"}, http.StatusOK},
		{"IPv6 trusted proxy", withProxy, "stripe", "[fd00::1]:4242", []string{"203.0.113.9"}, http.StatusOK},
		{"forged left-most entry", withProxy, "stripe", "10.1.1.1:4242", []string{"203.0.113.7, 198.51.100.1"}, http.StatusForbidden},
		{"forged entry in a second header", withProxy, "stripe", "10.1.1.1:4242", []string{"203.0.113.7", "198.51.100.1"}, http.StatusForbidden},
		{"garbage forwarded-for", withProxy, "stripe", "10.1.1.1:4242", []string{"203.0.113.7, not-an-ip"}, http.StatusForbidden},
		{"zoned forwarded-for", withProxy, "stripe", "10.1.1.1:4242", []string{"fe80::1%eth0"}, http.StatusForbidden},
		{"trusted proxy without forwarded-for", withProxy, "stripe", "10.1.1.1:4242", nil, http.StatusForbidden},
		{"untrusted peer with forwarded-for", withProxy, "stripe", "198.51.100.1:4242", []string{"203.0.113.7"}, http.StatusForbidden},
		{"unparsable peer", withProxy, "stripe", "@unix", nil, http.StatusForbidden},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := newServer(t, db, tt.config)
				body := []byte(fmt.Sprintf(`{"id":"evt_ip_%d","type":"payment_intent.succeeded","data":{"object":`+
					`{"id":"pi_ip_%d","amount":100,"amount_received":100,"currency":"usd","metadata":{"order_no":"IP-%d"}}}}`, i, i, i))
				req := httptest.NewRequest(http.MethodPost, "/callbacks/"+tt.provider, bytes.NewReader(body))
				req.RemoteAddr = tt.remote
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Stripe-Signature", stripe.Sign(stripeSecret, time.Now(), body))
				for _, v := range tt.xff {
					req.Header.Add("X-Forwarded-For", v)
				}
				before := storetest.Counts(t, db)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != tt.want {
					t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
				}
				after := storetest.Counts(t, db)
				if tt.want == http.StatusForbidden {
					if !strings.Contains(rec.Body.String(), `"code":"address_not_allowed"`) {
						t.Fatalf("body %s, want the address_not_allowed code", rec.Body)
					}
					if diff := cmp.Diff(before, after); diff != "" {
						t.Fatalf("a refused callback wrote rows (-before +after):\n%s", diff)
					}
					return
				}
				// Accepted: the receipt is recorded (unknown: the order does not exist).
				before["callback_receipts"]++
				if diff := cmp.Diff(before, after); diff != "" {
					t.Fatalf("rows (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// publicRoutes are the only routes served without a bearer token. A new
// public route must be added here on purpose.
var publicRoutes = map[string]bool{
	"GET /healthz":              true,
	"GET /readyz":               true,
	"GET /metrics":              true,
	"POST /callbacks/:provider": true,
}

// TestEveryRouteNeedsAuth walks every registered route: all but the public
// ones answer 401 without a token, with a wrong one, or with another
// scheme; admin routes answer 403 to a merchant token.
func TestEveryRouteNeedsAuth(t *testing.T) {
	db := storetest.New(t, "sqlite")
	h := newServer(t, db, `
auth:
  api_tokens: ["`+hardAPIToken+`"]
  admin_tokens: ["`+hardAdminToken+`"]
`)
	engine, ok := h.(*gin.Engine)
	if !ok {
		t.Fatalf("Handler() is a %T, not a *gin.Engine: adapt this test to list its routes", h)
	}
	param := regexp.MustCompile(`[:*][A-Za-z_]+`)
	api := strings.SplitN(hardAPIToken, ":", 2)[1]
	checked := 0
	for _, r := range engine.Routes() {
		key := r.Method + " " + r.Path
		if publicRoutes[key] {
			continue
		}
		checked++
		path := param.ReplaceAllString(r.Path, "x")
		t.Run(key, func(t *testing.T) {
			for _, authz := range []string{"", "Bearer ", "Bearer wrong-token-0123456789abcdef", "Basic " + api, "bearer " + api, api} {
				code := serve(h, r.Method, path, authz)
				if code != http.StatusUnauthorized {
					t.Errorf("Authorization %q: %d, want 401", authz, code)
				}
			}
			if strings.HasPrefix(r.Path, "/admin") {
				if code := serve(h, r.Method, path, "Bearer "+api); code != http.StatusForbidden {
					t.Errorf("merchant token on an admin route: %d, want 403", code)
				}
			}
		})
	}
	if checked == 0 {
		t.Fatal("no authenticated route found")
	}
}

func serve(h http.Handler, method, path, authz string) int {
	req := httptest.NewRequest(method, path, strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}
