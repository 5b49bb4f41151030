package main

// Queued operations. The Operation message cannot tell work that waits for
// a slot from work that runs, but lro servers answer the AIP-160
// pseudo-field "queued" in filters (docs/FILTERING.md, "Queued
// operations"). So before showing operations that are not done, lroctl
// asks the server which of them are queued, with one List call per page of
// operations: the filter queued = true AND (name = "a" OR name = "b" ...).

import (
	"context"
	"strings"
)

// maxFilterBytes is the longest filter markQueued sends: lro servers
// refuse longer ones (lro.MaxFilterLength).
const maxFilterBytes = 4096

// markQueued sets queued on each operation of ops that is not done and
// that the server lists as queued in collection (the collection ops were
// listed from, "" for all of them). It costs one List call when the names
// of the operations not done fit in one filter of maxFilterBytes (a page
// of 50 names of 60 bytes does), one more per further maxFilterBytes of
// names, and none when every operation is done.
//
// It never fails: when the call fails (a server that does not know the
// queued field refuses the filter) or its answer cannot be trusted (it
// holds an operation that is done or was not asked for, as from a server
// that ignores filters), the operations stay unmarked and show RUNNING.
func markQueued(ctx context.Context, be backend, collection string, ops []*opView) {
	byName := map[string]*opView{}
	var names []string
	for _, o := range ops {
		if !o.Done && byName[o.Name] == nil {
			byName[o.Name] = o
			names = append(names, o.Name)
		}
	}
	for _, chunk := range queuedFilters(names) {
		listed, _, err := be.list(ctx, collection, chunk.filter, int32(len(chunk.names)), "")
		if err != nil || !trustQueued(listed, chunk.names) {
			continue
		}
		for _, o := range listed {
			byName[o.Name].queued = true
		}
	}
}

// queuedQuery is one filter of markQueued and the names it asks about.
type queuedQuery struct {
	filter string
	names  []string
}

// queuedFilters splits names into as few filters
// queued = true AND (name = "a" OR ...) of at most maxFilterBytes as it
// can; a name too long for a filter of its own is left out.
func queuedFilters(names []string) []queuedQuery {
	const head, tail, or = `queued = true AND (`, `)`, ` OR `
	var (
		out []queuedQuery
		cur queuedQuery
		b   strings.Builder
	)
	flush := func() {
		if len(cur.names) > 0 {
			cur.filter = head + b.String() + tail
			out = append(out, cur)
		}
		cur = queuedQuery{}
		b.Reset()
	}
	for _, n := range names {
		term := "name = " + quoteFilter(n)
		if len(head)+len(term)+len(tail) > maxFilterBytes {
			continue
		}
		if len(cur.names) > 0 && len(head)+b.Len()+len(or)+len(term)+len(tail) > maxFilterBytes {
			flush()
		}
		if len(cur.names) > 0 {
			b.WriteString(or)
		}
		b.WriteString(term)
		cur.names = append(cur.names, n)
	}
	flush()
	return out
}

// trustQueued reports whether listed can be the answer to a queued filter
// on names: operations not done, each one of names.
func trustQueued(listed []*opView, names []string) bool {
	asked := make(map[string]bool, len(names))
	for _, n := range names {
		asked[n] = true
	}
	for _, o := range listed {
		if o.Done || !asked[o.Name] {
			return false
		}
	}
	return true
}

// quoteFilter quotes s as an AIP-160 string value that matches s exactly:
// the quote and backslash are escaped, and so is the wildcard *.
func quoteFilter(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\', '*':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
