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

// TypeColumn is the name of the derived column that holds a side's type
// URL (metadata_type or response_type), after prefix (a table alias and
// a dot, or "").
func TypeColumn(prefix string, s Side) string {
	if s == Response {
		return prefix + "response_type"
	}
	return prefix + "metadata_type"
}
