package ops_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"gateway/callbacks"
	"gateway/ops"
	"gateway/report"
)

// fakeStore holds receipts and audit rows in memory; failAudit makes every
// audit write fail.
type fakeStore struct {
	mu        sync.Mutex
	receipts  []callbacks.Receipt
	audit     []ops.AuditEntry
	failAudit bool
	filters   []ops.ReceiptFilter
	histogram []ops.HistogramCount
	backlog   []callbacks.Backlog
	// asked records the histogram requests.
	asked []string
}

func (s *fakeStore) ReceiptHistogram(_ context.Context, from time.Time, step time.Duration, n int) ([]ops.HistogramCount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, fmt.Sprintf("%s %s %d", from.Format(time.RFC3339), step, n))
	return s.histogram, nil
}

func (s *fakeStore) Backlog(context.Context) ([]callbacks.Backlog, error) { return s.backlog, nil }

func (s *fakeStore) ListReceipts(_ context.Context, f ops.ReceiptFilter) ([]callbacks.Receipt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filters = append(s.filters, f)
	return s.receipts[:min(f.Limit, len(s.receipts))], nil
}

func (s *fakeStore) ReceiptByID(_ context.Context, id int64) (callbacks.Receipt, error) {
	for _, r := range s.receipts {
		if r.ID == id {
			return r, nil
		}
	}
	return callbacks.Receipt{}, callbacks.ErrNotFound
}

func (s *fakeStore) AppendAudit(_ context.Context, e *ops.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failAudit {
		return errors.New("disk full")
	}
	e.ID = int64(len(s.audit) + 1)
	s.audit = append(s.audit, *e)
	return nil
}

func (s *fakeStore) ListAudit(context.Context, ops.AuditFilter) ([]ops.AuditEntry, error) {
	return s.audit, nil
}

// fakeRedriver applies whatever it is asked to, and counts.
type fakeRedriver struct {
	mu    sync.Mutex
	calls []int64
	onRun func()
}

func (r *fakeRedriver) Redrive(_ context.Context, id int64, dry bool) (callbacks.Redrive, error) {
	r.mu.Lock()
	r.calls = append(r.calls, id)
	r.mu.Unlock()
	if r.onRun != nil {
		r.onRun()
	}
	return callbacks.Redrive{Receipt: callbacks.Receipt{ID: id, Status: callbacks.StatusApplied}, Previous: callbacks.StatusUnknown,
		Action: callbacks.ActionApplied, Changed: true, DryRun: dry}, nil
}

type noReports struct{}

func (noReports) Reconciliation(context.Context, report.Period) (report.Report, error) {
	return report.Report{}, nil
}
func (noReports) Daily(context.Context, string) (report.Report, error) { return report.Report{}, nil }

