package lro

import (
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
)

// compiledFilter is a ListOperations filter parsed once per request.
type compiledFilter struct{ src string }

// compileFilter parses an AIP-160 filter.
func compileFilter(src string, r TypeResolver) (*compiledFilter, error) {
	if src != "" {
		return nil, invalidArgument("filter: filtering is not supported yet")
	}
	return &compiledFilter{}, nil
}

func (f *compiledFilter) Match(op *longrunningpb.Operation) bool { return true }
func (f *compiledFilter) DoneHint() *bool                        { return nil }
func (f *compiledFilter) String() string                         { return f.src }
