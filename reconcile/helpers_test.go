package reconcile_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gateway/callbacks"
	"gateway/callbacks/callbackstest"
	"gateway/ledger"
	"gateway/providers/query"
	"gateway/providers/stripe"
	"gateway/reconcile"
	"gateway/store"
)

// fakePay is a provider for these tests. A delivery is a JSON event signed
// with HMAC-SHA256 in Webhook-Signature (a header receipts keep, so
// re-drives verify); its status API is a fakeAPI server.
type fakePay struct {
	api *query.Client // nil: the provider cannot be asked
}

const fakeSecret = "fakepay-test-secret"

type fakeEvent struct {
	ID       string      `json:"id"`
	Kind     ledger.Kind `json:"kind"`
	Ref      string      `json:"ref"`
	RefundID string      `json:"refund_id,omitempty"`
	OrderNo  string      `json:"order_no"`
	Amount   int64       `json:"amount"`
	Currency string      `json:"currency"`
}

func (p *fakePay) Name() string { return "fakepay" }

func (p *fakePay) Verify(in callbacks.Inbound, _ time.Time) error {
	got, err := hex.DecodeString(in.Header.Get("Webhook-Signature"))
	if err != nil || !hmac.Equal(got, fakeMAC(in.Body)) {
		return fmt.Errorf("%w: fakepay signature", callbacks.ErrSignature)
	}
	return nil
}

func fakeMAC(body []byte) []byte {
	m := hmac.New(sha256.New, []byte(fakeSecret))
	m.Write(body)
	return m.Sum(nil)
}

func (p *fakePay) Parse(in callbacks.Inbound) ([]callbacks.Notification, error) {
	var ev fakeEvent
	if err := json.Unmarshal(in.Body, &ev); err != nil {
		return nil, fmt.Errorf("%w: %v", callbacks.ErrMalformed, err)
	}
	key := ev.Ref
	if ev.RefundID != "" {
		key = ev.RefundID
	}
	return []callbacks.Notification{{TxnID: callbacks.Key(key, ev.Kind), EventID: ev.ID, EventType: "fake." + string(ev.Kind),
		Kind: ev.Kind, OrderNo: ev.OrderNo, Reference: ev.Ref, Money: ledger.Money{Amount: ev.Amount, Currency: ev.Currency}}}, nil
}

func (p *fakePay) Ack(err error) callbacks.Ack { return callbacks.JSONAck(err) }

// Query asks GET /status/{reference}. "refunded" proves the payment (its
// refunds are events of their own), as WeChat Pay's REFUND and PayPal's
// REFUNDED do.
func (p *fakePay) Query(ctx context.Context, q callbacks.StatusQuery) ([]callbacks.Notification, error) {
	if p.api == nil {
		return nil, fmt.Errorf("fakepay: %w", callbacks.ErrQueryUnsupported)
	}
	var a fakeAnswer
	if err := p.api.Do(ctx, http.MethodGet, "/status/"+q.Reference, nil, nil, &a); err != nil {
		return nil, fmt.Errorf("fakepay: query %s: %w", q.Reference, err)
	}
	kinds := map[string]ledger.Kind{"paid": ledger.KindPaymentSucceeded, "refunded": ledger.KindPaymentSucceeded,
		"pending": ledger.KindPaymentPending, "closed": ledger.KindPaymentClosed, "failed": ledger.KindPaymentFailed}
	k, ok := kinds[a.Status]
	if !ok {
		return nil, fmt.Errorf("fakepay: query %s: unknown status %q", q.Reference, a.Status)
	}
	return []callbacks.Notification{{TxnID: callbacks.Key(q.Reference, k), EventType: "status." + a.Status, Kind: k,
		OrderNo: a.OrderNo, Reference: q.Reference, Money: ledger.Money{Amount: a.Amount, Currency: a.Currency}}}, nil
}

