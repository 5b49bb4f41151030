package lro

import (
	"cmp"
	"context"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// One ListOperations page: the Manager asks the Store for candidates a
// batch at a time and keeps those that pass the filter, the Authorizer and
// the expiry check, outside any lock or connection the Store holds. The
// scan budget (rows examined) and the byte budget (the page's size) bound
// the work; the page token resumes after the last record examined.

const (
	// minMatchBatch and maxMatchBatch bound the candidates asked of the
	// Store at a time when some of them may be left out.
	minMatchBatch = 100
	maxMatchBatch = 1000
)

// listPage returns the operations of one page of at most size, and the
// position after which the next page starts, or nil at the end of the
// listing.
func (m *Manager) listPage(ctx context.Context, q ListQuery, size int) ([]*longrunningpb.Operation, *Cursor, error) {
	now := m.now()
	perOp := q.AllParents && m.cfg.authorize != nil
	sifted := perOp || !q.Filter.onlyDone() // some candidates may be left out
	budget := cmp.Or(m.cfg.scanBudget, DefaultListScanBudget)
	maxBytes := cmp.Or(m.cfg.pageBytes, DefaultListPageBytes)
	var (
		page  []*longrunningpb.Operation
		last  Cursor // of the last operation in page
		bytes int
	)
	for {
		// One more than the page holds, to learn whether the listing goes
		// on past it.
		want := size + 1 - len(page)
		if sifted {
			want = min(max(2*want, minMatchBatch), maxMatchBatch)
		}
		q.Limit, q.Budget = min(want, budget), budget
		res, err := m.store.List(ctx, q)
		m.obs.storeError(ctx, storeList, err)
		if err != nil {
			return nil, nil, err
		}
		m.obs.listScanned(ctx, max(res.Examined, len(res.Records)))
		// A Store that misreports cannot make the loop run for ever.
		budget -= max(res.Examined, len(res.Records), 1)
		for _, r := range res.Records {
			if !m.listed(ctx, r, q.Filter, now, perOp) {
				continue
			}
			if len(page) == size {
				return page, &last, nil
			}
			n := protowire.SizeTag(1) + protowire.SizeBytes(proto.Size(r.Operation))
			if len(page) > 0 && bytes+n > maxBytes {
				return page, &last, nil
			}
			page = append(page, r.Operation)
			bytes += n
			last = Cursor{CreateTime: r.CreateTime, Name: r.Operation.GetName()}
		}
		switch {
		case res.Resume == nil:
			return page, nil, nil
		case budget <= 0:
			return page, res.Resume, nil
		}
		q.After = res.Resume
	}
}

// listed reports whether a record the Store listed belongs on the page:
// not expired, allowed by the Authorizer when each operation is checked,
// and matching the filter.
func (m *Manager) listed(ctx context.Context, r *Record, f *Filter, now time.Time, perOp bool) bool {
	if r.expiredAt(now) {
		return false
	}
	if perOp && m.cfg.authorize(ctx, MethodGet, r.Operation.GetName()) != nil {
		return false
	}
	return f.MatchRecord(r)
}
