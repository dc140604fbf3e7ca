package paypal_test

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/paypal"
	"gateway/providers/query"
)

const (
	clientID     = "AeA1QIZXiflr1_-r0U2UbWTziOWX1GRQer5"
	clientSecret = "ECYYrrSHdKfk_Q0EdvzdGkzj58a66kKaUQ5"
)

// fakePayPal is PayPal's REST API as far as the gateway uses it: it issues
// a token only for our client credentials and answers captures and refunds
// only with that token.
type fakePayPal struct {
	mu     sync.Mutex
	tokens []string // issued, newest last
	issued int
	// resources by path, e.g. "/v2/payments/captures/CAP-1"; a value of ""
	// answers 500.
	resources map[string]string
}

func (f *fakePayPal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/v1/oauth2/token" {
		id, secret, ok := r.BasicAuth()
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || !ok || id != clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(clientSecret)) != 1 ||
			r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || string(body) != "grant_type=client_credentials" {
			http.Error(w, `{"error":"invalid_client","error_description":"Client Authentication failed"}`, http.StatusUnauthorized)
			return
		}
		f.issued++
		token := fmt.Sprintf("A21AAF-token-%d", f.issued)
		f.tokens = append(f.tokens, token)
		fmt.Fprintf(w, `{"scope":"https://uri.paypal.com/services/payments/payment","access_token":%q,"token_type":"Bearer","app_id":"APP-80W284485P519543T","expires_in":32400}`, token)
		return
	}
	if len(f.tokens) == 0 || r.Header.Get("Authorization") != "Bearer "+f.tokens[len(f.tokens)-1] || r.Method != http.MethodGet {
		http.Error(w, `{"error":"invalid_token"}`, http.StatusUnauthorized)
		return
	}
	res, ok := f.resources[r.URL.Path]
	switch {
	case !ok:
		http.Error(w, `{"name":"RESOURCE_NOT_FOUND"}`, http.StatusNotFound)
	case res == "":
		http.Error(w, `{"name":"INTERNAL_SERVER_ERROR"}`, http.StatusInternalServerError)
	default:
		_, _ = io.WriteString(w, res)
	}
}

// revoke makes every issued token invalid.
func (f *fakePayPal) revoke() {
	f.mu.Lock()
	f.tokens = append(f.tokens, "revoked")
	f.mu.Unlock()
}

func (f *fakePayPal) tokensIssued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issued
}

