package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/config"
	"gateway/httpapi"
	"gateway/ledger"
	"gateway/redislock"
	"gateway/redislock/redistest"
	"gateway/store"
	"gateway/store/storetest"
	"gateway/submission"
)

const (
	m1 = "merchant-one-token-0001"
	m2 = "merchant-two-token-0002"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// orderStore wraps the database's order insert so a test can hold the
// first submission mid-flight or make it fail once.
type orderStore struct {
	*store.DB
	entered  chan struct{}
	release  chan struct{}
	held     atomic.Bool
	failOnce atomic.Bool
}

func (s *orderStore) CreateOrder(ctx context.Context, o *ledger.Order) error {
	if s.release != nil && s.held.CompareAndSwap(false, true) {
		close(s.entered)
		<-s.release
	}
	if s.failOnce.CompareAndSwap(true, false) {
		return errors.New("injected database failure")
	}
	return s.DB.CreateOrder(ctx, o)
}

type options struct {
	store *orderStore
	cfg   submission.Config
	lock  httpapi.Pinger
}

func newOrdersServer(t *testing.T, db *store.DB, opt options) string {
	t.Helper()
	if opt.store == nil {
		opt.store = &orderStore{DB: db}
	}
	orders := ledger.NewService(opt.store)
	srv := httptest.NewServer(httpapi.New(httpapi.Deps{Orders: orders,
		Submissions: submission.NewService(db, orders, opt.cfg), DB: db, Lock: opt.lock,
		Auth:         config.Auth{APITokens: []config.Secret{"m1:" + m1, "m2:" + m2}},
		MaxBodyBytes: 1 << 20, Log: quiet}).Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) code() string {
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func do(t *testing.T, method, url, token, body string, header ...string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return reply{}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	return reply{resp.StatusCode, resp.Header, b}
}

const o1 = `{"order_no":"O1","amount":2500,"currency":"USD"}`

// Concurrent submissions with one Idempotency-Key make one order, and every
// caller gets the same answer, status and body byte for byte.
func TestIdempotencyKeyConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		url := newOrdersServer(t, db, options{cfg: submission.Config{InFlightWait: time.Minute}})
		const n = 16
		replies := make([]reply, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { replies[i] = do(t, "POST", url+"/api/orders", m1, o1, "Idempotency-Key", "key-1") })
		}
		wg.Wait()
		first := 0
		for i, r := range replies {
			if r.status != http.StatusCreated {
				t.Fatalf("reply %d: %d %s", i, r.status, r.body)
			}
			if diff := cmp.Diff(string(replies[0].body), string(r.body)); diff != "" {
				t.Errorf("reply %d differs (-0 +%d):\n%s", i, i, diff)
			}
			if r.header.Get("ETag") != `"1"` || r.header.Get("Location") != "/api/orders/O1" {
				t.Errorf("reply %d: ETag %q Location %q", i, r.header.Get("ETag"), r.header.Get("Location"))
			}
			if r.header.Get("Idempotent-Replayed") == "" {
				first++
			}
		}
		if first != 1 {
			t.Errorf("%d replies ran the request, want 1 (the rest replayed)", first)
		}
		var n1 int64
		if err := db.SQL().QueryRow("SELECT COUNT(*) FROM orders").Scan(&n1); err != nil || n1 != 1 {
			t.Fatalf("%d orders (%v), want 1", n1, err)
		}
		type stamps struct {
			CreatedAt string `json:"created_at"`
			UpdatedAt string `json:"updated_at"`
		}
		var posted, got stamps
		_ = json.Unmarshal(replies[0].body, &posted)
		_ = json.Unmarshal(do(t, "GET", url+"/api/orders/O1", m1, "").body, &got)
		if posted.CreatedAt == "" || posted != got {
			t.Errorf("timestamps: POST answered %+v, GET reads %+v", posted, got)
		}

		for _, tc := range []struct {
			name, token, body, key string
			status                 int
			code                   string
			replayed               bool
		}{
			{"same key, same request", m1, o1, "key-1", http.StatusCreated, "", true},
			{"same key, other request", m1, `{"order_no":"O2","amount":2500,"currency":"USD"}`, "key-1", http.StatusUnprocessableEntity, "idempotency_key_reused", false},
			{"same key, same body reformatted", m1, o1 + " ", "key-1", http.StatusUnprocessableEntity, "idempotency_key_reused", false},
			{"same key, other principal", m2, o1, "key-1", http.StatusCreated, "", false},
			{"bad key", m1, o1, "a key with spaces", http.StatusBadRequest, "invalid_idempotency_key", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := do(t, "POST", url+"/api/orders", tc.token, tc.body, "Idempotency-Key", tc.key)
				if r.status != tc.status || r.code() != tc.code || (r.header.Get("Idempotent-Replayed") == "true") != tc.replayed {
					t.Fatalf("got %d %s (replayed %q), want %d %q replayed=%v", r.status, r.body,
						r.header.Get("Idempotent-Replayed"), tc.status, tc.code, tc.replayed)
				}
			})
		}
	})
}

