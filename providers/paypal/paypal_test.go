package paypal_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"hash/crc32"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/ledger"
	"gateway/providers/paypal"
	"gateway/providers/providertest"
)

const webhookID = "1JE4291016473214C"

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// signer is a key pair acting as PayPal, with its self-signed certificate.
type signer struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
	pem  string
}

var (
	signersOnce sync.Once
	signers     [4]signer // current, rotated-in, stranger, expired
	signersErr  error
)

// pki returns PayPal's current and next signing certificates, a stranger's,
// and one that expired before now.
func pki(tb testing.TB) (current, next, stranger, expired signer) {
	tb.Helper()
	signersOnce.Do(func() {
		for i := range signers {
			notAfter := now.AddDate(1, 0, 0)
			if i == 3 {
				notAfter = now.Add(-time.Hour)
			}
			signers[i], signersErr = newSigner(i, now.AddDate(-1, 0, 0), notAfter)
			if signersErr != nil {
				return
			}
		}
	})
	if signersErr != nil {
		tb.Fatal(signersErr)
	}
	return signers[0], signers[1], signers[2], signers[3]
}

func newSigner(serial int, notBefore, notAfter time.Time) (signer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return signer{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(serial + 1)),
		Subject:   pkix.Name{CommonName: "messageverificationcerts.paypal.com", Organization: []string{"PayPal, Inc."}},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return signer{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return signer{}, err
	}
	return signer{key: key, cert: cert, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}, nil
}

// transmission is one POST as PayPal sends it.
type transmission struct {
	id, time, webhookID string
	body                []byte
}

// headers signs t with s as PayPal does (RSA PKCS#1 v1.5, SHA-256 over
// id|time|webhook_id|crc32(body)) and cross-checks the signature with the
// certificate's own CheckSignature.
func (s signer) headers(tb testing.TB, t transmission) http.Header {
	tb.Helper()
	msg := []byte(fmt.Sprintf("%s|%s|%s|%d", t.id, t.time, t.webhookID, crc32.ChecksumIEEE(t.body)))
	digest := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, digest[:])
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.cert.CheckSignature(x509.SHA256WithRSA, msg, sig); err != nil {
		tb.Fatalf("cert.CheckSignature: %v", err)
	}
	h := http.Header{}
	h.Set("PAYPAL-TRANSMISSION-ID", t.id)
	h.Set("PAYPAL-TRANSMISSION-TIME", t.time)
	h.Set("PAYPAL-TRANSMISSION-SIG", base64.StdEncoding.EncodeToString(sig))
	h.Set("PAYPAL-CERT-URL", "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77")
	h.Set("PAYPAL-AUTH-ALGO", "SHA256withRSA")
	h.Set("Content-Type", "application/json")
	return h
}

// sent signs body as a transmission made at `at` with our webhook id.
func (s signer) sent(tb testing.TB, id string, at time.Time, body []byte) http.Header {
	tb.Helper()
	return s.headers(tb, transmission{id: id, time: at.UTC().Format(time.RFC3339), webhookID: webhookID, body: body})
}

