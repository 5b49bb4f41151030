package pgstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// batchTimeout bounds the writing of one batch, which runs on after its
// callers' contexts end and while the Store closes.
const batchTimeout = 30 * time.Second

// errBatcherClosed is what a batcher answers once it is closed.
var errBatcherClosed = errors.New("the store is closed")

// A batcher writes the calls that arrive together in one statement and
// one commit: its workers each take a first call, then every call already
// waiting (up to max), write them with one write call, and repeat. A lone
// call is written at once; calls wait for a batch to fill only while every
// worker is busy writing. PostgreSQL serialises the commits of durable
// transactions, so one commit per batch rather than per call is what lets
// many concurrent writes through.
type batcher[Q, A any] struct {
	in    chan *batchCall[Q, A]
	stop  chan struct{}
	wg    sync.WaitGroup
	max   int
	write func([]*batchCall[Q, A])

	// gather, when set, holds small batches back while others are
	// written (see newGatheringBatcher).
	gather gathering
	busy   atomic.Int32  // batches being written
	freed  chan struct{} // a batch was written (buffered)
	turn   chan struct{} // the gathering worker's turn (gathering only)
}

// gathering is when a batcher's worker holds a batch back: while it has
// fewer than small calls and at least calm other batches are being
// written.
type gathering struct{ small, calm int }

// batchCall is one call waiting for its batch. The write answers it
// exactly once.
type batchCall[Q, A any] struct {
	req   Q
	state atomic.Int32 // callQueued, callTaken or callAbandoned
	out   chan A       // buffered: the write never blocks on it
}

// The states of a batchCall: a caller whose context ends before a worker
// took its call abandons it, and the worker then leaves it out.
const (
	callQueued int32 = iota
	callTaken
	callAbandoned
)

// answer replies to the call.
func (c *batchCall[Q, A]) answer(a A) { c.out <- a }

// newBatcher starts workers goroutines that write batches of up to max
// calls with write, which must answer every call it is given. Close stops
// them.
func newBatcher[Q, A any](workers, max int, write func([]*batchCall[Q, A])) *batcher[Q, A] {
	return newGatheringBatcher(workers, max, gathering{}, write)
}

// newGatheringBatcher is newBatcher whose workers, while at least g.calm
// batches are being written, hold a batch of fewer than g.small calls
// back until more calls join it or one of those batches is written. A
// lone call is still written at once when fewer are in flight. Each
// statement and commit costs the database about as much as several rows:
// under load this writes the same calls in fewer, larger batches, while
// up to workers batches can still wait on their commits together.
func newGatheringBatcher[Q, A any](workers, max int, g gathering, write func([]*batchCall[Q, A])) *batcher[Q, A] {
	b := &batcher[Q, A]{in: make(chan *batchCall[Q, A], max), stop: make(chan struct{}), max: max, write: write,
		gather: g, freed: make(chan struct{}, 1)}
	if g.small > 1 {
		b.turn = make(chan struct{}, 1)
		b.turn <- struct{}{}
	}
	b.wg.Add(workers)
	for range workers {
		go b.loop()
	}
	return b
}

// do queues req and returns the write's answer. It fails with
// errBatcherClosed once the batcher is closed, and with ctx's error when
// ctx ends first; either way the call is left out of the batches if no
// worker took it yet, and a call already taken may still be written.
func (b *batcher[Q, A]) do(ctx context.Context, req Q) (A, error) {
	var zero A
	c := &batchCall[Q, A]{req: req, out: make(chan A, 1)}
	select {
	case b.in <- c:
	case <-b.stop:
		return zero, errBatcherClosed
	case <-ctx.Done():
		return zero, ctx.Err()
	}
	select {
	case a := <-c.out:
		return a, nil
	case <-b.stop:
		if c.state.CompareAndSwap(callQueued, callAbandoned) {
			return zero, errBatcherClosed
		}
		// Taken: close waits for its batch, which answers it.
		return <-c.out, nil
	case <-ctx.Done():
		c.state.CompareAndSwap(callQueued, callAbandoned)
		return zero, ctx.Err()
	}
}

// loop collects calls into batches until the batcher is closed.
func (b *batcher[Q, A]) loop() {
	defer b.wg.Done()
	for {
		batch := b.next()
		if batch == nil {
			return
		}
		taken := batch[:0]
		for _, c := range batch {
			if c.state.CompareAndSwap(callQueued, callTaken) {
				taken = append(taken, c)
			}
		}
		if len(taken) > 0 {
			b.busy.Add(1)
			b.write(taken)
			b.busy.Add(-1)
			select {
			case b.freed <- struct{}{}:
			default: // a wake-up is waiting already
			}
		}
	}
}

// next returns the next batch to write, or nil once the batcher is
// closed. A gathering batcher has one worker at a time gather, so that
// the calls held back join one batch.
func (b *batcher[Q, A]) next() []*batchCall[Q, A] {
	if b.turn != nil {
		select {
		case <-b.turn:
		case <-b.stop:
			return nil
		}
		defer func() { b.turn <- struct{}{} }()
	}
	var first *batchCall[Q, A]
	select {
	case first = <-b.in:
	case <-b.stop:
		return nil
	}
	batch := b.collect([]*batchCall[Q, A]{first})
	for b.holdBack(len(batch)) {
		select {
		case c := <-b.in:
			batch = b.collect(append(batch, c))
		case <-b.freed:
		case <-b.stop:
			return batch
		}
	}
	return batch
}

// collect adds the calls already waiting to batch, up to max.
func (b *batcher[Q, A]) collect(batch []*batchCall[Q, A]) []*batchCall[Q, A] {
	for len(batch) < b.max {
		select {
		case c := <-b.in:
			batch = append(batch, c)
		default:
			return batch
		}
	}
	return batch
}

// holdBack reports whether a batch of n calls waits for more (gathering).
func (b *batcher[Q, A]) holdBack(n int) bool {
	return n < b.gather.small && n < b.max && int(b.busy.Load()) >= b.gather.calm
}

// close stops the workers once their batches in flight are written, and
// waits for them. Calls made after close fail with errBatcherClosed.
func (b *batcher[Q, A]) close() {
	close(b.stop)
	b.wg.Wait()
}
