package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gateway/providers/standardwebhooks"
	"gateway/providers/stripe"
)

// order is one order the load pays for.
type order struct {
	No       string
	Amount   int64
	Currency string
}

// currencies rotate so that the ledger's per-currency balance is checked
// in more than one currency, JPY (no minor unit) among them.
var currencies = []string{"USD", "EUR", "JPY"}

// makeOrders names n orders prefix0…prefix{n-1} with varied amounts.
func makeOrders(prefix string, n int) []order {
	out := make([]order, n)
	for i := range out {
		out[i] = order{No: fmt.Sprintf("%s%d", prefix, i), Amount: 1000 + int64(i%97)*25, Currency: currencies[i%len(currencies)]}
	}
	return out
}

// signer turns an order's payment into a signed delivery, exactly as the
// provider would send it.
type signer struct {
	// Stripe is the name of the gateway's Stripe section and its secret.
	Stripe, StripeSecret string
	// SW is the name of a Standard Webhooks section ("" = none), its
	// secret, fields mapped as in config/dev.yaml (data.id, type,
	// data.order_no, data.amount, data.currency).
	SW, SWSecret string
}

// delivery is one signed HTTP callback, ready to send.
type delivery struct {
	OrderNo  string
	Provider string
	Body     []byte
	Header   http.Header
	req      []byte // the HTTP request, written out before the phase (sender.prepare)
}

// providerFor picks the provider of order i: every other order goes to the
// Standard Webhooks sender when one is configured.
func (s signer) providerFor(i int) string {
	if s.SW != "" && i%2 == 1 {
		return s.SW
	}
	return s.Stripe
}

// body is the provider's event for the payment of o (the same business
// event whoever signs or re-sends it).
func (s signer) body(provider string, o order) ([]byte, error) {
	ref := "pi_" + strings.ReplaceAll(o.No, "-", "")
	if provider == s.SW {
		return json.Marshal(map[string]any{
			"type": "payment.succeeded", "timestamp": time.Now().UTC().Format(time.RFC3339),
			"data": map[string]any{"id": ref, "order_no": o.No, "amount": o.Amount, "currency": strings.ToLower(o.Currency)},
		})
	}
	// The shape of a real payment_intent.succeeded event (trimmed of
	// fields the gateway ignores, but of a realistic size).
	return json.Marshal(map[string]any{
		"id": "evt_" + strings.ReplaceAll(o.No, "-", ""), "object": "event", "type": "payment_intent.succeeded",
		"api_version": "2025-09-30.clover", "created": time.Now().Unix(), "livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": nil, "idempotency_key": nil},
		"data": map[string]any{"object": map[string]any{
			"id": ref, "object": "payment_intent", "amount": o.Amount, "amount_received": o.Amount,
			"amount_capturable": 0, "capture_method": "automatic", "confirmation_method": "automatic",
			"currency": strings.ToLower(o.Currency), "status": "succeeded", "livemode": false,
			"latest_charge": "ch_" + strings.ReplaceAll(o.No, "-", ""), "payment_method": "pm_card_visa",
			"payment_method_types": []string{"card"}, "created": time.Now().Unix() - 2,
			"metadata": map[string]string{"order_no": o.No},
		}},
	})
}

// sign returns the delivery of body to provider, signed at t.
func (s signer) sign(provider string, o order, body []byte, t time.Time) (delivery, error) {
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("User-Agent", "loadgen (like Stripe/1.0)")
	switch provider {
	case s.Stripe:
		h.Set("Stripe-Signature", stripe.Sign(s.StripeSecret, t, body))
	case s.SW:
		id := "msg_" + strings.ReplaceAll(o.No, "-", "")
		sig, err := standardwebhooks.Sign(s.SWSecret, id, t, body)
		if err != nil {
			return delivery{}, fmt.Errorf("loadgen: sign standard webhook: %w", err)
		}
		h.Set("Webhook-Id", id)
		h.Set("Webhook-Timestamp", fmt.Sprint(t.Unix()))
		h.Set("Webhook-Signature", sig)
	default:
		return delivery{}, fmt.Errorf("loadgen: no provider %q", provider)
	}
	return delivery{OrderNo: o.No, Provider: provider, Body: body, Header: h}, nil
}

