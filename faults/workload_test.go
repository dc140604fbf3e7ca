//go:build faults

package faults_test

import (
	"fmt"
	"math/rand/v2"
)

// script is what the simulated world does about one order: steps run one
// after the other, each step's deliveries concurrently, and a step starts
// only once everything in the one before was acknowledged.
type script struct {
	scenario string
	sender   *sender
	order    order
	steps    []step
	// expect is the order as it must end (DESIGN §4); parked events
	// (unknown) leave it as it was.
	expect expectation
}

type step struct {
	createOrder bool
	events      []*event
}

type expectation struct {
	created  bool // the order exists
	status   string
	paid     int64
	refunded int64
}

// scenario builds a script for an order and one sender. A build that needs
// an event the sender cannot send (a nil builder) returns no steps, and the
// order plays the plain payment instead.
type scenario struct {
	name   string
	weight int
	build  func(s *sender, o order, rng *rand.Rand) ([]step, expectation)
}

func create() step                             { return step{createOrder: true} }
func deliver(evs ...*event) step               { return step{events: evs} }
func wantState(e *event, status string) *event { e.want = status; return e }

// scenarios are the shapes of the workload; weights set how often each is
// drawn.
var scenarios = []scenario{
	{"payment", 4, func(s *sender, o order, _ *rand.Rand) ([]step, expectation) {
		return []step{create(), deliver(s.payment(o))}, expectation{true, "paid", o.amount, 0}
	}},
	{"one fact, two events", 2, func(s *sender, o order, _ *rand.Rand) ([]step, expectation) {
		second := s.payment(o)
		if s.samePayment != nil {
			second = s.samePayment(o)
		}
		return []step{create(), deliver(s.payment(o), second)}, expectation{true, "paid", o.amount, 0}
	}},
	{"payment, partial refund", 2, func(s *sender, o order, rng *rand.Rand) ([]step, expectation) {
		if s.refund == nil {
			return nil, expectation{}
		}
		r := 1 + rng.Int64N(o.amount-1)
		return []step{create(), deliver(s.payment(o)), deliver(s.refund(o, 1, r, r))},
			expectation{true, "paid", o.amount, r}
	}},
	{"payment, two refunds racing (cumulative totals out of order)", 2, func(s *sender, o order, rng *rand.Rand) ([]step, expectation) {
		if s.refund == nil {
			return nil, expectation{}
		}
		r := 1 + rng.Int64N(o.amount-1)
		return []step{create(), deliver(s.payment(o)), deliver(s.refund(o, 2, o.amount-r, o.amount), s.refund(o, 1, r, r))},
			expectation{true, "refunded", o.amount, o.amount}
	}},
	{"refund before payment (parked)", 1, func(s *sender, o order, rng *rand.Rand) ([]step, expectation) {
		if s.refund == nil {
			return nil, expectation{}
		}
		r := 1 + rng.Int64N(o.amount-1)
		return []step{create(), deliver(wantState(s.refund(o, 1, r, r), "unknown")), deliver(s.payment(o))},
			expectation{true, "paid", o.amount, 0}
	}},
	{"payment before the order (parked)", 1, func(s *sender, o order, _ *rand.Rand) ([]step, expectation) {
		return []step{deliver(wantState(s.payment(o), "unknown")), create()}, expectation{true, "created", 0, 0}
	}},
	{"unsupported event beside the payment", 1, func(s *sender, o order, _ *rand.Rand) ([]step, expectation) {
		if s.unsupported == nil {
			return nil, expectation{}
		}
		return []step{create(), deliver(s.unsupported(o), s.payment(o))}, expectation{true, "paid", o.amount, 0}
	}},
	{"same key, other facts (conflict)", 1, func(s *sender, o order, _ *rand.Rand) ([]step, expectation) {
		if s.conflicting == nil {
			return nil, expectation{}
		}
		return []step{create(), deliver(s.payment(o)), deliver(s.conflicting(o))}, expectation{true, "paid", o.amount, 0}
	}},
}

// workload draws n scripts, spread over the senders and the scenarios.
func workload(n int, ss []*sender, rng *rand.Rand) []*script {
	total := 0
	for _, sc := range scenarios {
		total += sc.weight
	}
	out := make([]*script, n)
	for i := range n {
		pick := rng.IntN(total)
		sc := scenarios[0]
		for _, c := range scenarios {
			if pick < c.weight {
				sc = c
				break
			}
			pick -= c.weight
		}
		s := ss[i%len(ss)]
		currencies := s.currencies
		if currencies == nil {
			currencies = []string{"USD", "EUR", "JPY", "GBP"}
		}
		o := order{i: i, no: fmt.Sprintf("F-%05d", i), amount: 100 + rng.Int64N(500_000),
			currency: currencies[rng.IntN(len(currencies))]}
		steps, exp := sc.build(s, o, rng)
		if steps == nil {
			sc = scenarios[0]
			steps, exp = sc.build(s, o, rng)
		}
		name := s.name + ": " + sc.name
		if s.batch != nil {
			batched := false
			for j, st := range steps {
				if len(st.events) > 1 && rng.IntN(2) == 0 {
					steps[j].events = []*event{s.batch(st.events)}
					batched = true
				}
			}
			if batched {
				name += " (one batch)"
			}
		}
		out[i] = &script{scenario: name, sender: s, order: o, steps: steps, expect: exp}
	}
	return out
}
