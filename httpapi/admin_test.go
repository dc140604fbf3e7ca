package httpapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/callbacks/callbackstest"
	"gateway/config"
	"gateway/httpapi"
	"gateway/metrics"
	"gateway/ops"
	"gateway/providers/standardwebhooks"
	"gateway/report"
	"gateway/store"
	"gateway/store/storetest"
)

// Tokens as configured ("name:token") and as presented.
const (
	adminSecret = "ops:admin-token-0123456789"
	adminToken  = "admin-token-0123456789"
	apiSecret   = "shop:api-token-0123456789"
	apiToken    = "api-token-0123456789"
	acmeSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// gateway is the HTTP edge over a test database, with the admin API and
// metrics wired as `gateway serve` wires them.
type gateway struct {
	*callbackstest.Env
	srv     *httptest.Server
	ops     *ops.Service
	reports *report.Service
	metrics *metrics.Metrics
}

func newGateway(t testing.TB, db *store.DB, metricsPublic bool, with ...func(*httpapi.Deps)) *gateway {
	t.Helper()
	acme, err := standardwebhooks.New(standardwebhooks.Config{Name: "acme", Secrets: []string{acmeSecret},
		Fields: standardwebhooks.Fields{TxnID: "data.id", EventType: "type", OrderNo: "data.order_no", Amount: "data.amount", Currency: "data.currency"}})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := metrics.New(metrics.Options{Providers: []string{"stripe", "acme"}, Backlog: db, Log: log})
	env := callbackstest.New(t, db, callbacks.Config{Observer: m}, acme)
	reports := report.NewService(db, log)
	reports.Now = env.Clock.Now
	o := ops.New(db, env.Callbacks, reports, log)
	o.Now = env.Clock.Now
	deps := httpapi.Deps{Callbacks: env.Callbacks, Orders: env.Orders, DB: db,
		Auth:         config.Auth{APITokens: []config.Secret{apiSecret}, AdminTokens: []config.Secret{adminSecret}},
		MaxBodyBytes: 1 << 20, Log: log, Ops: o, Metrics: m.Handler(), MetricsPublic: metricsPublic, Now: env.Clock.Now}
	for _, f := range with {
		f(&deps)
	}
	srv := httptest.NewServer(httpapi.New(deps).Handler())
	t.Cleanup(srv.Close)
	return &gateway{Env: env, srv: srv, ops: o, reports: reports, metrics: m}
}

func (g *gateway) do(t *testing.T, method, path, token string, body []byte, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, g.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// admin calls the admin API with the admin token and decodes a 200 answer.
func (g *gateway) admin(t *testing.T, method, path string, v any) {
	t.Helper()
	resp, body := g.do(t, method, path, adminToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("%s %s: %v in %s", method, path, err, body)
	}
}

// callback POSTs a Stripe event, signed at the clock's time, as Stripe does.
func (g *gateway) callback(t *testing.T, ev callbackstest.Event, header ...string) {
	t.Helper()
	in := callbackstest.Inbound(ev.Body(), g.Clock.Now())
	resp, body := g.do(t, http.MethodPost, "/callbacks/stripe", "", in.Body,
		append([]string{"Content-Type", "application/json", "Stripe-Signature", in.Header.Get("Stripe-Signature")}, header...)...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback %s: %d %s", ev.ID, resp.StatusCode, body)
	}
}

func pay(orderNo string, amount int64) callbackstest.Event {
	return callbackstest.Event{ID: "evt_" + orderNo, Type: "payment_intent.succeeded", ObjectID: "pi_" + orderNo,
		OrderNo: orderNo, Amount: amount, Currency: "USD"}
}

// receiptList is the list shape of DESIGN §5.
type receiptList struct {
	Items []struct {
		ID          int64     `json:"id"`
		Provider    string    `json:"provider"`
		TxnID       string    `json:"txn_id"`
		EventID     string    `json:"event_id"`
		EventType   string    `json:"event_type"`
		OrderNo     string    `json:"order_no"`
		Amount      int64     `json:"amount"`
		Currency    string    `json:"currency"`
		Status      string    `json:"status"`
		Reason      string    `json:"reason"`
		Deliveries  int64     `json:"deliveries"`
		FirstSeenAt time.Time `json:"first_seen_at"`
		LastSeenAt  time.Time `json:"last_seen_at"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

type replayAnswer struct {
	ReceiptID      int64  `json:"receipt_id"`
	DryRun         bool   `json:"dry_run"`
	Action         string `json:"action"`
	Changed        bool   `json:"changed"`
	PreviousStatus string `json:"previous_status"`
	Receipt        struct {
		Status string `json:"status"`
	} `json:"receipt"`
	OrderBefore *struct {
		Status  string `json:"status"`
		Version int64  `json:"version"`
	} `json:"order_before"`
	OrderAfter *struct {
		Status     string `json:"status"`
		Version    int64  `json:"version"`
		PaidAmount int64  `json:"paid_amount"`
	} `json:"order_after"`
	Ledger []struct {
		Account string `json:"account"`
		Amount  int64  `json:"amount"`
	} `json:"ledger"`
}

func receiptIDs(t *testing.T, g *gateway, query string) []int64 {
	t.Helper()
	var l receiptList
	g.admin(t, http.MethodGet, "/admin/callbacks?"+query, &l)
	ids := make([]int64, len(l.Items))
	for i, it := range l.Items {
		ids[i] = it.ID
	}
	return ids
}

func TestAdminAuth(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGateway(t, db, false)
		g.callback(t, pay("A1", 100))
		id := receiptIDs(t, g, "")[0]
		if _, err := g.reports.StoreDaily(context.Background()); err != nil {
			t.Fatal(err)
		}
		endpoints := []struct{ method, path string }{
			{http.MethodGet, "/admin/callbacks"},
			{http.MethodGet, fmt.Sprintf("/admin/callbacks/%d", id)},
			{http.MethodPost, fmt.Sprintf("/admin/callbacks/%d/replay?dry_run=true", id)},
			{http.MethodPost, fmt.Sprintf("/admin/callbacks/%d/replay", id)},
			{http.MethodPost, "/admin/callbacks/replay?status=unknown&dry_run=true"},
			{http.MethodGet, "/admin/audit"},
			{http.MethodGet, "/admin/reports/reconciliation?from=2025-03-10&to=2025-03-11"},
			{http.MethodGet, "/admin/reports/reconciliation?from=2025-03-10&to=2025-03-11&format=csv"},
			{http.MethodGet, "/admin/reports/reconciliation/daily/2025-03-09"},
			{http.MethodGet, "/metrics"},
		}
		for _, ep := range endpoints {
			t.Run(ep.method+" "+ep.path, func(t *testing.T) {
				for _, tc := range []struct {
					name, token string
					want        int
				}{
					{"no token", "", http.StatusUnauthorized},
					{"wrong token", "not-a-token-0123456789", http.StatusUnauthorized},
					{"api token", apiToken, http.StatusForbidden},
					{"admin token", adminToken, http.StatusOK},
				} {
					audit := storetest.Counts(t, db)["audit_log"]
					resp, body := g.do(t, ep.method, ep.path, tc.token, nil)
					if resp.StatusCode != tc.want {
						t.Errorf("%s: %d %s, want %d", tc.name, resp.StatusCode, body, tc.want)
					}
					if tc.want != http.StatusOK {
						if n := storetest.Counts(t, db)["audit_log"]; n != audit {
							t.Errorf("%s: a refused request wrote %d audit rows", tc.name, n-audit)
						}
						var e struct {
							Error struct{ Code string } `json:"error"`
						}
						if json.Unmarshal(body, &e) != nil || e.Error.Code == "" {
							t.Errorf("%s: error body %s has no error code", tc.name, body)
						}
					}
				}
			})
		}
		t.Run("metrics_public", func(t *testing.T) {
			open := newGateway(t, db, true)
			if resp, body := open.do(t, http.MethodGet, "/metrics", "", nil); resp.StatusCode != http.StatusOK {
				t.Errorf("public /metrics without a token: %d %s", resp.StatusCode, body)
			}
			if resp, _ := open.do(t, http.MethodGet, "/admin/callbacks", "", nil); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("metrics_public opened the admin API: %d", resp.StatusCode)
			}
		})
	})
}

func TestAdminListReceipts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGateway(t, db, false)
		// Seven receipts a minute apart: four applied, two unknown (no
		// order), one rejected (amount mismatch).
		for i := 1; i <= 7; i++ {
			orderNo := fmt.Sprintf("L%d", i)
			switch {
			case i <= 4:
				g.Order(t, orderNo, 100, "USD")
				g.callback(t, pay(orderNo, 100))
			case i <= 6:
				g.callback(t, pay(orderNo, 100))
			default:
				g.Order(t, orderNo, 100, "USD")
				g.callback(t, pay(orderNo, 101))
			}
			g.Clock.Add(time.Minute)
		}
		all := receiptIDs(t, g, "limit=500")
		if len(all) != 7 || !slices.IsSortedFunc(all, func(a, b int64) int { return int(b - a) }) {
			t.Fatalf("all receipts: %v, want 7, newest first", all)
		}

		t.Run("pagination", func(t *testing.T) {
			var got []int64
			var sizes []int
			cursor := ""
			for range 10 {
				var l receiptList
				g.admin(t, http.MethodGet, "/admin/callbacks?limit=3&cursor="+cursor, &l)
				sizes = append(sizes, len(l.Items))
				for _, it := range l.Items {
					got = append(got, it.ID)
				}
				if cursor = l.NextCursor; cursor == "" {
					break
				}
			}
			if diff := cmp.Diff([]int{3, 3, 1}, sizes); diff != "" {
				t.Errorf("page sizes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(all, got); diff != "" {
				t.Errorf("pages do not add up to the list (-want +got):\n%s", diff)
			}
		})
		t.Run("filters", func(t *testing.T) {
			for _, tc := range []struct {
				query string
				want  []int64
			}{
				{"status=applied", all[3:]},
				{"status=unknown", all[1:3]},
				{"status=rejected", all[:1]},
				{"status=unknown&provider=stripe", all[1:3]},
				{"provider=acme", []int64{}},
				{"order_no=L2", all[5:6]},
				// L3 was first seen at Start+2m, L5 at Start+4m.
				{"from=2025-03-10T12:02:00Z&to=2025-03-10T12:05:00Z", all[2:5]},
				{"status=applied&limit=2", all[3:5]},
			} {
				t.Run(tc.query, func(t *testing.T) {
					if diff := cmp.Diff(tc.want, receiptIDs(t, g, tc.query)); diff != "" {
						t.Errorf("ids (-want +got):\n%s", diff)
					}
				})
			}
		})
		t.Run("receipt shape", func(t *testing.T) {
			var l receiptList
			g.admin(t, http.MethodGet, "/admin/callbacks?order_no=L7", &l)
			it := l.Items[0]
			if it.Provider != "stripe" || it.TxnID != "pi_L7:payment.succeeded" || it.EventID != "evt_L7" ||
				it.EventType != "payment_intent.succeeded" || it.Amount != 101 || it.Currency != "USD" ||
				it.Status != "rejected" || !strings.HasPrefix(it.Reason, "amount or currency mismatch") ||
				it.Deliveries != 1 || !it.FirstSeenAt.Equal(callbackstest.Start.Add(6*time.Minute)) {
				t.Errorf("receipt: %+v", it)
			}
		})
		t.Run("bad filters", func(t *testing.T) {
			for _, q := range []string{"status=paid", "limit=0", "limit=501", "limit=x", "cursor=abc", "cursor=-1",
				"from=yesterday", "from=2025-03-11&to=2025-03-10"} {
				before := storetest.Counts(t, db)["audit_log"]
				resp, body := g.do(t, http.MethodGet, "/admin/callbacks?"+q, adminToken, nil)
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("%s: %d %s, want 400", q, resp.StatusCode, body)
				}
				if after := storetest.Counts(t, db)["audit_log"]; after != before && after != before+1 {
					t.Errorf("%s: %d audit rows", q, after-before)
				}
			}
		})
	})
}

func TestAdminShowReceipt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGateway(t, db, false)
		ev := pay("S1", 250)
		g.callback(t, ev, "Authorization", "Bearer should-not-be-kept", "X-Request-Id", "req-s1")
		id := receiptIDs(t, g, "")[0]
		var got struct {
			ID            int64               `json:"id"`
			Status        string              `json:"status"`
			Kind          string              `json:"kind"`
			Fingerprint   string              `json:"fingerprint"`
			Headers       map[string][]string `json:"headers"`
			RawBody       *string             `json:"raw_body"`
			RawBodyBase64 string              `json:"raw_body_base64"`
			Ack           struct {
				Status int    `json:"status"`
				Body   string `json:"body"`
			} `json:"ack"`
		}
		g.admin(t, http.MethodGet, fmt.Sprintf("/admin/callbacks/%d", id), &got)
		if got.ID != id || got.Status != "unknown" || got.Kind != "payment.succeeded" || len(got.Fingerprint) != 64 {
			t.Errorf("receipt: %+v", got)
		}
		if got.RawBody == nil || *got.RawBody != string(ev.Body()) {
			t.Errorf("raw_body: %v, want the bytes as sent", got.RawBody)
		}
		if _, ok := got.Headers["Authorization"]; ok {
			t.Errorf("the Authorization header was kept: %v", got.Headers)
		}
		if len(got.Headers["Stripe-Signature"]) != 1 || got.Headers["X-Request-Id"][0] != "req-s1" {
			t.Errorf("headers: %v, want Stripe-Signature and X-Request-Id", got.Headers)
		}
		if got.Ack.Status != http.StatusOK || got.Ack.Body != `{"received":true}` {
			t.Errorf("ack: %+v", got.Ack)
		}
		for _, path := range []string{"/admin/callbacks/999999", "/admin/callbacks/x"} {
			if resp, body := g.do(t, http.MethodGet, path, adminToken, nil); resp.StatusCode/100 != 4 {
				t.Errorf("%s: %d %s, want 4xx", path, resp.StatusCode, body)
			}
		}
	})
}

// orderLedger is GET /api/orders/{order_no} as a merchant sees it.
func orderLedger(t *testing.T, g *gateway, orderNo string) string {
	t.Helper()
	resp, body := g.do(t, http.MethodGet, "/api/orders/"+orderNo, apiToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("order %s: %d %s", orderNo, resp.StatusCode, body)
	}
	return string(body)
}

func TestAdminReplay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGateway(t, db, false)
		g.Order(t, "R1", 1000, "USD")
		g.callback(t, pay("R1", 1000))
		applied := receiptIDs(t, g, "order_no=R1")[0]
		g.callback(t, pay("R2", 2000))
		unknown := receiptIDs(t, g, "order_no=R2")[0]

		t.Run("applied is a no-op and the ledger is unchanged", func(t *testing.T) {
			before, rows := orderLedger(t, g, "R1"), storetest.Counts(t, db)
			var res replayAnswer
			g.admin(t, http.MethodPost, fmt.Sprintf("/admin/callbacks/%d/replay", applied), &res)
			if res.Action != "noop" || res.Changed || res.Receipt.Status != "applied" || res.PreviousStatus != "applied" {
				t.Errorf("replay: %+v", res)
			}
			if after := orderLedger(t, g, "R1"); after != before {
				t.Errorf("order changed:\n%s\n%s", before, after)
			}
			rows["audit_log"]++
			if diff := cmp.Diff(rows, storetest.Counts(t, db)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
		t.Run("dry run writes nothing but its audit row", func(t *testing.T) {
			g.Order(t, "R2", 2000, "USD")
			rows := storetest.Counts(t, db)
			var res replayAnswer
			g.admin(t, http.MethodPost, fmt.Sprintf("/admin/callbacks/%d/replay?dry_run=true", unknown), &res)
			if !res.DryRun || res.Action != "applied" || !res.Changed || res.OrderBefore == nil || res.OrderAfter == nil ||
				res.OrderBefore.Status != "created" || res.OrderAfter.Status != "paid" || res.OrderAfter.PaidAmount != 2000 ||
				len(res.Ledger) != 2 || res.Ledger[0].Amount+res.Ledger[1].Amount != 0 {
				t.Errorf("dry run: %+v", res)
			}
			rows["audit_log"]++
			if diff := cmp.Diff(rows, storetest.Counts(t, db)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if !strings.Contains(orderLedger(t, g, "R2"), `"status":"created"`) {
				t.Errorf("dry run changed the order")
			}
		})
		t.Run("concurrent replays of an unknown receipt apply it once", func(t *testing.T) {
			const n = 8
			var wg sync.WaitGroup
			actions := make([]string, n)
			for i := range n {
				wg.Go(func() {
					req, _ := http.NewRequest(http.MethodPost, g.srv.URL+fmt.Sprintf("/admin/callbacks/%d/replay", unknown), nil)
					req.Header.Set("Authorization", "Bearer "+adminToken)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						actions[i] = err.Error()
						return
					}
					defer resp.Body.Close()
					var res replayAnswer
					if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != http.StatusOK {
						actions[i] = fmt.Sprintf("%d %v", resp.StatusCode, err)
						return
					}
					actions[i] = res.Action
				})
			}
			wg.Wait()
			slices.Sort(actions)
			want := append([]string{"applied"}, slices.Repeat([]string{"noop"}, n-1)...)
			if diff := cmp.Diff(want, actions); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
			var o struct {
				Status     string            `json:"status"`
				PaidAmount int64             `json:"paid_amount"`
				Ledger     []json.RawMessage `json:"ledger"`
			}
			if err := json.Unmarshal([]byte(orderLedger(t, g, "R2")), &o); err != nil {
				t.Fatal(err)
			}
			if o.Status != "paid" || o.PaidAmount != 2000 || len(o.Ledger) != 2 {
				t.Errorf("order: %+v, want paid once", o)
			}
		})
		t.Run("refusals", func(t *testing.T) {
			for _, tc := range []struct {
				path string
				want int
			}{
				{"/admin/callbacks/424242/replay", http.StatusNotFound},
				{"/admin/callbacks/0/replay", http.StatusBadRequest},
				{fmt.Sprintf("/admin/callbacks/%d/replay?dry_run=maybe", applied), http.StatusBadRequest},
			} {
				if resp, body := g.do(t, http.MethodPost, tc.path, adminToken, nil); resp.StatusCode != tc.want {
					t.Errorf("%s: %d %s, want %d", tc.path, resp.StatusCode, body, tc.want)
				}
			}
		})
	})
}

type bulkAnswer struct {
	DryRun  bool           `json:"dry_run"`
	Summary map[string]int `json:"summary"`
	Items   []struct {
		ReceiptID int64  `json:"receipt_id"`
		Action    string `json:"action"`
		Status    string `json:"status"`
	} `json:"items"`
}

func TestAdminBulkReplay(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGateway(t, db, false)
		// Five unknown payments; their orders are created afterwards for
		// four of them.
		for i := 1; i <= 5; i++ {
			g.callback(t, pay(fmt.Sprintf("B%d", i), 300))
			g.Clock.Add(time.Second)
		}
		for i := 1; i <= 4; i++ {
			g.Order(t, fmt.Sprintf("B%d", i), 300, "USD")
		}
		unknown := receiptIDs(t, g, "status=unknown")
		slices.Reverse(unknown) // oldest first, as bulk replay goes

		rows := storetest.Counts(t, db)
		var dry bulkAnswer
		g.admin(t, http.MethodPost, "/admin/callbacks/replay?status=unknown&provider=stripe&dry_run=true", &dry)
		if diff := cmp.Diff(map[string]int{"selected": 5, "done": 5, "failed": 0, "applied": 4, "unknown": 1}, dry.Summary); diff != "" {
			t.Errorf("dry run summary (-want +got):\n%s", diff)
		}
		rows["audit_log"] += 5 + 1 // one per receipt and the summary
		if diff := cmp.Diff(rows, storetest.Counts(t, db)); diff != "" {
			t.Errorf("dry run rows (-want +got):\n%s", diff)
		}

		var first bulkAnswer
		g.admin(t, http.MethodPost, "/admin/callbacks/replay?status=unknown&limit=2", &first)
		if first.Summary["selected"] != 2 || first.Summary["applied"] != 2 || len(first.Items) != 2 ||
			first.Items[0].ReceiptID != unknown[0] || first.Items[1].ReceiptID != unknown[1] {
			t.Errorf("limit 2: %+v, want the two oldest applied", first)
		}
		var rest bulkAnswer
		g.admin(t, http.MethodPost, "/admin/callbacks/replay?status=unknown&provider=stripe", &rest)
		if diff := cmp.Diff(map[string]int{"selected": 3, "done": 3, "failed": 0, "applied": 2, "unknown": 1}, rest.Summary); diff != "" {
			t.Errorf("summary (-want +got):\n%s", diff)
		}
		if got := receiptIDs(t, g, "status=unknown"); !slices.Equal(got, unknown[4:]) {
			t.Errorf("still unknown: %v, want %v", got, unknown[4:])
		}
		if n := storetest.Counts(t, db)["ledger_entries"]; n != 8 {
			t.Errorf("%d ledger legs, want 8 (four payments)", n)
		}
		for _, q := range []string{"", "status=applied", "status=unknown&limit=1001"} {
			if resp, body := g.do(t, http.MethodPost, "/admin/callbacks/replay?"+q, adminToken, nil); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%q: %d %s, want 400", q, resp.StatusCode, body)
			}
		}
	})
}

func TestAdminAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGateway(t, db, false)
		g.callback(t, pay("U1", 100))
		id := receiptIDs(t, g, "")[0]
		g.Clock.Add(time.Minute)
		resp, _ := g.do(t, http.MethodPost, fmt.Sprintf("/admin/callbacks/%d/replay?dry_run=true", id), adminToken, nil)
		requestID := resp.Header.Get("X-Request-Id")
		g.do(t, http.MethodPost, fmt.Sprintf("/admin/callbacks/%d/replay", id), adminToken, nil)
		g.do(t, http.MethodPost, "/admin/callbacks/424242/replay", adminToken, nil)
		g.do(t, http.MethodGet, fmt.Sprintf("/admin/callbacks/%d", id), adminToken, nil)

		type entry struct {
			ID        int64          `json:"id"`
			At        time.Time      `json:"at"`
			Actor     string         `json:"actor"`
			Via       string         `json:"via"`
			Action    string         `json:"action"`
			Target    string         `json:"target"`
			Result    string         `json:"result"`
			Detail    map[string]any `json:"detail"`
			RequestID string         `json:"request_id"`
		}
		var l struct {
			Items      []entry `json:"items"`
			NextCursor string  `json:"next_cursor"`
		}
		g.admin(t, http.MethodGet, "/admin/audit", &l)
		type row struct{ Actor, Via, Action, Target, Result string }
		var got []row
		for _, e := range l.Items {
			got = append(got, row{e.Actor, e.Via, e.Action, e.Target, e.Result})
		}
		target := fmt.Sprintf("receipt:%d", id)
		want := []row{
			{"ops", "http", "callbacks.show", target, "ok"},
			{"ops", "http", "callbacks.replay", "receipt:424242", "failed"},
			{"ops", "http", "callbacks.replay", target, "unknown"},
			{"ops", "http", "callbacks.replay_dry_run", target, "unknown"},
			{"ops", "http", "callbacks.list", "", "ok"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("audit (-want +got):\n%s", diff)
		}
		if l.Items[3].RequestID != requestID || requestID == "" || !l.Items[3].At.Equal(callbackstest.Start.Add(time.Minute)) {
			t.Errorf("dry-run row: request %q at %s, want request %q at Start+1m", l.Items[3].RequestID, l.Items[3].At, requestID)
		}
		if l.Items[1].Detail["error"] == nil {
			t.Errorf("failed replay row has no error: %v", l.Items[1].Detail)
		}
		// The listing itself is audited, and pages like the receipts.
		var page struct {
			Items      []entry `json:"items"`
			NextCursor string  `json:"next_cursor"`
		}
		g.admin(t, http.MethodGet, "/admin/audit?limit=2&action=callbacks.replay", &page)
		if len(page.Items) != 2 || page.NextCursor != "" || page.Items[0].Target != "receipt:424242" {
			t.Errorf("filtered audit: %+v", page)
		}
		g.admin(t, http.MethodGet, "/admin/audit?limit=1&actor=ops&action=audit.list", &page)
		if len(page.Items) != 1 || page.NextCursor == "" {
			t.Errorf("audit of the audit listing: %+v", page)
		}
	})
}

func TestAdminReconciliationReport(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGateway(t, db, false)
		g.Order(t, "C1", 1234, "USD")
		g.callback(t, pay("C1", 1234))
		g.callback(t, pay("C2", 500))
		g.Clock.Add(2 * time.Hour)

		resp, body := g.do(t, http.MethodGet, "/admin/reports/reconciliation?from=2025-03-10&to=2025-03-11&format=csv", adminToken, nil)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
			!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("csv: %d %s %s", resp.StatusCode, resp.Header, body)
		}
		records, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"section", "provider", "key", "currency", "count", "amount_minor", "amount", "detail"}, records[0]); diff != "" {
			t.Errorf("columns (-want +got):\n%s", diff)
		}
		found := map[string][]string{}
		for _, r := range records[1:] {
			found[strings.Join(r[:4], "|")] = r
		}
		for key, want := range map[string][]string{
			"outcome|stripe|applied|":       {"1", "", ""},
			"outcome|stripe|unknown|":       {"1", "", ""},
			"payments|stripe||USD":          {"1", "1234", "12.34"},
			"unknown_age|stripe|1h_to_24h|": {"1", "", ""},
			"ledger_check||ok|":             {"", "", ""},
		} {
			r, ok := found[key]
			if !ok {
				t.Errorf("no row %s", key)
				continue
			}
			if want != nil {
				if diff := cmp.Diff(want, r[4:7]); diff != "" {
					t.Errorf("%s (-want +got):\n%s", key, diff)
				}
			}
		}
		if r := found["ledger_check||ok|"]; r == nil || r[7] != "true" {
			t.Errorf("ledger check row: %v, want ok true", r)
		}
		var js struct {
			Providers []struct {
				Provider string `json:"provider"`
			} `json:"providers"`
			LedgerCheck struct {
				OK bool `json:"ok"`
			} `json:"ledger_check"`
		}
		g.admin(t, http.MethodGet, "/admin/reports/reconciliation?from=2025-03-10T00:00:00Z&to=2025-03-11T00:00:00Z", &js)
		if len(js.Providers) != 1 || js.Providers[0].Provider != "stripe" || !js.LedgerCheck.OK {
			t.Errorf("json: %+v", js)
		}

		// The daily job stores the previous day; it can be downloaded later.
		if resp, _ := g.do(t, http.MethodGet, "/admin/reports/reconciliation/daily/2025-03-10", adminToken, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("before the job: %d, want 404", resp.StatusCode)
		}
		g.Clock.Set(time.Date(2025, 3, 11, 0, 10, 0, 0, time.UTC))
		days, err := g.reports.StoreDaily(context.Background())
		if err != nil || !slices.Contains(days, "2025-03-10") {
			t.Fatalf("daily job: %v %v", days, err)
		}
		var daily struct {
			From      time.Time `json:"from"`
			Providers []struct {
				Receipts int64 `json:"receipts"`
			} `json:"providers"`
		}
		g.admin(t, http.MethodGet, "/admin/reports/reconciliation/daily/2025-03-10", &daily)
		if !daily.From.Equal(time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)) || len(daily.Providers) != 1 || daily.Providers[0].Receipts != 2 {
			t.Errorf("daily: %+v", daily)
		}
		if resp, body := g.do(t, http.MethodGet, "/admin/reports/reconciliation/daily/2025-03-10?format=csv", adminToken, nil); resp.StatusCode != http.StatusOK ||
			!strings.HasPrefix(string(body), "section,provider") {
			t.Errorf("daily csv: %d %s", resp.StatusCode, body)
		}
		for _, q := range []string{"from=2025-03-10", "from=2025-03-11&to=2025-03-10", "from=2024-01-01&to=2025-03-10",
			"from=2025-03-10&to=2025-03-11&format=xml", "from=x&to=2025-03-11"} {
			if resp, body := g.do(t, http.MethodGet, "/admin/reports/reconciliation?"+q, adminToken, nil); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: %d %s, want 400", q, resp.StatusCode, body)
			}
		}
		if resp, _ := g.do(t, http.MethodGet, "/admin/reports/reconciliation/daily/10-03-2025", adminToken, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("bad day: %d, want 400", resp.StatusCode)
		}
	})
}

// scrape reads /metrics as Prometheus does and returns each sample as
// "name{label="value",…}" → value (histograms as _count and _sum).
func scrape(t *testing.T, g *gateway) map[string]float64 {
	t.Helper()
	resp, body := g.do(t, http.MethodGet, "/metrics", adminToken, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, body)
	}
	return parseMetrics(t, body)
}

func TestMetricsAfterScenario(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		g := newGateway(t, db, false)
		g.Order(t, "M1", 100, "USD")
		g.Order(t, "M2", 200, "USD")
		g.Order(t, "M4", 400, "USD")
		g.callback(t, pay("M1", 100))          // applied
		g.callback(t, pay("M2", 200))          // applied
		g.callback(t, pay("M1", 100))          // duplicate of an applied receipt
		g.callback(t, pay("M1", 100))          // and again
		g.callback(t, pay("M3", 300))          // unknown: no order
		g.callback(t, pay("M4", 401))          // rejected: amount mismatch
		ev := pay("M2", 200)                   // the same key with other facts:
		ev.Amount, ev.ID = 999, "evt_M2_other" //
		g.callback(t, ev)                      // conflict
		in := callbackstest.Inbound(pay("M5", 500).Body(), g.Clock.Now())
		resp, _ := g.do(t, http.MethodPost, "/callbacks/stripe", "", in.Body,
			"Stripe-Signature", strings.Replace(in.Header.Get("Stripe-Signature"), "v1=", "v1=00", 1))
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bad signature: %d", resp.StatusCode)
		}
		resp, _ = g.do(t, http.MethodPost, "/callbacks/stripe", "", []byte(`{`), "Stripe-Signature",
			callbackstest.Inbound([]byte(`{`), g.Clock.Now()).Header.Get("Stripe-Signature"))
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("malformed: %d", resp.StatusCode)
		}
		var rep replayAnswer
		g.admin(t, http.MethodPost, "/admin/callbacks/"+strconv.FormatInt(receiptIDs(t, g, "order_no=M3")[0], 10)+"/replay?dry_run=true", &rep)
		g.metrics.JobRun("report_daily", nil, time.Second)
		g.metrics.Reconciled("stripe", metrics.ReconcileEscalated)

		got := scrape(t, g)
		for name, want := range map[string]float64{
			`gateway_callbacks_total{outcome="applied",provider="stripe"}`:               2,
			`gateway_callbacks_total{outcome="duplicate",provider="stripe"}`:             2,
			`gateway_callbacks_total{outcome="unknown",provider="stripe"}`:               1,
			`gateway_callbacks_total{outcome="rejected",provider="stripe"}`:              1,
			`gateway_callbacks_total{outcome="conflict",provider="stripe"}`:              1,
			`gateway_callbacks_total{outcome="refused",provider="stripe"}`:               2,
			`gateway_callbacks_total{outcome="error",provider="stripe"}`:                 0,
			`gateway_callbacks_total{outcome="applied",provider="acme"}`:                 0,
			`gateway_callback_signature_failures_total{provider="stripe"}`:               1,
			`gateway_callback_duplicates_total{provider="stripe",status="applied"}`:      2,
			`gateway_callback_duration_seconds_count{provider="stripe"}`:                 9,
			`gateway_callback_retries_total{cause="version_conflict",provider="stripe"}`: 0,
			`gateway_unknown_receipts{provider="stripe"}`:                                1,
			`gateway_unknown_receipts{provider="acme"}`:                                  0,
			`gateway_escalated_receipts{provider="stripe"}`:                              0,
			`gateway_replays_total{action="applied",dry_run="true",provider="stripe"}`:   0,
			`gateway_replays_total{action="unknown",dry_run="true",provider="stripe"}`:   1,
			`gateway_job_runs_total{job="report_daily",result="ok"}`:                     1,
			`gateway_reconciler_receipts_total{provider="stripe",result="escalated"}`:    1,
		} {
			v, ok := got[name]
			if !ok && want == 0 && strings.HasPrefix(name, "gateway_replays_total") {
				continue // a label set never seen is absent, which reads as 0
			}
			if !ok || v != want {
				t.Errorf("%s = %v (present %t), want %v", name, v, ok, want)
			}
		}
		// The unknown receipt was first seen at the test clock's start, in
		// the past of the real clock the gauge reads.
		wantAge := time.Since(callbackstest.Start).Seconds()
		if age := got[`gateway_unknown_oldest_age_seconds{provider="stripe"}`]; age < wantAge-60 || age > wantAge+60 {
			t.Errorf("oldest unknown age %v, want about %v", age, wantAge)
		}
		if got[`gateway_unknown_oldest_age_seconds{provider="acme"}`] != 0 {
			t.Errorf("acme has no unknown receipt, but an age")
		}
		if _, ok := got["go_goroutines"]; !ok {
			t.Errorf("no Go runtime metrics")
		}
	})
}

// A delivery is one JSON log line: the access line, carrying the request id
// and the callback's outcome.
func TestCallbackLogLine(t *testing.T) {
	db := storetest.New(t, "sqlite")
	logs := &logBuffer{}
	g := newGateway(t, db, false, func(d *httpapi.Deps) { d.Log = slog.New(slog.NewJSONHandler(logs, nil)) })
	g.Order(t, "L1", 100, "USD")
	start := len(logs.String())
	g.callback(t, pay("L1", 100), "X-Request-Id", "req-first")
	g.callback(t, pay("L1", 100), "X-Request-Id", "req-again")
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()[start:]), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 2 {
		t.Fatalf("%d log lines for two deliveries, want 2:\n%s", len(lines), logs.String())
	}
	for i, want := range []map[string]any{
		{"msg": "http", "request_id": "req-first", "path": "/callbacks/:provider", "status": 200.0, "provider": "stripe",
			"txn_id": "pi_L1:payment.succeeded", "receipt_status": "applied", "duplicate": false},
		{"msg": "http", "request_id": "req-again", "receipt_status": "applied", "duplicate": true},
	} {
		for k, v := range want {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v\n%v", i, k, lines[i][k], v, lines[i])
			}
		}
		if id, _ := lines[i]["receipt"].(float64); id <= 0 {
			t.Errorf("line %d: no receipt id: %v", i, lines[i])
		}
	}
}
