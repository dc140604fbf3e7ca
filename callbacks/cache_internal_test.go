package callbacks

import (
	"fmt"
	"testing"
)

func TestAppliedCache(t *testing.T) {
	c := newAppliedCache(3)
	c.put(Receipt{ID: 1, Provider: "p", TxnID: "unknown", Status: StatusUnknown})
	if _, ok := c.get("p", "unknown"); ok {
		t.Fatal("an unknown receipt was cached: it may still change")
	}
	c.put(Receipt{ID: 2, Provider: "p", TxnID: "a", Status: StatusApplied, RawBody: []byte("body")})
	r, ok := c.get("p", "a")
	if !ok || r.ID != 2 || r.RawBody != nil {
		t.Fatalf("get = %+v, %v; want receipt 2 without its body", r, ok)
	}
	if _, ok := c.get("q", "a"); ok {
		t.Fatal("the key must include the provider")
	}
	for i := range 5 {
		c.put(Receipt{ID: int64(10 + i), Provider: "p", TxnID: fmt.Sprint("k", i), Status: StatusApplied})
	}
	if len(c.m) != 3 {
		t.Fatalf("cache holds %d, want its bound 3", len(c.m))
	}
	if _, ok := c.get("p", "a"); ok {
		t.Fatal("the oldest entry was not evicted")
	}
	if _, ok := c.get("p", "k4"); !ok {
		t.Fatal("the newest entry is missing")
	}
	var off *appliedCache = newAppliedCache(-1)
	off.put(Receipt{ID: 1, Provider: "p", TxnID: "x", Status: StatusApplied})
	if _, ok := off.get("p", "x"); ok {
		t.Fatal("a disabled cache answered")
	}
}