// A repeat while the first request is still running is 409 (after a short
// wait); once the first has answered, a repeat gets its answer.
func TestIdempotencyKeyInFlight(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := &orderStore{DB: db, entered: make(chan struct{}), release: make(chan struct{})}
		url := newOrdersServer(t, db, options{store: st, cfg: submission.Config{InFlightWait: 20 * time.Millisecond}})
		first := make(chan reply, 1)
		go func() { first <- do(t, "POST", url+"/api/orders", m1, o1, "Idempotency-Key", "k") }()
		<-st.entered
		r := do(t, "POST", url+"/api/orders", m1, o1, "Idempotency-Key", "k")
		if r.status != http.StatusConflict || r.code() != "idempotency_in_flight" || r.header.Get("Retry-After") == "" {
			t.Fatalf("repeat in flight: %d %s Retry-After %q", r.status, r.body, r.header.Get("Retry-After"))
		}
		close(st.release)
		a := <-first
		b := do(t, "POST", url+"/api/orders", m1, o1, "Idempotency-Key", "k")
		if a.status != http.StatusCreated || b.status != a.status || string(b.body) != string(a.body) {
			t.Fatalf("first %d %s; repeat after it %d %s", a.status, a.body, b.status, b.body)
		}
	})
}

// A failure (5xx) is not stored: the retry with the same key runs afresh.
func TestIdempotencyKeyFailureNotStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		st := &orderStore{DB: db}
		st.failOnce.Store(true)
		url := newOrdersServer(t, db, options{store: st})
		if r := do(t, "POST", url+"/api/orders", m1, o1, "Idempotency-Key", "k"); r.status != http.StatusInternalServerError {
			t.Fatalf("injected failure answered %d %s", r.status, r.body)
		}
		r := do(t, "POST", url+"/api/orders", m1, o1, "Idempotency-Key", "k")
		if r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("retry: %d %s replayed %q; want a fresh 201", r.status, r.body, r.header.Get("Idempotent-Replayed"))
		}
	})
}

func issueToken(t *testing.T, url, token string) string {
	t.Helper()
	r := do(t, "POST", url+"/api/tokens", token, "")
	var got struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != http.StatusCreated || got.Token == "" ||
		got.ExpiresAt.IsZero() || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("POST /api/tokens: %d %s (%v)", r.status, r.body, err)
	}
	return got.Token
}

func withToken(orderNo, token string) string {
	return fmt.Sprintf(`{"order_no":%q,"amount":2500,"currency":"USD","form_token":%q}`, orderNo, token)
}

func TestFormTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		url := newOrdersServer(t, db, options{})
		tok := issueToken(t, url, m1)
		for _, tc := range []struct {
			name, token, body string
			status            int
			code              string
		}{
			{"first use", m1, withToken("F1", tok), http.StatusCreated, ""},
			{"second use", m1, withToken("F2", tok), http.StatusConflict, "token_used"},
			{"double submit of the same form", m1, withToken("F1", tok), http.StatusConflict, "token_used"},
			{"unknown token", m1, withToken("F3", "ft_unknown"), http.StatusUnprocessableEntity, "token_invalid"},
			{"another merchant's token", m2, withToken("F4", issueToken(t, url, m1)), http.StatusUnprocessableEntity, "token_invalid"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := do(t, "POST", url+"/api/orders", tc.token, tc.body)
				if r.status != tc.status || r.code() != tc.code {
					t.Fatalf("got %d %s, want %d %q", r.status, r.body, tc.status, tc.code)
				}
			})
		}
		for _, no := range []string{"F2", "F3", "F4"} {
			if r := do(t, "GET", url+"/api/orders/"+no, m1, ""); r.status != http.StatusNotFound {
				t.Errorf("refused order %s exists: %d", no, r.status)
			}
		}
	})
}

// setPaid moves an order to paid as a payment callback would (test setup).
func setPaid(t *testing.T, db *store.DB, orderNo string) {
	t.Helper()
	ctx := context.Background()
	o, err := db.Order(ctx, orderNo)
	if err != nil {
		t.Fatal(err)
	}
	next := o
	next.Status, next.PaidAmount = ledger.StatusPaid, o.Price.Amount
	if err := db.UpdateOrder(ctx, next, o.Version); err != nil {
		t.Fatal(err)
	}
}

