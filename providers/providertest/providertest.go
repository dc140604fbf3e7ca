// Package providertest helps provider tests: test-only RSA keys (acting as
// the provider, as the merchant, as a rotated key and as a stranger), a
// callbacks.Service over a test database with a fixed clock, row counts of
// every table, and a ledger check of an order.
//
// Only _test files import it; its keys protect nothing.
package providertest

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"embed"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/rsakey"
	"gateway/store"
	"gateway/store/storetest"
)

//go:embed testdata/*.pem
var testdata embed.FS

// Key is a test key pair with its PEM forms.
type Key struct {
	Private    *rsa.PrivateKey
	PrivatePEM string
	PublicPEM  string
}

// Test keys (see testdata/README.md).
var (
	Provider = mustKey("provider")
	Rotated  = mustKey("rotated")
	Merchant = mustKey("merchant")
	Stranger = mustKey("stranger")
)

// ProviderCertPEM is a self-signed certificate for Provider, serial
// ProviderCertSerial (a WeChat Pay platform certificate).
var ProviderCertPEM = mustRead("testdata/provider-cert.pem")

// ProviderCertSerial is ProviderCertPEM's serial as WeChat Pay writes it.
const ProviderCertSerial = "3F4E2A6B8C1D5E7F90A1B2C3D4E5F60718293A4B"

