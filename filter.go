package lro

import (
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

// compileFilter parses an AIP-160 filter. Bad input gives an error naming
// the problem and its position (a *filter.Error when it has one), which
// Manager.invalidFilter makes INVALID_ARGUMENT.
func compileFilter(src string, r TypeResolver) (*filter.Filter, error) {
	f, err := filter.Parse(src, filter.Options{Resolver: r, MaxLength: MaxFilterLength, MaxDepth: MaxFilterDepth})
	if err != nil {
		return nil, err
	}
	return f, nil
}
