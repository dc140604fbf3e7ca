package rsakey_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gateway/providers/providertest"
	"gateway/providers/rsakey"
)

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func TestPublic(t *testing.T) {
	key := &providertest.Provider.Private.PublicKey
	pkix, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(file, []byte(providertest.Provider.PublicPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	certBlock, _ := pem.Decode([]byte(providertest.ProviderCertPEM))
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	tests := []struct {
		name string
		in   string
		cert bool
		ok   bool
	}{
		{"PUBLIC KEY PEM", providertest.Provider.PublicPEM, false, true},
		{"RSA PUBLIC KEY PEM", pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(key)), false, true},
		{"certificate", providertest.ProviderCertPEM, true, true},
		{"bare base64", base64.StdEncoding.EncodeToString(pkix), false, true},
		{"bare base64 certificate", base64.StdEncoding.EncodeToString(certBlock.Bytes), true, true},
		{"file", file, false, true},
		{"1024-bit key", pemOf("PUBLIC KEY", smallDER), false, false},
		{"EC key", pemOf("PUBLIC KEY", ecDER), false, false},
		{"missing file", "/nonexistent/key.pem", false, false},
		{"broken PEM", "-----BEGIN PUBLIC KEY-----\nAAAA", false, false},
		{"empty", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub, cert, err := rsakey.Public(tt.in)
			if !tt.ok {
				if !errors.Is(err, rsakey.ErrKey) {
					t.Errorf("Public = %v, want ErrKey", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Public: %v", err)
			}
			if !pub.Equal(key) || (cert != nil) != tt.cert {
				t.Errorf("Public = other key or cert %v, want cert %v", cert != nil, tt.cert)
			}
		})
	}
}

func TestPrivate(t *testing.T) {
	key := providertest.Merchant.Private
	pkcs8 := strings.TrimSpace(providertest.Merchant.PrivatePEM)
	bare := strings.Join(strings.Split(pkcs8, "\n")[1:len(strings.Split(pkcs8, "\n"))-1], "")
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"PKCS#8 PEM", providertest.Merchant.PrivatePEM, true},
		{"PKCS#1 PEM", pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)), true},
		{"bare base64 PKCS#8", bare, true},
		{"bare base64 PKCS#1", base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PrivateKey(key)), true},
		{"a public key", providertest.Merchant.PublicPEM, false},
		{"secret nonsense", "hunter2-not-a-key", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := rsakey.Private(tt.in)
			if !tt.ok {
				if !errors.Is(err, rsakey.ErrKey) || strings.Contains(err.Error(), "hunter2") {
					t.Errorf("Private = %v, want ErrKey that does not repeat the input", err)
				}
				return
			}
			if err != nil || !got.Equal(key) {
				t.Errorf("Private = %v, %v", got != nil, err)
			}
		})
	}
}

func TestSignVerify(t *testing.T) {
	msg := []byte("1764324000\nnonce\n{}\n")
	sig, err := rsakey.Sign(providertest.Provider.Private, msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsakey.Verify(&providertest.Provider.Private.PublicKey, msg, sig); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := rsakey.Verify(&providertest.Stranger.Private.PublicKey, msg, sig); err == nil {
		t.Errorf("Verify with another key succeeded")
	}
	if err := rsakey.Verify(&providertest.Provider.Private.PublicKey, append(msg, ' '), sig); err == nil {
		t.Errorf("Verify of another message succeeded")
	}
}
