package pgstore

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/internal/filter"
)

// List walks an index range in List order and examines at most the scan
// budget of rows: the one row a filter's "name = NAME" names (the primary
// key), the rows of one parent (lro_operations_parent_list_idx), of the
// running operations when the query asks for done = false
// (lro_operations_running_list_idx), or of every operation
// (lro_operations_list_idx), from the cursor on. Every other condition (a
// wildcard parent, done, the pushed-down filter; see pushdown.go) is a
// test on the rows of the range, never a condition the planner could turn
// into a scan of unbounded length. The Go side decodes only the rows that
// pass, and runs no host code: each statement's connection is back in the
// pool before the next one, and before List returns.

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
		conds = append(conds, "o.parent LIKE "+q.arg(filter.EscapeLike(prefix)+"%")+` ESCAPE '\'`)
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

// listPlan is how one List call reads: the index range it walks, what a
// row must pass to be returned, and their bound values.
type listPlan struct {
	q      query  // scope conditions (the index range) in where, and every value
	pass   string // "" when every row of the range is returned
	budget int
}

// Windows: a List call that tests rows examines them in windows of
// growing size, one statement each, so that it stops soon when matches
// are dense and a plan never reads many more rows than one window, even
// where the planner prefers reading a small parent whole and sorting it
// to walking its index.
const (
	minWindow = 256
	maxWindow = 4096
)

// List implements lro.Store.
func (s *Store) List(ctx context.Context, q lro.ListQuery) (lro.ListResult, error) {
	if q.Limit <= 0 {
		return lro.ListResult{}, errors.New("pgstore: listing: Limit is not positive")
	}
	p, ok := planList(q)
	if !ok {
		return lro.ListResult{}, nil // no operation can match
	}
	if p.pass == "" {
		return s.listPlain(ctx, p, q.After, q.Limit)
	}
	return s.listWindows(ctx, p, q.After, q.Limit)
}

// planList plans q, or reports false when no row can match.
func planList(q lro.ListQuery) (listPlan, bool) {
	p := listPlan{budget: q.Budget}
	if p.budget <= 0 || p.budget > maxBudget {
		p.budget = maxBudget
	}
	var pass []string
	runningScope := q.Done != nil && !*q.Done
	switch {
	case !q.AllParents && !hasWildcard(q.Parent):
		if !validText(q.Parent) {
			return listPlan{}, false
		}
		p.q.where = append(p.q.where, "parent = "+p.q.arg(q.Parent))
		runningScope = false
	case runningScope:
		p.q.where = append(p.q.where, "NOT done")
	}
	if !q.AllParents && hasWildcard(q.Parent) {
		conds, ok := p.q.parentPattern(q.Parent)
		if !ok {
			return listPlan{}, false
		}
		pass = append(pass, conds...)
	}
	if q.Done != nil && !runningScope {
		pass = append(pass, "o.done = "+p.q.arg(*q.Done))
	}
	if f := q.Filter.Parsed(); f != nil {
		// A filter that requires a name ("name = NAME AND ...") matches
		// at most the row of that name: the range is that row, found by
		// the primary key, rather than the rows scanned until it turns up.
		if names := f.Names(); len(names) > 0 {
			if !validText(names[0]) {
				return listPlan{}, false
			}
			p.q.where = append(p.q.where, "name = "+p.q.arg(names[0]))
		}
		switch c := p.q.filterCond(f); c.Sup {
		case sqlFalse:
			return listPlan{}, false
		case sqlTrue:
		default:
			pass = append(pass, c.Sup)
		}
	}
	p.pass = strings.Join(pass, " AND ")
	return p, true
}

// statement renders the statement that examines the next window rows of
// the range after the cursor. The plain one returns the first window
// rows, and one more to tell whether rows follow. The window one returns
// the rows that pass, up to limit, with the last row examined and the one
// after it, which tell where it stopped; the limits are pulled through the
// plan, so a statement that finds its rows early reads no further.
func (p *listPlan) statement(after *lro.Cursor, window, limit int) (string, []any) {
	q := query{where: p.q.where, args: p.q.args}
	q.where = append([]string(nil), q.where...)
	q.args = append([]any(nil), q.args...)
	if after != nil {
		t := after.CreateTime.UTC().Truncate(time.Microsecond)
		tp := q.arg(t)
		q.where = append(q.where, "create_time <= "+tp+" AND (create_time < "+tp+" OR name > "+q.arg(after.Name)+")")
	}
	where := ""
	if len(q.where) > 0 {
		where = " WHERE " + strings.Join(q.where, " AND ")
	}
	var sql string
	if p.pass == "" {
		sql = "SELECT " + columns + " FROM lro_operations" + where +
			" ORDER BY create_time DESC, name LIMIT " + q.arg(window+1)
	} else {
		w := q.arg(window)
		sql = "SELECT " + columns + ", x.pass, x.rn, x.last FROM (" +
			"SELECT o.*, (" + p.pass + ") AS pass, row_number() OVER win AS rn, lead(o.name) OVER win IS NULL AS last " +
			"FROM (SELECT * FROM lro_operations" + where + " ORDER BY create_time DESC, name LIMIT " + w + " + 1) o " +
			"WINDOW win AS (ORDER BY o.create_time DESC, o.name)) x " +
			"WHERE x.pass OR x.rn >= " + w + " OR x.last " +
			"ORDER BY x.create_time DESC, x.name LIMIT " + q.arg(limit+2)
	}
	return compact(sql, q.args)
}

// listPlain lists when every row of the range is returned: the first ones,
// up to limit and the budget, in one statement.
func (s *Store) listPlain(ctx context.Context, p listPlan, after *lro.Cursor, limit int) (lro.ListResult, error) {
	n := min(limit, p.budget)
	sql, args := p.statement(after, n, n)
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

// listWindows lists when rows must pass a test, a window at a time, until
// it has limit rows, has examined the budget, or reaches the end.
func (s *Store) listWindows(ctx context.Context, p listPlan, after *lro.Cursor, limit int) (lro.ListResult, error) {
	var res lro.ListResult
	size := max(4*limit, minWindow)
	for {
		window := min(size, maxWindow, p.budget-res.Examined)
		sql, args := p.statement(after, window, limit-len(res.Records))
		more, err := s.listWindow(ctx, sql, args, window, limit, &res)
		switch {
		case err != nil:
			return lro.ListResult{}, err
		case !more:
			res.Resume = nil
			return res, nil
		case len(res.Records) == limit || res.Examined >= p.budget:
			return res, nil
		}
		after = res.Resume
		size *= 2
	}
}

// listWindow runs the statement of one window and adds what it finds to
// res. It reports whether rows follow the last one examined.
func (s *Store) listWindow(ctx context.Context, sql string, args []any, window, limit int, res *lro.ListResult) (bool, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return false, storeErr("listing", err)
	}
	defer rows.Close()
	examined := res.Examined
	more := false
	for rows.Next() {
		var (
			ok, last bool
			rn       int64
		)
		rec, err := scanRecord(rows, &ok, &rn, &last)
		if err != nil {
			return false, storeErr("listing", err)
		}
		if rn > int64(window) {
			more = true // the row after the window
			break
		}
		res.Examined = examined + int(rn)
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
		return false, storeErr("listing", err)
	}
	return more, nil
}

// hasWildcard reports whether a parent pattern has a "-" segment.
func hasWildcard(parent string) bool {
	return slicesIndex(strings.Split(parent, "/"), "-") >= 0
}
