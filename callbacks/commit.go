package callbacks

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// committer is group commit: it gathers the pipeline transactions that are
// waiting at the same moment into one database transaction, each inside
// its own savepoint, so that many callbacks share one COMMIT (one log
// flush) while one callback's failure — a duplicate key, a version
// conflict, a rejected decision — stays its own. Nobody waits for a batch
// to fill: a transaction runs as soon as a committer is free, and under load
// the ones that arrived meanwhile form the next batch.
//
// Promises hold per callback: a job's result is reported only after the
// batch's COMMIT returned, so its acknowledgement still follows durability
// (P1); a failed COMMIT or a deadlock (which undoes the whole database
// transaction) fails every job of the batch, and each retries on its own
// through the dedup read (P2).
type committer struct {
	store   Store
	jobs    chan *job
	max     int
	timeout time.Duration
	done    chan struct{}
	once    sync.Once
}

type job struct {
	fn   func(context.Context, Tx) error
	err  error
	done chan struct{}
}

// newCommitter starts workers committers taking batches of at most max jobs.
func newCommitter(store Store, workers, max int) *committer {
	c := &committer{store: store, jobs: make(chan *job), max: max, timeout: 15 * time.Second, done: make(chan struct{})}
	for range workers {
		go c.loop()
	}
	return c
}

// do runs fn in a (possibly shared) transaction and returns its own result.
func (c *committer) do(ctx context.Context, fn func(context.Context, Tx) error) error {
	j := &job{fn: fn, done: make(chan struct{})}
	select {
	case c.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return fmt.Errorf("%w: shutting down", ErrTransient)
	}
	<-j.done // once queued, its fate must be known: wait for the COMMIT
	return j.err
}

func (c *committer) loop() {
	for {
		var first *job
		select {
		case first = <-c.jobs:
		case <-c.done:
			return
		}
		batch := []*job{first}
	gather:
		for len(batch) < c.max {
			select {
			case j := <-c.jobs:
				batch = append(batch, j)
			default:
				break gather
			}
		}
		c.run(batch)
	}
}

func (c *committer) run(batch []*job) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var err error
	if len(batch) == 1 {
		err = c.store.InTx(ctx, func(tx Tx) error { return batch[0].fn(ctx, tx) })
		batch[0].err = err
		close(batch[0].done)
		return
	}
	err = c.store.InTx(ctx, func(tx Tx) error {
		for i, j := range batch {
			sp := "cb" + strconv.Itoa(i)
			if err := tx.Savepoint(ctx, sp); err != nil {
				return err
			}
			if err := j.fn(ctx, tx); err != nil {
				if rerr := tx.RollbackTo(ctx, sp); rerr != nil {
					// The database undid the whole transaction (a
					// deadlock): every job of the batch fails.
					return fmt.Errorf("callbacks: batch undone after %w (rollback to savepoint: %v)", err, rerr)
				}
				j.err = err
			}
		}
		return nil
	})
	for _, j := range batch {
		if err != nil {
			j.err = err
		}
		close(j.done)
	}
}

// stop ends the committers once they finish their current batch.
func (c *committer) stop() { c.once.Do(func() { close(c.done) }) }
