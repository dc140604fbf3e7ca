package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"gateway/callbacks"
	"gateway/httpapi"
	"gateway/ledger"
	"gateway/providers/stripe"
	"gateway/store"
	"gateway/store/storetest"
)

// BenchmarkHTTPPath drives the whole HTTP path in one process (gin edge,
// pipeline, gorm store on the real MariaDB; JSON logs at info, discarded)
// with this tool's sender at 16 concurrent senders, so that a CPU profile
// shows the gateway's hot path end to end, client included:
//
//	go test -run '^$' -bench HTTPPath -benchtime 3000x -cpuprofile cpu.out ./cmd/loadgen
func BenchmarkHTTPPath(b *testing.B) {
	for _, kind := range []string{"unique", "duplicate"} {
		b.Run(kind, func(b *testing.B) {
			db := storetest.New(b, "mysql")
			url, svc := httpGateway(b, db)
			sign := signer{Stripe: "stripe", StripeSecret: benchSecret}
			n := b.N
			if kind == "duplicate" {
				n = min(b.N, 500)
			}
			orders := makeOrders("bench-", n)
			if err := insertOrders(context.Background(), db.SQL(), orders); err != nil {
				b.Fatal(err)
			}
			ds, err := sign.payments(orders)
			if err != nil {
				b.Fatal(err)
			}
			s, err := newSender(url, 16)
			if err != nil {
				b.Fatal(err)
			}
			defer s.close()
			if kind == "duplicate" {
				if r := s.closedLoop(context.Background(), "apply", single(ds), 16, benchLimit); r.Acked != n {
					b.Fatalf("applying: %s", r.ErrorString())
				}
				for i := len(ds); i < b.N; i++ {
					ds = append(ds, ds[i%n])
				}
			}
			b.ResetTimer()
			r := s.closedLoop(context.Background(), kind, single(ds[:b.N]), 16, benchLimit)
			b.StopTimer()
			if r.Acked != b.N {
				b.Fatalf("%d of %d acknowledged: %s", r.Acked, b.N, r.ErrorString())
			}
			b.ReportMetric(r.Rate(), "callbacks/s")
			if err := svc.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

const (
	benchSecret = "whsec_bench_secret"
	benchLimit  = 10 * 60e9 // ten minutes: the benchmark's size bounds it
)

// httpGateway wires the gateway as cmd/gateway serve does, on db, and
// serves it on a loopback port.
func httpGateway(b *testing.B, db *store.DB) (string, *callbacks.Service) {
	b.Helper()
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p, err := stripe.New(stripe.Config{Name: "stripe", Secrets: []string{benchSecret}})
	if err != nil {
		b.Fatal(err)
	}
	svc := callbacks.NewService(db, []callbacks.Provider{p}, callbacks.Config{}, log)
	srv := httptest.NewServer(httpapi.New(httpapi.Deps{Callbacks: svc, Orders: ledger.NewService(db), DB: db,
		MaxBodyBytes: 1 << 20, Log: log}).Handler())
	b.Cleanup(srv.Close)
	return srv.URL, svc
}
