// Package filter implements AIP-160 filters over google.longrunning
// operations: a filter is parsed once into a compiled form (Parse), then
// evaluated against each operation of a List scan (Filter.Match).
//
// # Fields
//
//	name                   the operation name (string)
//	done                   bool
//	queued                 bool: not done and not started (a pseudo-field, see MatchState)
//	error                  presence only: error:*
//	error.code             number or code name (1, CANCELLED, cancelled)
//	error.message          string
//	metadata, response     presence only: metadata:*
//	metadata.@type         the type URL of the metadata Any (string)
//	response.@type         the type URL of the response Any (string)
//	metadata.<path>        any field of the unpacked metadata message
//	response.<path>        any field of the unpacked response message
//
// Metadata and response messages are unpacked with the Resolver of Options
// (protoregistry.GlobalTypes by default). A path names fields by their proto
// name (or JSON name), traverses singular messages, repeated messages (any
// element may match) and maps (metadata.tags.env = prod).
//
// # Operators and values
//
// Comparators are = != < <= > >= and : (has). AND, OR, NOT, - (negation),
// parentheses and whitespace (an implicit AND) combine restrictions; OR
// binds tighter than AND, so "a AND b OR c" is "a AND (b OR c)". AND, OR and
// NOT must be upper case. A parenthesized combination of values distributes
// the field and comparator over them: "error.code:(1 OR 9)" is
// "error.code:1 OR error.code:9".
//
// Values are quoted strings ("..." or '...', with escapes \\ \" \' \n \r \t
// \*) or bare text running to the next whitespace or parenthesis, so
// type.googleapis.com/google.spanner.admin.database.v1.CreateBackupMetadata,
// custom-config and 2023-01-01T00:00:00Z need no quotes. Quoted and bare
// values mean the same thing: a value is converted to the kind of the field
// it is compared with. A field of kind
//
//   - string or bytes: = and != compare whole strings, where * is a
//     wildcard for any run of characters ("*/abc", "abc*"); : tests whether
//     the string contains the value (wildcards allowed); < <= > >= compare
//     lexically.
//   - number (any int, uint, float kind): the value is an integer, a decimal
//     or a number with an exponent (1, -2, 1.5, 2e3); numbers compare
//     numerically across kinds.
//   - bool: true or false; only = != and :.
//   - enum: the value name (READY) or number; only = != and :.
//   - google.protobuf.Timestamp: an RFC 3339 time (2023-01-01T00:00:00Z).
//   - google.protobuf.Duration: a duration such as 20s, 1.5s or 1h30m.
//   - a google.protobuf wrapper (StringValue...): like its value.
//
// On every field, : with the single value * tests presence: a set message,
// a non-zero scalar, a non-empty repeated field or map (error:*,
// metadata.progress:*). On a repeated field, "f:v" is true when an element
// equals v; the other comparators never match a repeated field. On a map,
// "m:k" tests whether key k is present, and "m.k <op> v" compares the value
// at key k.
//
// # Unset messages and missing fields
//
// A restriction whose path crosses a message that is not set (no metadata,
// no error, an unset progress message, an absent map key, an unset
// Timestamp) is false, with every comparator including !=: "error.code != 1"
// does not match an operation without an error. The same holds for a
// metadata or response field that the operation's own message type does not
// have (but some other known type has, see below), for a type URL the
// Resolver does not know, and for a value that cannot be converted to the
// field's kind (metadata.count = abc). NOT is the plain negation of what it
// negates: "NOT error.code = 1" matches operations without an error.
//
// # Unknown fields
//
// AIP-160 makes a filter on an unknown field an error. A metadata or
// response path is known when at least one message type known to the
// Resolver has it: its first segment names a field of that type, and each
// further segment a field of the message reached so far (a singular
// message, the elements of a repeated message, the values of a map, whose
// key is the segment in between and must be of the map's key kind). The
// message types known to the Resolver are those it lists when it is a
// TypeRanger, as *protoregistry.Types is (protoregistry.GlobalTypes, the
// default, above all), and the types linked into the program
// (protoregistry.GlobalTypes) when it cannot list them. Parse reports a
// path that no known type has as an *Error, "unknown field metadata.x.y",
// at the first segment that no type reaches, wherever the restriction
// stands (under OR or NOT too). The check is on the path only: whether the
// value suits the field is checked per type, at evaluation time, unless
// the type is pinned (below).
//
// # Any fields
//
// A field of type google.protobuf.Any inside the metadata or response is
// not unpacked. A filter can test its presence (metadata.payload:*) and its
// type URL, as @type (the name its JSON form uses) or type_url:
// metadata.payload.@type = type.googleapis.com/x.y.Z, and on a repeated Any
// response.details.@type:BadRequest (any element). The fields of the
// message it holds are out of reach: a path into them names a field the
// Any does not have, so it is unknown unless some other known type has
// such a path (and then it matches only operations of that type).
//
// The kind of a metadata or response field is known only once an
// operation's message type is, so such restrictions are checked per type,
// at evaluation time. When the filter pins the type at its top level
// ("metadata.@type = URL AND ...", the usual form in Google's
// documentation) and the Resolver knows URL, Parse checks them against that
// type instead, and reports an unknown field, a value of the wrong kind, an
// unknown enum value or a malformed time as an *Error.
//
// Scalar fields that are not set compare as their zero value, as in proto3
// (metadata.count = 0 matches an unset count). Presence (":*") on a scalar
// means non-zero, or set for fields with explicit presence (optional).
//
// # Limits
//
// Filters longer than Options.MaxLength (default DefaultMaxLength bytes) or
// nested deeper than Options.MaxDepth (default DefaultMaxDepth levels of
// parentheses and negations) are rejected. Bad input always gives an *Error
// that names the problem and its position, never a panic.
package filter

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Default limits used when the Options fields are zero.
const (
	// DefaultMaxLength is the default longest filter accepted, in bytes.
	DefaultMaxLength = 4096
	// DefaultMaxDepth is the default deepest nesting of parentheses and
	// negations accepted.
	DefaultMaxDepth = 32
)

