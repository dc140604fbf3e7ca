package submission

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"gateway/ledger"
)

// tokenPrefix marks form tokens, so a token pasted in the wrong place is
// recognisable.
const tokenPrefix = "ft_"

// Issued is a new form token as the caller sees it, once: only its digest
// is stored.
type Issued struct {
	Value     string
	ExpiresAt time.Time
}

// IssueToken makes a one-time form token for the principal.
func (s *Service) IssueToken(ctx context.Context, principal string) (Issued, error) {
	plain := tokenPrefix + randomID(32)
	now := s.now()
	t := Token{Hash: tokenHash(plain), Principal: scope(principal), CreatedAt: now, ExpiresAt: now.Add(s.cfg.TokenTTL)}
	if err := s.store.InsertToken(ctx, &t); err != nil {
		return Issued{}, fmt.Errorf("submission: issue token: %w", err)
	}
	return Issued{Value: plain, ExpiresAt: t.ExpiresAt}, nil
}

func tokenHash(plain string) string {
	d := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(d[:])
}

// CreateOrder submits an order. With a form token, the token is consumed
// in the order's transaction: a second use is ErrTokenUsed and creates
// nothing. Without one it is ledger.Service.Create. Either way the unique
// order number still holds: the same order again is the stored order
// (created == false), the same number with other content ledger.ErrExists.
func (s *Service) CreateOrder(ctx context.Context, principal, formToken string, n ledger.NewOrder) (ledger.Order, bool, error) {
	if formToken == "" {
		return s.orders.Create(ctx, n)
	}
	if !strings.HasPrefix(formToken, tokenPrefix) || len(formToken) > 128 {
		return ledger.Order{}, false, fmt.Errorf("%w: not a form token", ErrTokenUnknown)
	}
	hash, principal := tokenHash(formToken), scope(principal)
	return s.orders.CreateWith(ctx, n, func(ctx context.Context, o *ledger.Order) error {
		return s.store.CreateOrderWithToken(ctx, o, principal, hash, s.now())
	})
}
