package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// envPrefix starts every environment override.
const envPrefix = "GATEWAY"

// knownProviders can be switched on from the environment alone.
var knownProviders = []string{Stripe, WeChatPay, Alipay, Adyen, PayPal}

// applyEnv overrides every key that has a GATEWAY_<PATH> variable: the path
// in upper case with "_" for nesting (database.dsn → GATEWAY_DATABASE_DSN).
// Lists are comma-separated or a JSON array; maps are "k=v,k=v" or a JSON
// object. A provider section is switched on by any of its variables.
func applyEnv(c *Config, getenv func(string) string) error {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := yamlName(f)
		if name == "providers" {
			continue
		}
		if err := envStruct(v.Field(i), envPrefix+"_"+strings.ToUpper(name), name, getenv); err != nil {
			return err
		}
	}
	if c.Providers == nil {
		c.Providers = map[string]*Provider{}
	}
	names := map[string]bool{}
	for _, n := range knownProviders {
		names[n] = true
	}
	for n := range c.Providers {
		names[n] = true
	}
	for n := range names {
		p := c.Providers[n]
		fresh := p == nil
		if fresh {
			p = &Provider{}
		}
		prefix := envPrefix + "_PROVIDERS_" + strings.ToUpper(strings.ReplaceAll(n, "-", "_"))
		before := *p
		if err := envStruct(reflect.ValueOf(p).Elem(), prefix, "providers."+n, getenv); err != nil {
			return err
		}
		if !fresh || !reflect.DeepEqual(before, *p) {
			c.Providers[n] = p
		}
	}
	if len(c.Providers) == 0 {
		c.Providers = nil
	}
	return nil
}

func yamlName(f reflect.StructField) string {
	n, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return n
}

func envStruct(v reflect.Value, prefix, path string, getenv func(string) string) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := yamlName(f)
		key, p := prefix+"_"+strings.ToUpper(name), path+"."+name
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && f.Type != reflect.TypeOf(Duration(0)) {
			if err := envStruct(fv, key, p, getenv); err != nil {
				return err
			}
			continue
		}
		s := getenv(key)
		if s == "" {
			continue
		}
		if err := setValue(fv, s); err != nil {
			return fmt.Errorf("%s (from %s): %w", p, key, err)
		}
	}
	return nil
}

var durationType = reflect.TypeOf(Duration(0))

func setValue(v reflect.Value, s string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("bad duration %q (want e.g. 30s, 5m)", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		v.SetInt(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	case reflect.Pointer: // *bool
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.Set(reflect.ValueOf(&b))
	case reflect.Slice:
		var items []string
		if strings.HasPrefix(strings.TrimSpace(s), "[") {
			if err := json.Unmarshal([]byte(s), &items); err != nil {
				return fmt.Errorf("not a JSON array of strings: %v", err)
			}
		} else {
			for _, it := range strings.Split(s, ",") {
				if it = strings.TrimSpace(it); it != "" {
					items = append(items, it)
				}
			}
		}
		out := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, it := range items {
			if err := setValue(out.Index(i), it); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		v.Set(out)
	case reflect.Map:
		m := map[string]string{}
		if strings.HasPrefix(strings.TrimSpace(s), "{") {
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				return fmt.Errorf("not a JSON object of strings: %v", err)
			}
		} else {
			for _, kv := range strings.Split(s, ",") {
				k, val, ok := strings.Cut(kv, "=")
				if !ok || strings.TrimSpace(k) == "" {
					return fmt.Errorf("%q is not k=v", kv)
				}
				m[strings.TrimSpace(k)] = strings.TrimSpace(val)
			}
		}
		v.Set(reflect.ValueOf(m))
	default:
		return fmt.Errorf("cannot set a %s from the environment", v.Kind())
	}
	return nil
}
