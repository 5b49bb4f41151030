package pgstore

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/lrokit/lro"
)

// List walks an index in List order and examines at most the scan budget
// of rows: the rows of one parent (lro_operations_parent_list_idx), of the
// running operations when the query asks for done = false
// (lro_operations_running_list_idx), or of every operation
// (lro_operations_list_idx), from the cursor on. Every other condition (a
// wildcard parent, done, the pushed-down filter; see pushdown.go) is a
// test on those rows, never a condition the planner could turn into a scan
// of unbounded length or a sort. The Go side decodes only the rows that
// pass, and runs no host code: the connection is back in the pool when
// List returns.

// maxBudget stands for "no budget".
const maxBudget = 1 << 30

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

// placeholder finds the parameters of a statement. The statements built
// here hold no literal with a '$' followed by a digit.
var placeholder = regexp.MustCompile(`\$[0-9]+`)

// compact renumbers the parameters sql uses, in order of first use, and
// drops the arguments it does not use: translating a filter binds values
// that folding can leave out, and PostgreSQL refuses a parameter it
// cannot type.
func compact(sql string, args []any) (string, []any) {
	renum := map[string]string{}
	var out []any
	sql = placeholder.ReplaceAllStringFunc(sql, func(p string) string {
		if r, ok := renum[p]; ok {
			return r
		}
		n, _ := strconv.Atoi(p[1:])
		out = append(out, args[n-1])
		renum[p] = "$" + strconv.Itoa(len(out))
		return renum[p]
	})
	return sql, out
}

// escapeLike escapes the LIKE metacharacters of s for ESCAPE '\'.
func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// parentPattern returns the conditions selecting rows whose parent matches
// pattern, where "-" segments match any one non-empty segment, or false
// when nothing can match.
func (q *query) parentPattern(pattern string) ([]string, bool) {
	if !validText(pattern) {
		return nil, false
	}
	segs := strings.Split(pattern, "/")
	var conds []string
	if wild := slicesIndex(segs, "-"); wild > 0 {
		prefix := strings.Join(segs[:wild], "/") + "/"
		conds = append(conds, "o.parent LIKE "+q.arg(escapeLike(prefix)+"%")+` ESCAPE '\'`)
	}
	conds = append(conds, "length(o.parent) - length(replace(o.parent, '/', '')) = "+q.arg(len(segs)-1))
	for i, s := range segs {
		part := "split_part(o.parent, '/', " + strconv.Itoa(i+1) + ")"
		if s == "-" {
			conds = append(conds, part+" <> ''")
		} else {
			conds = append(conds, part+" = "+q.arg(s))
		}
	}
	return conds, true
}

func slicesIndex(segs []string, s string) int {
	for i, x := range segs {
		if x == s {
			return i
		}
	}
	return -1
}

// List implements lro.Store.
func (s *Store) List(ctx context.Context, q lro.ListQuery) (lro.ListResult, error) {
	if q.Limit <= 0 {
		return lro.ListResult{}, errors.New("pgstore: listing: Limit is not positive")
	}
	budget := q.Budget
	if budget <= 0 || budget > maxBudget {
		budget = maxBudget
	}
	var (
		w    query    // which rows the call examines, in List order
		pass []string // what a row must pass to be returned
	)
	runningScope := q.Done != nil && !*q.Done
	switch {
	case !q.AllParents && !hasWildcard(q.Parent):
		if !validText(q.Parent) {
			return lro.ListResult{}, nil
		}
		w.where = append(w.where, "parent = "+w.arg(q.Parent))
		runningScope = false
	case runningScope:
		w.where = append(w.where, "NOT done")
	}
	if !q.AllParents && hasWildcard(q.Parent) {
		conds, ok := w.parentPattern(q.Parent)
		if !ok {
			return lro.ListResult{}, nil
		}
		pass = append(pass, conds...)
	}
	if q.Done != nil && !runningScope {
		pass = append(pass, "o.done = "+w.arg(*q.Done))
	}
	if f := q.Filter.Parsed(); f != nil {
		switch c := w.filterCond(f); c.sup {
		case sqlFalse:
			return lro.ListResult{}, nil // no operation can match
		case sqlTrue:
		default:
			pass = append(pass, c.sup)
		}
	}
	if q.After != nil {
		t := q.After.CreateTime.UTC().Truncate(time.Microsecond)
		tp := w.arg(t)
		w.where = append(w.where, "create_time <= "+tp+" AND (create_time < "+tp+" OR name > "+w.arg(q.After.Name)+")")
	}
	where := ""
	if len(w.where) > 0 {
		where = " WHERE " + strings.Join(w.where, " AND ")
	}
	if len(pass) == 0 {
		return s.listPlain(ctx, &w, where, min(q.Limit, budget))
	}
	return s.listWindow(ctx, &w, where, strings.Join(pass, " AND "), q.Limit, budget)
}

