// Package rsakey loads the RSA keys that provider sections name in
// configuration — PEM text, bare base64 DER (as Alipay's console prints
// keys), or the path of a file holding either — and signs and verifies
// SHA256withRSA (RSASSA-PKCS1-v1_5 over SHA-256), the scheme WeChat Pay
// and Alipay (RSA2) share.
//
// Error messages never repeat the configured value: it may be a private key.
package rsakey

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// ErrKey: a configured key cannot be loaded.
var ErrKey = errors.New("rsakey: not a usable RSA key")

// minBits refuses toy keys: both providers use 2048-bit RSA.
const minBits = 2048

// Public loads an RSA public key from a PUBLIC KEY / RSA PUBLIC KEY /
// CERTIFICATE PEM block, bare base64 DER of either, or a file holding one of
// those. cert is the certificate when the key came from one.
func Public(s string) (pub *rsa.PublicKey, cert *x509.Certificate, err error) {
	der, typ, err := load(s)
	if err != nil {
		return nil, nil, err
	}
	var key any
	switch typ {
	case "CERTIFICATE":
		cert, err = x509.ParseCertificate(der)
		if err == nil {
			key = cert.PublicKey
		}
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(der)
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(der)
	default: // bare DER: try each form
		if key, err = x509.ParsePKIXPublicKey(der); err != nil {
			if cert, err = x509.ParseCertificate(der); err == nil {
				key = cert.PublicKey
			}
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: public key: %v", ErrKey, err)
	}
	pub, ok := key.(*rsa.PublicKey)
	if !ok {
		return nil, nil, fmt.Errorf("%w: public key is %T, not RSA", ErrKey, key)
	}
	if pub.N.BitLen() < minBits {
		return nil, nil, fmt.Errorf("%w: public key has %d bits, want at least %d", ErrKey, pub.N.BitLen(), minBits)
	}
	return pub, cert, nil
}

// Private loads an RSA private key from a PRIVATE KEY (PKCS#8) or RSA
// PRIVATE KEY (PKCS#1) PEM block, bare base64 DER of either, or a file.
func Private(s string) (*rsa.PrivateKey, error) {
	der, typ, err := load(s)
	if err != nil {
		return nil, err
	}
	var key any
	switch typ {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(der)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(der)
	default:
		if key, err = x509.ParsePKCS8PrivateKey(der); err != nil {
			key, err = x509.ParsePKCS1PrivateKey(der)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: private key does not parse as PKCS#8 or PKCS#1", ErrKey)
	}
	priv, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: private key is %T, not RSA", ErrKey, key)
	}
	if priv.N.BitLen() < minBits {
		return nil, fmt.Errorf("%w: private key has %d bits, want at least %d", ErrKey, priv.N.BitLen(), minBits)
	}
	return priv, nil
}

// load returns the DER bytes and PEM type ("" for bare base64) of s: PEM
// text, else an existing file's content, else bare base64.
func load(s string) (der []byte, typ string, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, "", fmt.Errorf("%w: empty", ErrKey)
	}
	if !strings.Contains(s, "-----BEGIN ") {
		if b, ferr := os.ReadFile(s); ferr == nil {
			if der, typ, ok := decode(strings.TrimSpace(string(b))); ok {
				return der, typ, nil
			}
			return nil, "", fmt.Errorf("%w: file holds neither PEM nor base64 DER", ErrKey)
		} else if errors.Is(ferr, fs.ErrPermission) {
			return nil, "", fmt.Errorf("%w: key file: %v", ErrKey, fs.ErrPermission)
		}
	}
	if der, typ, ok := decode(s); ok {
		return der, typ, nil
	}
	return nil, "", fmt.Errorf("%w: neither PEM, base64 DER nor a readable file", ErrKey)
}

func decode(s string) ([]byte, string, bool) {
	if strings.Contains(s, "-----BEGIN ") {
		block, _ := pem.Decode([]byte(s))
		if block == nil {
			return nil, "", false
		}
		return block.Bytes, block.Type, true
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil || len(der) < 64 {
		return nil, "", false
	}
	return der, "", true
}

// Sign returns the SHA256withRSA signature of msg.
func Sign(key *rsa.PrivateKey, msg []byte) ([]byte, error) {
	sum := sha256.Sum256(msg)
	return rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
}

// Verify checks a SHA256withRSA signature of msg.
func Verify(key *rsa.PublicKey, msg, sig []byte) error {
	sum := sha256.Sum256(msg)
	return rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig)
}
