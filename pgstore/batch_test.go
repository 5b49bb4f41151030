package pgstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
)

// sizeRecorder is a batcher write that answers each call with its request
// and records the batch sizes; while hold is non-nil, the first batch
// waits for it.
type sizeRecorder struct {
	mu      sync.Mutex
	sizes   []int
	written []int
	entered chan struct{} // closed when the first batch is in write
	hold    chan struct{}
}

func (r *sizeRecorder) write(calls []*batchCall[int, int]) {
	r.mu.Lock()
	first := len(r.sizes) == 0
	r.sizes = append(r.sizes, len(calls))
	for _, c := range calls {
		r.written = append(r.written, c.req)
	}
	r.mu.Unlock()
	if first && r.hold != nil {
		close(r.entered)
		<-r.hold
	}
	for _, c := range calls {
		c.answer(c.req)
	}
}

// waitQueued returns once n calls are queued in b.
func waitQueued(b *batcher[int, int], n int) {
	for len(b.in) < n {
		runtime.Gosched()
	}
}

// goDo calls b.do(i) on a goroutine; its answer comes on the channel
// returned.
func goDo(b *batcher[int, int], i int) <-chan int {
	answer := make(chan int, 1)
	go func() {
		a, _ := b.do(context.Background(), i)
		answer <- a
	}()
	return answer
}

// goDoErr calls b.do(i) on a goroutine and returns where its outcome
// arrives: nil for the answer i, else the call's error (or one saying the
// answer was wrong).
func goDoErr(b *batcher[int, int], i int) <-chan error {
	outcome := make(chan error, 1)
	go func() {
		a, err := b.do(context.Background(), i)
		if err == nil && a != i {
			err = fmt.Errorf("do(%d) answered %d", i, a)
		}
		outcome <- err
	}()
	return outcome
}

// doEach calls b.do(i) for each i from first to last, each on a goroutine
// counted by wg, and checks that each gets i back.
func doEach(t *testing.T, wg *sync.WaitGroup, b *batcher[int, int], first, last int) {
	for i := first; i <= last; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a, err := b.do(context.Background(), i); err != nil || a != i {
				t.Errorf("do(%d) = %d, %v; want %d", i, a, err, i)
			}
		}()
	}
}

// TestBatcherCoalesces: a lone call is written at once, alone; calls that
// arrive while the worker writes are written together, in one batch.
func TestBatcherCoalesces(t *testing.T) {
	r := &sizeRecorder{entered: make(chan struct{}), hold: make(chan struct{})}
	b := newBatcher(1, 8, r.write)
	defer b.close()
	first := goDo(b, 0)
	<-r.entered // the lone call is being written without waiting for more
	var wg sync.WaitGroup
	doEach(t, &wg, b, 1, 5)
	waitQueued(b, 5)
	close(r.hold)
	if a := <-first; a != 0 {
		t.Errorf("do(0) = %d; want 0", a)
	}
	wg.Wait()
	if want := []int{1, 5}; !slices.Equal(r.sizes, want) {
		t.Errorf("batch sizes %v; want %v", r.sizes, want)
	}
}

// TestBatcherBoundsBatches: no batch holds more than max calls.
func TestBatcherBoundsBatches(t *testing.T) {
	r := &sizeRecorder{entered: make(chan struct{}), hold: make(chan struct{})}
	b := newBatcher(1, 3, r.write)
	defer b.close()
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _, _ = b.do(ctx, 0) }()
	<-r.entered
	for i := 1; i <= 3; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = b.do(ctx, i) }()
	}
	waitQueued(b, 3)
	// The buffer is full: the next calls wait to send.
	for i := 4; i <= 5; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = b.do(ctx, i) }()
	}
	close(r.hold)
	wg.Wait()
	total := 0
	for _, n := range r.sizes {
		if n > 3 {
			t.Errorf("batch of %d; want at most 3", n)
		}
		total += n
	}
	if total != 6 {
		t.Errorf("wrote %d calls; want 6", total)
	}
}

