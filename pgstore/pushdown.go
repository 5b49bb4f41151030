package pgstore

import (
	"strings"

	"github.com/lrokit/lro/internal/filter"
)

// Filter pushdown: a List filter translated into SQL on a row of
// lro_operations (alias o), so that PostgreSQL leaves out rows that cannot
// match and Go decodes only the rest. The Manager still matches every row
// List returns, so a translation may be looser than the filter, never
// stricter.
//
// Every node becomes a filter.SQLCond (a necessary and a sufficient
// condition; filter.TranslateSQL combines AND, OR and NOT), never NULL.
//
// What is translated:
//   - done, the name (equality, wildcards, ":", ordering), from their own
//     columns;
//   - error presence, error.code, metadata:*, response:*, metadata.@type and
//     response.@type, from the derived columns (migration 0003);
//   - fields of the metadata message, from metadata_json, when the filter
//     pins metadata.@type at its top level and filter.Cond.JSON can keep
//     the meaning exactly.
//
// A derived column is used only on rows whose derived columns are current
// (derived_version = version), and metadata_json only where the row's
// metadata has the pinned type and was written with the same schema
// (schemaFingerprint); other rows are left to Go.

// sqlCond is a filter node as SQL (filter.SQLCond): see above.
type sqlCond = filter.SQLCond

const (
	sqlTrue  = filter.SQLTrue
	sqlFalse = filter.SQLFalse
	// fresh holds when a row's derived columns are current.
	fresh = "o.derived_version IS NOT DISTINCT FROM o.version"
)

var unknown = filter.SQLUnknown

// exact is a restriction SQL decides exactly on every row.
func exact(e string) sqlCond { return filter.SQLExact(e) }

// derivedCond is a restriction decided by e exactly on the rows where
// known holds, and not at all on the others.
func derivedCond(known, e string) sqlCond {
	return sqlCond{Sup: "(NOT (" + known + ") OR " + e + ")", Sub: "(" + known + " AND " + e + ")"}
}

// filterCond translates f.
func (q *query) filterCond(f *filter.Filter) sqlCond {
	pins := f.Pins(filter.Metadata)
	return filter.TranslateSQL(f, func(c filter.Cond) sqlCond { return q.cond(c, pins) })
}

// cond translates a restriction (filter.TranslateSQL combines them).
func (q *query) cond(c filter.Cond, pins []string) sqlCond {
	switch c.Kind {
	case filter.CondDone, filter.CondQueued:
		return exact(filter.StateSQL(c, "o."))
	case filter.CondName:
		if e := q.textTest("o.name", c.Op, c.Parts, c.Presence); e != "" {
			return exact(e)
		}
	case filter.CondError:
		return derivedCond(fresh, "o.error_code IS NOT NULL")
	case filter.CondErrorCode:
		if c.Presence {
			return derivedCond(fresh, "(o.error_code IS NOT NULL AND o.error_code <> 0)")
		}
		return derivedCond(fresh, "(o.error_code IS NOT NULL AND o.error_code "+filter.SQLOp(c.Op)+" "+q.arg(int32(c.Code))+")")
	case filter.CondAny:
		return derivedCond(fresh, filter.TypeColumn("o.", c.Side)+" IS NOT NULL")
	case filter.CondAnyType:
		col := filter.TypeColumn("o.", c.Side)
		if e := q.textTest(col, c.Op, c.Parts, c.Presence); e != "" {
			return derivedCond(fresh, "("+col+" IS NOT NULL AND "+e+")")
		}
	case filter.CondField:
		return q.fieldCond(c, pins)
	}
	return unknown
}

// fieldCond translates a restriction on a metadata field against the
// first pinned type it can be kept exactly for.
func (q *query) fieldCond(c filter.Cond, pins []string) sqlCond {
	if c.Side != filter.Metadata {
		return unknown
	}
	for _, url := range pins {
		if !validText(url) {
			continue
		}
		jt, md, ok := c.JSON(url)
		if !ok {
			continue
		}
		e := q.jsonTest(jt)
		if e == "" {
			continue
		}
		known := fresh + " AND o.metadata_type IS NOT DISTINCT FROM " + q.arg(url) +
			" AND o.metadata_schema IS NOT DISTINCT FROM " + q.arg(schemaFingerprint(md))
		return derivedCond(known, e)
	}
	return unknown
}

// jsonTest is jt on o.metadata_json, or "" when a value cannot be bound.
func (q *query) jsonTest(jt filter.JSONTest) string {
	for _, k := range jt.Path {
		if !validText(k) {
			return ""
		}
	}
	const v = "o.metadata_json"
	path := q.arg(jt.Path) + "::text[]"
	var conds []string
	if jt.Required > 0 && jt.Required < len(jt.Path) {
		conds = append(conds, v+" #> "+q.arg(jt.Path[:jt.Required])+"::text[] IS NOT NULL")
	}
	switch jt.Kind {
	case filter.JSONPresent:
		conds = append(conds, v+" #> "+path+" IS NOT NULL")
	case filter.JSONContains:
		if !validText(jt.Elem) {
			return ""
		}
		conds = append(conds, "COALESCE("+v+" #> "+path+" ? "+q.arg(jt.Elem)+", false)")
	case filter.JSONText, filter.JSONNumber:
		val := "(" + v + " #>> " + path + ")"
		if jt.Required < len(jt.Path) {
			if !validText(jt.Default) {
				return ""
			}
			val = "COALESCE(" + val + ", " + q.arg(jt.Default) + ")"
		}
		var t string
		if jt.Kind == filter.JSONText {
			if t = q.textTest("("+val+` COLLATE "C")`, jt.Op, jt.Parts, false); t == "" {
				return ""
			}
		} else {
			// The guard keeps a value that is not an integer from failing
			// the whole query; the schema fingerprint rules it out anyway.
			t = "CASE WHEN " + val + " ~ '^-?[0-9]+$' THEN " + val + "::numeric " + filter.SQLOp(jt.Op) + " " + q.arg(jt.Number) + "::numeric END"
		}
		conds = append(conds, "COALESCE("+t+", false)")
	default:
		return ""
	}
	return "(" + strings.Join(conds, " AND ") + ")"
}

// textTest is the string test of filter.CondKind on the non-NULL text
// expression col, or "" when a value cannot be bound.
func (q *query) textTest(col string, op filter.Op, parts []string, presence bool) string {
	if presence {
		return col + " <> ''"
	}
	for _, p := range parts {
		if !validText(p) {
			return ""
		}
	}
	like := func(pat string) string { return col + " LIKE " + q.arg(pat) + ` ESCAPE '\'` }
	glob := func() string {
		if len(parts) == 1 {
			return col + " = " + q.arg(parts[0])
		}
		return like(filter.LikePattern(parts))
	}
	switch op {
	case filter.OpEq:
		return glob()
	case filter.OpNe:
		return "NOT " + glob()
	case filter.OpHas:
		return like("%" + filter.LikePattern(parts) + "%")
	}
	return col + " " + filter.SQLOp(op) + " " + q.arg(strings.Join(parts, "*"))
}
