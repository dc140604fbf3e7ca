package redislock_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"gateway/callbacks"
	"gateway/config"
	"gateway/httpapi"
	"gateway/ledger"
	"gateway/redislock"
	"gateway/redislock/redistest"
	"gateway/store"
	"gateway/store/storetest"
	"gateway/submission"
)

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func readyz(t *testing.T, base string) (int, readiness) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r readiness
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, r
}

// post delivers in over HTTP and returns the provider's answer.
func post(t *testing.T, base string, in callbacks.Inbound) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/callbacks/"+in.Provider, bytes.NewReader(in.Body))
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	req.Header = in.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Redis stops in the middle of a run: providers see no error, the events
// still apply once each, the degradation is counted, and /readyz says so
// while staying ready.
func TestRedisStoppedDuringRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		proxy := redistest.NewProxy(t)
		l, err := redislock.New(redislock.Config{Addr: proxy.Addr(), TTL: 10 * time.Second, Prefix: redistest.Prefix(t), Timeout: redistest.Timeout}, quiet)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		cb := callbacks.NewService(db, []callbacks.Provider{newStripe(t)}, callbacks.Config{Locker: l}, quiet)
		t.Cleanup(func() { cb.Close(context.Background()) })
		orders := ledger.NewService(db)
		srv := httptest.NewServer(httpapi.New(httpapi.Deps{Callbacks: cb, Orders: orders,
			Submissions: submission.NewService(db, orders, submission.Config{}), DB: db, Lock: l,
			Auth: config.Auth{}, MaxBodyBytes: 1 << 20, Log: quiet}).Handler())
		t.Cleanup(srv.Close)

		storm := func(orderNos ...string) {
			t.Helper()
			var wg sync.WaitGroup
			for _, no := range orderNos {
				newOrder(t, db, no)
				in := payment(t, no, 2500)
				for range 5 {
					wg.Go(func() {
						if status, body := post(t, srv.URL, in); status != http.StatusOK || body != `{"received":true}` {
							t.Errorf("%s: provider got %d %s", no, status, body)
						}
					})
				}
			}
			wg.Wait()
			for _, no := range orderNos {
				paidOnce(t, db, no)
			}
		}

		storm("O1", "O2", "O3")
		if code, r := readyz(t, srv.URL); code != http.StatusOK || r.Status != "ok" || r.Checks["lock"] != "ok" {
			t.Fatalf("/readyz with Redis up = %d %+v", code, r)
		}

		before := testutil.ToFloat64(redislock.Degraded)
		proxy.Cut()
		storm("O4", "O5", "O6")
		if testutil.ToFloat64(redislock.Degraded) == before {
			t.Error("gateway_lock_degraded_total did not move after Redis stopped")
		}
		code, r := readyz(t, srv.URL)
		if code != http.StatusOK || r.Status != "degraded" || r.Checks["database"] != "ok" ||
			!strings.HasPrefix(r.Checks["lock"], "degraded") {
			t.Fatalf("/readyz with Redis down = %d %+v; want 200, degraded, database ok", code, r)
		}
		t.Logf("readyz: %+v", r)
	})
}