// fakeAnswer is what the fake status API says about a reference.
type fakeAnswer struct {
	Status   string `json:"status"`
	OrderNo  string `json:"order_no"`
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
	// Fail answers HTTP 500; Hang answers only when the caller gives up.
	Fail, Hang bool `json:"-"`
}

// fakeAPI is a provider's status API: an answer per reference (the Stripe
// PaymentIntent API too, under /v1/payment_intents/).
type fakeAPI struct {
	srv      *httptest.Server
	mu       sync.Mutex
	answers  map[string]fakeAnswer
	asks     map[string]int
	requests atomic.Int64
}

func newFakeAPI(t testing.TB) *fakeAPI {
	t.Helper()
	a := &fakeAPI{answers: map[string]fakeAnswer{}, asks: map[string]int{}}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *fakeAPI) set(ref string, ans fakeAnswer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.answers[ref] = ans
}

// asked is how many times ref was asked about.
func (a *fakeAPI) asked(ref string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.asks[ref]
}

func (a *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	a.requests.Add(1)
	path, stripePI := strings.CutPrefix(r.URL.Path, "/v1/payment_intents/")
	if !stripePI {
		path = strings.TrimPrefix(r.URL.Path, "/status/")
	}
	a.mu.Lock()
	ans, ok := a.answers[path]
	a.asks[path]++
	a.mu.Unlock()
	switch {
	case !ok:
		http.Error(w, `{"error":"no such transaction"}`, http.StatusNotFound)
		return
	case ans.Hang:
		<-r.Context().Done()
		return
	case ans.Fail:
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if stripePI {
		status := map[string]string{"paid": "succeeded", "pending": "processing", "closed": "canceled"}[ans.Status]
		_ = json.NewEncoder(w).Encode(map[string]any{"id": path, "object": "payment_intent", "status": status,
			"amount": ans.Amount, "amount_received": ans.Amount, "currency": strings.ToLower(ans.Currency),
			"metadata": map[string]string{"order_no": ans.OrderNo}})
		return
	}
	_ = json.NewEncoder(w).Encode(ans)
}

// recorder counts Reconciled calls.
type recorder struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *recorder) Reconciled(provider, result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[provider+"/"+result]++
}

func (r *recorder) count(provider, result string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[provider+"/"+result]
}