// maxCachedTypes bounds the per-filter cache of metadata and response types.
const maxCachedTypes = 256

// Resolver finds message types by type URL; *protoregistry.Types satisfies
// it (protoregistry.GlobalTypes is the default).
type Resolver interface {
	FindMessageByURL(url string) (protoreflect.MessageType, error)
}

// Options configures Parse. The zero value gives the defaults.
type Options struct {
	// Resolver finds the metadata and response message types. Nil means
	// protoregistry.GlobalTypes. When it is also a TypeRanger, metadata and
	// response paths are checked against the types it lists; otherwise
	// against protoregistry.GlobalTypes (see "Unknown fields").
	Resolver Resolver
	// MaxLength is the longest filter accepted, in bytes. Zero means
	// DefaultMaxLength.
	MaxLength int
	// MaxDepth is the deepest nesting of parentheses and negations
	// accepted. Zero means DefaultMaxDepth.
	MaxDepth int
}

// Error is a syntax or type error in a filter.
type Error struct {
	// Pos is the 0-based byte offset of the problem in the filter.
	Pos int
	// Msg describes the problem.
	Msg string
}

// Error returns the message with the 1-based column of the problem.
func (e *Error) Error() string {
	return fmt.Sprintf("invalid filter at column %d: %s", e.Pos+1, e.Msg)
}

// GRPCStatus reports the error as INVALID_ARGUMENT, so that status.Code and
// status.FromError see it as such, also when wrapped.
func (e *Error) GRPCStatus() *status.Status {
	return status.New(codes.InvalidArgument, e.Error())
}