// event is a webhook event body in PayPal's shape.
func event(id, eventType, resourceType, resource string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"event_version":"1.0","create_time":"2026-03-01T11:59:58.114Z",`+
		`"resource_type":%q,"resource_version":"2.0","event_type":%q,"summary":"test","resource":%s,`+
		`"links":[{"href":"https://api.paypal.com/v1/notifications/webhooks-events/%s","rel":"self","method":"GET"}]}`,
		id, resourceType, eventType, resource, id))
}

// capture is a v2 capture resource.
func capture(id, status, value, currency, customID, invoiceID string) string {
	return fmt.Sprintf(`{"id":%q,"status":%q,"amount":{"currency_code":%q,"value":%q},"final_capture":true,`+
		`"seller_protection":{"status":"ELIGIBLE"},"custom_id":%q,"invoice_id":%q,"create_time":"2026-03-01T11:59:50Z",`+
		`"links":[{"href":"https://api.paypal.com/v2/payments/captures/%s","rel":"self","method":"GET"}]}`,
		id, status, currency, value, customID, invoiceID, id)
}

// refund is a v2 refund resource.
func refund(id, captureID, value, currency, customID string) string {
	return fmt.Sprintf(`{"id":%q,"status":"COMPLETED","amount":{"currency_code":%q,"value":%q},"custom_id":%q,`+
		`"links":[{"href":"https://api.paypal.com/v2/payments/refunds/%s","rel":"self","method":"GET"},`+
		`{"href":"https://api.paypal.com/v2/payments/captures/%s","rel":"up","method":"GET"}]}`,
		id, currency, value, customID, id, captureID)
}

func newProvider(tb testing.TB, cfg paypal.Config) *paypal.Provider {
	tb.Helper()
	current, next, _, _ := pki(tb)
	if cfg.WebhookID == "" {
		cfg.WebhookID = webhookID
	}
	if cfg.Certificates == nil {
		cfg.Certificates = []string{current.pem, next.pem}
	}
	p, err := paypal.New(cfg)
	if err != nil {
		tb.Fatalf("paypal.New: %v", err)
	}
	return p
}

func completed() []byte {
	return event("WH-58D329510W468432D-8HN650336L201105X", "PAYMENT.CAPTURE.COMPLETED", "capture",
		capture("42311647XV020574X", "COMPLETED", "10.99", "USD", "O-1", "INV-1"))
}

func TestSignedString(t *testing.T) {
	// crc32("a") = 0xE8B7BE43: above 2^31, so a signed rendering would differ.
	if got, want := paypal.SignedString("id", "2026-03-01T12:00:00Z", webhookID, []byte("a")),
		"id|2026-03-01T12:00:00Z|"+webhookID+"|3904355907"; got != want {
		t.Fatalf("SignedString = %q, want %q", got, want)
	}
}

func TestVerify(t *testing.T) {
	current, next, stranger, expired := pki(t)
	body := completed()
	certFile := filepath.Join(t.TempDir(), "paypal.pem")
	if err := os.WriteFile(certFile, []byte(next.pem), 0o600); err != nil {
		t.Fatal(err)
	}
	good := current.sent(t, "8b8b4b60-1a2f-11f0-9b3e-0d1ad2c4b5e1", now.Add(-20*time.Second), body)
	tests := []struct {
		name    string
		certs   []string
		header  http.Header
		body    []byte
		replay  bool
		wantErr error
	}{
		{name: "signed as PayPal does", header: good, body: body},
		{name: "next certificate during rotation", header: next.sent(t, "t-2", now, body), body: body},
		{name: "certificate from a file", certs: []string{certFile}, header: next.sent(t, "t-3", now, body), body: body},
		{name: "certificate no longer pinned", certs: []string{next.pem}, header: good, body: body, wantErr: callbacks.ErrSignature},
		{name: "a retry is a new transmission", header: current.sent(t, "t-4", now.Add(2*time.Minute), body), body: body},
		{name: "tampered body", header: good, body: []byte(strings.Replace(string(body), `"10.99"`, `"0.99"`, 1)), wantErr: callbacks.ErrSignature},
		{name: "stranger's key", header: stranger.sent(t, "t-5", now, body), body: body, wantErr: callbacks.ErrSignature},
		{name: "signed for another webhook", header: current.headers(t, transmission{id: "t-6", time: now.Format(time.RFC3339),
			webhookID: "8PT597110X687430LKGECATA", body: body}), body: body, wantErr: callbacks.ErrSignature},
		{name: "transmission id changed", header: with(good, "PAYPAL-TRANSMISSION-ID", "t-7"), body: body, wantErr: callbacks.ErrSignature},
		{name: "missing signature", header: with(good, "PAYPAL-TRANSMISSION-SIG", ""), body: body, wantErr: callbacks.ErrSignature},
		{name: "missing transmission time", header: with(good, "PAYPAL-TRANSMISSION-TIME", ""), body: body, wantErr: callbacks.ErrSignature},
		{name: "signature not base64", header: with(good, "PAYPAL-TRANSMISSION-SIG", "%%%"), body: body, wantErr: callbacks.ErrSignature},
		{name: "another algorithm", header: with(good, "PAYPAL-AUTH-ALGO", "SHA1withRSA"), body: body, wantErr: callbacks.ErrSignature},
		{name: "time not RFC 3339", header: current.headers(t, transmission{id: "t-8", time: "Sun Mar  1 12:00:00 UTC 2026",
			webhookID: webhookID, body: body}), body: body, wantErr: callbacks.ErrSignature},
		{name: "out of window: old", header: current.sent(t, "t-9", now.Add(-6*time.Minute), body), body: body, wantErr: callbacks.ErrSignature},
		{name: "out of window: future", header: current.sent(t, "t-10", now.Add(6*time.Minute), body), body: body, wantErr: callbacks.ErrSignature},
		{name: "old transmission replayed by an admin", header: current.sent(t, "t-11", now.AddDate(0, 0, -20), body), body: body, replay: true},
		{name: "tampered replay", header: current.sent(t, "t-12", now.AddDate(0, 0, -20), body), body: append(body, ' '),
			replay: true, wantErr: callbacks.ErrSignature},
		{name: "expired certificate", certs: []string{expired.pem}, header: expired.sent(t, "t-13", now, body), body: body, wantErr: callbacks.ErrSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t, paypal.Config{Certificates: tc.certs})
			err := p.Verify(callbacks.Inbound{Header: tc.header, Body: tc.body, Replay: tc.replay}, now)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

// with returns a copy of h with one header replaced (or removed when empty).
func with(h http.Header, k, v string) http.Header {
	c := h.Clone()
	c.Del(k)
	if v != "" {
		c.Set(k, v)
	}
	return c
}

func TestTolerance(t *testing.T) {
	current, _, _, _ := pki(t)
	body := completed()
	h := current.sent(t, "t-1", now.Add(-20*time.Minute), body)
	p := newProvider(t, paypal.Config{Tolerance: 30 * time.Minute})
	if err := p.Verify(callbacks.Inbound{Header: h, Body: body}, now); err != nil {
		t.Fatalf("Verify within a 30m tolerance = %v", err)
	}
	if err := newProvider(t, paypal.Config{}).Verify(callbacks.Inbound{Header: h, Body: body}, now); !errors.Is(err, callbacks.ErrSignature) {
		t.Fatalf("Verify outside the default 5m = %v", err)
	}
}

func TestNew(t *testing.T) {
	current, _, _, _ := pki(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), NotBefore: now, NotAfter: now.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &small.PublicKey, small)
	if err != nil {
		t.Fatal(err)
	}
	weak := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	tests := []struct {
		name string
		cfg  paypal.Config
	}{
		{"no webhook id", paypal.Config{Certificates: []string{current.pem}}},
		{"no certificate", paypal.Config{WebhookID: webhookID}},
		{"missing file", paypal.Config{WebhookID: webhookID, Certificates: []string{filepath.Join(t.TempDir(), "none.pem")}}},
		{"not PEM", paypal.Config{WebhookID: webhookID, Certificates: []string{"-----BEGIN nothing"}}},
		{"1024-bit key", paypal.Config{WebhookID: webhookID, Certificates: []string{weak}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := paypal.New(tc.cfg); err == nil {
				t.Fatal("New accepted a bad configuration")
			}
		})
	}
}

func TestParse(t *testing.T) {
	usd := func(v int64) ledger.Money { return ledger.Money{Amount: v, Currency: "USD"} }
	tests := []struct {
		name    string
		body    []byte
		want    callbacks.Notification
		reason  string
		wantErr error
	}{
		{name: "capture completed", body: completed(),
			want: callbacks.Notification{TxnID: "42311647XV020574X:payment.succeeded", EventID: "WH-58D329510W468432D-8HN650336L201105X",
				EventType: "PAYMENT.CAPTURE.COMPLETED", Kind: ledger.KindPaymentSucceeded, OrderNo: "O-1", Reference: "42311647XV020574X", Money: usd(1099)}},
		{name: "invoice_id when there is no custom_id", body: event("WH-2", "PAYMENT.CAPTURE.COMPLETED", "capture", capture("CAP2", "COMPLETED", "5", "USD", "", "O-2")),
			want: callbacks.Notification{TxnID: "CAP2:payment.succeeded", EventID: "WH-2", EventType: "PAYMENT.CAPTURE.COMPLETED",
				Kind: ledger.KindPaymentSucceeded, OrderNo: "O-2", Reference: "CAP2", Money: usd(500)}},
		{name: "capture pending", body: event("WH-3", "PAYMENT.CAPTURE.PENDING", "capture", capture("CAP3", "PENDING", "1.50", "USD", "O-3", "")),
			want: callbacks.Notification{TxnID: "CAP3:payment.pending", EventID: "WH-3", EventType: "PAYMENT.CAPTURE.PENDING",
				Kind: ledger.KindPaymentPending, OrderNo: "O-3", Reference: "CAP3", Money: usd(150)}},
		{name: "capture denied", body: event("WH-4", "PAYMENT.CAPTURE.DENIED", "capture", capture("CAP3", "DECLINED", "1.50", "USD", "O-3", "")),
			want: callbacks.Notification{TxnID: "CAP3:payment.failed", EventID: "WH-4", EventType: "PAYMENT.CAPTURE.DENIED",
				Kind: ledger.KindPaymentFailed, OrderNo: "O-3", Reference: "CAP3", Money: usd(150)}},
		{name: "refund keyed by the refund id", body: event("WH-5", "PAYMENT.CAPTURE.REFUNDED", "refund", refund("1Y107995YT783435V", "CAP3", "0.99", "USD", "O-3")),
			want: callbacks.Notification{TxnID: "1Y107995YT783435V:refund.succeeded", EventID: "WH-5", EventType: "PAYMENT.CAPTURE.REFUNDED",
				Kind: ledger.KindRefundSucceeded, OrderNo: "O-3", Reference: "1Y107995YT783435V", Money: usd(99)}},
		{name: "yen", body: event("WH-6", "PAYMENT.CAPTURE.COMPLETED", "capture", capture("CAP6", "COMPLETED", "1500", "JPY", "O-6", "")),
			want: callbacks.Notification{TxnID: "CAP6:payment.succeeded", EventID: "WH-6", EventType: "PAYMENT.CAPTURE.COMPLETED",
				Kind: ledger.KindPaymentSucceeded, OrderNo: "O-6", Reference: "CAP6", Money: ledger.Money{Amount: 1500, Currency: "JPY"}}},
		{name: "other events are acknowledged", body: event("WH-7", "CHECKOUT.ORDER.APPROVED", "checkout-order", `{"id":"5O190127TN364715T","status":"APPROVED"}`),
			want:   callbacks.Notification{TxnID: "WH-7:unsupported", EventID: "WH-7", EventType: "CHECKOUT.ORDER.APPROVED", Reference: "5O190127TN364715T"},
			reason: "unsupported event type"},
		{name: "no order number", body: event("WH-8", "PAYMENT.CAPTURE.COMPLETED", "capture", capture("CAP8", "COMPLETED", "1.00", "USD", "", "")),
			want:   callbacks.Notification{TxnID: "WH-8:unsupported", EventID: "WH-8", EventType: "PAYMENT.CAPTURE.COMPLETED", Reference: "CAP8"},
			reason: "no order number"},
		{name: "unknown currency", body: event("WH-9", "PAYMENT.CAPTURE.COMPLETED", "capture", capture("CAP9", "COMPLETED", "1.00", "ZZZ", "O-9", "")),
			want:   callbacks.Notification{TxnID: "WH-9:unsupported", EventID: "WH-9", EventType: "PAYMENT.CAPTURE.COMPLETED", OrderNo: "O-9", Reference: "CAP9"},
			reason: "not an ISO-4217 currency"},
		{name: "refund not completed", body: event("WH-10", "PAYMENT.CAPTURE.REFUNDED", "refund",
			strings.Replace(refund("R10", "CAP3", "1.00", "USD", "O-3"), `"COMPLETED"`, `"PENDING"`, 1)),
			want:   callbacks.Notification{TxnID: "WH-10:unsupported", EventID: "WH-10", EventType: "PAYMENT.CAPTURE.REFUNDED", OrderNo: "O-3", Reference: "R10"},
			reason: "not COMPLETED"},
		{name: "more decimals than the currency has", body: event("WH-11", "PAYMENT.CAPTURE.COMPLETED", "capture", capture("C", "COMPLETED", "1.001", "USD", "O", "")),
			wantErr: callbacks.ErrMalformed},
		{name: "float-looking amount", body: event("WH-12", "PAYMENT.CAPTURE.COMPLETED", "capture", capture("C", "COMPLETED", "1e3", "USD", "O", "")),
			wantErr: callbacks.ErrMalformed},
		{name: "no resource id", body: event("WH-13", "PAYMENT.CAPTURE.COMPLETED", "capture", capture("", "COMPLETED", "1", "USD", "O", "")),
			wantErr: callbacks.ErrMalformed},
		{name: "no event id", body: []byte(`{"event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{}}`), wantErr: callbacks.ErrMalformed},
		{name: "not JSON", body: []byte(`{"id":`), wantErr: callbacks.ErrMalformed},
		{name: "invalid UTF-8 in the order number", body: []byte(strings.Replace(string(event("WH-14", "PAYMENT.CAPTURE.COMPLETED", "capture", capture("C", "COMPLETED", "1", "USD", "O-BAD", ""))), "O-BAD", "O-\xff", 1)),
			wantErr: callbacks.ErrMalformed},
	}
	p := newProvider(t, paypal.Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns, err := p.Parse(callbacks.Inbound{Body: tc.body})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Parse = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(ns) != 1 {
				t.Fatalf("Parse = %d notifications, %v", len(ns), err)
			}
			providertest.CheckNotification(t, ns[0], tc.want, tc.reason)
		})
	}
}

func TestAck(t *testing.T) {
	p := newProvider(t, paypal.Config{})
	tests := []struct {
		name string
		err  error
		want callbacks.Ack
	}{
		{"received", nil, callbacks.Ack{Status: 200, ContentType: "application/json; charset=utf-8", Body: []byte(`{"received":true}`)}},
		{"bad signature", callbacks.ErrSignature, callbacks.Ack{Status: 401, ContentType: "application/json; charset=utf-8",
			Body: []byte(`{"error":{"code":"bad_signature","message":"signature verification failed"}}`)}},
		{"transient", callbacks.ErrTransient, callbacks.Ack{Status: 503, ContentType: "application/json; charset=utf-8",
			Body: []byte(`{"error":{"code":"unavailable","message":"temporary failure, retry later"}}`)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, p.Ack(tc.err)); diff != "" {
				t.Errorf("Ack (-want +got):\n%s", diff)
			}
		})
	}
}
