package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The console's login sessions are stateless cookies:
//
//	base64url(JSON payload) "." base64url(HMAC-SHA256(key, purpose 0x00 payload))
//
// The payload names the admin token's principal (its name, for the audit
// log) and a token id — an HMAC of the token's digest, which says which
// configured token logged in without revealing it — and carries the issue
// and expiry times and a random nonce. The raw token is never in a cookie.
// A session is accepted only while its token is still configured, before
// it expires, and until it is logged out. The CSRF token of a form is an
// HMAC of the session's nonce, so it needs no server state either.

// Cookie names and paths.
const (
	sessionCookie = "gateway_console"
	loginCookie   = "gateway_console_login"
	consoleBase   = "/admin/ui"
	loginPath     = consoleBase + "/login"
)

// Purposes keep a cookie or CSRF token made for one use from passing for
// another.
const (
	purposeSession = "session"
	purposeLogin   = "login"
)

const (
	defaultSessionTTL = 8 * time.Hour
	loginFormTTL      = time.Hour
	// clockSkew is how far in the future an issue time may be (replicas'
	// clocks differ a little).
	clockSkew = time.Minute
)

// Reasons a session cookie is refused. None is shown to the browser, which
// is sent to log in again; they are logged.
var (
	errSessionMalformed = errors.New("session cookie malformed")
	errSessionSignature = errors.New("session cookie signature does not verify")
	errSessionExpired   = errors.New("session expired")
	errSessionFuture    = errors.New("session issued in the future")
	errSessionToken     = errors.New("session's admin token is no longer configured")
	errSessionRevoked   = errors.New("session logged out")
)

// session is a cookie's payload.
type session struct {
	Name    string `json:"n,omitempty"` // the admin token's name
	TokenID string `json:"t,omitempty"` // which admin token (see tokenID)
	Issued  int64  `json:"i"`           // unix seconds
	Expires int64  `json:"e"`           // unix seconds
	Nonce   string `json:"s"`           // random; the CSRF token is derived from it
}

// ID names the session in the audit log without giving away its nonce.
func (s session) ID() string {
	h := sha256.Sum256([]byte(s.Nonce))
	return base64.RawURLEncoding.EncodeToString(h[:9])
}

// sessions issues and checks the console's cookies and CSRF tokens.
type sessions struct {
	macKey, csrfKey, idKey []byte
	ttl                    time.Duration
	secure                 bool
	now                    func() time.Time
	// tokens maps the token id of every configured admin token to its name.
	tokens map[string]string

	mu      sync.Mutex
	revoked map[string]int64 // nonce → expiry (unix seconds)
}

// newSessions derives the keys from key (random when empty) and learns
// the configured admin tokens.
func newSessions(key []byte, ttl time.Duration, secure bool, now func() time.Time, admins []token) *sessions {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key) // never fails (crypto/rand)
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte("gateway console v1 " + label))
		return m.Sum(nil)
	}
	if ttl <= 0 {
		ttl = defaultSessionTTL
	}
	if now == nil {
		now = time.Now
	}
	s := &sessions{macKey: derive("cookie"), csrfKey: derive("csrf"), idKey: derive("token id"), ttl: ttl,
		secure: secure, now: now, tokens: map[string]string{}, revoked: map[string]int64{}}
	for _, t := range admins {
		s.tokens[s.tokenID(t.digest)] = t.name
	}
	return s
}

// tokenID identifies an admin token by a keyed hash of its digest.
func (s *sessions) tokenID(digest [32]byte) string {
	m := hmac.New(sha256.New, s.idKey)
	m.Write(digest[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

func (s *sessions) mac(purpose, payload string) []byte {
	m := hmac.New(sha256.New, s.macKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// tokenDigest is how the token table holds a token (see tokens).
func tokenDigest(t string) [32]byte { return sha256.Sum256([]byte(t)) }

func newNonce() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// issue makes a session for the holder of an admin token.
func (s *sessions) issue(name string, digest [32]byte) session {
	now := s.now()
	return session{Name: name, TokenID: s.tokenID(digest), Issued: now.Unix(), Expires: now.Add(s.ttl).Unix(), Nonce: newNonce()}
}

// encode signs a payload for a purpose.
func (s *sessions) encode(purpose string, p session) string {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err) // a struct of strings and ints always marshals
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(purpose, payload))
}

// decode checks a cookie value's signature and times; for a session, also
// that its token is still configured and it is not logged out.
func (s *sessions) decode(purpose, value string) (session, error) {
	payload, sig, ok := strings.Cut(value, ".")
	if !ok || len(value) > 1024 {
		return session{}, errSessionMalformed
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return session{}, errSessionMalformed
	}
	if !hmac.Equal(got, s.mac(purpose, payload)) {
		return session{}, errSessionSignature
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return session{}, errSessionMalformed
	}
	var p session
	if err := json.Unmarshal(b, &p); err != nil || p.Nonce == "" {
		return session{}, errSessionMalformed
	}
	now := s.now()
	switch {
	case now.Unix() >= p.Expires:
		return session{}, errSessionExpired
	case time.Unix(p.Issued, 0).After(now.Add(clockSkew)):
		return session{}, errSessionFuture
	}
	if purpose == purposeSession {
		if name, ok := s.tokens[p.TokenID]; !ok || name != p.Name {
			return session{}, errSessionToken
		}
		s.mu.Lock()
		_, out := s.revoked[p.Nonce]
		s.mu.Unlock()
		if out {
			return session{}, errSessionRevoked
		}
	}
	return p, nil
}

// revoke ends a session before it expires (on logout). Revocations are
// kept until the session would have expired; they are per process.
func (s *sessions) revoke(p session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().Unix()
	for n, exp := range s.revoked {
		if exp <= now {
			delete(s.revoked, n)
		}
	}
	s.revoked[p.Nonce] = p.Expires
}

// csrf is the CSRF token of the forms of a session (or of a login form).
func (s *sessions) csrf(purpose string, p session) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(p.Nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF compares a form's token with the session's in constant time.
func (s *sessions) checkCSRF(purpose string, p session, presented string) bool {
	return hmac.Equal([]byte(presented), []byte(s.csrf(purpose, p)))
}

// cookie makes a cookie that only this site's pages send back (SameSite
// Strict), that scripts cannot read (HttpOnly), and that is Secure on TLS
// or when configured. An empty value deletes the cookie.
func (s *sessions) cookie(r *http.Request, name, path, value string, expires int64) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: s.secure || r.TLS != nil}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.MaxAge = max(int(expires-s.now().Unix()), 1)
	}
	return c
}

// fromRequest reads and checks the session cookie.
func (s *sessions) fromRequest(r *http.Request) (session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, err
	}
	p, err := s.decode(purposeSession, c.Value)
	if err != nil {
		return session{}, fmt.Errorf("console: %w", err)
	}
	return p, nil
}
