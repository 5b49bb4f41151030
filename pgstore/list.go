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

// listPlan is the statement of one List call.
type listPlan struct {
	sql    string
	args   []any
	window bool // the statement is listWindow's; else every row it reads is returned
	n      int  // plain: the rows to return; window: the Limit
	budget int
}

// List implements lro.Store.
func (s *Store) List(ctx context.Context, q lro.ListQuery) (lro.ListResult, error) {
	if q.Limit <= 0 {
		return lro.ListResult{}, errors.New("pgstore: listing: Limit is not positive")
	}
	p, ok := planList(q)
	if !ok {
		return lro.ListResult{}, nil // no operation can match
	}
	if p.window {
		return s.listWindow(ctx, p)
	}
	return s.listPlain(ctx, p)
}

// planList builds the statement for q, or reports false when no row can
// match.
func planList(q lro.ListQuery) (listPlan, bool) {
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
			return listPlan{}, false
		}
		w.where = append(w.where, "parent = "+w.arg(q.Parent))
		runningScope = false
	case runningScope:
		w.where = append(w.where, "NOT done")
	}
	if !q.AllParents && hasWildcard(q.Parent) {
		conds, ok := w.parentPattern(q.Parent)
		if !ok {
			return listPlan{}, false
		}
		pass = append(pass, conds...)
	}
	if q.Done != nil && !runningScope {
		pass = append(pass, "o.done = "+w.arg(*q.Done))
	}
	if f := q.Filter.Parsed(); f != nil {
		switch c := w.filterCond(f); c.sup {
		case sqlFalse:
			return listPlan{}, false
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
	p := listPlan{budget: budget, n: q.Limit}
	if len(pass) == 0 {
		p.n = min(q.Limit, budget)
		p.sql = "SELECT " + columns + " FROM lro_operations" + where +
			" ORDER BY create_time DESC, name LIMIT " + w.arg(p.n+1)
	} else {
		// The window: the next budget rows of the index, and one more to
		// tell whether rows follow. The rows that pass come back, with the
		// last one examined and the one after it, which tell where the
		// call stopped.
		p.window = true
		budgetArg := w.arg(budget)
		p.sql = "SELECT " + columns + ", x.pass, x.rn, x.last FROM (" +
			"SELECT o.*, (" + strings.Join(pass, " AND ") + ") AS pass, row_number() OVER win AS rn, lead(o.name) OVER win IS NULL AS last " +
			"FROM (SELECT * FROM lro_operations" + where + " ORDER BY create_time DESC, name LIMIT " + budgetArg + " + 1) o " +
			"WINDOW win AS (ORDER BY o.create_time DESC, o.name)) x " +
			"WHERE x.pass OR x.rn >= " + budgetArg + " OR x.last " +
			"ORDER BY x.create_time DESC, x.name LIMIT " + w.arg(q.Limit+2)
	}
	p.sql, p.args = compact(p.sql, w.args)
	return p, true
}

// listPlain runs a plan that returns every row it reads: the first p.n.
func (s *Store) listPlain(ctx context.Context, p listPlan) (lro.ListResult, error) {
	recs, err := queryRows(ctx, s.pool, recordRow(), p.sql, p.args...)
	if err != nil {
		return lro.ListResult{}, storeErr("listing", err)
	}
	res := lro.ListResult{Records: recs}
	if len(recs) > p.n {
		res.Records = recs[:p.n]
		last := recs[p.n-1]
		res.Resume = &lro.Cursor{CreateTime: last.CreateTime, Name: last.Operation.GetName()}
	}
	res.Examined = len(res.Records)
	return res, nil
}

// listWindow runs a window plan. The limits are pulled through the plan,
// so a call that finds its rows early reads no further.
func (s *Store) listWindow(ctx context.Context, p listPlan) (lro.ListResult, error) {
	rows, err := s.pool.Query(ctx, p.sql, p.args...)
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
		if rn > int64(p.budget) {
			more = true // the row after the window: the budget is spent
			break
		}
		res.Examined = int(rn)
		res.Resume = &lro.Cursor{CreateTime: rec.CreateTime, Name: rec.Operation.GetName()}
		if ok {
			res.Records = append(res.Records, rec)
		}
		if len(res.Records) == p.n || last {
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
