package callbacks

import "sync"

// appliedCache remembers receipts whose effect is committed. An applied
// receipt never changes again (a replay of it is a no-op, the reconciler
// works only on unknown ones), so a duplicate of one can be answered from
// memory, with no database read — what a provider's retry storm mostly
// is. The fingerprint is still compared, so a conflict is still caught.
// Bounded: the oldest entries make room for new ones.
type appliedCache struct {
	mu   sync.Mutex
	m    map[cacheKey]Receipt
	ring []cacheKey
	next int
}

type cacheKey struct{ provider, txnID string }

func newAppliedCache(size int) *appliedCache {
	if size <= 0 {
		return nil
	}
	return &appliedCache{m: make(map[cacheKey]Receipt, size), ring: make([]cacheKey, size)}
}

func (c *appliedCache) get(provider, txnID string) (Receipt, bool) {
	if c == nil {
		return Receipt{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[cacheKey{provider, txnID}]
	return r, ok
}

// put keeps r if it is applied; its raw body and headers are dropped to
// keep the cache small (a duplicate's answer does not need them).
func (c *appliedCache) put(r Receipt) {
	if c == nil || r.Status != StatusApplied || r.ID == 0 {
		return
	}
	r.RawBody, r.Headers = nil, nil
	k := cacheKey{r.Provider, r.TxnID}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		return
	}
	if old := c.ring[c.next]; old != (cacheKey{}) {
		delete(c.m, old)
	}
	c.ring[c.next] = k
	c.next = (c.next + 1) % len(c.ring)
	c.m[k] = r
}
