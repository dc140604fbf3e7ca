package adyen_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/adyen"
	"gateway/providers/providertest"
	"gateway/store"
	"gateway/store/storetest"
)

func harness(t *testing.T, db *store.DB, cfg adyen.Config) *providertest.Harness {
	t.Helper()
	return providertest.New(t, db, newProvider(t, cfg), now)
}

// deliver posts body and checks the exact acknowledgement.
func deliver(t *testing.T, h *providertest.Harness, body []byte, wantStatus int, wantBody string) []callbacks.Outcome {
	t.Helper()
	return h.DeliverAck(t, nil, body, wantStatus, wantBody)
}

func TestRefusedDeliveryWritesNothing(t *testing.T) {
	auth := sdkItem("8815000000000001", "", "AUTHORISATION", "true", "O-1", 1130, "EUR")
	valid := string(signedBody(t, auth))
	noSig := auth
	noSig.AdditionalData = nil
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantCode   string
	}{
		{"tampered body", strings.Replace(valid, `"value":1130`, `"value":1`, 1), 401, "bad_signature"},
		{"wrong key", string(body(t, sign(t, stranger, auth))), 401, "bad_signature"},
		{"missing signature", string(body(t, noSig)), 401, "bad_signature"},
		{"one bad item in a batch", string(body(t, sign(t, key, auth),
			sign(t, stranger, sdkItem("8815000000000002", "", "AUTHORISATION", "true", "O-2", 500, "EUR")),
			sign(t, key, sdkItem("8815000000000003", "8815000000000001", "REFUND", "true", "O-1", 30, "EUR")))), 401, "bad_signature"},
		{"malformed", `{"notificationItems":`, 400, "malformed"},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := harness(t, db, adyen.Config{})
		h.CreateOrder(t, "O-1", 1130, "EUR")
		h.CreateOrder(t, "O-2", 500, "EUR")
		before := providertest.RowCounts(t, db)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ack, outs, err := h.Deliver(nil, []byte(tc.body))
				if ack.Status != tc.wantStatus || callbacks.Code(err) != tc.wantCode || len(outs) != 0 {
					t.Fatalf("ack %d, code %q, %d outcomes; want %d %q and none", ack.Status, callbacks.Code(err), len(outs), tc.wantStatus, tc.wantCode)
				}
				if !strings.HasPrefix(string(ack.Body), `{"error":{"code":"`+tc.wantCode+`"`) {
					t.Errorf("ack body %s", ack.Body)
				}
				if diff := cmp.Diff(before, providertest.RowCounts(t, db)); diff != "" {
					t.Errorf("rows changed (-before +after):\n%s", diff)
				}
			})
		}
		if o, _ := h.Order(t, "O-1"); o.Status != ledger.StatusCreated {
			t.Errorf("order O-1 is %s after refused deliveries", o.Status)
		}
	})
}

func TestPipeline(t *testing.T) {
	const pay = "8815000000000001"
	auth := signedBody(t, sdkItem(pay, "", "AUTHORISATION", "true", "O-1", 1130, "EUR"))
	capture := signedBody(t, sdkItem("8815000000000002", pay, "CAPTURE", "true", "O-1", 1130, "EUR"))
	refund1 := signedBody(t, sdkItem("8815000000000003", pay, "REFUND", "true", "O-1", 130, "EUR"))
	refund2 := signedBody(t, sdkItem("8815000000000004", pay, "REFUND", "true", "O-1", 1000, "EUR"))
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := harness(t, db, adyen.Config{})
		h.CreateOrder(t, "O-1", 1130, "EUR")

		outs := deliver(t, h, auth, 200, "[accepted]")
		if len(outs) != 1 || outs[0].Receipt.Status != callbacks.StatusApplied {
			t.Fatalf("authorisation: %+v", outs)
		}
		o, entries := h.Order(t, "O-1")
		if o.Status != ledger.StatusPaid || o.PaidAmount != 1130 || len(entries) != 2 {
			t.Fatalf("after authorisation: %s paid %d, %d entries", o.Status, o.PaidAmount, len(entries))
		}

		// Adyen re-sends; the CAPTURE of the same payment is the same event.
		for _, b := range [][]byte{auth, capture, auth} {
			outs := deliver(t, h, b, 200, "[accepted]")
			if len(outs) != 1 || !outs[0].Duplicate {
				t.Fatalf("redelivery not a duplicate: %+v", outs)
			}
		}
		if _, entries := h.Order(t, "O-1"); len(entries) != 2 {
			t.Fatalf("%d ledger entries after duplicates, want one posting", len(entries))
		}

		// A capture of another amount is the same key with other facts (P6).
		partial := signedBody(t, sdkItem("8815000000000005", pay, "CAPTURE", "true", "O-1", 1000, "EUR"))
		if outs := deliver(t, h, partial, 200, "[accepted]"); len(outs) != 1 || outs[0].Receipt.Status != callbacks.StatusConflict {
			t.Fatalf("partial capture: %+v", outs)
		}
		if _, entries := h.Order(t, "O-1"); len(entries) != 2 {
			t.Fatalf("%d ledger entries after a conflicting capture, want one posting", len(entries))
		}

		deliver(t, h, refund1, 200, "[accepted]")
		deliver(t, h, refund1, 200, "[accepted]")
		o, _ = h.Order(t, "O-1")
		if o.Status != ledger.StatusPaid || o.RefundedAmount != 130 {
			t.Fatalf("after a partial refund: %s refunded %d", o.Status, o.RefundedAmount)
		}
		deliver(t, h, refund2, 200, "[accepted]")
		o, entries = h.Order(t, "O-1")
		if o.Status != ledger.StatusRefunded || o.RefundedAmount != 1130 || len(entries) != 6 {
			t.Fatalf("after the last refund: %s refunded %d, %d entries", o.Status, o.RefundedAmount, len(entries))
		}
		if r := h.Receipt(t, "8815000000000004:refund.succeeded"); r.Reference != pay || r.Money.Amount != 1000 {
			t.Errorf("refund receipt %+v", r)
		}
	})
}

