// Package config loads the gateway's configuration: a YAML file, every key
// overridable by an environment variable GATEWAY_<PATH> (DESIGN §5), with
// defaults and a validation that names the bad key and why.
package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// Secret is a string that never prints.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "***"
}

// GoString masks the secret under %#v too.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// MarshalYAML masks the secret wherever the config is printed.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON masks the secret wherever the config is printed.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// Duration is a time.Duration written as "5m" in YAML and environment.
type Duration time.Duration

// UnmarshalYAML parses "5m", "30s".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("bad duration %q (want e.g. 30s, 5m)", n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML prints the duration as "5m0s".
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Config is the whole configuration.
type Config struct {
	HTTP      HTTP                 `yaml:"http"`
	Database  Database             `yaml:"database"`
	Auth      Auth                 `yaml:"auth"`
	Providers map[string]*Provider `yaml:"providers"`
	Reconcile Reconcile            `yaml:"reconcile"`
	Reports   Reports              `yaml:"reports"`
	Console   Console              `yaml:"console"`
	Lock      Lock                 `yaml:"lock"`
	Log       Log                  `yaml:"log"`
}

// HTTP is the listener.
type HTTP struct {
	Addr            string   `yaml:"addr"`
	MaxBodyBytes    int64    `yaml:"max_body_bytes"`
	ReadTimeout     Duration `yaml:"read_timeout"`
	WriteTimeout    Duration `yaml:"write_timeout"`
	IdleTimeout     Duration `yaml:"idle_timeout"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// MetricsPublic serves /metrics without a token (default false: an
	// admin token is required).
	MetricsPublic bool `yaml:"metrics_public"`
	// TrustedProxies are the CIDRs of reverse proxies whose
	// X-Forwarded-For is believed when a provider's allow_ips is checked.
	// Default: none, so the connection's own address is what counts.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Database is the store.
type Database struct {
	Driver       string `yaml:"driver"`
	DSN          Secret `yaml:"dsn"`
	MaxOpenConns int    `yaml:"max_open_conns"`
	// Migrate applies the migrations at serve start (default true).
	Migrate *bool `yaml:"migrate"`
	// Committers is how many group-commit transactions of the callback
	// pipeline run at once (default 2 on MySQL; SQLite always 1), MaxBatch
	// how many callbacks one may carry (default 32), Readers how many
	// batched dedup reads run at once (default 1). Fewer committers make
	// bigger batches: fewer statements per callback, more waiting.
	Committers int `yaml:"committers"`
	MaxBatch   int `yaml:"max_batch"`
	Readers    int `yaml:"readers"`
}

// Auth holds bearer tokens. A token may be written "name:token"; the name
// is what the audit log records.
type Auth struct {
	APITokens   []Secret `yaml:"api_tokens"`
	AdminTokens []Secret `yaml:"admin_tokens"`
}

// Reconcile configures the reconciler (docs/reconciliation.md).
type Reconcile struct {
	// Schedule is when the reconciler job runs (a cron spec, UTC).
	Schedule string `yaml:"schedule"`
	// Backoff is the schedule of checks of an unknown receipt: the wait
	// before the first check, then the wait after each check; an unknown
	// receipt still undecided at the last check is escalated. A swept
	// order is asked on the same schedule (from its second step).
	// providers.<name>.reconcile_backoff overrides it per provider.
	Backoff []Duration `yaml:"backoff"`
	// Lease is how long a claim on a receipt or order is exclusive.
	Lease Duration `yaml:"lease"`
	// QueryTimeout bounds one question to a provider's status API.
	QueryTimeout Duration `yaml:"query_timeout"`
	// Batch bounds the receipts one run works on; Workers work them in
	// parallel.
	Batch   int `yaml:"batch"`
	Workers int `yaml:"workers"`
	// SweepAfter is how old an order still created must be before its
	// provider is asked about it; SweepBatch bounds the orders per run.
	SweepAfter Duration `yaml:"sweep_after"`
	SweepBatch int      `yaml:"sweep_batch"`
}

// DefaultBackoff is reconcile.backoff's default: 1m, 5m, 15m, 1h, 6h, 24h.
var DefaultBackoff = []Duration{Duration(time.Minute), Duration(5 * time.Minute), Duration(15 * time.Minute),
	Duration(time.Hour), Duration(6 * time.Hour), Duration(24 * time.Hour)}

// Reports schedules the daily reconciliation report.
type Reports struct {
	// DailySchedule is when the previous UTC day's report is stored (a
	// cron spec, evaluated in UTC).
	DailySchedule string `yaml:"daily_schedule"`
}

// Console configures the operations console under /admin/ui: its login
// sessions are HMAC-signed cookies that expire.
type Console struct {
	// SessionKey signs the session cookies and CSRF tokens (at least 32
	// characters). Empty: a random key is made at start, so sessions end
	// with a restart and are not shared between replicas.
	SessionKey Secret `yaml:"session_key"`
	// SessionTTL is how long a login lasts (default 8h, at most 7 days).
	SessionTTL Duration `yaml:"session_ttl"`
	// SecureCookie marks the cookies Secure even when the gateway itself
	// is not serving TLS (behind a TLS-terminating proxy). With TLS they
	// are always Secure.
	SecureCookie bool `yaml:"secure_cookie"`
}

// Lock configures the optional Redis lock.
type Lock struct {
	// RedisAddr is host:port or a redis:// URL, which may carry a password.
	RedisAddr Secret   `yaml:"redis_addr"`
	TTL       Duration `yaml:"ttl"`
}

// Log configures logging.
type Log struct {
	Level string `yaml:"level"`
	// FlushInterval: log lines are buffered and written at least this
	// often (default 100ms), at once for a warning or an error, and at
	// shutdown; 0s writes every line as it comes. A line costs a write
	// system call otherwise (~10 µs, a sixth of a duplicate callback);
	// a hard crash may lose the last interval's info lines.
	FlushInterval Duration `yaml:"flush_interval"`
}

// Provider is one provider section. Which keys apply depends on Type; the
// type defaults to the section's name (stripe, wechatpay, alipay, adyen,
// paypal) and must be given for any other name (standardwebhooks).
type Provider struct {
	Type      string   `yaml:"type"`
	APIBase   string   `yaml:"api_base"`
	Tolerance Duration `yaml:"tolerance"`
	AllowIPs  []string `yaml:"allow_ips"`
	// ReconcileBackoff overrides reconcile.backoff for this provider.
	ReconcileBackoff []Duration `yaml:"reconcile_backoff"`

	// stripe
	WebhookSecrets []Secret `yaml:"webhook_secrets"`
	APIKey         Secret   `yaml:"api_key"`
	// wechatpay
	MchID              string            `yaml:"mch_id"`
	APIv3Key           Secret            `yaml:"apiv3_key"`
	PlatformPublicKeys map[string]string `yaml:"platform_public_keys"`
	MerchantPrivateKey Secret            `yaml:"merchant_private_key"`
	MerchantSerial     string            `yaml:"merchant_serial"`
	// alipay
	AppID            string   `yaml:"app_id"`
	SellerID         string   `yaml:"seller_id"`
	AlipayPublicKeys []string `yaml:"alipay_public_keys"`
	AppPrivateKey    Secret   `yaml:"app_private_key"`
	// adyen
	HMACKeys        []Secret `yaml:"hmac_keys"`
	MerchantAccount string   `yaml:"merchant_account"`
	PaidOn          string   `yaml:"paid_on"` // authorisation (default) or capture
	// paypal
	WebhookID    string   `yaml:"webhook_id"`
	Certificates []string `yaml:"certificates"`
	ClientID     string   `yaml:"client_id"`
	ClientSecret Secret   `yaml:"client_secret"`
	// standardwebhooks
	Secrets []Secret          `yaml:"secrets"`
	Fields  map[string]string `yaml:"fields"`
	Events  map[string]string `yaml:"events"`
}

// Provider types.
const (
	Stripe           = "stripe"
	WeChatPay        = "wechatpay"
	Alipay           = "alipay"
	Adyen            = "adyen"
	PayPal           = "paypal"
	StandardWebhooks = "standardwebhooks"
)

// providerKeys lists, per type, the keys a section may set (beyond type,
// api_base, tolerance, allow_ips) and those it must set.
var providerKeys = map[string]struct{ allowed, required []string }{
	Stripe:           {[]string{"webhook_secrets", "api_key"}, []string{"webhook_secrets"}},
	WeChatPay:        {[]string{"mch_id", "apiv3_key", "platform_public_keys", "merchant_private_key", "merchant_serial", "app_id"}, []string{"mch_id", "apiv3_key", "platform_public_keys"}},
	Alipay:           {[]string{"app_id", "seller_id", "alipay_public_keys", "app_private_key"}, []string{"app_id", "alipay_public_keys"}},
	Adyen:            {[]string{"hmac_keys", "merchant_account", "paid_on", "api_key"}, []string{"hmac_keys"}},
	PayPal:           {[]string{"webhook_id", "certificates", "client_id", "client_secret"}, []string{"webhook_id", "certificates"}},
	StandardWebhooks: {[]string{"secrets", "fields", "events"}, []string{"secrets", "fields"}},
}

// standardWebhooksFields are the keys of a standardwebhooks section's
// fields map: the first five are required, event_id is optional.
var standardWebhooksFields = []string{"txn_id", "event_type", "order_no", "amount", "currency", "event_id"}

// Default returns the configuration used when nothing is configured: the
// embedded SQLite file under ./data and :8080.
func Default() Config {
	return Config{
		HTTP: HTTP{Addr: ":8080", MaxBodyBytes: 1 << 20, ReadTimeout: Duration(15 * time.Second),
			WriteTimeout: Duration(30 * time.Second), IdleTimeout: Duration(120 * time.Second),
			ShutdownTimeout: Duration(25 * time.Second)},
		Database: Database{Driver: "sqlite", DSN: "file:data/gateway.db"},
		Reconcile: Reconcile{Schedule: "@every 1m", Backoff: slices.Clone(DefaultBackoff), Lease: Duration(5 * time.Minute),
			QueryTimeout: Duration(30 * time.Second), Batch: 500, Workers: 4, SweepAfter: Duration(15 * time.Minute), SweepBatch: 100},
		Reports: Reports{DailySchedule: "10 0 * * *"},
		Console: Console{SessionTTL: Duration(8 * time.Hour)},
		Lock:    Lock{TTL: Duration(10 * time.Second)},
		Log:     Log{Level: "info", FlushInterval: Duration(100 * time.Millisecond)},
	}
}

// Load reads the YAML file at path (none when empty), then the environment
// through getenv, and validates the result.
func Load(path string, getenv func(string) string) (Config, error) {
	c := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		if err := decode(b, &c); err != nil {
			return Config{}, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	if err := applyEnv(&c, getenv); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	for name, p := range c.Providers {
		if p != nil && p.Type == "" {
			p.Type = name
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Parse decodes YAML bytes over the defaults and validates (no environment).
func Parse(b []byte) (Config, error) {
	c := Default()
	if err := decode(b, &c); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	for name, p := range c.Providers {
		if p != nil && p.Type == "" {
			p.Type = name
		}
	}
	return c, c.Validate()
}

func decode(b []byte, c *Config) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return err
	}
	if len(doc.Content) == 0 {
		return nil // empty, or only comments: the defaults stand
	}
	// yaml.v3 alone names neither the path of an unknown key nor the key of
	// a value that does not decode ("line 7: field x not found in type
	// config.Provider", "bad duration"): check the tree first.
	if errs := checkNode(doc.Content[0], reflect.TypeFor[Config](), ""); len(errs) > 0 {
		return errors.Join(errs...)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // an unknown key is an error, not a silent default
	return dec.Decode(c)
}

// checkNode walks a YAML node along the Go type it will decode into and
// names, by dotted path, every unknown key and every value that does not
// decode. Aliases and merge keys are left to the decoder, which also checks
// them, so that the walk stays linear in the size of the document.
func checkNode(n *yaml.Node, t reflect.Type, path string) []error {
	if n.Kind == yaml.AliasNode || n.ShortTag() == "!!null" {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	var errs []error
	switch {
	case t.Kind() == reflect.Struct && t != durationType, t.Kind() == reflect.Map && t.Elem().Kind() == reflect.Pointer:
		if n.Kind != yaml.MappingNode {
			return []error{fmt.Errorf("%s: want a mapping of keys, line %d", cmp.Or(path, "(top level)"), n.Line)}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				errs = append(errs, fmt.Errorf("%s: a key must be a string, line %d", cmp.Or(path, "(top level)"), k.Line))
				continue
			}
			if k.Value == "<<" {
				continue
			}
			if t.Kind() == reflect.Map { // providers: any name, a Provider each
				errs = append(errs, checkNode(v, t.Elem(), join(k.Value))...)
				continue
			}
			f, ok := fieldByYAML(t, k.Value)
			if !ok {
				errs = append(errs, fmt.Errorf("%s: unknown key", join(k.Value)))
				continue
			}
			errs = append(errs, checkNode(v, f.Type, join(k.Value))...)
		}
	default:
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			var te *yaml.TypeError
			if errors.As(err, &te) {
				for _, e := range te.Errors {
					errs = append(errs, fmt.Errorf("%s: %s", path, lineRE.ReplaceAllString(e, "")))
				}
			} else {
				errs = append(errs, fmt.Errorf("%s: %w", path, err))
			}
		}
	}
	return errs
}

// lineRE is the "line 3: " that yaml.v3 puts before a type error; the
// dotted path says more.
var lineRE = regexp.MustCompile(`^line \d+: `)

func fieldByYAML(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); yamlName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// Validate checks the whole configuration and names every bad key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		bad("http.addr", "%q is not host:port", c.HTTP.Addr)
	}
	if c.HTTP.MaxBodyBytes <= 0 || c.HTTP.MaxBodyBytes > 64<<20 {
		bad("http.max_body_bytes", "must be between 1 and 67108864")
	}
	for _, d := range []struct {
		key string
		d   Duration
	}{{"http.read_timeout", c.HTTP.ReadTimeout}, {"http.write_timeout", c.HTTP.WriteTimeout},
		{"http.idle_timeout", c.HTTP.IdleTimeout}, {"http.shutdown_timeout", c.HTTP.ShutdownTimeout}, {"lock.ttl", c.Lock.TTL}} {
		if d.d <= 0 {
			bad(d.key, "must be a positive duration")
		}
	}
	switch c.Database.Driver {
	case "sqlite":
		if c.Database.DSN == "" {
			bad("database.dsn", "is empty")
		}
		// GATEWAY_DATABASE_DSN alone would otherwise create an SQLite
		// file named after the MySQL server.
		if dsn := string(c.Database.DSN); strings.Contains(dsn, "@tcp(") || strings.Contains(dsn, "@unix(") {
			bad("database.driver", "is sqlite but database.dsn is a MySQL DSN; set database.driver: mysql")
		}
	case "mysql":
		if _, err := gomysql.ParseDSN(string(c.Database.DSN)); err != nil {
			bad("database.dsn", "not a MySQL DSN (user:pass@tcp(host:3306)/db): %v", err)
		}
	default:
		bad("database.driver", "%q is not sqlite or mysql", c.Database.Driver)
	}
	if _, err := ParsePrefixes(c.HTTP.TrustedProxies); err != nil {
		bad("http.trusted_proxies", "%v", err)
	}
	if c.Database.MaxOpenConns < 0 {
		bad("database.max_open_conns", "must not be negative")
	}
	for _, k := range []struct {
		key string
		v   int
	}{{"database.committers", c.Database.Committers}, {"database.max_batch", c.Database.MaxBatch}, {"database.readers", c.Database.Readers}} {
		if k.v < 0 || k.v > 1024 {
			bad(k.key, "must be between 0 (the default) and 1024")
		}
	}
	for _, l := range []struct {
		key  string
		list []Secret
	}{{"auth.api_tokens", c.Auth.APITokens}, {"auth.admin_tokens", c.Auth.AdminTokens}} {
		for i, t := range l.list {
			if _, tok := SplitToken(t); len(tok) < 16 {
				bad(fmt.Sprintf("%s[%d]", l.key, i), "shorter than 16 characters")
			}
		}
	}
	if err := checkSchedule(c.Reconcile.Schedule); err != nil {
		bad("reconcile.schedule", "%q is not a cron schedule: %v", c.Reconcile.Schedule, err)
	}
	errs = append(errs, c.Reconcile.validate()...)
	if _, err := cron.ParseStandard(c.Reports.DailySchedule); err != nil {
		bad("reports.daily_schedule", "%v", err)
	}
	if k := c.Console.SessionKey; k != "" && len(k) < 32 {
		bad("console.session_key", "shorter than 32 characters")
	}
	if c.Console.SessionTTL < Duration(time.Minute) || c.Console.SessionTTL > Duration(7*24*time.Hour) {
		bad("console.session_ttl", "must be between 1m and 168h")
	}
	if c.Log.FlushInterval < 0 || time.Duration(c.Log.FlushInterval) > 10*time.Second {
		bad("log.flush_interval", "must be between 0s (write through) and 10s")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	names := make([]string, 0, len(c.Providers))
	for name := range c.Providers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := c.Providers[name].validate(name); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return nil
}

func (p *Provider) validate(name string) error {
	key := "providers." + name
	if p == nil {
		return fmt.Errorf("%s: empty section", key)
	}
	if !validName(name) {
		return fmt.Errorf("%s: name must be lowercase letters, digits, '-' or '_' (it is the callback URL path)", key)
	}
	keys, ok := providerKeys[p.Type]
	if !ok {
		return fmt.Errorf("%s.type: %q is not a provider type (stripe, wechatpay, alipay, adyen, paypal, standardwebhooks)", key, p.Type)
	}
	set := p.setKeys()
	var errs []error
	for _, k := range set {
		if !slices.Contains(keys.allowed, k) {
			errs = append(errs, fmt.Errorf("%s.%s: not a %s setting", key, k, p.Type))
		}
	}
	for _, k := range keys.required {
		if !slices.Contains(set, k) {
			errs = append(errs, fmt.Errorf("%s.%s: required for %s", key, k, p.Type))
		}
	}
	for _, l := range []struct {
		key  string
		list []Secret
	}{{"webhook_secrets", p.WebhookSecrets}, {"hmac_keys", p.HMACKeys}, {"secrets", p.Secrets}} {
		for i, s := range l.list {
			if strings.TrimSpace(string(s)) == "" {
				errs = append(errs, fmt.Errorf("%s.%s[%d]: is empty", key, l.key, i))
			}
		}
	}
	if p.Tolerance < 0 {
		errs = append(errs, fmt.Errorf("%s.tolerance: must not be negative", key))
	}
	if p.ReconcileBackoff != nil {
		if err := checkBackoff(p.ReconcileBackoff); err != nil {
			errs = append(errs, fmt.Errorf("%s.reconcile_backoff: %w", key, err))
		}
	}
	if _, err := ParsePrefixes(p.AllowIPs); err != nil {
		errs = append(errs, fmt.Errorf("%s.allow_ips: %w", key, err))
	}
	if p.Type == Adyen && p.PaidOn != "" && p.PaidOn != "authorisation" && p.PaidOn != "capture" {
		errs = append(errs, fmt.Errorf("%s.paid_on: %q is not authorisation or capture", key, p.PaidOn))
	}
	if p.Type == StandardWebhooks && len(p.Fields) > 0 {
		for _, f := range standardWebhooksFields[:5] {
			if p.Fields[f] == "" {
				errs = append(errs, fmt.Errorf("%s.fields.%s: required (a JSON path into the payload)", key, f))
			}
		}
		for _, f := range slices.Sorted(maps.Keys(p.Fields)) {
			if !slices.Contains(standardWebhooksFields, f) {
				errs = append(errs, fmt.Errorf("%s.fields.%s: unknown field (want %s)", key, f, strings.Join(standardWebhooksFields, ", ")))
			}
		}
	}
	return errors.Join(errs...)
}

func (r Reconcile) validate() []error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("reconcile.%s: %s", key, fmt.Sprintf(format, a...)))
	}
	if err := checkBackoff(r.Backoff); err != nil {
		bad("backoff", "%v", err)
	}
	for _, d := range []struct {
		key string
		d   Duration
	}{{"lease", r.Lease}, {"query_timeout", r.QueryTimeout}, {"sweep_after", r.SweepAfter}} {
		if d.d <= 0 {
			bad(d.key, "must be a positive duration")
		}
	}
	if r.QueryTimeout > 0 && r.Lease > 0 && r.Lease < 2*r.QueryTimeout+Duration(time.Minute) {
		bad("lease", "%s is too short: a claim must outlast a question to the provider and two re-drives (at least 2 × query_timeout + 1m = %s)",
			time.Duration(r.Lease), time.Duration(2*r.QueryTimeout+Duration(time.Minute)))
	}
	for _, n := range []struct {
		key      string
		n, limit int
	}{{"batch", r.Batch, 10000}, {"workers", r.Workers, 64}, {"sweep_batch", r.SweepBatch, 10000}} {
		if n.n < 1 || n.n > n.limit {
			bad(n.key, "must be between 1 and %d", n.limit)
		}
	}
	return errs
}

// maxBackoffSteps bounds a reconciliation schedule.
const maxBackoffSteps = 50

// checkBackoff checks a reconciliation schedule: 1 to 50 positive waits.
func checkBackoff(b []Duration) error {
	if len(b) == 0 || len(b) > maxBackoffSteps {
		return fmt.Errorf("want 1 to %d durations (e.g. [1m, 5m, 15m, 1h, 6h, 24h]), got %d", maxBackoffSteps, len(b))
	}
	for i, d := range b {
		if d <= 0 {
			return fmt.Errorf("[%d]: must be a positive duration", i)
		}
	}
	return nil
}

// checkSchedule parses a cron schedule as the reconciler will. robfig/cron
// v3.0.1 panics on a time zone prefix with nothing after it ("TZ=UTC"), so
// that case is refused first.
func checkSchedule(spec string) error {
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		if !strings.Contains(spec, " ") {
			return errors.New("a time zone must be followed by a space and a schedule")
		}
	}
	_, err := cron.ParseStandard(spec)
	return err
}

func validName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// setKeys lists the type-specific keys given a value.
func (p *Provider) setKeys() []string {
	var out []string
	add := func(k string, set bool) {
		if set {
			out = append(out, k)
		}
	}
	add("webhook_secrets", len(p.WebhookSecrets) > 0)
	add("api_key", p.APIKey != "")
	add("mch_id", p.MchID != "")
	add("apiv3_key", p.APIv3Key != "")
	add("platform_public_keys", len(p.PlatformPublicKeys) > 0)
	add("merchant_private_key", p.MerchantPrivateKey != "")
	add("merchant_serial", p.MerchantSerial != "")
	add("app_id", p.AppID != "")
	add("seller_id", p.SellerID != "")
	add("alipay_public_keys", len(p.AlipayPublicKeys) > 0)
	add("app_private_key", p.AppPrivateKey != "")
	add("hmac_keys", len(p.HMACKeys) > 0)
	add("merchant_account", p.MerchantAccount != "")
	add("paid_on", p.PaidOn != "")
	add("webhook_id", p.WebhookID != "")
	add("certificates", len(p.Certificates) > 0)
	add("client_id", p.ClientID != "")
	add("client_secret", p.ClientSecret != "")
	add("secrets", len(p.Secrets) > 0)
	add("fields", len(p.Fields) > 0)
	add("events", len(p.Events) > 0)
	return out
}

// ParsePrefixes parses CIDRs ("203.0.113.0/24", "2001:db8::/32"); a bare
// address is a prefix of that one address.
func ParsePrefixes(cidrs []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(cidrs))
	for _, s := range cidrs {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is not a CIDR or an IP address", s)
			}
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR", s)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// IPRules returns every provider's allow_ips and the trusted proxies,
// parsed. A provider without allow_ips is absent from allow: it takes
// callbacks from any address.
func (c Config) IPRules() (allow map[string][]netip.Prefix, trusted []netip.Prefix, err error) {
	trusted, err = ParsePrefixes(c.HTTP.TrustedProxies)
	if err != nil {
		return nil, nil, fmt.Errorf("config: http.trusted_proxies: %w", err)
	}
	allow = map[string][]netip.Prefix{}
	for name, p := range c.Providers {
		if p == nil || len(p.AllowIPs) == 0 {
			continue
		}
		if allow[name], err = ParsePrefixes(p.AllowIPs); err != nil {
			return nil, nil, fmt.Errorf("config: providers.%s.allow_ips: %w", name, err)
		}
	}
	return allow, trusted, nil
}

// SplitToken splits "name:token" into its name and token; a bare token is
// named by its position-free fingerprint "token".
func SplitToken(s Secret) (name, token string) {
	if n, t, ok := strings.Cut(string(s), ":"); ok && n != "" && !strings.ContainsAny(n, " \t") {
		return n, t
	}
	return "token", string(s)
}

// Masked renders the configuration as YAML with every secret masked.
func (c Config) Masked() string {
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Sprintf("config: %v", err)
	}
	return string(b)
}

// String masks secrets, so printing a Config with %v or %s is safe.
func (c Config) String() string { return c.Masked() }