// payments returns one signed payment delivery per order, signed now.
func (s signer) payments(orders []order) ([]delivery, error) {
	now := time.Now()
	out := make([]delivery, len(orders))
	for i, o := range orders {
		p := s.providerFor(i)
		b, err := s.body(p, o)
		if err != nil {
			return nil, err
		}
		if out[i], err = s.sign(p, o, b, now); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// resign signs already-sent deliveries again with a fresh timestamp, as a
// provider does on each retry: same body, same business event.
func (s signer) resign(ds []delivery) ([]delivery, error) {
	now := time.Now()
	out := make([]delivery, len(ds))
	for i, d := range ds {
		var err error
		if out[i], err = s.sign(d.Provider, order{No: d.OrderNo}, d.Body, now); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// job is one unit of load: a delivery sent Copies times at once (a burst).
type job struct {
	D      delivery
	Copies int
}

// stormJobs schedules a retry storm over first deliveries: each event goes
// out first as a burst of `burst` simultaneous copies; between them, a
// fraction dupRatio of the jobs are single re-deliveries of an event
// already sent (a provider retrying), picked at random with the seed.
func stormJobs(ds []delivery, dupRatio float64, burst int, seed uint64) []job {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var out []job
	for i := 0; i < len(ds); {
		if i > 0 && rng.Float64() < dupRatio {
			out = append(out, job{D: ds[rng.IntN(i)], Copies: 1})
			continue
		}
		out = append(out, job{D: ds[i], Copies: burst})
		i++
	}
	return out
}

// sender posts deliveries to a gateway.
type sender struct {
	client *client
}

func newSender(base string, conns int) (*sender, error) {
	c, err := newClient(strings.TrimRight(base, "/"), conns)
	if err != nil {
		return nil, err
	}
	return &sender{client: c}, nil
}

func (s *sender) close() { s.client.close() }

// send posts d and returns "" when the gateway acknowledged it (2xx), or
// the kind of failure: "http 503 unavailable", "timeout", "transport".
func (s *sender) send(ctx context.Context, d delivery) string {
	req := d.req
	if req == nil {
		req = s.client.request("/callbacks/"+d.Provider, d.Header, d.Body)
	}
	status, body, err := s.client.do(ctx, req)
	if err != nil {
		var ne net.Error
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return "cancelled"
		case errors.As(err, &ne) && ne.Timeout():
			return "timeout"
		default:
			return "transport"
		}
	}
	if status/100 == 2 {
		return ""
	}
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &e) // the code is a detail; the status is the kind
	return strings.TrimSpace(fmt.Sprintf("http %d %s", status, e.Error.Code))
}

// prepare writes out each job's HTTP request, as the signing before the
// phase does its signature: the phase's time is spent sending.
func (s *sender) prepare(jobs []job) {
	for i := range jobs {
		d := &jobs[i].D
		d.req = s.client.request("/callbacks/"+d.Provider, d.Header, d.Body)
	}
}

// closedLoop runs jobs with `workers` senders, each sending its next job as
// soon as the previous one is answered. A burst's copies are released
// together.
func (s *sender) closedLoop(ctx context.Context, name string, jobs []job, workers int, limit time.Duration) result {
	s.prepare(jobs)
	return drive(ctx, name, len(jobs), workers, limit, func(t *tally, i int) { s.run(ctx, t, jobs[i], time.Time{}) })
}

// drive does work(t, i) for every i in [0, n) with `workers` goroutines,
// each taking the next i as soon as its previous one is done, until all are
// done, limit passes or ctx ends; work under way then is finished.
func drive(ctx context.Context, name string, n, workers int, limit time.Duration, work func(t *tally, i int)) result {
	deadline := time.Now().Add(limit)
	var next atomic.Int64
	tallies := make([]*tally, workers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range tallies {
		t := &tally{}
		tallies[w] = t
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				work(t, i)
			}
		})
	}
	wg.Wait()
	r := newResult(name, time.Since(start), tallies)
	if int(next.Load()) < n {
		r.Stopped = stopReason(ctx, limit)
	}
	return r
}

// openLoop sends jobs at a fixed rate whatever the answers, as providers
// do; latency counts from each job's planned start, so a slow answer that
// delays the next sends is not hidden (no coordinated omission).
func (s *sender) openLoop(ctx context.Context, name string, jobs []job, rate float64, workers int, limit time.Duration) result {
	type planned struct {
		j  job
		at time.Time
	}
	s.prepare(jobs)
	queue := make(chan planned, len(jobs))
	tallies := make([]*tally, workers)
	var wg sync.WaitGroup
	for w := range tallies {
		t := &tally{}
		tallies[w] = t
		wg.Go(func() {
			for p := range queue {
				s.run(ctx, t, p.j, p.at)
			}
		})
	}
	start := time.Now()
	deadline := start.Add(limit)
	interval := time.Duration(float64(time.Second) / rate)
	dispatched := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i, j := range jobs {
		at := start.Add(time.Duration(i) * interval)
		if !at.Before(deadline) {
			break
		}
		timer.Reset(time.Until(at))
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
		if ctx.Err() != nil {
			break
		}
		queue <- planned{j, at}
		dispatched++
	}
	close(queue)
	wg.Wait()
	r := newResult(name, time.Since(start), tallies)
	if dispatched < len(jobs) {
		r.Stopped = stopReason(ctx, limit)
	}
	return r
}

// run sends one job into t; from is the planned start (zero: now).
func (s *sender) run(ctx context.Context, t *tally, j job, from time.Time) {
	if j.Copies <= 1 {
		start := time.Now()
		if from.IsZero() {
			from = start
		}
		if kind := s.send(ctx, j.D); kind != "" {
			t.fail(j.D.OrderNo, kind)
			return
		}
		t.ok(j.D.OrderNo, time.Since(from))
		return
	}
	copies := make([]tally, j.Copies)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for c := range copies {
		wg.Go(func() {
			<-release
			s.run(ctx, &copies[c], job{D: j.D, Copies: 1}, from)
		})
	}
	close(release)
	wg.Wait()
	for _, c := range copies {
		t.sent += c.sent
		t.latencies = append(t.latencies, c.latencies...)
		t.acked = append(t.acked, c.acked...)
		t.attempted = append(t.attempted, c.attempted...)
		for k, n := range c.errors {
			if t.errors == nil {
				t.errors = map[string]int{}
			}
			t.errors[k] += n
		}
	}
}

func stopReason(ctx context.Context, limit time.Duration) string {
	if ctx.Err() != nil {
		return "interrupted: " + ctx.Err().Error()
	}
	return fmt.Sprintf("stopped at the %s phase limit", limit)
}
