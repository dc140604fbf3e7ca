package callbacks

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"gateway/ledger"
)

// committer is group commit: it gathers the pipeline transactions that are
// waiting at the same moment into one database transaction, so that many
// callbacks share its statements and its COMMIT (one log flush) while one
// callback's failure — a duplicate key, a version conflict, a rejected
// decision — stays its own. Nobody waits for a batch to fill: a transaction
// runs as soon as a committer is free, and under load the ones that arrived
// meanwhile form the next batch.
//
// A batch runs its callbacks against a batchTx, which reads their orders in
// one statement and holds their writes back; then it writes them with one
// UPDATE of the orders (each row under its own version), one INSERT of the
// ledger legs and one INSERT of the receipts. A callback that cannot share
// those statements (its order is changed by another callback of the batch,
// its key is already in it) runs after them, inside its own savepoint. If
// a shared statement fails (a version conflict, a key that a concurrent
// delivery took), the transaction is rolled back and the batch runs again,
// every callback inside its own savepoint, so the failure lands on the
// callback it belongs to.
//
// Promises hold per callback: a job's result is reported only after the
// batch's COMMIT returned, so its acknowledgement still follows durability
// (P1); a failed COMMIT or a deadlock (which undoes the whole database
// transaction) fails every job of the batch, and each retries on its own
// through the dedup read (P2); every order row is written under the version
// its decision read (P4).
type committer struct {
	// stage is held by the committer whose batch is sending its
	// statements; it is let go before that batch's COMMIT, or after
	// stageLimit if the statements are stuck (a lock wait, a slow
	// connection), so one slow batch does not hold up the others. So
	// batches execute one at a time, each taking every callback that
	// arrived while the one before it executed, and their log flushes
	// overlap.
	stage   sync.Mutex
	store   Store
	jobs    chan *job
	max     int
	timeout time.Duration
	done    chan struct{}
	once    sync.Once
}

type job struct {
	orderNo string // read ahead with the batch's other orders
	fn      func(context.Context, Tx) error
	err     error
	done    chan struct{}
}

// newCommitter starts workers committers taking batches of at most max jobs.
func newCommitter(store Store, workers, max int) *committer {
	c := &committer{store: store, jobs: make(chan *job), max: max, timeout: 15 * time.Second, done: make(chan struct{})}
	for range workers {
		go c.loop()
	}
	return c
}

// do runs fn in a (possibly shared) transaction and returns its own result;
// orderNo is the order fn will read, if any. fn may run twice (see above).
func (c *committer) do(ctx context.Context, orderNo string, fn func(context.Context, Tx) error) error {
	j := &job{orderNo: orderNo, fn: fn, done: make(chan struct{})}
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
		c.stage.Lock()
		batch, ok := gather(c.jobs, c.done, c.max)
		if !ok {
			c.stage.Unlock()
			return
		}
		executed := sync.OnceFunc(c.stage.Unlock)
		t := time.AfterFunc(stageLimit, executed)
		c.run(batch, executed)
		t.Stop()
	}
}

// gather waits for one item, then takes whatever else is waiting, up to
// max: a batch never waits to fill. ok is false once done is closed.
func gather[T any](items <-chan T, done <-chan struct{}, max int) (batch []T, ok bool) {
	select {
	case first := <-items:
		batch = append(batch, first)
	case <-done:
		return nil, false
	}
	for len(batch) < max {
		select {
		case it := <-items:
			batch = append(batch, it)
		default:
			return batch, true
		}
	}
	return batch, true
}

// stageLimit is how long a batch's statements may keep the other
// committers waiting; a batch's statements take about a millisecond.
const stageLimit = 50 * time.Millisecond

// run commits batch; executed is called once its statements are sent,
// before its COMMIT (and at the latest when run returns).
func (c *committer) run(batch []*job, executed func()) {
	defer executed()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var err error
	if len(batch) == 1 {
		err = c.store.InTx(ctx, func(tx Tx) error {
			defer executed()
			return batch[0].fn(ctx, tx)
		})
	} else {
		err = c.store.InTx(ctx, func(tx Tx) error {
			defer executed()
			return together(ctx, tx, batch)
		})
		if errors.Is(err, errShared) {
			for _, j := range batch {
				j.err = nil
			}
			err = c.store.InTx(ctx, func(tx Tx) error { return apart(ctx, tx, batch) })
		}
	}
	for _, j := range batch {
		if err != nil {
			j.err = err
		}
		close(j.done)
	}
}

// errShared: one of a batch's shared statements failed; the transaction is
// rolled back and the batch runs again, callback by callback.
var errShared = errors.New("callbacks: a shared statement of the batch failed")