// listPlain lists when every row examined is returned: the first n rows.
func (s *Store) listPlain(ctx context.Context, w *query, where string, n int) (lro.ListResult, error) {
	sql := "SELECT " + columns + " FROM lro_operations" + where +
		" ORDER BY create_time DESC, name LIMIT " + w.arg(n+1)
	sql, args := compact(sql, w.args)
	recs, err := queryRows(ctx, s.pool, recordRow(), sql, args...)
	if err != nil {
		return lro.ListResult{}, storeErr("listing", err)
	}
	res := lro.ListResult{Records: recs}
	if len(recs) > n {
		res.Records = recs[:n]
		last := recs[n-1]
		res.Resume = &lro.Cursor{CreateTime: last.CreateTime, Name: last.Operation.GetName()}
	}
	res.Examined = len(res.Records)
	return res, nil
}

// listWindow lists when rows must pass a test: it examines the next budget
// rows of the index (the window), numbers them, and returns those that
// pass, with the last row examined and the one after it, which tell where
// the call stopped and whether rows follow. The limits are pulled through
// the plan, so a call that finds limit rows early reads no further.
func (s *Store) listWindow(ctx context.Context, w *query, where, pass string, limit, budget int) (lro.ListResult, error) {
	budgetArg := w.arg(budget)
	sql := "SELECT " + columns + ", x.pass, x.rn, x.last FROM (" +
		"SELECT o.*, (" + pass + ") AS pass, row_number() OVER win AS rn, lead(o.name) OVER win IS NULL AS last " +
		"FROM (SELECT * FROM lro_operations" + where + " ORDER BY create_time DESC, name LIMIT " + budgetArg + " + 1) o " +
		"WINDOW win AS (ORDER BY o.create_time DESC, o.name)) x " +
		"WHERE x.pass OR x.rn >= " + budgetArg + " OR x.last " +
		"ORDER BY x.create_time DESC, x.name LIMIT " + w.arg(limit+2)
	sql, args := compact(sql, w.args)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return lro.ListResult{}, storeErr("listing", err)
	}
	defer rows.Close()
	var (
		res  lro.ListResult
		more bool
	)
	for rows.Next() {
		var (
			ok, last bool
			rn       int64
		)
		rec, err := scanRecord(rows, &ok, &rn, &last)
		if err != nil {
			return lro.ListResult{}, storeErr("listing", err)
		}
		if rn > int64(budget) {
			more = true // the row after the window: the budget is spent
			break
		}
		res.Examined = int(rn)
		res.Resume = &lro.Cursor{CreateTime: rec.CreateTime, Name: rec.Operation.GetName()}
		if ok {
			res.Records = append(res.Records, rec)
		}
		if len(res.Records) == limit || last {
			more = !last
			break
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return lro.ListResult{}, storeErr("listing", err)
	}
	if !more {
		res.Resume = nil
	}
	return res, nil
}

// hasWildcard reports whether a parent pattern has a "-" segment.
func hasWildcard(parent string) bool {
	return slicesIndex(strings.Split(parent, "/"), "-") >= 0
}
