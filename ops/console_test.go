package ops_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"gateway/callbacks"
	"gateway/ops"
)

func TestOverview(t *testing.T) {
	st := &fakeStore{
		histogram: []ops.HistogramCount{
			{Bucket: 0, Provider: "stripe", Status: callbacks.StatusApplied, Receipts: 2},
			{Bucket: 23, Provider: "stripe", Status: callbacks.StatusUnknown, Receipts: 1},
			{Bucket: 23, Provider: "acme", Status: callbacks.StatusApplied, Receipts: 5},
		},
		backlog: []callbacks.Backlog{{Provider: "stripe", Status: callbacks.StatusUnknown, Count: 1}},
	}
	s := newService(st, &fakeRedriver{})
	s.Now = func() time.Time { return time.Date(2025, 3, 10, 12, 34, 0, 0, time.UTC) }
	w, err := ops.WindowByName("24h")
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.Overview(context.Background(), who, w)
	if err != nil {
		t.Fatal(err)
	}
	// The window ends with the current hour's bucket.
	if want := []string{"2025-03-09T13:00:00Z 1h0m0s 24"}; !cmp.Equal(want, st.asked) {
		t.Errorf("asked the store for %v, want %v", st.asked, want)
	}
	if len(o.Starts) != 24 || !o.Starts[23].Equal(time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)) ||
		!o.To.Equal(time.Date(2025, 3, 10, 13, 0, 0, 0, time.UTC)) {
		t.Errorf("buckets %d, last %s, to %s", len(o.Starts), o.Starts[len(o.Starts)-1], o.To)
	}
	if len(o.Series) != 2 || o.Series[0].Provider != "acme" || o.Series[1].Provider != "stripe" {
		t.Fatalf("series: %+v", o.Series)
	}
	stripe := o.Series[1]
	if stripe.Buckets[0][callbacks.StatusApplied] != 2 || stripe.Buckets[23][callbacks.StatusUnknown] != 1 ||
		stripe.Buckets[5].Sum() != 0 || stripe.Total.Sum() != 3 {
		t.Errorf("stripe: %+v", stripe)
	}
	if len(o.Backlog) != 1 {
		t.Errorf("backlog: %+v", o.Backlog)
	}
	if len(st.audit) != 1 || st.audit[0].Action != ops.ActionOverview || st.audit[0].Target != "window:24h" || st.audit[0].Actor != "ops" {
		t.Errorf("audit: %+v", st.audit)
	}

	t.Run("bad bucket", func(t *testing.T) {
		st := &fakeStore{histogram: []ops.HistogramCount{{Bucket: 24, Provider: "stripe", Status: callbacks.StatusApplied, Receipts: 1}}}
		if _, err := newService(st, &fakeRedriver{}).Overview(context.Background(), who, w); err == nil {
			t.Error("a bucket outside the window: no error")
		}
		if len(st.audit) != 1 || st.audit[0].Result != ops.ResultFailed {
			t.Errorf("audit: %+v", st.audit)
		}
	})
	t.Run("windows", func(t *testing.T) {
		for _, name := range []string{"", "24h", "7d", "30d"} {
			w, err := ops.WindowByName(name)
			if err != nil || w.Span%w.Step != 0 {
				t.Errorf("%q: %+v %v", name, w, err)
			}
		}
		if _, err := ops.WindowByName("1y"); !errors.Is(err, ops.ErrInvalid) {
			t.Errorf("1y: %v, want ErrInvalid", err)
		}
	})
	t.Run("without its audit row", func(t *testing.T) {
		st := &fakeStore{failAudit: true}
		if _, err := newService(st, &fakeRedriver{}).Overview(context.Background(), who, w); !errors.Is(err, ops.ErrAudit) {
			t.Errorf("overview: %v, want ErrAudit", err)
		}
	})
}

func TestLoginLogoutAudited(t *testing.T) {
	st := &fakeStore{}
	s := newService(st, &fakeRedriver{})
	a := ops.Actor{Name: "alice", Via: "console", RequestID: "r9"}
	if err := s.Login(context.Background(), a, "abc"); err != nil {
		t.Fatal(err)
	}
	if err := s.Logout(context.Background(), a, "abc"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range st.audit {
		got = append(got, e.Actor+" "+e.Via+" "+e.Action+" "+e.Target+" "+e.Result+" "+e.RequestID)
	}
	want := []string{"alice console console.login session:abc ok r9", "alice console console.logout session:abc ok r9"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
	st.failAudit = true
	if err := s.Login(context.Background(), a, "abd"); !errors.Is(err, ops.ErrAudit) {
		t.Errorf("login without its audit row: %v, want ErrAudit", err)
	}
}
