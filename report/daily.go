package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DayPeriod is the UTC day named "YYYY-MM-DD".
func DayPeriod(day string) (Period, error) {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return Period{}, fmt.Errorf("%w: day %q is not YYYY-MM-DD", ErrInvalid, day)
	}
	return Period{From: t, To: t.AddDate(0, 0, 1)}, nil
}

// Daily returns the stored report of a UTC day.
func (s *Service) Daily(ctx context.Context, day string) (Report, error) {
	if _, err := DayPeriod(day); err != nil {
		return Report{}, err
	}
	d, err := s.store.Daily(ctx, day)
	if errors.Is(err, ErrNotFound) {
		return Report{}, fmt.Errorf("%w: no daily report is stored for %s (the job stores each day shortly after it ends)", ErrNotFound, day)
	}
	if err != nil {
		return Report{}, fmt.Errorf("report: daily %s: %w", day, err)
	}
	var r Report
	if err := json.Unmarshal(d.Body, &r); err != nil {
		return Report{}, fmt.Errorf("report: daily %s: stored body: %w", day, err)
	}
	return r, nil
}

// StoreDaily is the daily cron job: it stores the report of the previous
// UTC day, and of any of the Backfill days before it that is missing (the
// gateway was down when the job should have run). Every replica runs it;
// the day is the table's key, so a day is stored once and a replica that
// loses the race does nothing. It returns the days it stored.
func (s *Service) StoreDaily(ctx context.Context) ([]string, error) {
	today := s.Now().UTC().Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -max(s.Backfill, 1))
	have, err := s.store.DailyDays(ctx, first.Format(time.DateOnly), today.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("report: daily: %w", err)
	}
	stored := map[string]bool{}
	for _, d := range have {
		stored[d] = true
	}
	var done []string
	for day := first; day.Before(today); day = day.AddDate(0, 0, 1) {
		name := day.Format(time.DateOnly)
		if stored[name] {
			continue
		}
		p := Period{From: day, To: day.AddDate(0, 0, 1)}
		r, err := s.Reconciliation(ctx, p)
		if err != nil {
			return done, err
		}
		body, err := json.Marshal(r)
		if err != nil {
			return done, fmt.Errorf("report: daily %s: %w", name, err)
		}
		saved, err := s.store.SaveDaily(ctx, Daily{Day: name, From: p.From, To: p.To, GeneratedAt: r.GeneratedAt, Body: body})
		if err != nil {
			return done, fmt.Errorf("report: daily %s: %w", name, err)
		}
		if saved {
			done = append(done, name)
			s.log.Info("daily reconciliation report stored", "day", name, "ledger_ok", r.LedgerCheck.OK)
		}
	}
	return done, nil
}
