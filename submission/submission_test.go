package submission_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/ledger"
	"gateway/store"
	"gateway/store/storetest"
	"gateway/submission"
)

// clock is a settable clock for expiries and leases.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newService(t *testing.T, db *store.DB, cfg submission.Config) (*submission.Service, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	orders := ledger.NewService(db)
	orders.Now = clk.Now
	s := submission.NewService(db, orders, cfg)
	s.Now = clk.Now
	return s, clk
}

var answer = submission.Response{Status: http.StatusCreated,
	Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Etag": {`"1"`}},
	Body:   []byte(`{"order_no":"O1"}`)}

func begin(t *testing.T, s *submission.Service, principal, key, fp string) submission.Claim {
	t.Helper()
	c, err := s.Begin(context.Background(), principal, key, fp)
	if err != nil {
		t.Fatalf("Begin(%s, %s): %v", principal, key, err)
	}
	return c
}

func TestIdempotencyKeys(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cfg := submission.Config{KeyTTL: time.Hour, Lease: 30 * time.Second, InFlightWait: 10 * time.Millisecond}
		fp := submission.Fingerprint("POST", "/api/orders", []byte(`{"order_no":"O1"}`))
		other := submission.Fingerprint("POST", "/api/orders", []byte(`{"order_no":"O2"}`))

		t.Run("first runs, repeat replays, other request refused", func(t *testing.T) {
			s, _ := newService(t, db, cfg)
			c := begin(t, s, "api:m1", "k-replay", fp)
			if c.Replay != nil {
				t.Fatal("a new key replayed something")
			}
			if err := s.Complete(ctx, c, answer); err != nil {
				t.Fatal(err)
			}
			again := begin(t, s, "api:m1", "k-replay", fp)
			if again.Replay == nil {
				t.Fatal("a repeat ran again")
			}
			if diff := cmp.Diff(answer, *again.Replay); diff != "" {
				t.Errorf("replayed answer (-want +got):\n%s", diff)
			}
			if _, err := s.Begin(ctx, "api:m1", "k-replay", other); !errors.Is(err, submission.ErrKeyReused) {
				t.Errorf("other request with the key: %v, want ErrKeyReused", err)
			}
		})
		t.Run("keys are scoped per principal", func(t *testing.T) {
			s, _ := newService(t, db, cfg)
			begin(t, s, "api:m1", "k-scope", fp)
			if c := begin(t, s, "api:m2", "k-scope", other); c.Replay != nil {
				t.Fatal("another principal's key answered")
			}
		})
		t.Run("repeat while the first runs is ErrInFlight", func(t *testing.T) {
			s, _ := newService(t, db, cfg)
			begin(t, s, "api:m1", "k-inflight", fp)
			if _, err := s.Begin(ctx, "api:m1", "k-inflight", fp); !errors.Is(err, submission.ErrInFlight) {
				t.Fatalf("Begin = %v, want ErrInFlight", err)
			}
		})
		t.Run("a dead first request is taken over after its lease", func(t *testing.T) {
			s, clk := newService(t, db, cfg)
			dead := begin(t, s, "api:m1", "k-lease", fp)
			clk.Advance(31 * time.Second)
			c := begin(t, s, "api:m1", "k-lease", fp)
			if c.Replay != nil {
				t.Fatal("took over into a replay")
			}
			if err := s.Complete(ctx, dead, answer); !errors.Is(err, submission.ErrLeaseLost) {
				t.Fatalf("the dead request's Complete = %v, want ErrLeaseLost", err)
			}
			if err := s.Complete(ctx, c, answer); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("released key runs afresh", func(t *testing.T) {
			s, _ := newService(t, db, cfg)
			c := begin(t, s, "api:m1", "k-release", fp)
			if err := s.Release(ctx, c); err != nil {
				t.Fatal(err)
			}
			if c := begin(t, s, "api:m1", "k-release", other); c.Replay != nil {
				t.Fatal("released key replayed")
			}
		})
		t.Run("expired key is forgotten", func(t *testing.T) {
			s, clk := newService(t, db, cfg)
			c := begin(t, s, "api:m1", "k-expire", fp)
			if err := s.Complete(ctx, c, answer); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Hour)
			if c := begin(t, s, "api:m1", "k-expire", other); c.Replay != nil {
				t.Fatal("expired key replayed")
			}
		})
		t.Run("bad keys", func(t *testing.T) {
			s, _ := newService(t, db, cfg)
			for _, k := range []string{"", "has space", "naïve", string(make([]byte, 129))} {
				if _, err := s.Begin(ctx, "api:m1", k, fp); !errors.Is(err, submission.ErrInvalidKey) {
					t.Errorf("Begin(%q) = %v, want ErrInvalidKey", k, err)
				}
			}
		})
	})
}

var usd = func(n int64) ledger.Money { return ledger.Money{Amount: n, Currency: "USD"} }

func issue(t *testing.T, s *submission.Service, principal string) string {
	t.Helper()
	tok, err := s.IssueToken(context.Background(), principal)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}

func TestFormTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := newService(t, db, submission.Config{TokenTTL: time.Hour})
		create := func(token, orderNo string, amount int64) (ledger.Order, bool, error) {
			return s.CreateOrder(ctx, "api:m1", token, ledger.NewOrder{OrderNo: orderNo, Price: usd(amount)})
		}
		mustNotExist := func(t *testing.T, orderNo string) {
			t.Helper()
			if _, err := db.Order(ctx, orderNo); !errors.Is(err, ledger.ErrNotFound) {
				t.Fatalf("order %s exists (%v); a refused submission must write nothing", orderNo, err)
			}
		}

		tok := issue(t, s, "api:m1")
		if o, created, err := create(tok, "T1", 100); err != nil || !created || o.OrderNo != "T1" {
			t.Fatalf("first use: %+v %v %v", o, created, err)
		}
		if _, _, err := create(tok, "T2", 100); !errors.Is(err, submission.ErrTokenUsed) {
			t.Fatalf("second use: %v, want ErrTokenUsed", err)
		}
		mustNotExist(t, "T2")

		for _, tc := range []struct {
			name    string
			token   func() string
			orderNo string
			amount  int64
			want    error
			// usable: the token must still work after the refusal.
			usable bool
		}{
			{"unknown token", func() string { return "ft_nope" }, "T3", 100, submission.ErrTokenUnknown, false},
			{"not a token", func() string { return "abc" }, "T3", 100, submission.ErrTokenUnknown, false},
			{"another principal's token", func() string { return issue(t, s, "api:m2") }, "T3", 100, submission.ErrTokenUnknown, false},
			{"expired token", func() string { tk := issue(t, s, "api:m1"); clk.Advance(time.Hour); return tk }, "T3", 100, submission.ErrTokenExpired, false},
			{"bad order leaves the token alone", func() string { return issue(t, s, "api:m1") }, "T3", -5, ledger.ErrInvalid, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tk := tc.token()
				if _, _, err := create(tk, tc.orderNo, tc.amount); !errors.Is(err, tc.want) {
					t.Fatalf("CreateOrder = %v, want %v", err, tc.want)
				}
				mustNotExist(t, tc.orderNo)
				if tc.usable {
					if _, created, err := create(tk, tc.orderNo, 100); err != nil || !created {
						t.Fatalf("the token after the refusal: %v %v", created, err)
					}
				}
			})
		}

		t.Run("a taken order number leaves the token usable", func(t *testing.T) {
			tk := issue(t, s, "api:m1")
			if _, _, err := create(tk, "T1", 999); !errors.Is(err, ledger.ErrExists) {
				t.Fatalf("same number, other content: %v, want ErrExists", err)
			}
			if _, created, err := create(tk, "T4", 100); err != nil || !created {
				t.Fatalf("the token after a refused order: %v %v", created, err)
			}
		})
	})
}

// Many submissions race with one token: exactly one order is created.
func TestFormTokenRace(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		s, _ := newService(t, db, submission.Config{})
		tok := issue(t, s, "api:m1")
		const n = 12
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, _, errs[i] = s.CreateOrder(context.Background(), "api:m1", tok,
					ledger.NewOrder{OrderNo: fmt.Sprintf("R%d", i), Price: usd(100)})
			})
		}
		wg.Wait()
		created := 0
		for i, err := range errs {
			switch {
			case err == nil:
				created++
			case !errors.Is(err, submission.ErrTokenUsed):
				t.Errorf("submission %d: %v, want nil or ErrTokenUsed", i, err)
			}
		}
		if created != 1 {
			t.Fatalf("%d orders created with one token, want 1", created)
		}
	})
}

func TestCleanup(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s, clk := newService(t, db, submission.Config{KeyTTL: time.Hour, TokenTTL: time.Hour})
		fp := submission.Fingerprint("POST", "/api/orders", nil)
		for i := range 3 {
			c := begin(t, s, "api:m1", fmt.Sprintf("old-%d", i), fp)
			if err := s.Complete(ctx, c, answer); err != nil {
				t.Fatal(err)
			}
			issue(t, s, "api:m1")
		}
		begin(t, s, "api:m1", "old-pending", fp) // a first request that never finished
		clk.Advance(30 * time.Minute)
		fresh := begin(t, s, "api:m1", "fresh", fp)
		freshToken := issue(t, s, "api:m1")
		clk.Advance(31 * time.Minute) // the first ones are past their hour

		n, err := s.Cleanup(ctx, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		if n != 7 {
			t.Errorf("Cleanup deleted %d rows, want 7 (4 keys, 3 tokens)", n)
		}
		if n, err := s.Cleanup(ctx, clk.Now()); err != nil || n != 0 {
			t.Errorf("second Cleanup = %d, %v; want 0", n, err)
		}
		if err := s.Complete(ctx, fresh, answer); err != nil {
			t.Errorf("a live key was cleaned up: %v", err)
		}
		if _, _, err := s.CreateOrder(ctx, "api:m1", freshToken, ledger.NewOrder{OrderNo: "C1", Price: usd(1)}); err != nil {
			t.Errorf("a live token was cleaned up: %v", err)
		}
	})
}
