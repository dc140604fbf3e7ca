// Package config loads the gateway's configuration: a YAML file, every key
// overridable by an environment variable GATEWAY_<PATH> (DESIGN §5), with
// defaults and a validation that names the bad key and why.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
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
}

// Database is the store.
type Database struct {
	Driver       string `yaml:"driver"`
	DSN          Secret `yaml:"dsn"`
	MaxOpenConns int    `yaml:"max_open_conns"`
	// Migrate applies the migrations at serve start (default true).
	Migrate *bool `yaml:"migrate"`
}

// Auth holds bearer tokens. A token may be written "name:token"; the name
// is what the audit log records.
type Auth struct {
	APITokens   []Secret `yaml:"api_tokens"`
	AdminTokens []Secret `yaml:"admin_tokens"`
}

// Reconcile schedules the cron jobs.
type Reconcile struct {
	Schedule string `yaml:"schedule"`
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
}

// Provider is one provider section. Which keys apply depends on Type; the
// type defaults to the section's name (stripe, wechatpay, alipay, adyen,
// paypal) and must be given for any other name (standardwebhooks).
type Provider struct {
	Type      string   `yaml:"type"`
	APIBase   string   `yaml:"api_base"`
	Tolerance Duration `yaml:"tolerance"`
	AllowIPs  []string `yaml:"allow_ips"`

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
	Adyen:            {[]string{"hmac_keys", "merchant_account", "api_key"}, []string{"hmac_keys"}},
	PayPal:           {[]string{"webhook_id", "certificates", "client_id", "client_secret"}, []string{"webhook_id", "certificates"}},
	StandardWebhooks: {[]string{"secrets", "fields", "events"}, []string{"secrets", "fields"}},
}

// Default returns the configuration used when nothing is configured: the
// embedded SQLite file under ./data and :8080.
func Default() Config {
	return Config{
		HTTP: HTTP{Addr: ":8080", MaxBodyBytes: 1 << 20, ReadTimeout: Duration(15 * time.Second),
			WriteTimeout: Duration(30 * time.Second), IdleTimeout: Duration(120 * time.Second),
			ShutdownTimeout: Duration(25 * time.Second)},
		Database:  Database{Driver: "sqlite", DSN: "file:data/gateway.db"},
		Reconcile: Reconcile{Schedule: "@every 1m"},
		Lock:      Lock{TTL: Duration(10 * time.Second)},
		Log:       Log{Level: "info"},
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
	if len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // an unknown key is an error, not a silent default
	if err := dec.Decode(c); err != nil {
		return err
	}
	return nil
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
	for key, d := range map[string]Duration{"http.read_timeout": c.HTTP.ReadTimeout, "http.write_timeout": c.HTTP.WriteTimeout,
		"http.idle_timeout": c.HTTP.IdleTimeout, "http.shutdown_timeout": c.HTTP.ShutdownTimeout, "lock.ttl": c.Lock.TTL} {
		if d <= 0 {
			bad(key, "must be a positive duration")
		}
	}
	switch c.Database.Driver {
	case "sqlite":
		if c.Database.DSN == "" {
			bad("database.dsn", "is empty")
		}
	case "mysql":
		if _, err := gomysql.ParseDSN(string(c.Database.DSN)); err != nil {
			bad("database.dsn", "not a MySQL DSN (user:pass@tcp(host:3306)/db): %v", err)
		}
	default:
		bad("database.driver", "%q is not sqlite or mysql", c.Database.Driver)
	}
	if c.Database.MaxOpenConns < 0 {
		bad("database.max_open_conns", "must not be negative")
	}
	for i, t := range append(slices.Clone(c.Auth.APITokens), c.Auth.AdminTokens...) {
		if _, tok := SplitToken(t); len(tok) < 16 {
			bad("auth", "token %d is shorter than 16 characters", i+1)
		}
	}
	if _, err := cron.ParseStandard(c.Reconcile.Schedule); err != nil {
		bad("reconcile.schedule", "%v", err)
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
	if p.Tolerance < 0 {
		errs = append(errs, fmt.Errorf("%s.tolerance: must not be negative", key))
	}
	for _, cidr := range p.AllowIPs {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			errs = append(errs, fmt.Errorf("%s.allow_ips: %q is not a CIDR", key, cidr))
		}
	}
	if p.Type == StandardWebhooks {
		for _, f := range []string{"txn_id", "event_type", "order_no", "amount", "currency"} {
			if p.Fields[f] == "" {
				errs = append(errs, fmt.Errorf("%s.fields.%s: required (a JSON path into the payload)", key, f))
			}
		}
	}
	return errors.Join(errs...)
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
	add("webhook_id", p.WebhookID != "")
	add("certificates", len(p.Certificates) > 0)
	add("client_id", p.ClientID != "")
	add("client_secret", p.ClientSecret != "")
	add("secrets", len(p.Secrets) > 0)
	add("fields", len(p.Fields) > 0)
	add("events", len(p.Events) > 0)
	return out
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