func newService(st *fakeStore, rd *fakeRedriver) *ops.Service {
	s := ops.New(st, rd, noReports{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Now = func() time.Time { return time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC) }
	return s
}

func unknownReceipts(n int) []callbacks.Receipt {
	var out []callbacks.Receipt
	for i := 1; i <= n; i++ {
		out = append(out, callbacks.Receipt{ID: int64(i), Provider: "p", TxnID: "t", Status: callbacks.StatusUnknown})
	}
	return out
}

var who = ops.Actor{Name: "ops", Via: "http", RequestID: "r1"}

func TestReplayWithoutAuditIsAnError(t *testing.T) {
	st := &fakeStore{receipts: unknownReceipts(3), failAudit: true}
	rd := &fakeRedriver{}
	s := newService(st, rd)
	_, err := s.Replay(context.Background(), who, 1, false)
	if !errors.Is(err, ops.ErrAudit) {
		t.Errorf("replay with a failing audit log: %v, want ErrAudit", err)
	}
	b, err := s.BulkReplay(context.Background(), who, ops.ReceiptFilter{Status: callbacks.StatusUnknown}, false, nil)
	if !errors.Is(err, ops.ErrAudit) || b.Done != 0 {
		t.Errorf("bulk: %v after %d, want ErrAudit at once", err, b.Done)
	}
	if len(rd.calls) != 2 {
		t.Errorf("%d replays, want 2: the bulk stops at its first unaudited replay", len(rd.calls))
	}
}

func TestBulkReplay(t *testing.T) {
	t.Run("oldest first, each audited, then the summary", func(t *testing.T) {
		st := &fakeStore{receipts: unknownReceipts(3)}
		rd := &fakeRedriver{}
		var seen []int
		b, err := newService(st, rd).BulkReplay(context.Background(), who, ops.ReceiptFilter{Status: callbacks.StatusUnknown, Provider: "p", Limit: 3}, true,
			func(done, total int, it ops.BulkItem) { seen = append(seen, done*10+total) })
		if err != nil || b.Selected != 3 || b.Done != 3 || b.Actions[callbacks.ActionApplied] != 3 || !b.DryRun {
			t.Fatalf("bulk: %+v %v", b, err)
		}
		if f := st.filters[0]; !f.Oldest || f.Limit != 3 || f.Provider != "p" {
			t.Errorf("selection filter: %+v", f)
		}
		if len(seen) != 3 || seen[2] != 33 {
			t.Errorf("progress: %v", seen)
		}
		var actions []string
		for _, e := range st.audit {
			actions = append(actions, e.Action+" "+e.Target+" "+e.Result)
		}
		want := []string{"callbacks.replay_dry_run receipt:1 applied", "callbacks.replay_dry_run receipt:2 applied",
			"callbacks.replay_dry_run receipt:3 applied", "callbacks.replay_bulk_dry_run limit=3&provider=p&status=unknown ok"}
		if len(actions) != len(want) {
			t.Fatalf("audit: %v", actions)
		}
		for i := range want {
			if actions[i] != want[i] {
				t.Errorf("audit %d: %q, want %q", i, actions[i], want[i])
			}
		}
	})
	t.Run("stops when the context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rd := &fakeRedriver{onRun: cancel}
		b, err := newService(&fakeStore{receipts: unknownReceipts(3)}, rd).BulkReplay(ctx, who, ops.ReceiptFilter{Status: callbacks.StatusUnknown}, false, nil)
		if err != nil || !b.Stopped || b.Done != 1 || len(rd.calls) != 1 {
			t.Errorf("bulk: stopped %t done %d calls %d err %v", b.Stopped, b.Done, len(rd.calls), err)
		}
	})
	t.Run("refuses", func(t *testing.T) {
		for _, f := range []ops.ReceiptFilter{
			{}, {Status: callbacks.StatusApplied}, {Status: callbacks.StatusConflict},
			{Status: callbacks.StatusUnknown, Limit: ops.MaxBulk + 1}, {Status: callbacks.StatusUnknown, Limit: -1},
		} {
			st := &fakeStore{receipts: unknownReceipts(3)}
			rd := &fakeRedriver{}
			if _, err := newService(st, rd).BulkReplay(context.Background(), who, f, false, nil); !errors.Is(err, ops.ErrInvalid) || len(rd.calls) != 0 {
				t.Errorf("%+v: %v after %d replays, want ErrInvalid and none", f, err, len(rd.calls))
			}
			if len(st.audit) != 1 || st.audit[0].Result != ops.ResultFailed {
				t.Errorf("%+v: audit %+v, want one failed row", f, st.audit)
			}
		}
	})
}

func TestReceiptsPaging(t *testing.T) {
	st := &fakeStore{receipts: unknownReceipts(5)}
	s := newService(st, &fakeRedriver{})
	p, err := s.Receipts(context.Background(), who, ops.ReceiptFilter{Limit: 2})
	if err != nil || len(p.Items) != 2 || p.NextCursor != "2" || st.filters[0].Limit != 3 {
		t.Errorf("page: %+v %v (asked the store for %d)", p, err, st.filters[0].Limit)
	}
	p, err = s.Receipts(context.Background(), who, ops.ReceiptFilter{Limit: 5})
	if err != nil || len(p.Items) != 5 || p.NextCursor != "" {
		t.Errorf("last page: %+v %v", p, err)
	}
	for _, in := range []string{"x", "0", "-3", "1.5"} {
		if _, err := ops.ParseCursor(in); !errors.Is(err, ops.ErrInvalid) {
			t.Errorf("ParseCursor(%q): %v, want ErrInvalid", in, err)
		}
	}
}

func TestAuditClipsLongActorsAndTargets(t *testing.T) {
	st := &fakeStore{receipts: unknownReceipts(1)}
	s := newService(st, &fakeRedriver{})
	long := ops.Actor{Name: strings.Repeat("é", 40), Via: "http"} // 80 bytes
	if _, err := s.Receipts(context.Background(), long, ops.ReceiptFilter{OrderNo: strings.Repeat("ö", 32)}); err != nil {
		t.Fatal(err)
	}
	e := st.audit[0]
	if len(e.Actor) > 64 || !utf8.ValidString(e.Actor) || len(e.Target) > 191 || !utf8.ValidString(e.Target) {
		t.Errorf("actor %q (%d bytes), target %q (%d bytes)", e.Actor, len(e.Actor), e.Target, len(e.Target))
	}
}