// env is one gateway instance: a pipeline with Stripe and fakepay (both
// asking api), a reconciler, on a clock.
type env struct {
	db    *store.DB
	svc   *callbacks.Service
	ord   *ledger.Service
	rec   *reconcile.Reconciler
	obs   *recorder
	clock *callbackstest.Clock
	api   *fakeAPI
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testBackoff is the default schedule; tests check waits against it.
var testBackoff = reconcile.DefaultBackoff

func newEnv(t testing.TB, db *store.DB, api *fakeAPI, cfg reconcile.Config) *env {
	t.Helper()
	st, err := stripe.New(stripe.Config{Name: "stripe", Secrets: []string{callbackstest.StripeSecret},
		APIKey: "sk_test_reconcile", APIBase: api.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakePay{api: query.New(api.srv.URL, nil)}
	return newEnvWith(t, db, db, api, cfg, st, fake)
}

// newEnvWith is newEnv with the pipeline over cs (db, or a wrapper of it)
// and the given providers.
func newEnvWith(t testing.TB, db *store.DB, cs callbacks.Store, api *fakeAPI, cfg reconcile.Config, ps ...callbacks.Provider) *env {
	t.Helper()
	clock := callbackstest.NewClock(callbackstest.Start)
	log := discard()
	svc := callbacks.NewService(cs, ps, callbacks.Config{FirstCheck: cfg.Schedule("")[0], FirstChecks: cfg.FirstChecks()}, log)
	svc.Now = clock.Now
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	ord := ledger.NewService(db)
	ord.Now = clock.Now
	obs := &recorder{}
	rec := reconcile.New(svc, db, cfg, obs, log)
	rec.Now = clock.Now
	return &env{db: db, svc: svc, ord: ord, rec: rec, obs: obs, clock: clock, api: api}
}

func (e *env) order(t testing.TB, no string, amount int64, provider, ref string) {
	t.Helper()
	_, _, err := e.ord.Create(context.Background(), ledger.NewOrder{OrderNo: no, Price: ledger.Money{Amount: amount, Currency: "USD"},
		Provider: provider, ProviderRef: ref})
	if err != nil {
		t.Fatalf("create order %s: %v", no, err)
	}
}

// deliver sends a fakepay event and returns its outcome; it must be acknowledged.
func (e *env) deliver(t testing.TB, ev fakeEvent) callbacks.Outcome {
	t.Helper()
	ack, outs, err := e.svc.Handle(context.Background(), fakeInbound(ev))
	if err != nil || len(outs) != 1 || ack.Status != http.StatusOK {
		t.Fatalf("deliver %+v: ack %d, %d outcomes, %v", ev, ack.Status, len(outs), err)
	}
	return outs[0]
}

func fakeInbound(ev fakeEvent) callbacks.Inbound {
	body, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Webhook-Signature", hex.EncodeToString(fakeMAC(body)))
	return callbacks.Inbound{Provider: "fakepay", Header: h, Body: body}
}

// stripePaid is a signed Stripe payment_intent.succeeded for an order.
func (e *env) stripePaid(orderNo string, amount int64) callbacks.Inbound {
	ev := callbackstest.Event{ID: "evt_" + orderNo, Type: "payment_intent.succeeded", ObjectID: "pi_" + orderNo,
		OrderNo: orderNo, Amount: amount, Currency: "USD"}
	return callbackstest.Inbound(ev.Body(), e.clock.Now())
}

func (e *env) run(t testing.TB) reconcile.Summary {
	t.Helper()
	sum, err := e.rec.Run(context.Background())
	if err != nil {
		t.Fatalf("reconcile run: %v (summary %+v)", err, sum)
	}
	return sum
}

func (e *env) receipt(t testing.TB, id int64) callbacks.Receipt {
	t.Helper()
	r, err := e.db.ReceiptByID(context.Background(), id)
	if err != nil {
		t.Fatalf("receipt %d: %v", id, err)
	}
	return r
}

func (e *env) receiptByKey(t testing.TB, provider, txnID string) (callbacks.Receipt, bool) {
	t.Helper()
	r, err := e.db.Receipt(context.Background(), provider, txnID)
	if errors.Is(err, callbacks.ErrNotFound) {
		return callbacks.Receipt{}, false
	}
	if err != nil {
		t.Fatalf("receipt %s/%s: %v", provider, txnID, err)
	}
	return r, true
}

func (e *env) orderState(t testing.TB, no string) (ledger.Order, []ledger.Entry) {
	t.Helper()
	o, entries, err := e.ord.Get(context.Background(), no)
	if err != nil {
		t.Fatalf("order %s: %v", no, err)
	}
	return o, entries
}

// lease reads a receipt's lease columns.
func lease(t testing.TB, db *store.DB, id int64) (owner string, until *time.Time) {
	t.Helper()
	var u sql.NullTime
	if err := db.SQL().QueryRow("SELECT lease_owner, lease_until FROM callback_receipts WHERE id = ?", id).Scan(&owner, &u); err != nil {
		t.Fatalf("lease of %d: %v", id, err)
	}
	if u.Valid {
		return owner, &u.Time
	}
	return owner, nil
}

// postings counts the distinct ledger postings (provider, txn_id).
func postings(t testing.TB, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRow("SELECT COUNT(*) FROM (SELECT DISTINCT provider, txn_id FROM ledger_entries) p").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// within checks that got is want spread by at most ±10 %.
func within(t testing.TB, what string, got, want time.Duration) {
	t.Helper()
	if lo, hi := want*9/10, want*11/10; got < lo || got > hi {
		t.Errorf("%s: wait %s, want %s ±10%%", what, got, want)
	}
}
