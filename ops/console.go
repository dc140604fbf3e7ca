package ops

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"gateway/callbacks"
)

// What the operations console adds to the admin service: the overview of
// its front page and the audit rows of its logins and logouts. Its other
// pages call the same methods as the admin API.

// Audit actions of the console.
const (
	ActionOverview = "callbacks.overview"
	ActionLogin    = "console.login"
	ActionLogout   = "console.logout"
)

// Window is a period of the overview's chart: Span back from now, cut in
// buckets of Step (Span is a multiple of Step).
type Window struct {
	Name string
	Span time.Duration
	Step time.Duration
}

// Windows are the overview's periods; the first is the default.
var Windows = []Window{
	{Name: "24h", Span: 24 * time.Hour, Step: time.Hour},
	{Name: "7d", Span: 7 * 24 * time.Hour, Step: 6 * time.Hour},
	{Name: "30d", Span: 30 * 24 * time.Hour, Step: 24 * time.Hour},
}

// WindowByName returns the window of that name ("" is the default).
func WindowByName(name string) (Window, error) {
	if name == "" {
		return Windows[0], nil
	}
	for _, w := range Windows {
		if w.Name == name {
			return w, nil
		}
	}
	return Window{}, fmt.Errorf("%w: window %q is not 24h, 7d or 30d", ErrInvalid, name)
}

// HistogramCount counts one provider's receipts of one status first seen
// in one bucket of a histogram.
type HistogramCount struct {
	Bucket   int
	Provider string
	Status   callbacks.Status
	Receipts int64
}

// Statuses are the receipt statuses in the order the console shows them.
var Statuses = []callbacks.Status{callbacks.StatusApplied, callbacks.StatusRejected, callbacks.StatusUnknown,
	callbacks.StatusEscalated, callbacks.StatusConflict}

// Counts are receipts by status.
type Counts map[callbacks.Status]int64

// Sum is the number of receipts of every status.
func (c Counts) Sum() int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

// Series is one provider's receipts per bucket, by status.
type Series struct {
	Provider string
	Buckets  []Counts
	Total    Counts
}

// Overview is the console's front page: receipts per provider and outcome
// over a window (by when they were first seen, in the status they have
// now) and what waits for the reconciler or for people.
type Overview struct {
	Window Window
	// At is when the overview was read; the buckets cover [From, To),
	// the last one ending at the end of At's bucket.
	At, From, To time.Time
	// Starts holds each bucket's start.
	Starts  []time.Time
	Series  []Series
	Backlog []callbacks.Backlog
}

// Overview reads the front page's figures. Looking is audited like every
// other console page.
func (s *Service) Overview(ctx context.Context, a Actor, w Window) (Overview, error) {
	o, err := s.overview(ctx, w)
	if aerr := s.record(ctx, a, ActionOverview, "window:"+w.Name, ResultOK, nil, err); err == nil && aerr != nil {
		return Overview{}, aerr
	}
	return o, err
}

func (s *Service) overview(ctx context.Context, w Window) (Overview, error) {
	if w.Step <= 0 || w.Span < w.Step || w.Span%w.Step != 0 || w.Span/w.Step > 200 {
		return Overview{}, fmt.Errorf("%w: window %q", ErrInvalid, w.Name)
	}
	now := s.Now().UTC()
	n := int(w.Span / w.Step)
	o := Overview{Window: w, At: now, To: now.Truncate(w.Step).Add(w.Step)}
	o.From = o.To.Add(-w.Span)
	for i := range n {
		o.Starts = append(o.Starts, o.From.Add(time.Duration(i)*w.Step))
	}
	counts, err := s.store.ReceiptHistogram(ctx, o.From, w.Step, n)
	if err != nil {
		return Overview{}, fmt.Errorf("ops: overview histogram: %w", err)
	}
	by := map[string]*Series{}
	for _, c := range counts {
		if c.Bucket < 0 || c.Bucket >= n {
			return Overview{}, fmt.Errorf("ops: overview histogram: bucket %d of %d", c.Bucket, n)
		}
		sr := by[c.Provider]
		if sr == nil {
			sr = &Series{Provider: c.Provider, Buckets: make([]Counts, n), Total: Counts{}}
			for i := range sr.Buckets {
				sr.Buckets[i] = Counts{}
			}
			by[c.Provider] = sr
		}
		sr.Buckets[c.Bucket][c.Status] += c.Receipts
		sr.Total[c.Status] += c.Receipts
	}
	for _, sr := range by {
		o.Series = append(o.Series, *sr)
	}
	slices.SortFunc(o.Series, func(a, b Series) int { return cmp.Compare(a.Provider, b.Provider) })
	if o.Backlog, err = s.store.Backlog(ctx); err != nil {
		return Overview{}, fmt.Errorf("ops: overview backlog: %w", err)
	}
	return o, nil
}

// Login records that an admin token's holder logged in to the console;
// session names the session (not its secret). A login without its audit
// row is refused.
func (s *Service) Login(ctx context.Context, a Actor, session string) error {
	return s.record(ctx, a, ActionLogin, "session:"+session, ResultOK, nil, nil)
}

// Logout records the end of a console session.
func (s *Service) Logout(ctx context.Context, a Actor, session string) error {
	return s.record(ctx, a, ActionLogout, "session:"+session, ResultOK, nil, nil)
}
