package submission

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Fingerprint identifies a request for its Idempotency-Key: method, path
// and the exact body bytes. A retry sends the same bytes.
func Fingerprint(method, path string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write([]byte(path))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Claim is the outcome of Begin: either the stored answer to replay, or the
// right to run the request and record its answer.
type Claim struct {
	// Replay, when set, is the stored answer; the request must not run.
	Replay *Response
	id     int64
	owner  string
}

// Begin claims key for a request of the principal with the given
// fingerprint. The first request gets a claim to run; a repeat of a
// finished one gets its stored answer in Claim.Replay; a repeat of one
// still running waits up to Config.InFlightWait for its answer, then gets
// ErrInFlight; a key used with another fingerprint is ErrKeyReused. A
// pending key whose lease has run out (its request died) is taken over.
func (s *Service) Begin(ctx context.Context, principal, key, fingerprint string) (Claim, error) {
	if err := validKey(key); err != nil {
		return Claim{}, err
	}
	principal = scope(principal)
	owner := randomID(16)
	start := time.Now() // the wait is real time, whatever the clock says
	for attempt := 1; ; attempt++ {
		if attempt > 1 && time.Since(start) >= s.cfg.InFlightWait {
			return Claim{}, fmt.Errorf("%w (key %q)", ErrInFlight, key)
		}
		now := s.now()
		k := Key{Principal: principal, Key: key, Fingerprint: fingerprint, State: StatePending, Owner: owner,
			LeaseUntil: now.Add(s.cfg.Lease), CreatedAt: now, ExpiresAt: now.Add(s.cfg.KeyTTL)}
		err := s.store.InsertKey(ctx, &k)
		if err == nil {
			return Claim{id: k.ID, owner: owner}, nil
		}
		if !errors.Is(err, ErrKeyExists) {
			return Claim{}, fmt.Errorf("submission: begin %q: %w", key, err)
		}
		prev, err := s.store.Key(ctx, principal, key)
		switch {
		case errors.Is(err, ErrKeyNotFound):
			continue // deleted since (expired): insert again
		case err != nil:
			return Claim{}, fmt.Errorf("submission: begin %q: %w", key, err)
		case !now.Before(prev.ExpiresAt):
			if err := s.store.DeleteExpiredKey(ctx, prev.ID, now); err != nil {
				return Claim{}, fmt.Errorf("submission: begin %q: %w", key, err)
			}
			continue
		case prev.Fingerprint != fingerprint:
			return Claim{}, fmt.Errorf("%w (key %q)", ErrKeyReused, key)
		case prev.State == StateDone:
			r := prev.Response
			return Claim{Replay: &r}, nil
		case !now.Before(prev.LeaseUntil):
			err := s.store.ClaimKey(ctx, prev.ID, prev.Owner, owner, now.Add(s.cfg.Lease))
			if err == nil {
				return Claim{id: prev.ID, owner: owner}, nil
			}
			if !errors.Is(err, ErrLeaseLost) {
				return Claim{}, fmt.Errorf("submission: take over %q: %w", key, err)
			}
			continue
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return Claim{}, fmt.Errorf("submission: waiting for %q: %w", key, err)
		}
	}
}

// Complete stores the answer of a claimed request. ErrLeaseLost means
// another request took the key over (this one outlived its lease).
func (s *Service) Complete(ctx context.Context, c Claim, r Response) error {
	if c.Replay != nil || c.owner == "" {
		return errors.New("submission: complete without a claim")
	}
	if r.Body == nil {
		r.Body = []byte{}
	}
	if err := s.store.CompleteKey(ctx, c.id, c.owner, r); err != nil {
		return fmt.Errorf("submission: complete: %w", err)
	}
	return nil
}

// Release gives the key up without an answer (the request failed in a way
// a retry may cure), so the next request with it runs afresh.
func (s *Service) Release(ctx context.Context, c Claim) error {
	if c.Replay != nil || c.owner == "" {
		return nil
	}
	if err := s.store.ReleaseKey(ctx, c.id, c.owner); err != nil {
		return fmt.Errorf("submission: release: %w", err)
	}
	return nil
}

// backoff polls quickly at first, then every 100ms or so.
func backoff(attempt int) time.Duration {
	d := 5 * time.Millisecond << min(attempt-1, 4)
	return d/2 + rand.N(d)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
