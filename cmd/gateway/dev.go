package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"gateway/config"
	"gateway/providers/stripe"
)

// devCallback builds a Stripe payment_intent.succeeded event for an order,
// signs it with the configured secret exactly as Stripe does, and prints it
// or POSTs it to a running gateway.
func devCallback(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var orderNo, currency, provider, send, pi string
	var amount int64
	_, cfgPath, err := flags("dev-callback", args, stdout, func(fs *flag.FlagSet) {
		fs.StringVar(&orderNo, "order", "", "order number (metadata.order_no)")
		fs.Int64Var(&amount, "amount", 0, "amount in minor units")
		fs.StringVar(&currency, "currency", "USD", "ISO-4217 currency")
		fs.StringVar(&provider, "provider", "stripe", "name of a configured stripe provider section")
		fs.StringVar(&pi, "payment-intent", "", "PaymentIntent id (default: derived from the order)")
		fs.StringVar(&send, "send", "", "base URL of a running gateway to POST to (default: print)")
	})
	if err != nil {
		return err
	}
	if orderNo == "" || amount <= 0 {
		return fmt.Errorf("dev-callback: --order and --amount are required")
	}
	cfg, err := loadConfig(*cfgPath, getenv)
	if err != nil {
		return err
	}
	sec := cfg.Providers[provider]
	if sec == nil || sec.Type != config.Stripe {
		return fmt.Errorf("dev-callback: providers.%s is not a configured stripe section", provider)
	}
	if pi == "" {
		pi = "pi_dev_" + orderNo
	}
	event := map[string]any{
		"id": "evt_dev_" + fmt.Sprint(time.Now().UnixNano()), "object": "event", "type": "payment_intent.succeeded",
		"api_version": "2025-09-30.clover", "created": time.Now().Unix(),
		"data": map[string]any{"object": map[string]any{
			"id": pi, "object": "payment_intent", "amount": amount, "amount_received": amount,
			"currency": strings.ToLower(currency), "status": "succeeded",
			"metadata": map[string]string{"order_no": orderNo},
		}},
	}
	body, err := json.Marshal(event)
	if err != nil {
		return err
	}
	sig := stripe.Sign(string(sec.WebhookSecrets[0]), time.Now(), body)
	if send == "" {
		fmt.Fprintf(stdout, "Stripe-Signature: %s\n\n%s\n", sig, body)
		return nil
	}
	url := strings.TrimRight(send, "/") + "/callbacks/" + provider
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	ack, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprintf(stdout, "POST %s → %d %s\n", url, resp.StatusCode, ack)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("dev-callback: gateway answered %d", resp.StatusCode)
	}
	return nil
}
