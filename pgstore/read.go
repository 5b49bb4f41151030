package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/lrokit/lro"
)

// Reads come in bursts as writes do: one committed batch of changes wakes
// many waiters at once, each of which reads its operation again, and
// concurrent Updates each read their record first. The Store reads the
// records of the Gets that arrive together with one statement.
const (
	// maxReadBatch bounds the records read by one statement.
	maxReadBatch = 256
	// readWorkers is how many read statements may be in flight at once.
	readWorkers = 4
)

// readPlans reads the records named in $1, for each plan generation (see
// plannedSQL).
var readPlans = newPlanned(`SELECT ` + columns + ` FROM lro_operations WHERE name = ANY($1)`)

// readAnswer is a Get's answer: the record, or nil when there is none.
type readAnswer struct {
	rec *lro.Record
	err error
}

// readCall is a Get in a batch; its request is the name.
type readCall = batchCall[string, readAnswer]

// Get implements lro.Store. Concurrent calls are read together, in
// batches of up to 256, each one statement. It fails with lro.ErrNotFound
// when there is no such record.
func (s *Store) Get(ctx context.Context, name string) (*lro.Record, error) {
	if !validText(name) {
		return nil, fmt.Errorf("pgstore: getting %q: %w", name, lro.ErrNotFound)
	}
	a, err := s.reads.do(ctx, name)
	if errors.Is(err, errBatcherClosed) {
		// Closed: read alone, as long as the pool is open.
		a.rec, a.err = s.getBy(ctx, `name = $1`, name)
		err = nil
	}
	switch {
	case err != nil:
		return nil, storeErr(fmt.Sprintf("getting %q", name), err)
	case errors.Is(a.err, lro.ErrNotFound):
		return nil, fmt.Errorf("pgstore: getting %q: %w", name, lro.ErrNotFound)
	case a.err != nil:
		return nil, storeErr(fmt.Sprintf("getting %q", name), a.err)
	}
	return a.rec, nil
}

// readBatch reads one batch of Gets and answers each call. Calls for the
// same name get copies of the record.
func (s *Store) readBatch(calls []*readCall) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if len(calls) == 1 {
		rec, err := s.getBy(ctx, `name = $1`, calls[0].req)
		calls[0].answer(readAnswer{rec: rec, err: err})
		return
	}
	names := make([]string, 0, len(calls))
	wanted := make(map[string]int, len(calls)) // calls for each name
	for _, c := range calls {
		if wanted[c.req] == 0 {
			names = append(names, c.req)
		}
		wanted[c.req]++
	}
	recs, err := queryRows(ctx, s.pool, recordRow(), s.planned(ctx, readPlans), planPadded(names))
	if err != nil {
		for _, c := range calls {
			c.answer(readAnswer{err: err})
		}
		return
	}
	byName := make(map[string]*lro.Record, len(recs))
	for _, r := range recs {
		byName[r.Operation.GetName()] = r
	}
	for _, c := range calls {
		r := byName[c.req]
		wanted[c.req]--
		switch {
		case r == nil:
			c.answer(readAnswer{err: lro.ErrNotFound})
		case wanted[c.req] > 0:
			// Copied before the last call gets the record itself, and
			// may change it.
			c.answer(readAnswer{rec: r.Clone()})
		default:
			c.answer(readAnswer{rec: r})
		}
	}
}