// TestBatcherLeavesOutAbandoned: a call whose context ends while it is
// queued fails with the context's error and is not written.
func TestBatcherLeavesOutAbandoned(t *testing.T) {
	r := &sizeRecorder{entered: make(chan struct{}), hold: make(chan struct{})}
	b := newBatcher(1, 8, r.write)
	defer b.close()
	go func() { _, _ = b.do(context.Background(), 0) }()
	<-r.entered
	ctx, cancel := context.WithCancel(context.Background())
	res := make(chan error)
	go func() {
		_, err := b.do(ctx, 7)
		res <- err
	}()
	waitQueued(b, 1)
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Errorf("do = %v; want context.Canceled", err)
	}
	close(r.hold)
	if a, err := b.do(context.Background(), 8); err != nil || a != 8 {
		t.Errorf("do(8) = %d, %v; want 8", a, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if slices.Contains(r.written, 7) {
		t.Errorf("wrote %v; the abandoned call 7 is among them", r.written)
	}
}

// TestBatcherClose: close lets the batch in flight answer its call, fails
// the calls still queued and every later call with errBatcherClosed, and
// ends the workers.
func TestBatcherClose(t *testing.T) {
	r := &sizeRecorder{entered: make(chan struct{}), hold: make(chan struct{})}
	b := newBatcher(1, 8, r.write)
	ctx := context.Background()
	inFlight := goDoErr(b, 1)
	<-r.entered
	queued := goDoErr(b, 2)
	waitQueued(b, 1)
	closed := make(chan struct{})
	go func() { b.close(); close(closed) }()
	if err := <-queued; !errors.Is(err, errBatcherClosed) {
		t.Errorf("queued do = %v; want errBatcherClosed", err)
	}
	close(r.hold)
	if err := <-inFlight; err != nil {
		t.Errorf("in-flight do = %v; want its answer", err)
	}
	<-closed
	if _, err := b.do(ctx, 3); !errors.Is(err, errBatcherClosed) {
		t.Errorf("do after close = %v; want errBatcherClosed", err)
	}
}

// TestBatcherGathers: while a batch is being written (calm 1), the next
// worker holds the calls that arrive back until they make a batch of
// small (3); a held batch smaller than that is written once the busy batch
// ends; with nothing being written, a lone call goes at once.
func TestBatcherGathers(t *testing.T) {
	r := &sizeRecorder{entered: make(chan struct{}), hold: make(chan struct{})}
	b := newGatheringBatcher(2, 8, gathering{small: 3, calm: 1}, r.write)
	defer b.close()
	first := goDo(b, 0)
	<-r.entered // the lone call is being written without waiting for more
	var wg sync.WaitGroup
	doEach(t, &wg, b, 1, 3)
	wg.Wait() // written while the first batch is still held
	r.mu.Lock()
	sizes := slices.Clone(r.sizes)
	r.mu.Unlock()
	if want := []int{1, 3}; !slices.Equal(sizes, want) {
		t.Errorf("batch sizes %v; want %v", sizes, want)
	}
	// A single call now waits for the held batch to end (or, if the batch
	// ends first, goes at once): either way it is written alone.
	last := goDo(b, 4)
	close(r.hold)
	if a := <-first; a != 0 {
		t.Errorf("do(0) = %d; want 0", a)
	}
	if a := <-last; a != 4 {
		t.Errorf("do(4) = %d; want 4", a)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if want := []int{1, 3, 1}; !slices.Equal(r.sizes, want) {
		t.Errorf("batch sizes %v; want %v", r.sizes, want)
	}
}

// TestGatheringBatcherClose: close ends a gathering batcher whose worker
// holds calls back: each held call is either written or fails with
// errBatcherClosed, and the workers end.
func TestGatheringBatcherClose(t *testing.T) {
	r := &sizeRecorder{entered: make(chan struct{}), hold: make(chan struct{})}
	b := newGatheringBatcher(2, 8, gathering{small: 4, calm: 1}, r.write)
	inFlight := goDoErr(b, 1)
	<-r.entered
	held := goDoErr(b, 2)
	closed := make(chan struct{})
	go func() { b.close(); close(closed) }()
	if err := <-held; err != nil && !errors.Is(err, errBatcherClosed) {
		t.Errorf("held do = %v; want its answer or errBatcherClosed", err)
	}
	close(r.hold)
	if err := <-inFlight; err != nil {
		t.Errorf("in-flight do = %v; want its answer", err)
	}
	<-closed
}
