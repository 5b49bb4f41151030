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
	idle    chan func()   // parked workers receive here
	parked  atomic.Int32  // how many workers are parked
	stop    chan struct{} // closed by close, to end the parked workers
	workers sync.WaitGroup
}

func newPool() *pool {
	return &pool{idle: make(chan func()), stop: make(chan struct{})}
}

// goRun runs f on a parked worker, or on a new one if none is free. It must
// not be called after close.
func (p *pool) goRun(f func()) {
	select {
	case p.idle <- f:
		return
	default:
	}
	p.workers.Add(1)
	go p.worker(f)
}

// worker runs f, then parks to run the next function given to goRun,
// unless enough workers are parked already or the pool is closed.
func (p *pool) worker(f func()) {
	defer p.workers.Done()
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

// close ends the parked workers and waits until every worker, busy or
// parked, has ended.
func (p *pool) close() {
	close(p.stop)
	p.workers.Wait()
}
