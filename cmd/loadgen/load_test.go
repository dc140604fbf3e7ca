package main

import (
	"fmt"
	"testing"
	"time"

	"gateway/callbacks"
	"gateway/providers/standardwebhooks"
	"gateway/providers/stripe"
)

func TestStormJobs(t *testing.T) {
	ds := make([]delivery, 500)
	for i := range ds {
		ds[i] = delivery{OrderNo: fmt.Sprint(i)}
	}
	cases := []struct {
		name     string
		ratio    float64
		burst    int
		minRatio float64
		maxRatio float64
	}{
		{"no duplicates, no bursts", 0, 1, 0, 0},
		{"bursts only", 0, 4, 0, 0},
		{"half re-deliveries", 0.5, 1, 0.45, 0.55},
		{"re-deliveries and bursts", 0.8, 3, 0.75, 0.85},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			jobs := stormJobs(ds, tc.ratio, tc.burst, 42)
			firsts, redeliveries := 0, 0
			seen := map[string]bool{}
			for _, j := range jobs {
				if !seen[j.D.OrderNo] {
					// A first delivery: in order, as a burst.
					if j.D.OrderNo != fmt.Sprint(firsts) || j.Copies != tc.burst {
						t.Fatalf("first delivery %d is %+v", firsts, j)
					}
					seen[j.D.OrderNo] = true
					firsts++
					continue
				}
				if j.Copies != 1 {
					t.Fatalf("re-delivery as a burst: %+v", j)
				}
				redeliveries++
			}
			if firsts != len(ds) {
				t.Fatalf("%d of %d events delivered", firsts, len(ds))
			}
			got := float64(redeliveries) / float64(len(jobs))
			if got < tc.minRatio || got > tc.maxRatio {
				t.Errorf("re-delivery share %.3f, want in [%.2f, %.2f]", got, tc.minRatio, tc.maxRatio)
			}
			again := stormJobs(ds, tc.ratio, tc.burst, 42)
			if len(again) != len(jobs) {
				t.Errorf("the same seed gave %d jobs, then %d", len(jobs), len(again))
			}
		})
	}
}

// TestSignedDeliveriesVerify checks the tool signs exactly as the providers
// do: the gateway's own verifiers accept its deliveries, and parse them to
// the order and amount that were meant.
func TestSignedDeliveriesVerify(t *testing.T) {
	s := signer{Stripe: "stripe", StripeSecret: "whsec_test_secret", SW: "acme", SWSecret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	st, err := stripe.New(stripe.Config{Name: "stripe", Secrets: []string{s.StripeSecret}})
	if err != nil {
		t.Fatal(err)
	}
	sw, err := standardwebhooks.New(standardwebhooks.Config{Name: "acme", Secrets: []string{s.SWSecret},
		Fields: standardwebhooks.Fields{TxnID: "data.id", EventType: "type", OrderNo: "data.order_no", Amount: "data.amount", Currency: "data.currency"}})
	if err != nil {
		t.Fatal(err)
	}
	providers := map[string]callbacks.Provider{"stripe": st, "acme": sw}
	orders := makeOrders("lgtest-u-", 4)
	ds, err := s.payments(orders)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.resign(ds)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range append(ds, again...) {
		o := orders[i%len(orders)]
		t.Run(fmt.Sprintf("%s/%d", d.Provider, i), func(t *testing.T) {
			p := providers[d.Provider]
			in := callbacks.Inbound{Provider: d.Provider, Header: d.Header, Body: d.Body}
			if err := p.Verify(in, time.Now()); err != nil {
				t.Fatalf("verify: %v", err)
			}
			ns, err := p.Parse(in)
			if err != nil || len(ns) != 1 {
				t.Fatalf("parse: %v %v", ns, err)
			}
			n := ns[0]
			if n.OrderNo != o.No || n.Money.Amount != o.Amount || n.Money.Currency != o.Currency || n.Kind != "payment.succeeded" {
				t.Errorf("parsed %+v for order %+v", n, o)
			}
			tampered := in
			tampered.Body = append([]byte(nil), d.Body...)
			tampered.Body[len(tampered.Body)-2] ^= 1
			if err := p.Verify(tampered, time.Now()); err == nil {
				t.Error("a tampered body verified")
			}
		})
	}
	if ds[0].Provider != "stripe" || ds[1].Provider != "acme" {
		t.Errorf("providers alternate: %s, %s", ds[0].Provider, ds[1].Provider)
	}
}