func newFake(t *testing.T) (*fakePayPal, *httptest.Server) {
	t.Helper()
	f := &fakePayPal{resources: map[string]string{
		"/v2/payments/captures/CAP-PAID":     capture("CAP-PAID", "COMPLETED", "10.99", "USD", "O-1", ""),
		"/v2/payments/captures/CAP-PENDING":  capture("CAP-PENDING", "PENDING", "10.99", "USD", "O-1", ""),
		"/v2/payments/captures/CAP-DENIED":   capture("CAP-DENIED", "DECLINED", "10.99", "USD", "", "O-1"),
		"/v2/payments/captures/CAP-REFUNDED": capture("CAP-REFUNDED", "REFUNDED", "10.99", "USD", "", ""),
		"/v2/payments/captures/CAP-ODD":      capture("CAP-ODD", "SOMETHING_NEW", "10.99", "USD", "O-1", ""),
		"/v2/payments/captures/CAP-ERROR":    "",
		"/v2/payments/refunds/R-DONE":        refund("R-DONE", "CAP-REFUNDED", "10.99", "USD", "O-1"),
		"/v2/payments/refunds/R-WAIT":        strings.Replace(refund("R-WAIT", "CAP-REFUNDED", "1.00", "USD", "O-1"), `"COMPLETED"`, `"PENDING"`, 1),
		"/v2/payments/refunds/R-FAILED":      strings.Replace(refund("R-FAILED", "CAP-REFUNDED", "1.00", "USD", "O-1"), `"COMPLETED"`, `"FAILED"`, 1),
	}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func queryProvider(t *testing.T, base, secret string) *paypal.Provider {
	t.Helper()
	return newProvider(t, paypal.Config{ClientID: clientID, ClientSecret: secret, APIBase: base})
}

func TestQuery(t *testing.T) {
	usd := ledger.Money{Amount: 1099, Currency: "USD"}
	tests := []struct {
		name    string
		q       callbacks.StatusQuery
		want    []callbacks.Notification
		wantErr error
	}{
		{name: "paid", q: callbacks.StatusQuery{OrderNo: "O-1", Reference: "CAP-PAID", Kind: ledger.KindPaymentSucceeded},
			want: []callbacks.Notification{{TxnID: "CAP-PAID:payment.succeeded", EventType: "status.COMPLETED",
				Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: "CAP-PAID", Money: usd}}},
		{name: "pending", q: callbacks.StatusQuery{OrderNo: "O-1", Reference: "CAP-PENDING", Kind: ledger.KindPaymentPending},
			want: []callbacks.Notification{{TxnID: "CAP-PENDING:payment.pending", EventType: "status.PENDING",
				Kind: ledger.KindPaymentPending, OrderNo: "O-1", Reference: "CAP-PENDING", Money: usd}}},
		{name: "denied", q: callbacks.StatusQuery{OrderNo: "O-1", Reference: "CAP-DENIED"},
			want: []callbacks.Notification{{TxnID: "CAP-DENIED:payment.failed", EventType: "status.DECLINED",
				Kind: ledger.KindPaymentFailed, OrderNo: "O-1", Reference: "CAP-DENIED", Money: usd}}},
		{name: "refunded capture was paid; order from the query", q: callbacks.StatusQuery{OrderNo: "O-1", Reference: "CAP-REFUNDED"},
			want: []callbacks.Notification{{TxnID: "CAP-REFUNDED:payment.succeeded", EventType: "status.REFUNDED",
				Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: "CAP-REFUNDED", Money: usd}}},
		{name: "refund completed", q: callbacks.StatusQuery{OrderNo: "O-1", Reference: "R-DONE", Kind: ledger.KindRefundSucceeded},
			want: []callbacks.Notification{{TxnID: "R-DONE:refund.succeeded", EventType: "status.COMPLETED",
				Kind: ledger.KindRefundSucceeded, OrderNo: "O-1", Reference: "R-DONE", Money: usd}}},
		{name: "refund failed", q: callbacks.StatusQuery{OrderNo: "O-1", Reference: "R-FAILED", Kind: ledger.KindRefundSucceeded},
			want: []callbacks.Notification{{TxnID: "R-FAILED:refund.failed", EventType: "status.FAILED",
				Kind: ledger.KindRefundFailed, OrderNo: "O-1", Reference: "R-FAILED", Money: ledger.Money{Amount: 100, Currency: "USD"}}}},
		{name: "refund still pending", q: callbacks.StatusQuery{OrderNo: "O-1", Reference: "R-WAIT", Kind: ledger.KindRefundSucceeded},
			wantErr: callbacks.ErrTransient},
		{name: "server error", q: callbacks.StatusQuery{OrderNo: "O-1", Reference: "CAP-ERROR"}, wantErr: query.ErrProvider},
		{name: "unknown capture", q: callbacks.StatusQuery{OrderNo: "O-1", Reference: "CAP-NONE"}, wantErr: query.ErrProvider},
		{name: "status never seen", q: callbacks.StatusQuery{OrderNo: "O-1", Reference: "CAP-ODD"}, wantErr: errAny},
		{name: "no reference", q: callbacks.StatusQuery{OrderNo: "O-1"}, wantErr: callbacks.ErrQueryUnsupported},
	}
	_, srv := newFake(t)
	p := queryProvider(t, srv.URL, clientSecret)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.Query(t.Context(), tc.q)
			if tc.wantErr != nil {
				if err == nil || tc.wantErr != errAny && !errors.Is(err, tc.wantErr) {
					t.Fatalf("Query = %v, %v; want %v", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Query = %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Query (-want +got):\n%s", diff)
			}
			for _, n := range got {
				if err := n.Validate(); err != nil {
					t.Errorf("Validate = %v", err)
				}
			}
		})
	}
}

// errAny stands for "some error" in a table.
var errAny = errors.New("any error")

func TestQueryAuthentication(t *testing.T) {
	f, srv := newFake(t)
	q := callbacks.StatusQuery{OrderNo: "O-1", Reference: "CAP-PAID"}

	t.Run("wrong secret is refused", func(t *testing.T) {
		_, err := queryProvider(t, srv.URL, "wrong").Query(t.Context(), q)
		if !errors.Is(err, query.ErrProvider) || !strings.Contains(err.Error(), "401") {
			t.Fatalf("Query = %v, want a 401 from the token endpoint", err)
		}
	})
	t.Run("no credentials: unsupported", func(t *testing.T) {
		_, err := newProvider(t, paypal.Config{APIBase: srv.URL}).Query(t.Context(), q)
		if !errors.Is(err, callbacks.ErrQueryUnsupported) {
			t.Fatalf("Query = %v, want ErrQueryUnsupported", err)
		}
	})
	t.Run("token reused, renewed once revoked", func(t *testing.T) {
		p := queryProvider(t, srv.URL, clientSecret)
		start := f.tokensIssued()
		for range 3 {
			if _, err := p.Query(t.Context(), q); err != nil {
				t.Fatal(err)
			}
		}
		if n := f.tokensIssued() - start; n != 1 {
			t.Fatalf("%d tokens for 3 queries, want 1", n)
		}
		f.revoke()
		if _, err := p.Query(t.Context(), q); !errors.Is(err, query.ErrProvider) {
			t.Fatalf("Query with a revoked token = %v", err)
		}
		got, err := p.Query(t.Context(), q)
		if err != nil || len(got) != 1 || got[0].Kind != ledger.KindPaymentSucceeded {
			t.Fatalf("Query after renewal = %+v, %v", got, err)
		}
		if n := f.tokensIssued() - start; n != 2 {
			t.Fatalf("%d tokens, want 2", n)
		}
	})
}

// The reconciler's answer for a paid capture is the callback's own key, so
// a late callback is a duplicate (DESIGN §2).
func TestQueryKeyMatchesCallback(t *testing.T) {
	_, srv := newFake(t)
	p := queryProvider(t, srv.URL, clientSecret)
	got, err := p.Query(t.Context(), callbacks.StatusQuery{OrderNo: "O-1", Reference: "CAP-PAID"})
	if err != nil {
		t.Fatal(err)
	}
	ev := event("WH-X", "PAYMENT.CAPTURE.COMPLETED", "capture", capture("CAP-PAID", "COMPLETED", "10.99", "USD", "O-1", ""))
	ns, err := p.Parse(callbacks.Inbound{Body: ev})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].TxnID != ns[0].TxnID || got[0].Fingerprint() != ns[0].Fingerprint() {
		t.Fatalf("query %s/%s, callback %s/%s", got[0].TxnID, got[0].Fingerprint(), ns[0].TxnID, ns[0].Fingerprint())
	}
}