func TestDispatchAndReceipt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		url := newOrdersServer(t, db, options{})
		for _, no := range []string{"P1", "C1"} {
			if r := do(t, "POST", url+"/api/orders", m1, fmt.Sprintf(`{"order_no":%q,"amount":900,"currency":"EUR"}`, no)); r.status != http.StatusCreated {
				t.Fatalf("create %s: %d %s", no, r.status, r.body)
			}
		}
		setPaid(t, db, "P1") // version 2
		if r := do(t, "GET", url+"/api/orders/P1", m1, ""); r.header.Get("ETag") != `"2"` {
			t.Fatalf("GET ETag = %q, want \"2\"", r.header.Get("ETag"))
		}
		// Steps run in order: each builds on the last.
		for _, tc := range []struct {
			name, action, ifMatch string
			status                int
			code, etag, state     string
		}{
			{"missing If-Match", "P1/ship", "", http.StatusPreconditionRequired, "precondition_required", "", ""},
			{"stale version", "P1/ship", `"1"`, http.StatusPreconditionFailed, "version_conflict", "", ""},
			{"future version", "P1/ship", "7", http.StatusPreconditionFailed, "version_conflict", "", ""},
			{"wildcard refused", "P1/ship", "*", http.StatusBadRequest, "bad_request", "", ""},
			{"list refused", "P1/ship", `"1", "2"`, http.StatusBadRequest, "bad_request", "", ""},
			{"half-quoted refused", "P1/ship", `"2`, http.StatusBadRequest, "bad_request", "", ""},
			{"signed refused", "P1/ship", "+2", http.StatusBadRequest, "bad_request", "", ""},
			{"close a paid order", "P1/close", "2", http.StatusConflict, "invalid_transition", "", ""},
			{"ship, bare version", "P1/ship", "2", http.StatusOK, "", `"3"`, "shipped"},
			{"ship again", "P1/ship", "3", http.StatusConflict, "invalid_transition", "", ""},
			{"receive, quoted ETag", "P1/receive", `"3"`, http.StatusOK, "", `"4"`, "received"},
			{"receive again, weak ETag", "P1/receive", `W/"4"`, http.StatusConflict, "invalid_transition", "", ""},
			{"receive an unpaid order", "C1/receive", "1", http.StatusConflict, "invalid_transition", "", ""},
			{"close an unpaid order", "C1/close", `"1"`, http.StatusOK, "", `"2"`, "closed"},
			{"unknown order", "NOPE/ship", "1", http.StatusNotFound, "order_not_found", "", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var h []string
				if tc.ifMatch != "" {
					h = []string{"If-Match", tc.ifMatch}
				}
				r := do(t, "POST", url+"/api/orders/"+tc.action, m1, "", h...)
				if r.status != tc.status || r.code() != tc.code || r.header.Get("ETag") != tc.etag {
					t.Fatalf("got %d %s ETag %q, want %d %q ETag %q", r.status, r.body, r.header.Get("ETag"), tc.status, tc.code, tc.etag)
				}
				if tc.state != "" {
					var o struct {
						Status  string `json:"status"`
						Version int64  `json:"version"`
					}
					if err := json.Unmarshal(r.body, &o); err != nil || o.Status != tc.state || `"`+fmt.Sprint(o.Version)+`"` != tc.etag {
						t.Fatalf("body %s: want status %s at version %s", r.body, tc.state, tc.etag)
					}
				}
			})
		}
	})
}

// Two dispatches with the same If-Match race: one wins, the other is 412.
func TestConcurrentDispatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		url := newOrdersServer(t, db, options{})
		if r := do(t, "POST", url+"/api/orders", m1, o1); r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		setPaid(t, db, "O1")
		const n = 6
		codes := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { codes[i] = do(t, "POST", url+"/api/orders/O1/ship", m1, "", "If-Match", `"2"`).status })
		}
		wg.Wait()
		count := map[int]int{}
		for _, c := range codes {
			count[c]++
		}
		if diff := cmp.Diff(map[int]int{http.StatusOK: 1, http.StatusPreconditionFailed: n - 1}, count); diff != "" {
			t.Fatalf("status counts (-want +got):\n%s", diff)
		}
	})
}

func TestReadyzReportsTheLock(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		lockAt := func(addr string) httpapi.Pinger {
			l, err := redislock.New(redislock.Config{Addr: addr, TTL: time.Second, Prefix: redistest.Prefix(t), Timeout: redistest.Timeout}, quiet)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			return l
		}
		for _, tc := range []struct {
			name string
			lock httpapi.Pinger
			want string
		}{
			{"no lock", nil, `{"checks":{"database":"ok"},"status":"ok"}`},
			{"redis up", lockAt(redistest.Addr(t)), `{"checks":{"database":"ok","lock":"ok"},"status":"ok"}`},
			{"redis down", lockAt(redistest.ClosedAddr(t)),
				`{"checks":{"database":"ok","lock":"degraded: redis unreachable; callbacks rely on the database checks alone"},"status":"degraded"}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				url := newOrdersServer(t, db, options{lock: tc.lock})
				r := do(t, "GET", url+"/readyz", "", "")
				if r.status != http.StatusOK || string(r.body) != tc.want {
					t.Fatalf("/readyz = %d %s, want 200 %s", r.status, r.body, tc.want)
				}
			})
		}
	})
}
