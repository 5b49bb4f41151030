package lro

import (
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro/internal/filter"
)

// Filtering (AIP-160) for ListOperations. A filter is parsed and
// type-checked once per request, then matched against each operation the
// store yields. docs/FILTERING.md describes the dialect: the fields (name,
// done, error, error.code, error.message, metadata.@type, response.@type and
// any field of the unpacked metadata and response), the operators (= != <
// <= > >= : AND OR NOT - and parentheses), what happens on unset messages,
// the errors and the limits; package internal/filter implements it.

// Limits on a filter (see docs/FILTERING.md). A filter longer than
// MaxFilterLength bytes, or nested deeper than MaxFilterDepth levels of
// parentheses and negations, is INVALID_ARGUMENT.
const (
	// MaxFilterLength is the longest filter List accepts, in bytes.
	MaxFilterLength = 4096
	// MaxFilterDepth is the deepest nesting of parentheses and negations
	// List accepts.
	MaxFilterDepth = 32
)

// Filter is a parsed ListOperations filter, as ListQuery hands it to a
// Store. It is immutable and safe for concurrent use. A nil *Filter
// matches every operation.
type Filter struct {
	f *filter.Filter
}

// ParseFilter parses and type-checks an AIP-160 filter (docs/FILTERING.md),
// finding metadata and response types with r (protoregistry.GlobalTypes
// when nil). Bad input gives an error with the gRPC status
// INVALID_ARGUMENT that names the problem and its position.
func ParseFilter(src string, r TypeResolver) (*Filter, error) {
	opts := filter.Options{MaxLength: MaxFilterLength, MaxDepth: MaxFilterDepth}
	if r != nil {
		opts.Resolver = r
	}
	f, err := filter.Parse(src, opts)
	if err != nil {
		return nil, err
	}
	return &Filter{f: f}, nil
}

// Match reports whether op, taken as not queued, satisfies the filter
// (see MatchRecord). It runs the TypeResolver
// the filter was parsed with, which is host code: a Store must not call it
// while holding a lock or connection that writers need.
func (f *Filter) Match(op *longrunningpb.Operation) bool {
	if f == nil {
		return true
	}
	return f.f.Match(op)
}

// MatchRecord reports whether r satisfies the filter, the pseudo-field
// queued included (see Record.Queued). A Store that filters records
// itself calls it rather than Match; like Match, it runs host code.
func (f *Filter) MatchRecord(r *Record) bool {
	if f == nil {
		return true
	}
	return f.f.MatchState(r.Operation, r.Queued())
}

// String returns the filter in a canonical form; "" for the empty filter.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.f.String()
}

// DoneHint returns the value of done that every matching operation has,
// when the filter requires one at its top level, or nil.
func (f *Filter) DoneHint() *bool {
	if f == nil {
		return nil
	}
	return f.f.DoneHint()
}

// onlyDone reports whether the filter is empty or a restriction on done
// alone, which ListQuery.Done decides exactly.
func (f *Filter) onlyDone() bool {
	c, ok := f.Parsed().Cond()
	if !ok {
		return true
	}
	if c.Kind == filter.CondNot {
		c = c.Kids[0]
	}
	return c.Kind == filter.CondDone
}

// Parsed returns the parse tree, for the stores of this module (pgstore
// translates it to SQL). Its type is internal to this module, so other
// stores cannot use it. It returns nil for a nil Filter.
func (f *Filter) Parsed() *filter.Filter {
	if f == nil {
		return nil
	}
	return f.f
}