func mustRead(name string) string {
	b, err := testdata.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func mustKey(name string) Key {
	priv := mustRead("testdata/" + name + "-key.pem")
	k, err := rsakey.Private(priv)
	if err != nil {
		panic(name + ": " + err.Error())
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		panic(name + ": " + err.Error())
	}
	return Key{Private: k, PrivatePEM: priv,
		PublicPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
}

// NewService returns the callback pipeline over db for p, its clock fixed
// at now, closed when the test ends.
func NewService(tb testing.TB, db *store.DB, p callbacks.Provider, now time.Time) *callbacks.Service {
	tb.Helper()
	s := callbacks.NewService(db, []callbacks.Provider{p}, callbacks.Config{}, slog.New(slog.DiscardHandler))
	s.Now = func() time.Time { return now }
	tb.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// Counts returns the number of rows of every table (see storetest.Counts).
func Counts(tb testing.TB, db *store.DB) map[string]int64 {
	tb.Helper()
	return storetest.Counts(tb, db)
}

// CreateOrder submits an order through the ledger service.
func CreateOrder(tb testing.TB, db *store.DB, orderNo string, price ledger.Money) ledger.Order {
	tb.Helper()
	o, _, err := ledger.NewService(db).Create(context.Background(), ledger.NewOrder{OrderNo: orderNo, Price: price})
	if err != nil {
		tb.Fatalf("create order %s: %v", orderNo, err)
	}
	return o
}

// Order returns an order and its ledger legs, failing the test unless the
// legs balance per currency and the order's paid and refunded totals equal
// what its ledger says (P5).
func Order(tb testing.TB, db *store.DB, orderNo string) (ledger.Order, []ledger.Entry) {
	tb.Helper()
	o, entries, err := ledger.NewService(db).Get(context.Background(), orderNo)
	if err != nil {
		tb.Fatalf("get order %s: %v", orderNo, err)
	}
	if !ledger.Balanced(entries) {
		tb.Errorf("order %s: ledger does not balance: %+v", orderNo, entries)
	}
	if paid, refunded := ledger.Totals(entries); paid != o.PaidAmount || refunded != o.RefundedAmount {
		tb.Errorf("order %s: ledger says paid %d refunded %d, order says paid %d refunded %d",
			orderNo, paid, refunded, o.PaidAmount, o.RefundedAmount)
	}
	return o, entries
}

// Receipt returns the receipt of a dedup key.
func Receipt(tb testing.TB, db *store.DB, provider, txnID string) callbacks.Receipt {
	tb.Helper()
	r, err := db.Receipt(context.Background(), provider, txnID)
	if err != nil {
		tb.Fatalf("receipt %s/%s: %v", provider, txnID, err)
	}
	return r
}

var update = flag.Bool("update", false, "rewrite the fuzz seed corpus under testdata/fuzz")

// CheckCorpus checks that testdata/fuzz/<target>/seed-<i> holds seeds[i] in
// the fuzzing engine's format, or rewrites the files under -update. Seeds
// that need keys or signatures are made in code; the files let
// `go test -fuzz` start from them and show reviewers what they are.
func CheckCorpus(tb testing.TB, target string, seeds [][]any) {
	tb.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	for i, seed := range seeds {
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, v := range seed {
			switch v := v.(type) {
			case string:
				fmt.Fprintf(&b, "string(%s)\n", strconv.Quote(v))
			case []byte:
				fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
			default:
				tb.Fatalf("%s seed %d: unsupported type %T", target, i, v)
			}
		}
		path := filepath.Join(dir, fmt.Sprintf("seed-%d", i))
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				tb.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			tb.Fatalf("%v (run go test -run %s -update)", err, tb.Name())
		}
		if string(got) != b.String() {
			tb.Errorf("%s is stale (run go test -run %s -update)", path, tb.Name())
		}
	}
}

// CheckResult compares what Parse or Query returned with a table row: an
// error wrapping wantErr when that is set, else exactly want.
func CheckResult(tb testing.TB, got []callbacks.Notification, err error, want []callbacks.Notification, wantErr error) {
	tb.Helper()
	if wantErr != nil {
		if !errors.Is(err, wantErr) {
			tb.Fatalf("error = %v, want %v", err, wantErr)
		}
		return
	}
	if err != nil {
		tb.Fatalf("unexpected error: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		tb.Errorf("notifications (-want +got):\n%s", diff)
	}
}

// Refusal is a delivery the pipeline must refuse with Err and Status.
type Refusal struct {
	Name   string
	In     callbacks.Inbound
	Err    error
	Status int
}

// CheckRefused runs each refusal through svc and checks the answer
// (Status, contentType, body(err)) and that no table gained or lost a row.
func CheckRefused(t *testing.T, db *store.DB, svc *callbacks.Service, contentType string, body func(error) string, cases []Refusal) {
	t.Helper()
	before := Counts(t, db)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			ack, _, err := svc.Handle(context.Background(), c.In)
			if !errors.Is(err, c.Err) {
				t.Fatalf("Handle = %v, want %v", err, c.Err)
			}
			want := callbacks.Ack{Status: c.Status, ContentType: contentType, Body: []byte(body(err))}
			if diff := cmp.Diff(want, ack); diff != "" {
				t.Errorf("ack (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, Counts(t, db)); diff != "" {
				t.Errorf("rows written (-before +after):\n%s", diff)
			}
		})
	}
}

// Step is one delivery of a pipeline test and the state that must follow.
type Step struct {
	Name      string
	In        callbacks.Inbound
	Duplicate bool
	Receipt   callbacks.Status
	OrderNo   string
	Order     ledger.Status
	Paid      int64
	Refunded  int64
	Legs      int
}

// RunSteps delivers the steps in order through svc; each must be answered
// ack, have the given outcome, and leave its order as described with a
// balanced ledger that agrees with it.
func RunSteps(t *testing.T, db *store.DB, svc *callbacks.Service, ack callbacks.Ack, steps []Step) {
	t.Helper()
	for _, st := range steps {
		t.Run(st.Name, func(t *testing.T) {
			got, outs, err := svc.Handle(context.Background(), st.In)
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			if diff := cmp.Diff(ack, got); diff != "" {
				t.Errorf("ack (-want +got):\n%s", diff)
			}
			if len(outs) != 1 || outs[0].Duplicate != st.Duplicate || outs[0].Receipt.Status != st.Receipt {
				t.Fatalf("outcome = %+v, want duplicate=%v status=%s", outs, st.Duplicate, st.Receipt)
			}
			o, legs := Order(t, db, st.OrderNo)
			if o.Status != st.Order || o.PaidAmount != st.Paid || o.RefundedAmount != st.Refunded || len(legs) != st.Legs {
				t.Errorf("order %s = %s paid %d refunded %d with %d legs, want %s paid %d refunded %d with %d legs",
					st.OrderNo, o.Status, o.PaidAmount, o.RefundedAmount, len(legs), st.Order, st.Paid, st.Refunded, st.Legs)
			}
		})
	}
}
