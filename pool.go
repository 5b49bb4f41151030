package lro

import (
	"sync"
	"sync/atomic"
)

// maxParked bounds the workers a pool keeps waiting for the next function.
const maxParked = 128

// pool runs functions on goroutines it reuses: starting a goroutine and
// growing its stack costs more than the rest of a short operation. Up to
// maxParked idle workers wait for the next function; the others end.
type pool struct {
	idle   chan func()   // parked workers receive here
	parked atomic.Int32  // how many workers are parked
	stop   chan struct{} // closed by close, to end the parked workers

	mu     sync.Mutex
	live   int           // workers that have not ended
	exited chan struct{} // closed and replaced whenever a worker ends
}

func newPool() *pool {
	return &pool{idle: make(chan func()), stop: make(chan struct{}), exited: make(chan struct{})}
}

// goRun runs f on a parked worker, or on a new one if none is free. After
// close, f runs on a new worker that ends with it.
func (p *pool) goRun(f func()) {
	select {
	case p.idle <- f:
		return
	default:
	}
	p.mu.Lock()
	p.live++
	p.mu.Unlock()
	go p.worker(f)
}

// worker runs f, then parks to run the next function given to goRun,
// unless enough workers are parked already or the pool is closed.
func (p *pool) worker(f func()) {
	defer p.ended()
	for {
		f()
		if p.parked.Add(1) > maxParked {
			p.parked.Add(-1)
			return
		}
		select {
		case f = <-p.idle:
			p.parked.Add(-1)
		case <-p.stop:
			p.parked.Add(-1)
			return
		}
	}
}

// ended counts a worker out and wakes close.
func (p *pool) ended() {
	p.mu.Lock()
	p.live--
	close(p.exited)
	p.exited = make(chan struct{})
	p.mu.Unlock()
}

// close ends the parked workers and waits until every worker has ended
// but those running a function that will not return soon: stuck reports
// how many (work that Close gave up on). Those end when their function
// returns.
func (p *pool) close(stuck func() int) {
	close(p.stop)
	for {
		p.mu.Lock()
		live, exited := p.live, p.exited
		p.mu.Unlock()
		if live <= stuck() {
			return
		}
		<-exited
	}
}
