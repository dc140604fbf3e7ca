// Package providers builds the configured providers. Each provider lives in
// its own package and implements callbacks.Provider.
package providers

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"gateway/callbacks"
	"gateway/config"
	"gateway/providers/adyen"
	"gateway/providers/alipay"
	"gateway/providers/paypal"
	"gateway/providers/standardwebhooks"
	"gateway/providers/stripe"
	"gateway/providers/wechatpay"
)

// Build returns a provider for every configured section, by name.
func Build(sections map[string]*config.Provider, client *http.Client) ([]callbacks.Provider, error) {
	names := make([]string, 0, len(sections))
	for n := range sections {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []callbacks.Provider
	for _, name := range names {
		p, err := build(name, sections[name], client)
		if err != nil {
			return nil, fmt.Errorf("providers.%s: %w", name, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func build(name string, c *config.Provider, client *http.Client) (callbacks.Provider, error) {
	switch c.Type {
	case config.Stripe:
		return stripe.New(stripe.Config{Name: name, Secrets: secrets(c.WebhookSecrets), Tolerance: time.Duration(c.Tolerance),
			APIKey: string(c.APIKey), APIBase: c.APIBase, Client: client})
	case config.StandardWebhooks:
		f := c.Fields
		return standardwebhooks.New(standardwebhooks.Config{Name: name, Secrets: secrets(c.Secrets),
			Tolerance: time.Duration(c.Tolerance), Events: c.Events,
			Fields: standardwebhooks.Fields{TxnID: f["txn_id"], EventType: f["event_type"], OrderNo: f["order_no"],
				Amount: f["amount"], Currency: f["currency"], EventID: f["event_id"]}})
	case config.Adyen:
		return adyen.New(adyen.Config{Name: name, HMACKeys: secrets(c.HMACKeys), MerchantAccount: c.MerchantAccount, PaidOn: c.PaidOn})
	case config.PayPal:
		return paypal.New(paypal.Config{Name: name, WebhookID: c.WebhookID, Certificates: c.Certificates,
			Tolerance: time.Duration(c.Tolerance), ClientID: c.ClientID, ClientSecret: string(c.ClientSecret),
			APIBase: c.APIBase, Client: client})
	case config.WeChatPay:
		return wechatpay.New(wechatpay.Config{Name: name, MchID: c.MchID, AppID: c.AppID, APIv3Key: string(c.APIv3Key),
			PlatformKeys: c.PlatformPublicKeys, Tolerance: time.Duration(c.Tolerance),
			MerchantPrivateKey: string(c.MerchantPrivateKey), MerchantSerial: c.MerchantSerial,
			APIBase: c.APIBase, Client: client})
	case config.Alipay:
		return alipay.New(alipay.Config{Name: name, AppID: c.AppID, SellerID: c.SellerID, PublicKeys: c.AlipayPublicKeys,
			AppPrivateKey: string(c.AppPrivateKey), APIBase: c.APIBase, Client: client})
	default:
		return nil, fmt.Errorf("provider type %q is not built into this gateway yet", c.Type)
	}
}

func secrets(s []config.Secret) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = string(v)
	}
	return out
}
