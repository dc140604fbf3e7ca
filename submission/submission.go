// Package submission guards merchant submissions against repeats, on top of
// the unique order number: Idempotency-Key records (the same request with
// the same key gets the stored answer, byte for byte) and server-issued
// one-time form tokens (consumed in the order's own transaction). Both live
// in the database with an expiry; Cleanup removes what has expired.
package submission

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"gateway/ledger"
)

// Errors of the submission domain. The HTTP edge maps them in its table.
var (
	// ErrInvalidKey: the Idempotency-Key header is not a usable key.
	ErrInvalidKey = errors.New("invalid Idempotency-Key")
	// ErrKeyReused: the key was used before with a different request.
	ErrKeyReused = errors.New("Idempotency-Key already used with a different request")
	// ErrInFlight: the first request with this key has not finished yet.
	ErrInFlight = errors.New("a request with this Idempotency-Key is still in progress; retry later")
	// ErrTokenUnknown: no form token of that value was issued to this caller.
	ErrTokenUnknown = errors.New("form token unknown")
	// ErrTokenExpired: the form token's time is up.
	ErrTokenExpired = errors.New("form token expired")
	// ErrTokenUsed: the form token was already consumed by a submission.
	ErrTokenUsed = errors.New("form token already used")

	// ErrKeyExists: a key with that (principal, key) exists (returned by stores).
	ErrKeyExists = errors.New("idempotency key exists")
	// ErrKeyNotFound: no such key (returned by stores).
	ErrKeyNotFound = errors.New("idempotency key not found")
	// ErrLeaseLost: another request took the key over (returned by stores).
	ErrLeaseLost = errors.New("idempotency key taken over by another request")
)

// State is an idempotency key's place in its life.
type State string

// Key states.
const (
	StatePending State = "pending" // the first request is running (or crashed; see Key.LeaseUntil)
	StateDone    State = "done"    // the answer is stored
)

// Response is a stored answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Key is a row of the idempotency table.
type Key struct {
	ID          int64
	Principal   string
	Key         string
	Fingerprint string
	State       State
	// Owner is the random id of the request that runs the key; LeaseUntil
	// is when another request may take over a pending key whose first
	// request died.
	Owner      string
	LeaseUntil time.Time
	Response   Response
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// Token is a one-time form token. Only its SHA-256 is stored.
type Token struct {
	ID        int64
	Hash      string
	Principal string
	OrderNo   string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// Store is what the service needs from the database.
type Store interface {
	// InsertKey inserts a pending key and sets k.ID; ErrKeyExists if its
	// (principal, key) exists.
	InsertKey(ctx context.Context, k *Key) error
	// Key finds a key; ErrKeyNotFound if there is none.
	Key(ctx context.Context, principal, key string) (Key, error)
	// ClaimKey gives a pending key to newOwner if oldOwner still has it;
	// ErrLeaseLost otherwise.
	ClaimKey(ctx context.Context, id int64, oldOwner, newOwner string, leaseUntil time.Time) error
	// CompleteKey stores the answer if owner still has the pending key;
	// ErrLeaseLost otherwise.
	CompleteKey(ctx context.Context, id int64, owner string, r Response) error
	// ReleaseKey deletes the pending key if owner still has it.
	ReleaseKey(ctx context.Context, id int64, owner string) error
	// DeleteExpiredKey deletes the key if it has expired at now.
	DeleteExpiredKey(ctx context.Context, id int64, now time.Time) error

	// InsertToken stores an issued form token.
	InsertToken(ctx context.Context, t *Token) error
	// CreateOrderWithToken consumes the principal's unused, unexpired token
	// and inserts the order in one transaction: ErrTokenUnknown,
	// ErrTokenExpired or ErrTokenUsed when the token is refused, an error
	// wrapping ledger.ErrExists when the number is taken; nothing is
	// written on any error.
	CreateOrderWithToken(ctx context.Context, o *ledger.Order, principal, tokenHash string, now time.Time) error

	// DeleteExpired deletes up to limit expired keys and up to limit
	// expired tokens and returns how many rows went.
	DeleteExpired(ctx context.Context, now time.Time, limit int) (int, error)
}

// Config tunes the service. Zero values take the defaults.
type Config struct {
	// KeyTTL is how long an answer is kept for its key (default 24h).
	KeyTTL time.Duration
	// Lease is how long a first request may run before a repeat may take
	// the key over, assuming the first died (default 30s).
	Lease time.Duration
	// InFlightWait is how long a repeat waits for the first request's
	// answer before it is told ErrInFlight (default 2s).
	InFlightWait time.Duration
	// TokenTTL is how long a form token may be used (default 1h).
	TokenTTL time.Duration
}

// Service issues and checks idempotency keys and form tokens.
type Service struct {
	store  Store
	orders *ledger.Service
	cfg    Config
	// Now is the clock for expiries and leases; tests replace it.
	Now func() time.Time
}

// NewService returns the service over store; orders creates the orders.
func NewService(store Store, orders *ledger.Service, cfg Config) *Service {
	if cfg.KeyTTL <= 0 {
		cfg.KeyTTL = 24 * time.Hour
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.InFlightWait <= 0 {
		cfg.InFlightWait = 2 * time.Second
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = time.Hour
	}
	return &Service{store: store, orders: orders, cfg: cfg, Now: time.Now}
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// maxPrincipal is the width of the principal columns.
const maxPrincipal = 128

// scope is the principal as stored: itself, or a digest when too long.
func scope(principal string) string {
	if len(principal) <= maxPrincipal {
		return principal
	}
	d := sha256.Sum256([]byte(principal))
	return "sha256:" + hex.EncodeToString(d[:])
}

func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Cleanup deletes expired idempotency keys and form tokens, in batches, and
// returns how many rows it deleted. It is the cron job's body.
func (s *Service) Cleanup(ctx context.Context, now time.Time) (int, error) {
	const batch = 500
	total := 0
	for {
		n, err := s.store.DeleteExpired(ctx, now.UTC(), batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("submission: cleanup: %w", err)
		}
		if n < batch {
			return total, nil
		}
	}
}

// validKey accepts 1 to 128 visible ASCII characters (a UUID, a ULID, …).
func validKey(k string) error {
	if k == "" || len(k) > 128 {
		return fmt.Errorf("%w: it must be 1 to 128 characters", ErrInvalidKey)
	}
	if strings.IndexFunc(k, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
		return fmt.Errorf("%w: it must be visible ASCII (a UUID, for example)", ErrInvalidKey)
	}
	return nil
}