// together runs a batch through its shared statements, then the callbacks
// that could not share them.
func together(ctx context.Context, tx Tx, batch []*job) error {
	b := &batchTx{Tx: tx, orders: map[string]ledger.Order{}, read: map[string]bool{},
		changed: map[string]bool{}, keys: map[string]bool{}}
	var nos []string
	for _, j := range batch {
		if j.orderNo != "" && !b.read[j.orderNo] {
			b.read[j.orderNo] = true
			nos = append(nos, j.orderNo)
		}
	}
	if len(nos) > 0 {
		orders, err := tx.Orders(ctx, nos)
		if err != nil {
			return err
		}
		b.orders = orders
	}
	var rest []*job
	for _, j := range batch {
		b.begin()
		if err := j.fn(ctx, b); err != nil {
			b.undo()
			if errors.Is(err, errApart) {
				rest = append(rest, j)
				continue
			}
			j.err = err
		}
	}
	if err := b.flush(ctx); err != nil {
		return fmt.Errorf("%w: %w", errShared, err)
	}
	return apart(ctx, tx, rest)
}

// apart runs each job inside its own savepoint of tx.
func apart(ctx context.Context, tx Tx, jobs []*job) error {
	for i, j := range jobs {
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
}

// errApart: a callback cannot share the batch's statements; it runs after
// them, inside its own savepoint.
var errApart = errors.New("callbacks: runs apart from the batch")

// batchTx is the Tx a batch's callbacks run against: orders come from the
// batch's one read, writes are held back for the shared statements.
type batchTx struct {
	Tx
	orders  map[string]ledger.Order
	read    map[string]bool // order numbers the batch's read asked for
	changed map[string]bool // orders a callback of the batch changes
	keys    map[string]bool // receipt keys of the batch
	ups     []OrderUpdate
	legs    []ledger.Entry
	recs    []*Receipt
	mark    struct {
		ups, legs, recs int
		changed, keys   []string
	}
}

func (b *batchTx) Order(ctx context.Context, orderNo string) (ledger.Order, error) {
	if b.changed[orderNo] {
		return ledger.Order{}, errApart // it must see the other callback's change
	}
	if o, ok := b.orders[orderNo]; ok {
		return o, nil
	}
	if b.read[orderNo] {
		return ledger.Order{}, fmt.Errorf("callbacks: order %q: %w", orderNo, ledger.ErrNotFound)
	}
	return ledger.Order{}, errApart
}

func (b *batchTx) UpdateOrder(_ context.Context, next ledger.Order, version int64) error {
	if b.changed[next.OrderNo] {
		return errApart
	}
	b.changed[next.OrderNo] = true
	b.mark.changed = append(b.mark.changed, next.OrderNo)
	b.ups = append(b.ups, OrderUpdate{Next: next, Version: version})
	return nil
}

func (b *batchTx) Post(_ context.Context, legs []ledger.Entry) error {
	if len(legs) > 0 && !ledger.Balanced(legs) {
		return fmt.Errorf("callbacks: refusing an unbalanced posting for %s", legs[0].TxnID)
	}
	b.legs = append(b.legs, legs...)
	return nil
}

func (b *batchTx) InsertReceipt(_ context.Context, r *Receipt) error {
	k := r.Provider + "\x00" + r.TxnID
	if b.keys[k] {
		return errApart // the database says which of the two is a duplicate
	}
	b.keys[k] = true
	b.mark.keys = append(b.mark.keys, k)
	b.recs = append(b.recs, r)
	return nil
}

// Writes the pipeline does not make in a batch run apart.
func (b *batchTx) UpdateReceipt(context.Context, Receipt, Status) error { return errApart }
func (b *batchTx) Savepoint(context.Context, string) error              { return errApart }
func (b *batchTx) RollbackTo(context.Context, string) error             { return errApart }

// begin marks where a callback's writes start; undo drops them.
func (b *batchTx) begin() {
	b.mark.ups, b.mark.legs, b.mark.recs = len(b.ups), len(b.legs), len(b.recs)
	b.mark.changed, b.mark.keys = b.mark.changed[:0], b.mark.keys[:0]
}

func (b *batchTx) undo() {
	b.ups, b.legs, b.recs = b.ups[:b.mark.ups], b.legs[:b.mark.legs], b.recs[:b.mark.recs]
	for _, no := range b.mark.changed {
		delete(b.changed, no)
	}
	for _, k := range b.mark.keys {
		delete(b.keys, k)
	}
}

// flush writes what the batch's callbacks decided: one statement each.
func (b *batchTx) flush(ctx context.Context) error {
	if len(b.ups) > 0 {
		if err := b.Tx.UpdateOrders(ctx, b.ups); err != nil {
			return err
		}
	}
	if len(b.legs) > 0 {
		if err := b.Tx.Post(ctx, b.legs); err != nil {
			return err
		}
	}
	if len(b.recs) > 0 {
		return b.Tx.InsertReceipts(ctx, b.recs)
	}
	return nil
}

// stop ends the committers once they finish their current batch.
func (c *committer) stop() { c.once.Do(func() { close(c.done) }) }