// Filter is a parsed filter. It is immutable apart from internal caches and
// safe for concurrent use.
type Filter struct {
	root      *node // nil matches everything
	canonical string
	doneHint  *bool
	resolver  Resolver
	dyn       []*dynLeaf // restrictions on metadata and response fields

	mu    sync.Mutex                           // serializes writers of types
	types atomic.Pointer[map[string]*typeInfo] // copy on write
}

// Parse parses and type-checks src. An empty or all-whitespace src gives a
// Filter that matches every operation. Bad input, an unknown field
// included, gives an *Error.
func Parse(src string, opts Options) (*Filter, error) {
	maxLen := opts.MaxLength
	if maxLen <= 0 {
		maxLen = DefaultMaxLength
	}
	maxDepth := opts.MaxDepth
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	if len(src) > maxLen {
		return nil, &Error{Pos: maxLen, Msg: fmt.Sprintf("filter is longer than %d bytes", maxLen)}
	}
	p := parser{src: src, maxDepth: maxDepth}
	e, err := p.parseFilter()
	if err != nil {
		return nil, err
	}
	f := &Filter{resolver: opts.Resolver}
	if f.resolver == nil {
		f.resolver = protoregistry.GlobalTypes
	}
	if e == nil {
		return f, nil
	}
	root, err := f.compile(e)
	if err != nil {
		return nil, err
	}
	if err := f.checkPinned(root); err != nil {
		return nil, err
	}
	if err := f.checkKnown(); err != nil {
		return nil, err
	}
	f.root = root
	var b strings.Builder
	root.write(&b, false)
	f.canonical = b.String()
	f.doneHint = root.doneHint()
	return f, nil
}

// Match reports whether op, which is not queued, satisfies the filter. A
// nil op matches only the empty filter.
func (f *Filter) Match(op *longrunningpb.Operation) bool {
	return f.MatchState(op, false)
}

// MatchState reports whether op satisfies the filter, where queued is the
// value of the pseudo-field queued (the operation is neither done nor
// started). A nil op matches only the empty filter.
func (f *Filter) MatchState(op *longrunningpb.Operation, queued bool) bool {
	if f == nil || f.root == nil {
		return true
	}
	if op == nil {
		return false
	}
	c := evalCtx{f: f, op: op, queued: queued}
	ok := c.eval(f.root)
	c.release()
	return ok
}

// DoneHint returns the value of done that every matching operation has,
// when the filter requires it at its top level (done = X, done != X or
// NOT done = X, alone or in the top AND chain), or nil. A store may use it
// to narrow its scan; Match still has the final word.
func (f *Filter) DoneHint() *bool {
	if f == nil || f.doneHint == nil {
		return nil
	}
	v := *f.doneHint
	return &v
}

// String returns the filter in a canonical form: equal filters written
// differently (spacing, quoting, code names, redundant parentheses) give
// the same string, and parsing it gives the same filter. The empty filter
// gives "".
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.canonical
}

// checkPinned type-checks the metadata and response restrictions when the
// filter pins the message type with "metadata.@type = URL" (or
// response.@type) at its top level, and the Resolver knows URL: only
// operations of that type can match, so a restriction that can never match
// it (an unknown field, a value of the wrong kind, an unknown enum value, a
// malformed time) is reported as an error instead of silently matching
// nothing.
func (f *Filter) checkPinned(root *node) error {
	pins := []*node{root}
	if root.kind == nodeAnd {
		pins = root.kids
	}
	for _, n := range pins {
		if n.kind != nodeAnyType || n.op != opEq || n.presence || len(n.str.parts) != 1 {
			continue
		}
		mt, err := f.resolver.FindMessageByURL(n.str.parts[0])
		if err != nil || mt == nil {
			continue
		}
		for _, d := range f.dyn {
			if d.side != n.side {
				continue
			}
			if _, err := resolve(mt.Descriptor(), d); err != nil {
				err.Msg += fmt.Sprintf(" (the filter requires %s.@type = %s)", n.side, n.str.parts[0])
				return err
			}
		}
	}
	return nil
}
