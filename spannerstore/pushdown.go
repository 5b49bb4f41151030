package spannerstore

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/spanner"
	"github.com/lrokit/lro/internal/filter"
)

// Filter pushdown: a List filter translated into GoogleSQL on a row of
// lro_operations, evaluated as a column of each row a List window
// examines, so that only the rows that may match are read in full and
// decoded. Every row still counts against the scan budget, so Examined
// and Resume are as without the pushdown. The Manager still matches every
// row List returns, so a translation may be looser than the filter, never
// stricter.
//
// Every node becomes a filter.SQLCond (a necessary and a sufficient
// condition; filter.TranslateSQL combines AND, OR and NOT), never NULL.
//
// What is translated: done and queued, the name (equality, wildcards,
// ":", ordering), from their own columns; error presence, error.code,
// metadata:*, response:*, metadata.@type and response.@type, from the
// derived columns (schema version 5). Derived columns are used only on rows
// whose derived columns are current (derived_version = version): rows
// written before version 5, or by a replica that predates it, are left to
// Go.

// sqlCond is a filter node as SQL (filter.SQLCond): see above.
type sqlCond = filter.SQLCond

const (
	sqlTrue  = filter.SQLTrue
	sqlFalse = filter.SQLFalse
	// fresh holds when a row's derived columns are current.
	fresh = "IFNULL(derived_version = version, FALSE)"
)

var unknown = filter.SQLUnknown

// exact is a restriction SQL decides exactly on every row.
func exact(e string) sqlCond { return filter.SQLExact(e) }

// derivedCond is a restriction decided by e exactly on fresh rows, and not
// at all on the others.
func derivedCond(e string) sqlCond {
	return sqlCond{Sup: "(NOT " + fresh + " OR " + e + ")", Sub: "(" + fresh + " AND " + e + ")"}
}

// params collects the parameters of a statement.
type params map[string]any

// arg binds v and returns its placeholder.
func (p params) arg(v any) string {
	name := fmt.Sprintf("f%d", len(p))
	p[name] = v
	return "@" + name
}

// filterCond translates f; its parameters are added to p.
func filterCond(f *filter.Filter, p params) sqlCond {
	return filter.TranslateSQL(f, p.cond)
}

// cond translates a restriction (filter.TranslateSQL combines them).
func (p params) cond(c filter.Cond) sqlCond {
	switch c.Kind {
	case filter.CondDone, filter.CondQueued:
		return exact(filter.StateSQL(c, ""))
	case filter.CondName:
		if e := p.textTest("name", c.Op, c.Parts, c.Presence); e != "" {
			return exact(e)
		}
	case filter.CondError:
		return derivedCond("error_code IS NOT NULL")
	case filter.CondErrorCode:
		if c.Presence {
			return derivedCond("IFNULL(error_code != 0, FALSE)")
		}
		return derivedCond("IFNULL(error_code " + filter.SQLOp(c.Op) + " " + p.arg(c.Code) + ", FALSE)")
	case filter.CondAny:
		return derivedCond(filter.TypeColumn("", c.Side) + " IS NOT NULL")
	case filter.CondAnyType:
		col := filter.TypeColumn("", c.Side)
		if e := p.textTest(col, c.Op, c.Parts, c.Presence); e != "" {
			return derivedCond("IFNULL(" + e + ", FALSE)")
		}
	}
	return unknown
}

// textTest is the string test of filter.CondKind on the text column col
// (NULL only where the caller guards it), or "" when a value cannot be
// bound.
func (p params) textTest(col string, op filter.Op, parts []string, presence bool) string {
	if presence {
		return col + " != ''"
	}
	for _, s := range parts {
		if !utf8.ValidString(s) {
			return ""
		}
	}
	glob := func() string {
		if len(parts) == 1 {
			return col + " = " + p.arg(parts[0])
		}
		return col + " LIKE " + p.arg(filter.LikePattern(parts))
	}
	switch op {
	case filter.OpEq:
		return glob()
	case filter.OpNe:
		return "NOT " + glob()
	case filter.OpHas:
		return col + " LIKE " + p.arg("%"+filter.LikePattern(parts)+"%")
	}
	return col + " " + filter.SQLOp(op) + " " + p.arg(strings.Join(parts, "*"))
}

// derivedColumns are the lro_operations columns derived from the
// operation for the pushdown (schema version 5), in the order of
// derivedValues.
var derivedColumns = []string{"error_code", "metadata_type", "response_type", "derived_version"}

// derivedValues are the derived columns of op in a row at version:
// derived_version is NULL, marking them unknown, when a type URL is not
// valid UTF-8 (Spanner cannot hold it).
func derivedValues(op *longrunningpb.Operation, version int64) []any {
	var (
		code         spanner.NullInt64
		mdType, resp spanner.NullString
	)
	ok := true
	if e := op.GetError(); e != nil {
		code = spanner.NullInt64{Int64: int64(e.GetCode()), Valid: true}
	}
	if m := op.GetMetadata(); m != nil {
		mdType = spanner.NullString{StringVal: m.GetTypeUrl(), Valid: true}
		ok = utf8.ValidString(m.GetTypeUrl())
	}
	if r := op.GetResponse(); r != nil {
		resp = spanner.NullString{StringVal: r.GetTypeUrl(), Valid: true}
		ok = ok && utf8.ValidString(r.GetTypeUrl())
	}
	if !ok {
		return []any{spanner.NullInt64{}, spanner.NullString{}, spanner.NullString{}, spanner.NullInt64{}}
	}
	return []any{code, mdType, resp, spanner.NullInt64{Int64: version, Valid: true}}
}
