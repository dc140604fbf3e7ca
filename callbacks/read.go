package callbacks

import (
	"context"
	"sync"
	"time"
)

// reader batches the dedup reads that miss the applied cache: the reads
// waiting at one moment go to the database as one statement per provider
// (Store.Receipts) instead of one each. Like the committer it never waits
// for a batch to fill: a read goes out as soon as a reader is free, and
// under load the ones that arrived meanwhile go out together.
type reader struct {
	store   Store
	reqs    chan *lookup
	max     int
	timeout time.Duration
	done    chan struct{}
	once    sync.Once
}

type lookup struct {
	provider, txnID string
	r               Receipt
	err             error
	done            chan struct{}
}

// newReader starts workers readers taking batches of at most max reads.
func newReader(store Store, workers, max int) *reader {
	rd := &reader{store: store, reqs: make(chan *lookup), max: max, timeout: 10 * time.Second, done: make(chan struct{})}
	for range workers {
		go rd.loop()
	}
	return rd
}

// receipt is Store.Receipt, batched with the reads waiting beside it.
func (rd *reader) receipt(ctx context.Context, provider, txnID string) (Receipt, error) {
	l := &lookup{provider: provider, txnID: txnID, done: make(chan struct{})}
	select {
	case rd.reqs <- l:
	case <-ctx.Done():
		return Receipt{}, ctx.Err()
	case <-rd.done: // stopped: read alone
		return rd.store.Receipt(ctx, provider, txnID)
	}
	select {
	case <-l.done:
		return l.r, l.err
	case <-ctx.Done():
		return Receipt{}, ctx.Err()
	}
}

func (rd *reader) loop() {
	for {
		batch, ok := gather(rd.reqs, rd.done, rd.max)
		if !ok {
			return
		}
		rd.run(batch)
	}
}

func (rd *reader) run(batch []*lookup) {
	ctx, cancel := context.WithTimeout(context.Background(), rd.timeout)
	defer cancel()
	if len(batch) == 1 {
		l := batch[0]
		l.r, l.err = rd.store.Receipt(ctx, l.provider, l.txnID)
		close(l.done)
		return
	}
	byProvider := map[string][]*lookup{}
	for _, l := range batch {
		byProvider[l.provider] = append(byProvider[l.provider], l)
	}
	for provider, ls := range byProvider {
		keys := make([]string, 0, len(ls))
		seen := make(map[string]bool, len(ls))
		for _, l := range ls {
			if !seen[l.txnID] {
				seen[l.txnID] = true
				keys = append(keys, l.txnID)
			}
		}
		found, err := rd.store.Receipts(ctx, provider, keys)
		for _, l := range ls {
			r, ok := found[l.txnID]
			switch {
			case err != nil:
				l.err = err
			case !ok:
				l.err = ErrNotFound
			default:
				l.r = r
			}
			close(l.done)
		}
	}
}

// stop ends the readers once they finish their current batch.
func (rd *reader) stop() { rd.once.Do(func() { close(rd.done) }) }
