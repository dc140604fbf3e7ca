package callbacks

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// deliveryCounter counts duplicate deliveries in memory and writes them in
// batches, so a retry storm costs reads, not write transactions. A crash may
// lose the last second of counts: they are audit figures, not money.
type deliveryCounter struct {
	store   Store
	log     *slog.Logger
	mu      sync.Mutex
	pending map[int64]Delivery
	done    chan struct{}
	stop    chan struct{}
	once    sync.Once
}

const flushEvery = time.Second

func newDeliveryCounter(store Store, log *slog.Logger) *deliveryCounter {
	c := &deliveryCounter{store: store, log: log, pending: map[int64]Delivery{},
		done: make(chan struct{}), stop: make(chan struct{})}
	go c.loop()
	return c
}

func (c *deliveryCounter) add(id int64, at time.Time) {
	c.mu.Lock()
	d := c.pending[id]
	d.Count++
	if at.After(d.Last) {
		d.Last = at.UTC()
	}
	c.pending[id] = d
	c.mu.Unlock()
}

func (c *deliveryCounter) loop() {
	defer close(c.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.flush(context.Background())
		case <-c.stop:
			return
		}
	}
}

func (c *deliveryCounter) flush(ctx context.Context) error {
	c.mu.Lock()
	batch := c.pending
	c.pending = map[int64]Delivery{}
	c.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := c.store.AddDeliveries(ctx, batch); err != nil {
		c.log.Warn("delivery counts not written; kept for the next flush", "receipts", len(batch), "err", err)
		c.mu.Lock()
		for id, d := range batch {
			p := c.pending[id]
			p.Count += d.Count
			if d.Last.After(p.Last) {
				p.Last = d.Last
			}
			c.pending[id] = p
		}
		c.mu.Unlock()
		return err
	}
	return nil
}

func (c *deliveryCounter) close(ctx context.Context) error {
	c.once.Do(func() { close(c.stop) })
	<-c.done
	return c.flush(ctx)
}
