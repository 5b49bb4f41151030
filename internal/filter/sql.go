package filter

import "strings"

// The SQL pieces below are shared by the stores that push filters down
// (pgstore, spannerstore): both dialects read them the same way.

// SQL constants: a condition that always or never holds.
const (
	SQLTrue  = "TRUE"
	SQLFalse = "FALSE"
)

// SQLJoin joins conditions with sep (" AND ", " OR "), folding the
// constants: unit leaves no trace and zero absorbs everything. No
// condition gives unit.
func SQLJoin(conds []string, sep, unit, zero string) string {
	var keep []string
	for _, c := range conds {
		switch c {
		case zero:
			return zero
		case unit:
		default:
			keep = append(keep, c)
		}
	}
	switch len(keep) {
	case 0:
		return unit
	case 1:
		return keep[0]
	}
	return "(" + strings.Join(keep, sep) + ")"
}

// SQLNot is NOT c, folding the constants.
func SQLNot(c string) string {
	switch c {
	case SQLTrue:
		return SQLFalse
	case SQLFalse:
		return SQLTrue
	}
	return "(NOT " + c + ")"
}

// SQLOp is the SQL form of an ordering comparator; ":" on a number is
// equality.
func SQLOp(op Op) string {
	switch op {
	case OpNe:
		return "<>"
	case OpLt:
		return "<"
	case OpLe:
		return "<="
	case OpGt:
		return ">"
	case OpGe:
		return ">="
	}
	return "="
}

// likeEscaper escapes LIKE's wildcards and its escape character.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// EscapeLike escapes s for a LIKE pattern whose escape character is a
// backslash (the default of PostgreSQL and GoogleSQL), so it matches
// itself only.
func EscapeLike(s string) string { return likeEscaper.Replace(s) }

// LikePattern is a LIKE pattern matching the parts in order with anything
// between them.
func LikePattern(parts []string) string {
	esc := make([]string, len(parts))
	for i, p := range parts {
		esc[i] = EscapeLike(p)
	}
	return strings.Join(esc, "%")
}

// StateSQL is the SQL condition of a done or queued restriction c, on
// columns named after prefix (a table alias and a dot, or ""): done is the
// done column; queued is not done and not yet started (no start_time).
func StateSQL(c Cond, prefix string) string {
	want := c.Bool == (c.Op == OpEq)
	switch {
	case c.Kind == CondDone && want:
		return prefix + "done"
	case c.Kind == CondDone:
		return "NOT " + prefix + "done"
	case want:
		return "(NOT " + prefix + "done AND " + prefix + "start_time IS NULL)"
	default:
		return "(" + prefix + "done OR " + prefix + "start_time IS NOT NULL)"
	}
}

// TypeColumn is the name of the derived column that holds a side's type
// URL (metadata_type or response_type), after prefix (a table alias and
// a dot, or "").
func TypeColumn(prefix string, s Side) string {
	if s == Response {
		return prefix + "response_type"
	}
	return prefix + "metadata_type"
}

// SQLCond is a filter node translated to SQL as two conditions: Sup holds
// for every row whose operation matches (a necessary condition) and Sub
// only for such rows (a sufficient one). A restriction translated exactly
// has the same SQL for both; one that cannot be translated is SQLUnknown;
// NOT swaps them. A store evaluates the rest in Go, so a translation may
// be looser than the filter, never stricter. Conditions must never be
// NULL, so that NOT keeps its meaning.
type SQLCond struct{ Sup, Sub string }

// SQLUnknown is a restriction SQL cannot decide: every row may match, none
// surely does.
var SQLUnknown = SQLCond{Sup: SQLTrue, Sub: SQLFalse}

// SQLExact is a restriction that e decides exactly on every row.
func SQLExact(e string) SQLCond { return SQLCond{Sup: e, Sub: e} }

// TranslateSQL translates f: AND, OR and NOT are combined here, and leaf
// translates every other node (returning SQLUnknown for what it cannot).
// A filter with no condition is exactly TRUE.
func TranslateSQL(f *Filter, leaf func(Cond) SQLCond) SQLCond {
	root, ok := f.Cond()
	if !ok {
		return SQLExact(SQLTrue)
	}
	return translateSQL(root, leaf)
}

func translateSQL(c Cond, leaf func(Cond) SQLCond) SQLCond {
	switch c.Kind {
	case CondAnd, CondOr:
		sups, subs := make([]string, len(c.Kids)), make([]string, len(c.Kids))
		for i, k := range c.Kids {
			kc := translateSQL(k, leaf)
			sups[i], subs[i] = kc.Sup, kc.Sub
		}
		if c.Kind == CondAnd {
			return SQLCond{Sup: SQLJoin(sups, " AND ", SQLTrue, SQLFalse), Sub: SQLJoin(subs, " AND ", SQLTrue, SQLFalse)}
		}
		return SQLCond{Sup: SQLJoin(sups, " OR ", SQLFalse, SQLTrue), Sub: SQLJoin(subs, " OR ", SQLFalse, SQLTrue)}
	case CondNot:
		k := translateSQL(c.Kids[0], leaf)
		return SQLCond{Sup: SQLNot(k.Sub), Sub: SQLNot(k.Sup)}
	}
	return leaf(c)
}
