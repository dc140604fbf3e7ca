//go:build faults

package faults_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// world is the simulated provider (and merchant): it sends every delivery
// to the replicas in turn and retries it until it is acknowledged, as a
// provider does, with a compressed backoff.
type world struct {
	urls   []string
	client *http.Client
	next   atomic.Uint64

	per            map[string]*tally // by sender name, made before the load
	apiSent, apiOK atomic.Int64

	mu        sync.Mutex
	problems  []string
	ackedOnce map[*event]bool // deliveries acknowledged at least once
}

// tally counts one sender's deliveries.
type tally struct {
	sent, acked, refused5xx, connErrors atomic.Int64
	copies, lateCopies                  atomic.Int64
}

func newWorld(urls []string, ss []*sender) *world {
	w := &world{urls: urls, ackedOnce: map[*event]bool{}, per: map[string]*tally{}, client: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true},
	}}
	for _, s := range ss {
		w.per[s.name] = &tally{}
	}
	return w
}

// total sums the tallies of every sender.
func (w *world) total() (sent, acked, refused, connErrs, copies, late int64) {
	for _, t := range w.per {
		sent, acked, refused, connErrs = sent+t.sent.Load(), acked+t.acked.Load(), refused+t.refused5xx.Load(), connErrs+t.connErrors.Load()
		copies, late = copies+t.copies.Load(), late+t.lateCopies.Load()
	}
	return
}

func (w *world) problem(format string, a ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.problems = append(w.problems, fmt.Sprintf(format, a...))
}

func (w *world) url() string { return w.urls[w.next.Add(1)%uint64(len(w.urls))] }

// retry runs try until it reports done, backing off between attempts.
func retry(ctx context.Context, try func() (done bool)) error {
	for attempt := 0; ; attempt++ {
		if try() {
			return nil
		}
		d := min(20*time.Millisecond<<min(attempt, 6), time.Second)
		d = d/2 + rand.N(d)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// deliver sends ev until a replica acknowledges it. A 4xx for a correctly
// signed event is a gateway bug: it is recorded and not retried.
func (w *world) deliver(ctx context.Context, ev *event) error {
	t := w.per[ev.sender.name]
	return retry(ctx, func() bool {
		t.sent.Add(1)
		code, body, err := w.post(ctx, w.url()+"/callbacks/"+ev.sender.name, ev.body, ev.sender.sign(ev, time.Now()))
		switch {
		case err != nil:
			t.connErrors.Add(1)
			return false
		case code >= 500:
			t.refused5xx.Add(1)
			return false
		case code >= 200 && code < 300:
			t.acked.Add(1)
			if code != ev.sender.ackStatus || string(body) != ev.sender.ack {
				w.problem("%s %s: ack %d %q, want %d %q", ev.sender.name, ev.key, code, body, ev.sender.ackStatus, ev.sender.ack)
			}
			w.mu.Lock()
			w.ackedOnce[ev] = true
			w.mu.Unlock()
			return true
		default:
			w.problem("%s %s: refused with %d %s", ev.sender.name, ev.key, code, body)
			return true
		}
	})
}

// createOrder submits the order until the merchant API answers 201 (the
// same order again answers with the stored one).
func (w *world) createOrder(ctx context.Context, o order) error {
	body := []byte(fmt.Sprintf(`{"order_no":%q,"amount":%d,"currency":%q}`, o.no, o.amount, o.currency))
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Authorization", "Bearer "+strings.SplitN(faultAPIToken, ":", 2)[1])
	return retry(ctx, func() bool {
		w.apiSent.Add(1)
		code, resp, err := w.post(ctx, w.url()+"/api/orders", body, h)
		switch {
		case err != nil || code >= 500:
			return false
		case code == http.StatusCreated:
			w.apiOK.Add(1)
			return true
		default:
			w.problem("create %s: %d %s", o.no, code, resp)
			return true
		}
	})
}

func (w *world) post(ctx context.Context, url string, body []byte, h http.Header) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header = h
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// run plays a script: each step's events are sent as concurrent bursts of
// 1–3 copies each, every copy retried until acknowledged.
func (w *world) run(ctx context.Context, sc *script, rng *rand.Rand) error {
	for _, st := range sc.steps {
		if st.createOrder {
			if err := w.createOrder(ctx, sc.order); err != nil {
				return err
			}
			continue
		}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for _, ev := range st.events {
			n := 1 + rng.IntN(3)
			w.per[ev.sender.name].copies.Add(int64(n - 1))
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := w.deliver(ctx, ev); err != nil {
						select {
						case errs <- fmt.Errorf("%s %s: %w", ev.sender.name, ev.key, err):
						default:
						}
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}
