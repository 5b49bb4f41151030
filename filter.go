package lro

import (
	"github.com/lrokit/lro/internal/filter"
)

// Filtering (AIP-160) for ListOperations. A filter is parsed and
// type-checked once per request, then matched against each operation the
// store yields. The grammar, the fields and what happens on unset messages
// are documented in docs/FILTERING.md and in package internal/filter; in
// short: name, done, error, error.code, error.message, metadata.@type,
// response.@type and any field of the unpacked metadata and response, with
// = != < <= > >= : AND OR NOT - and parentheses.
//
// Limits: a filter longer than MaxFilterLength bytes, or nested deeper than
// MaxFilterDepth, is INVALID_ARGUMENT.
const (
	MaxFilterLength = 4096
	MaxFilterDepth  = 32
)

// compileFilter parses an AIP-160 filter. Bad input gives INVALID_ARGUMENT
// naming the problem and its position.
func compileFilter(src string, r TypeResolver) (*filter.Filter, error) {
	f, err := filter.Parse(src, filter.Options{Resolver: r, MaxLength: MaxFilterLength, MaxDepth: MaxFilterDepth})
	if err != nil {
		return nil, invalidArgument("filter: %v", err)
	}
	return f, nil
}