func TestPipelinePaidOnCapture(t *testing.T) {
	const pay = "8815000000000001"
	auth := signedBody(t, sdkItem(pay, "", "AUTHORISATION", "true", "O-1", 1130, "EUR"))
	capture := signedBody(t, sdkItem("8815000000000002", pay, "CAPTURE", "true", "O-1", 1130, "EUR"))
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := harness(t, db, adyen.Config{PaidOn: adyen.PaidOnCapture})
		h.CreateOrder(t, "O-1", 1130, "EUR")
		outs := deliver(t, h, auth, 200, "[accepted]")
		if len(outs) != 1 || outs[0].Receipt.Status != callbacks.StatusRejected {
			t.Fatalf("authorisation with paid_on capture: %+v", outs)
		}
		if o, entries := h.Order(t, "O-1"); o.Status != ledger.StatusCreated || len(entries) != 0 {
			t.Fatalf("authorisation moved the order to %s with %d entries", o.Status, len(entries))
		}
		deliver(t, h, capture, 200, "[accepted]")
		deliver(t, h, capture, 200, "[accepted]")
		if o, entries := h.Order(t, "O-1"); o.Status != ledger.StatusPaid || len(entries) != 2 {
			t.Fatalf("after capture: %s with %d entries", o.Status, len(entries))
		}
	})
}

// A batch is acknowledged only when every item is durable: a failure on the
// second item answers 503, and Adyen's retry of the whole batch applies the
// rest with the first as a duplicate.
func TestBatchAcknowledgedOnlyWhenAllDurable(t *testing.T) {
	batch := body(t,
		sign(t, key, sdkItem("A1", "", "AUTHORISATION", "true", "O-1", 100, "EUR")),
		sign(t, key, sdkItem("A2", "", "AUTHORISATION", "true", "O-2", 200, "EUR")),
		sign(t, key, sdkItem("X1", "", "REPORT_AVAILABLE", "true", "", 0, "EUR")))
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := harness(t, db, adyen.Config{})
		h.CreateOrder(t, "O-1", 100, "EUR")
		h.CreateOrder(t, "O-2", 200, "EUR")
		h.UseStore(t, &failingStore{Store: db, failTxn: "A2:payment.succeeded"})

		ack, outs, err := h.Deliver(nil, batch)
		if ack.Status != 503 || !errors.Is(err, callbacks.ErrTransient) || len(outs) != 1 {
			t.Fatalf("ack %d (%v) with %d outcomes, want 503 after the first item", ack.Status, err, len(outs))
		}
		if o, _ := h.Order(t, "O-2"); o.Status != ledger.StatusCreated {
			t.Fatalf("the failed item changed O-2 to %s", o.Status)
		}

		outs = deliver(t, h, batch, 200, "[accepted]")
		var dup []bool
		for _, o := range outs {
			dup = append(dup, o.Duplicate)
		}
		if diff := cmp.Diff([]bool{true, false, false}, dup); diff != "" {
			t.Errorf("duplicates (-want +got):\n%s", diff)
		}
		for _, no := range []string{"O-1", "O-2"} {
			if o, entries := h.Order(t, no); o.Status != ledger.StatusPaid || len(entries) != 2 {
				t.Errorf("%s: %s with %d entries", no, o.Status, len(entries))
			}
		}
		if r := h.Receipt(t, "X1:REPORT_AVAILABLE:true"); r.Status != callbacks.StatusRejected {
			t.Errorf("REPORT_AVAILABLE receipt is %s", r.Status)
		}
	})
}

// failingStore fails the first insert of one receipt, as a database that
// drops the connection mid-batch would.
type failingStore struct {
	callbacks.Store
	failTxn string
	mu      sync.Mutex
	failed  bool
}

func (s *failingStore) InTx(ctx context.Context, fn func(callbacks.Tx) error) error {
	return s.Store.InTx(ctx, func(tx callbacks.Tx) error { return fn(failingTx{Tx: tx, s: s}) })
}

type failingTx struct {
	callbacks.Tx
	s *failingStore
}

func (t failingTx) InsertReceipt(ctx context.Context, r *callbacks.Receipt) error {
	t.s.mu.Lock()
	fail := r.TxnID == t.s.failTxn && !t.s.failed
	t.s.failed = t.s.failed || fail
	t.s.mu.Unlock()
	if fail {
		return errors.New("injected: connection lost")
	}
	return t.Tx.InsertReceipt(ctx, r)
}
