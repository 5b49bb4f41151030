package pgstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/lrokit/lro"
)

const (
	// minMatchBatch and maxBatch bound how many rows List fetches at a
	// time when it filters in Go.
	minMatchBatch = 100
	maxBatch      = 1000
)

// query builds a statement whose values are all bound parameters.
type query struct {
	where []string
	args  []any
}

// arg binds v and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// escapeLike escapes the LIKE metacharacters of s for ESCAPE '\'.
func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// parentFilter adds the conditions selecting records whose parent matches
// pattern, where "-" segments match any one non-empty segment. It reports
// false when nothing can match.
func (q *query) parentFilter(pattern string) bool {
	if !validText(pattern) {
		return false
	}
	segs := strings.Split(pattern, "/")
	wild := -1
	for i, s := range segs {
		if s == "-" {
			wild = i
			break
		}
	}
	if wild < 0 {
		q.where = append(q.where, "parent = "+q.arg(pattern))
		return true
	}
	// Narrow with the literal prefix (the index serves LIKE 'prefix%' as
	// the column uses the C collation), then pin every segment.
	if wild > 0 {
		prefix := strings.Join(segs[:wild], "/") + "/"
		q.where = append(q.where, "parent LIKE "+q.arg(escapeLike(prefix)+"%")+` ESCAPE '\'`)
	}
	q.where = append(q.where, "length(parent) - length(replace(parent, '/', '')) = "+q.arg(len(segs)-1))
	for i, s := range segs {
		part := "split_part(parent, '/', " + strconv.Itoa(i+1) + ")"
		if s == "-" {
			q.where = append(q.where, part+" <> ''")
		} else {
			q.where = append(q.where, part+" = "+q.arg(s))
		}
	}
	return true
}

// List implements lro.Store. The parent, done and cursor conditions run in
// PostgreSQL; Match runs here, on batches fetched until Limit records match
// or the results end.
func (s *Store) List(ctx context.Context, q lro.ListQuery) ([]*lro.Record, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	var base query
	if !q.AllParents && !base.parentFilter(q.Parent) {
		return nil, nil
	}
	if q.Done != nil {
		base.where = append(base.where, "done = "+base.arg(*q.Done))
	}
	batch := q.Limit
	if q.Match != nil {
		batch = max(2*q.Limit, minMatchBatch)
	}
	batch = min(batch, maxBatch)

	after := q.After
	var out []*lro.Record
	for {
		qq := query{where: append([]string(nil), base.where...), args: append([]any(nil), base.args...)}
		if after != nil {
			t := after.CreateTime.UTC().Truncate(time.Microsecond)
			tp := qq.arg(t)
			qq.where = append(qq.where, "create_time <= "+tp+" AND (create_time < "+tp+" OR name > "+qq.arg(after.Name)+")")
		}
		sql := "SELECT " + columns + " FROM lro_operations"
		if len(qq.where) > 0 {
			sql += " WHERE " + strings.Join(qq.where, " AND ")
		}
		sql += " ORDER BY create_time DESC, name LIMIT " + qq.arg(batch)
		recs, err := queryRows(ctx, s.pool, recordRow(), sql, qq.args...)
		if err != nil {
			return nil, storeErr("listing", err)
		}
		for _, rec := range recs {
			if len(out) == q.Limit {
				break
			}
			if q.Match == nil || q.Match(rec) {
				out = append(out, rec)
			}
		}
		if len(out) >= q.Limit || len(recs) < batch {
			return out, nil
		}
		last := recs[len(recs)-1]
		after = &lro.Cursor{CreateTime: last.CreateTime, Name: last.Operation.GetName()}
	}
}
