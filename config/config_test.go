package config_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"gateway/config"
)

// env is a getenv over a fixed map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes a YAML file into a temporary folder and returns its path.
func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func boolPtr(b bool) *bool { return &b }

func dur(d time.Duration) config.Duration { return config.Duration(d) }

// defaults is what DESIGN §5 promises with no file and no environment,
// written out rather than taken from config.Default so that a changed
// default fails here.
func defaults() config.Config {
	return config.Config{
		HTTP: config.HTTP{Addr: ":8080", MaxBodyBytes: 1 << 20, ReadTimeout: dur(15 * time.Second),
			WriteTimeout: dur(30 * time.Second), IdleTimeout: dur(2 * time.Minute), ShutdownTimeout: dur(25 * time.Second)},
		Database:  config.Database{Driver: "sqlite", DSN: "file:data/gateway.db"},
		Reconcile: reconcileDefaults("@every 1m"),
		Reports:   config.Reports{DailySchedule: "10 0 * * *"},
		Console:   config.Console{SessionTTL: dur(8 * time.Hour)},
		Lock:      config.Lock{TTL: dur(10 * time.Second)},
		Log:       config.Log{Level: "info", FlushInterval: config.Duration(100 * time.Millisecond)},
	}
}

// reconcileDefaults is the reconcile section's defaults with a schedule.
func reconcileDefaults(schedule string) config.Reconcile {
	return config.Reconcile{Schedule: schedule,
		Backoff: []config.Duration{dur(time.Minute), dur(5 * time.Minute), dur(15 * time.Minute), dur(time.Hour),
			dur(6 * time.Hour), dur(24 * time.Hour)},
		Lease: dur(5 * time.Minute), QueryTimeout: dur(30 * time.Second), Batch: 500, Workers: 4,
		SweepAfter: dur(15 * time.Minute), SweepBatch: 100}
}

func TestLoadDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		path func(t *testing.T) string
	}{
		{"no file", func(*testing.T) string { return "" }},
		{"empty file", func(t *testing.T) string { return writeFile(t, "") }},
		{"only comments", func(t *testing.T) string { return writeFile(t, "# nothing configured yet\n") }},
		{"empty document", func(t *testing.T) string { return writeFile(t, "---\n") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := config.Load(tc.path(t), env(nil))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(defaults(), got); diff != "" {
				t.Errorf("defaults (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadFull(t *testing.T) {
	got, err := config.Load("testdata/full.yaml", env(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := config.Config{
		HTTP: config.HTTP{Addr: ":9090", MaxBodyBytes: 2 << 20, ReadTimeout: dur(10 * time.Second),
			WriteTimeout: dur(20 * time.Second), IdleTimeout: dur(time.Minute), ShutdownTimeout: dur(5 * time.Second)},
		Database: config.Database{Driver: "mysql", DSN: "gw:pw-db-0001@tcp(db.internal:3306)/gateway?parseTime=true",
			MaxOpenConns: 40, Migrate: boolPtr(false)},
		Auth: config.Auth{APITokens: []config.Secret{"shop:api-token-0123456789abcdef"},
			AdminTokens: []config.Secret{"ops:admin-token-0123456789abcdef"}},
		Providers: map[string]*config.Provider{
			"stripe": {Type: "stripe", WebhookSecrets: []config.Secret{"whsec_old_0001", "whsec_new_0002"},
				Tolerance: dur(5 * time.Minute), APIKey: "sk_test_0003", APIBase: "https://api.stripe.com"},
			"wechatpay": {Type: "wechatpay", MchID: "1900000109", APIv3Key: "apiv3-key-0004-0123456789abcdef",
				PlatformPublicKeys: map[string]string{"PUB_KEY_ID_0115": "/etc/gateway/wechat_pub.pem"},
				MerchantPrivateKey: "/etc/gateway/apiclient_key.pem", MerchantSerial: "5157F09EFDC096DE15EBE81A47057A72",
				APIBase: "https://api.mch.weixin.qq.com"},
			"alipay": {Type: "alipay", AppID: "2021000000000001", AlipayPublicKeys: []string{"/etc/gateway/alipay_pub.pem"},
				AppPrivateKey: "alipay-private-0005", APIBase: "https://openapi.alipay.com/gateway.do"},
			"adyen": {Type: "adyen", HMACKeys: []config.Secret{"44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"},
				MerchantAccount: "TestMerchant", APIKey: "adyen-api-0006", APIBase: "https://checkout-test.adyen.com"},
			"paypal": {Type: "paypal", WebhookID: "WH-0007", Certificates: []string{"/etc/gateway/paypal.pem"},
				ClientID: "client-0008", ClientSecret: "paypal-secret-0009", APIBase: "https://api-m.sandbox.paypal.com"},
			"acme": {Type: "standardwebhooks", Secrets: []config.Secret{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
				Fields: map[string]string{"txn_id": "data.id", "event_type": "type", "order_no": "data.order_no",
					"amount": "data.amount", "currency": "data.currency"},
				Events: map[string]string{"invoice.paid": "payment.succeeded"}},
		},
		Reconcile: reconcileDefaults("*/5 * * * *"),
		Reports:   config.Reports{DailySchedule: "10 0 * * *"},
		Console:   config.Console{SessionTTL: dur(8 * time.Hour)},
		Lock:      config.Lock{RedisAddr: "127.0.0.1:6379", TTL: dur(15 * time.Second)},
		Log:       config.Log{Level: "debug", FlushInterval: config.Duration(250 * time.Millisecond)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("full config (-want +got):\n%s", diff)
	}
}

func TestLoadDevConfig(t *testing.T) {
	c, err := config.Load("dev.yaml", env(nil))
	if err != nil {
		t.Fatalf("the shipped dev.yaml does not load: %v", err)
	}
	if got := c.Providers["acme"].Type; got != config.StandardWebhooks {
		t.Errorf("acme type = %q, want %q", got, config.StandardWebhooks)
	}
}

// validAcme is a minimal valid provider section, to add keys to.
const validAcme = `
  acme:
    type: standardwebhooks
    secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]
    fields: { txn_id: data.id, event_type: type, order_no: data.order_no, amount: data.amount, currency: data.currency }`

func TestValidationErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		env  map[string]string
		// want is the whole error message: every bad key, named, and why.
		want string
	}{
		{
			name: "unknown top-level key",
			yaml: "htpp: { addr: ':9000' }\n",
			want: `config: htpp: unknown key`,
		},
		{
			name: "unknown nested key",
			yaml: "database: { driver: sqlite, dns: 'file:x.db' }\n",
			want: `config: database.dns: unknown key`,
		},
		{
			name: "unknown key in a provider section",
			yaml: "providers:\n  stripe: { webhook_secrets: [whsec_a], tolerence: 5m }\n",
			want: `config: providers.stripe.tolerence: unknown key`,
		},
		{
			name: "key of another provider type",
			yaml: "providers:\n  stripe: { webhook_secrets: [whsec_a], apiv3_key: k, hmac_keys: [aa] }\n",
			want: "config: providers.stripe.apiv3_key: not a stripe setting\n" +
				"providers.stripe.hmac_keys: not a stripe setting",
		},
		{
			name: "enabled provider without its secret",
			yaml: "providers:\n  stripe: { api_key: sk_test_1 }\n",
			want: `config: providers.stripe.webhook_secrets: required for stripe`,
		},
		{
			name: "wechatpay without keys",
			yaml: "providers:\n  wechatpay: { mch_id: '1900000109' }\n",
			want: "config: providers.wechatpay.apiv3_key: required for wechatpay\n" +
				"providers.wechatpay.platform_public_keys: required for wechatpay",
		},
		{
			name: "empty secret in the list",
			yaml: "providers:\n  stripe: { webhook_secrets: ['whsec_a', ''] }\n",
			want: `config: providers.stripe.webhook_secrets[1]: is empty`,
		},
		{
			name: "empty provider section",
			yaml: "providers:\n  stripe:\n",
			want: `config: providers.stripe: empty section`,
		},
		{
			name: "section name that is not a type and has no type",
			yaml: "providers:\n  acme: { secrets: [whsec_a] }\n",
			want: `config: providers.acme.type: "acme" is not a provider type (stripe, wechatpay, alipay, adyen, paypal, standardwebhooks)`,
		},
		{
			name: "bad mysql dsn",
			yaml: "database: { driver: mysql, dsn: 'gw:hunter2@tcp(db:3306)' }\n",
			want: `config: database.dsn: not a MySQL DSN (user:pass@tcp(host:3306)/db): invalid DSN: missing the slash separating the database name`,
		},
		{
			name: "mysql dsn given to the sqlite driver",
			yaml: "database: { dsn: 'gw:hunter2@tcp(db:3306)/gateway' }\n",
			want: `config: database.driver: is sqlite but database.dsn is a MySQL DSN; set database.driver: mysql`,
		},
		{
			name: "bad driver",
			yaml: "database: { driver: postgres }\n",
			want: `config: database.driver: "postgres" is not sqlite or mysql`,
		},
		{
			name: "bad duration in yaml",
			yaml: "http: { read_timeout: 5x }\n",
			want: `config: http.read_timeout: bad duration "5x" (want e.g. 30s, 5m)`,
		},
		{
			name: "duration without a unit in a provider section",
			yaml: "providers:\n  stripe: { webhook_secrets: [whsec_a], tolerance: 300 }\n",
			want: `config: providers.stripe.tolerance: bad duration "300" (want e.g. 30s, 5m)`,
		},
		{
			name: "bad duration from env",
			env:  map[string]string{"GATEWAY_HTTP_READ_TIMEOUT": "soon"},
			want: `config: http.read_timeout (from GATEWAY_HTTP_READ_TIMEOUT): bad duration "soon" (want e.g. 30s, 5m)`,
		},
		{
			name: "zero duration",
			yaml: "lock: { ttl: 0s }\n",
			want: `config: lock.ttl: must be a positive duration`,
		},
		{
			name: "several durations, in a fixed order",
			yaml: "http: { read_timeout: 0s, shutdown_timeout: -1s }\nlock: { ttl: 0s }\n",
			want: "config: http.read_timeout: must be a positive duration\n" +
				"http.shutdown_timeout: must be a positive duration\n" +
				"lock.ttl: must be a positive duration",
		},
		{
			name: "negative tolerance",
			yaml: "providers:\n  stripe: { webhook_secrets: [whsec_a], tolerance: -1m }\n",
			want: `config: providers.stripe.tolerance: must not be negative`,
		},
		{
			name: "not an integer",
			yaml: "http: { max_body_bytes: lots }\n",
			want: "config: http.max_body_bytes: cannot unmarshal !!str `lots` into int64",
		},
		{
			name: "body limit out of range",
			yaml: "http: { max_body_bytes: 0 }\n",
			want: `config: http.max_body_bytes: must be between 1 and 67108864`,
		},
		{
			name: "group commit out of range",
			yaml: "database: { committers: -1, readers: 5000 }\n",
			want: "config: database.committers: must be between 0 (the default) and 1024\n" +
				"database.readers: must be between 0 (the default) and 1024",
		},
		{
			name: "log flush interval out of range",
			yaml: "log: { flush_interval: 1m }\n",
			want: "config: log.flush_interval: must be between 0s (write through) and 10s",
		},
		{
			name: "bad addr",
			yaml: "http: { addr: 'localhost' }\n",
			want: `config: http.addr: "localhost" is not host:port`,
		},
		{
			name: "bad cron schedule",
			yaml: "reconcile: { schedule: 'every minute' }\n",
			want: `config: reconcile.schedule: "every minute" is not a cron schedule: expected exactly 5 fields, found 2: [every minute]`,
		},
		{
			name: "cron time zone without a schedule",
			yaml: "reconcile: { schedule: 'TZ=UTC' }\n",
			want: `config: reconcile.schedule: "TZ=UTC" is not a cron schedule: a time zone must be followed by a space and a schedule`,
		},
		{
			name: "short api token",
			yaml: "auth: { api_tokens: ['0123456789abcdef', 'shop:short'] }\n",
			want: `config: auth.api_tokens[1]: shorter than 16 characters`,
		},
		{
			name: "short admin token",
			yaml: "auth: { admin_tokens: ['ops:'] }\n",
			want: `config: auth.admin_tokens[0]: shorter than 16 characters`,
		},
		{
			name: "bad log level",
			yaml: "log: { level: verbose }\n",
			want: `config: log.level: "verbose" is not debug, info, warn or error`,
		},
		{
			name: "bad provider name",
			yaml: "providers:\n  Acme!:\n    type: stripe\n    webhook_secrets: [whsec_a]\n",
			want: `config: providers.Acme!: name must be lowercase letters, digits, '-' or '_' (it is the callback URL path)`,
		},
		{
			name: "bad allow_ips",
			yaml: "providers:\n  stripe: { webhook_secrets: [whsec_a], allow_ips: ['10.0.0.1', '10.0.0.300'] }\n",
			want: `config: providers.stripe.allow_ips: "10.0.0.300" is not a CIDR or an IP address`,
		},
		{
			name: "standardwebhooks without fields",
			yaml: "providers:\n  acme: { type: standardwebhooks, secrets: [whsec_a] }\n",
			want: `config: providers.acme.fields: required for standardwebhooks`,
		},
		{
			name: "standardwebhooks with missing fields",
			yaml: "providers:\n  acme: { type: standardwebhooks, secrets: [whsec_a], fields: { txn_id: data.id, amount: data.amount } }\n",
			want: "config: providers.acme.fields.event_type: required (a JSON path into the payload)\n" +
				"providers.acme.fields.order_no: required (a JSON path into the payload)\n" +
				"providers.acme.fields.currency: required (a JSON path into the payload)",
		},
		{
			name: "standardwebhooks with a misspelt field",
			yaml: "providers:" + validAcme + "\n    events: { paid: payment.succeeded }\n" +
				"  acme2:\n    type: standardwebhooks\n    secrets: [whsec_a]\n" +
				"    fields: { txn_id: a, event_type: b, order_no: c, amount: d, currency: e, event_ld: f }\n",
			want: `config: providers.acme2.fields.event_ld: unknown field (want txn_id, event_type, order_no, amount, currency, event_id)`,
		},
		{
			name: "several errors at once",
			yaml: "http: { addr: nowhere }\nlog: { level: loud }\nproviders:\n  stripe: { api_key: k }\n",
			want: "config: http.addr: \"nowhere\" is not host:port\n" +
				"log.level: \"loud\" is not debug, info, warn or error\n" +
				"providers.stripe.webhook_secrets: required for stripe",
		},
		{
			name: "bad list from env",
			env:  map[string]string{"GATEWAY_AUTH_API_TOKENS": `["unterminated`},
			want: `config: auth.api_tokens (from GATEWAY_AUTH_API_TOKENS): not a JSON array of strings: unexpected end of JSON input`,
		},
		{
			name: "bad map from env",
			env:  map[string]string{"GATEWAY_PROVIDERS_WECHATPAY_PLATFORM_PUBLIC_KEYS": "serial-without-value"},
			want: `config: providers.wechatpay.platform_public_keys (from GATEWAY_PROVIDERS_WECHATPAY_PLATFORM_PUBLIC_KEYS): "serial-without-value" is not k=v`,
		},
		{
			name: "bad integer from env",
			env:  map[string]string{"GATEWAY_DATABASE_MAX_OPEN_CONNS": "many"},
			want: `config: database.max_open_conns (from GATEWAY_DATABASE_MAX_OPEN_CONNS): "many" is not an integer`,
		},
		{
			name: "bad bool from env",
			env:  map[string]string{"GATEWAY_DATABASE_MIGRATE": "perhaps"},
			want: `config: database.migrate (from GATEWAY_DATABASE_MIGRATE): "perhaps" is not true or false`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.yaml != "" {
				path = writeFile(t, tc.yaml)
			}
			_, err := config.Load(path, env(tc.env))
			if err == nil {
				t.Fatalf("Load succeeded, want error %q", tc.want)
			}
			got := err.Error()
			if path != "" {
				got = strings.ReplaceAll(got, path+": ", "")
			}
			if got != tc.want {
				t.Errorf("error:\n got %q\nwant %q", got, tc.want)
			}
			if strings.Contains(got, "hunter2") {
				t.Errorf("error %q reveals the database password", got)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	const file = `
http: { addr: ":9000" }
providers:` + validAcme + "\n"
	acmeFields := map[string]string{"txn_id": "data.id", "event_type": "type", "order_no": "data.order_no",
		"amount": "data.amount", "currency": "data.currency"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want func(c *config.Config)
	}{
		{
			name: "nothing set keeps the file",
			want: func(*config.Config) {},
		},
		{
			name: "database and addr",
			env: map[string]string{"GATEWAY_DATABASE_DRIVER": "mysql", "GATEWAY_HTTP_ADDR": "127.0.0.1:7000",
				"GATEWAY_DATABASE_DSN": "gw:pw@tcp(db:3306)/gateway", "GATEWAY_DATABASE_MIGRATE": "false",
				"GATEWAY_DATABASE_MAX_OPEN_CONNS": "12", "GATEWAY_HTTP_READ_TIMEOUT": "2s"},
			want: func(c *config.Config) {
				c.HTTP.Addr, c.HTTP.ReadTimeout = "127.0.0.1:7000", dur(2*time.Second)
				c.Database = config.Database{Driver: "mysql", DSN: "gw:pw@tcp(db:3306)/gateway", MaxOpenConns: 12, Migrate: boolPtr(false)}
			},
		},
		{
			name: "list, comma separated",
			env:  map[string]string{"GATEWAY_AUTH_API_TOKENS": " a:0123456789abcdef , b:fedcba9876543210 ,"},
			want: func(c *config.Config) {
				c.Auth.APITokens = []config.Secret{"a:0123456789abcdef", "b:fedcba9876543210"}
			},
		},
		{
			name: "list, JSON array keeps commas",
			env:  map[string]string{"GATEWAY_AUTH_ADMIN_TOKENS": `["ops:0123456789,abcdef", "x:fedcba9876543210"]`},
			want: func(c *config.Config) {
				c.Auth.AdminTokens = []config.Secret{"ops:0123456789,abcdef", "x:fedcba9876543210"}
			},
		},
		{
			name: "map, k=v pairs",
			env:  map[string]string{"GATEWAY_PROVIDERS_ACME_EVENTS": "invoice.paid=payment.succeeded, refund.done = refund.succeeded"},
			want: func(c *config.Config) {
				c.Providers["acme"].Events = map[string]string{"invoice.paid": "payment.succeeded", "refund.done": "refund.succeeded"}
			},
		},
		{
			name: "map, JSON object",
			env:  map[string]string{"GATEWAY_PROVIDERS_ACME_FIELDS": `{"txn_id":"id","event_type":"t","order_no":"o","amount":"a","currency":"c"}`},
			want: func(c *config.Config) {
				c.Providers["acme"].Fields = map[string]string{"txn_id": "id", "event_type": "t", "order_no": "o", "amount": "a", "currency": "c"}
			},
		},
		{
			name: "stripe switched on from env alone",
			env: map[string]string{"GATEWAY_PROVIDERS_STRIPE_WEBHOOK_SECRETS": "whsec_env_1,whsec_env_2",
				"GATEWAY_PROVIDERS_STRIPE_TOLERANCE": "3m"},
			want: func(c *config.Config) {
				c.Providers["stripe"] = &config.Provider{Type: "stripe", WebhookSecrets: []config.Secret{"whsec_env_1", "whsec_env_2"},
					Tolerance: dur(3 * time.Minute)}
			},
		},
		{
			name: "provider from the file, overridden",
			env:  map[string]string{"GATEWAY_PROVIDERS_ACME_SECRETS": "whsec_rotated"},
			want: func(c *config.Config) {
				c.Providers["acme"].Secrets = []config.Secret{"whsec_rotated"}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := config.Load(writeFile(t, file), env(tc.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			want := defaults()
			want.HTTP.Addr = ":9000"
			want.Providers = map[string]*config.Provider{"acme": {Type: config.StandardWebhooks,
				Secrets: []config.Secret{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, Fields: acmeFields}}
			tc.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvWithoutFile(t *testing.T) {
	got, err := config.Load("", env(map[string]string{"GATEWAY_DATABASE_DSN": "file:/var/lib/gateway/gw.db", "GATEWAY_HTTP_ADDR": ":0"}))
	if err != nil {
		t.Fatal(err)
	}
	want := defaults()
	want.Database.DSN, want.HTTP.Addr = "file:/var/lib/gateway/gw.db", ":0"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

// TestSecretsMasked sets every secret to a recognisable value and checks
// that no rendering of the configuration shows any of them.
func TestSecretsMasked(t *testing.T) {
	c, err := config.Load("testdata/full.yaml", env(map[string]string{
		"GATEWAY_DATABASE_DSN":                     "gw:pw-db-0001@tcp(db.internal:3306)/gateway",
		"GATEWAY_PROVIDERS_WECHATPAY_APIV3_KEY":    "apiv3-key-0004-0123456789abcdef",
		"GATEWAY_PROVIDERS_STRIPE_WEBHOOK_SECRETS": "whsec_old_0001,whsec_new_0002",
	}))
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{"pw-db-0001", "api-token-0123456789abcdef", "admin-token-0123456789abcdef",
		"whsec_old_0001", "whsec_new_0002", "sk_test_0003", "apiv3-key-0004", "apiclient_key.pem",
		"alipay-private-0005", "44782DEF547AAA06", "adyen-api-0006", "paypal-secret-0009", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	jsonOf := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json: %v", err)
		}
		return string(b)
	}
	yamlOf := func(v any) string {
		b, err := yaml.Marshal(v)
		if err != nil {
			t.Fatalf("yaml: %v", err)
		}
		return string(b)
	}
	renderings := map[string]string{
		"Masked":           c.Masked(),
		"String":           c.String(),
		"%v":               fmt.Sprintf("%v", c),
		"%+v":              fmt.Sprintf("%+v", c),
		"%s pointer":       fmt.Sprintf("%s | %v", &c, &c),
		"%#v":              fmt.Sprintf("%#v", c),
		"%v provider":      fmt.Sprintf("%v %+v", c.Providers["stripe"], *c.Providers["paypal"]),
		"%#v provider":     fmt.Sprintf("%#v", *c.Providers["adyen"]),
		"%q secret":        fmt.Sprintf("%q %x", c.Database.DSN, c.Database.DSN),
		"json":             jsonOf(c),
		"json pointer":     jsonOf(&c),
		"yaml":             yamlOf(c),
		"json auth tokens": jsonOf(c.Auth),
	}
	for name, out := range renderings {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s shows secret %q:\n%s", name, s, out)
			}
		}
	}
	// The masked rendering still shows what is not secret, and marks
	// where a secret is set.
	for _, s := range []string{`addr: :9090`, `dsn: '***'`, `webhook_id: WH-0007`, `merchant_account: TestMerchant`,
		`client_secret: '***'`, "webhook_secrets:\n            - '***'\n            - '***'"} {
		if !strings.Contains(c.Masked(), s) {
			t.Errorf("Masked() lacks %q:\n%s", s, c.Masked())
		}
	}
	if got := fmt.Sprint(config.Secret("")); got != "" {
		t.Errorf("empty secret prints %q, want empty", got)
	}
}

func TestSplitToken(t *testing.T) {
	for _, tc := range []struct {
		in, name, token string
	}{
		{"ops:0123456789abcdef", "ops", "0123456789abcdef"},
		{"0123456789abcdef", "token", "0123456789abcdef"},
		{":0123456789abcdef", "token", ":0123456789abcdef"},
		{"two words:0123456789abcdef", "token", "two words:0123456789abcdef"},
		{"ops:a:b", "ops", "a:b"},
	} {
		name, token := config.SplitToken(config.Secret(tc.in))
		if name != tc.name || token != tc.token {
			t.Errorf("SplitToken(%q) = %q, %q; want %q, %q", tc.in, name, token, tc.name, tc.token)
		}
	}
}

// TestParseMatchesLoad: Parse is Load without a file or environment.
func TestParseMatchesLoad(t *testing.T) {
	b, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := config.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := config.Load("testdata/full.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(loaded, parsed); diff != "" {
		t.Errorf("Parse and Load differ (-load +parse):\n%s", diff)
	}
}

// FuzzParse: no YAML document makes the loader panic, and whatever it
// accepts validates and renders masked.
func FuzzParse(f *testing.F) {
	for _, path := range []string{"testdata/full.yaml", "dev.yaml"} {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := config.Parse(b)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate refuses: %v", err)
		}
		if c.Masked() == "" {
			t.Fatal("Masked() is empty")
		}
	})
}

// FuzzEnv: no environment value makes the loader panic.
func FuzzEnv(f *testing.F) {
	keys := []string{"GATEWAY_HTTP_ADDR", "GATEWAY_HTTP_READ_TIMEOUT", "GATEWAY_HTTP_MAX_BODY_BYTES",
		"GATEWAY_DATABASE_DSN", "GATEWAY_DATABASE_MIGRATE", "GATEWAY_AUTH_API_TOKENS",
		"GATEWAY_PROVIDERS_STRIPE_WEBHOOK_SECRETS", "GATEWAY_PROVIDERS_WECHATPAY_PLATFORM_PUBLIC_KEYS",
		"GATEWAY_RECONCILE_SCHEDULE"}
	f.Add(uint8(0), ":8080")
	f.Add(uint8(1), "5m")
	f.Add(uint8(5), `["a","b"]`)
	f.Add(uint8(7), `{"k":"v"}`)
	f.Add(uint8(8), "TZ=UTC")
	f.Fuzz(func(t *testing.T, i uint8, v string) {
		key := keys[int(i)%len(keys)]
		c, err := config.Load("", env(map[string]string{key: v}))
		if err == nil && c.Validate() != nil {
			t.Fatalf("Load accepted %s=%q that Validate refuses", key, v)
		}
	})
}
