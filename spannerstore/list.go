package spannerstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"cloud.google.com/go/spanner"
	"github.com/lrokit/lro"
)

// List walks lro_operations_parent_list_idx (one parent) or
// lro_operations_list_idx (every parent, or a parent with "-" segments) in
// List order, keyset on (create_time DESC, name), in windows of growing
// size. Each window reads only the index's own columns (name, create_time,
// parent, done), tests the Done condition and the wildcard parent on them,
// and then reads the full rows of those that pass, by key, in the same
// read-only transaction. Every row of a window counts against the scan
// budget, and a window never reads more than the budget left. The filter
// is pushed down where its meaning is kept exactly (pushdown.go): each
// window computes it as a column of every row, and rows that cannot match
// are passed over like those that fail Done; the Manager matches every
// returned record anyway.

const (
	minWindow = 64
	maxWindow = 4096
)

// List implements lro.Store.
func (s *Store) List(ctx context.Context, q lro.ListQuery) (lro.ListResult, error) {
	if q.Limit <= 0 {
		return lro.ListResult{}, errors.New("spannerstore: listing: Limit is not positive")
	}
	budget := q.Budget
	if budget <= 0 {
		budget = int(^uint(0) >> 2)
	}
	var pattern []string
	if !q.AllParents && hasWildcard(q.Parent) {
		pattern = strings.Split(q.Parent, "/")
	}
	sc := scan{q: q, pattern: pattern, after: q.After, pass: sqlTrue, params: params{}}
	if f := q.Filter.Parsed(); f != nil {
		sc.pass = filterCond(f, sc.params).Sup
	}
	// One read-only transaction: every window and the final read see the
	// same snapshot.
	tx := s.client.ReadOnlyTransaction()
	defer tx.Close()
	window := minWindow
	var found []string
	for {
		n := min(window, budget-sc.examined)
		if pattern == nil && q.Done == nil && sc.pass == sqlTrue {
			n = min(n, q.Limit-len(found))
		}
		names, err := readWindow(ctx, tx, &sc, n)
		if err != nil {
			return lro.ListResult{}, err
		}
		found = append(found, names...)
		if !sc.more || len(found) == q.Limit || sc.examined >= budget {
			break
		}
		window = min(window*2, maxWindow)
	}
	recs, err := readNames(ctx, tx, found)
	if err != nil {
		return lro.ListResult{}, err
	}
	res := lro.ListResult{Records: recs, Examined: sc.examined}
	if sc.more {
		res.Resume = sc.after
	}
	return res, nil
}

// scan is the state of one List call across its windows.
type scan struct {
	q        lro.ListQuery
	pattern  []string
	after    *lro.Cursor
	examined int
	found    int
	more     bool
	pass     string // the pushed-down filter: a necessary condition (pushdown.go)
	params   params // its parameters
}

// window examines up to n rows following sc.after and returns the names of
// those that pass.
func readWindow(ctx context.Context, tx *spanner.ReadOnlyTransaction, sc *scan, n int) ([]string, error) {
	params := map[string]any{"limit": int64(n + 1)}
	for k, v := range sc.params {
		params[k] = v
	}
	var where []string
	index := "lro_operations_list_idx"
	if !sc.q.AllParents && sc.pattern == nil {
		index = "lro_operations_parent_list_idx"
		where = append(where, "parent = @parent")
		params["parent"] = sc.q.Parent
	}
	if sc.after != nil {
		where = append(where, "(create_time < @t OR (create_time = @t AND name > @name))")
		params["t"] = sc.after.CreateTime.UTC()
		params["name"] = sc.after.Name
	}
	sql := `SELECT name, create_time, parent, done, ` + sc.pass + ` AS pass FROM lro_operations@{FORCE_INDEX=` + index + `}`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY create_time DESC, name LIMIT @limit"
	sc.more = false
	seen := 0
	var names []string
	err := tx.Query(ctx, spanner.Statement{SQL: sql, Params: params}).Do(func(r *spanner.Row) error {
		var (
			name, parent string
			ct           time.Time
			done, pass   bool
		)
		if err := r.Columns(&name, &ct, &parent, &done, &pass); err != nil {
			return err
		}
		if seen == n || sc.found == sc.q.Limit {
			sc.more = true
			return errStop
		}
		seen++
		sc.examined++
		sc.after = &lro.Cursor{CreateTime: ct.UTC(), Name: name}
		if sc.pattern != nil && !parentMatches(sc.pattern, parent) {
			return nil
		}
		if sc.q.Done != nil && *sc.q.Done != done || !pass {
			return nil
		}
		sc.found++
		names = append(names, name)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, storeErr("listing operations", err)
	}
	return names, nil
}

// errStop ends a row iteration early.
var errStop = errors.New("stop")

// readNames reads the named records, in the order given; records deleted
// since they were listed are left out.
func readNames(ctx context.Context, tx *spanner.ReadOnlyTransaction, names []string) ([]*lro.Record, error) {
	if len(names) == 0 {
		return []*lro.Record{}, nil
	}
	keys := make([]spanner.KeySet, len(names))
	for i, n := range names {
		keys[i] = spanner.Key{n}
	}
	byName := make(map[string]*lro.Record, len(names))
	err := tx.Read(ctx, "lro_operations", spanner.KeySets(keys...), columns).Do(func(r *spanner.Row) error {
		rec, err := scanRecord(r)
		if err != nil {
			return err
		}
		byName[rec.Operation.GetName()] = rec
		return nil
	})
	if err != nil {
		return nil, storeErr("reading listed operations", err)
	}
	out := make([]*lro.Record, 0, len(names))
	for _, n := range names {
		if r := byName[n]; r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}

func hasWildcard(parent string) bool {
	for _, seg := range strings.Split(parent, "/") {
		if seg == "-" {
			return true
		}
	}
	return false
}

// parentMatches reports whether parent matches pattern, whose "-" segments
// match any one non-empty segment.
func parentMatches(pattern []string, parent string) bool {
	segs := strings.Split(parent, "/")
	if parent == "" || len(segs) != len(pattern) {
		return false
	}
	for i, p := range pattern {
		if p == "-" {
			if segs[i] == "" {
				return false
			}
		} else if p != segs[i] {
			return false
		}
	}
	return true
}
