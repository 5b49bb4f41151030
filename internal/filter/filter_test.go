package filter

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"github.com/lrokit/lro/internal/filter/filtertest"
	"github.com/lrokit/lro/internal/testpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func TestMatch(t *testing.T) {
	if len(filtertest.Cases) < 60 {
		t.Fatalf("only %d filters", len(filtertest.Cases))
	}
	ops := fixture()
	for _, tc := range filtertest.Cases {
		t.Run(tc.Filter, func(t *testing.T) {
			f, err := Parse(tc.Filter, Options{Resolver: resolver})
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.Filter, err)
			}
			if diff := cmp.Diff(tc.Want, matching(f, ops)); diff != "" {
				t.Errorf("Parse(%q) matches (-want +got):\n%s", tc.Filter, diff)
			}
			// The canonical form is a fixed point and means the same.
			canon := f.String()
			g, err := Parse(canon, Options{Resolver: resolver})
			if err != nil {
				t.Fatalf("Parse(String() = %q): %v", canon, err)
			}
			if g.String() != canon {
				t.Errorf("String() is not stable: %q, then %q", canon, g.String())
			}
			if diff := cmp.Diff(tc.Want, matching(g, ops)); diff != "" {
				t.Errorf("Parse(%q) (canonical form of %q) matches (-want +got):\n%s", canon, tc.Filter, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	pinned := "metadata.@type = " + instanceMetaURL + " AND "
	tests := []struct {
		filter string
		pos    int
		msg    string
	}{
		{"foo = 1", 0, `unknown field "foo"`},
		{"a.b = 1", 0, `unknown field "a"`},
		{"done = 5", 7, `done is a bool: expected true or false, got "5"`},
		{`error.code = "x"`, 13, `error.code is a status code: expected a number or a code name such as CANCELLED, got "x"`},
		{"error.code = NOPE", 13, `got "NOPE"`},
		{"(done = true", 0, "unbalanced parentheses: '(' is never closed"},
		{"((done = true)", 0, "'(' is never closed"},
		{"done = true)", 11, "unbalanced parentheses: ')' has no matching '('"},
		{")", 0, "')' has no matching '('"},
		{"()", 0, "empty parentheses"},
		{"done = true AND", 12, "AND is not followed by a restriction"},
		{"done = true AND AND done = false", 12, "AND is not followed by a restriction"},
		{"done = true OR", 12, "OR is not followed by a restriction"},
		{"(done = true OR)", 13, "OR is not followed by a restriction"},
		{"OR done = true", 0, "OR is not preceded by a restriction"},
		{"AND", 0, "AND is not preceded by a restriction"},
		{"NOT", 0, "NOT is not followed by a restriction"},
		{"- done = true", 0, "'-' must be followed directly by a restriction"},
		{"done =", 5, "comparator = is not followed by a value"},
		{"done = AND name = x", 5, "comparator = is not followed by a value"},
		{"(done =)", 6, "comparator = is not followed by a value"},
		{"done", 0, "done needs a comparator and a value"},
		{"done true", 0, "done needs a comparator and a value"},
		{"done = true and error:*", 12, `"and" is not a keyword: write AND in upper case`},
		{"not error:*", 0, `"not" is not a keyword: write NOT in upper case`},
		{"= 1", 0, `comparator '=' is not preceded by a field`},
		{"done == true", 6, `unexpected '=': expected a value`},
		{"done ! true", 5, "unknown comparator '!'"},
		{"done < true", 5, "comparator < cannot be applied to the bool field done"},
		{`name = "abc`, 7, "unterminated string"},
		{`name = "a\qb"`, 9, `unknown escape sequence \q in string`},
		{`name = x"y"`, 8, `unexpected '"': restrictions must be separated`},
		{"name.foo = x", 5, `name is a string and has no field "foo"`},
		{"error = 1", 6, "error can only be tested for presence (error:*)"},
		{"error.details:*", 6, "unknown field error.details"},
		{"error.code.x = 1", 11, `error.code has no field "x"`},
		{"metadata = x", 9, "metadata can only be tested for presence"},
		{"response:x", 8, "response can only be tested for presence"},
		{"metadata.@type.x = 1", 15, `metadata.@type is a string and has no field "x"`},
		// Fields that no known message type has (AIP-160: unknown fields are errors).
		{"metadata.nonexistent = 1", 9, "unknown field metadata.nonexistent: no message type known to the server has it"},
		{"metadata.nonexistent != 1", 9, "unknown field metadata.nonexistent"},
		{"NOT metadata.nonexistent = 1", 13, "unknown field metadata.nonexistent"},
		{"metadata.shards.x = a", 16, "unknown field metadata.shards.x"},
		{"metadata. = 1", 9, "expected a field name after '.'"},
		{"name = ()", 7, "empty parentheses"},
		{"name = (a OR)", 10, "OR is not followed by a restriction"},
		{"name = (OR a)", 8, "OR is not preceded by a value"},
		{"name = (a", 7, "'(' is never closed"},
		{"name = (a (b = c))", 13, "unexpected '='"},
		{"done = (true OR 5)", 16, "done is a bool"},
		// Pinned metadata type: restrictions are type-checked at parse time.
		{pinned + "metadata.create_time >= 2023-13-45", len(pinned) + 24, `metadata.create_time is a google.protobuf.Timestamp: expected an RFC 3339 time such as 2023-01-01T00:00:00Z, got "2023-13-45" (the filter requires metadata.@type = ` + instanceMetaURL + ")"},
		{pinned + "metadata.state = NOPE", len(pinned) + 17, `metadata.state is an enum lro.internal.testpb.State: expected one of its value names, got "NOPE"`},
		{pinned + "metadata.nope = 1", len(pinned) + 9, `lro.internal.testpb.InstanceMetadata has no field "nope"`},
		{pinned + "(metadata.count = x OR done = true)", len(pinned) + 18, `metadata.count is an int64: expected a number, got "x"`},
		{pinned + "metadata.elapsed > 20", len(pinned) + 19, "expected a duration such as 20s or 1.5s"},
		{pinned + "metadata.dry_run = 1", len(pinned) + 19, "expected true or false"},
		{pinned + "metadata.dry_run < true", len(pinned) + 17, "comparator < cannot be applied to metadata.dry_run"},
		{pinned + "metadata.labels = x", len(pinned) + 16, "comparator = cannot be applied to metadata.labels, a repeated string: use r:value"},
		{pinned + "metadata.tags = x", len(pinned) + 14, "comparator = cannot be applied to metadata.tags, a map"},
		{pinned + "metadata.shards.x = a", len(pinned) + 16, `"x" is not a key of the map`},
		{pinned + "metadata.count.x = 1", len(pinned) + 15, "has no fields"},
		{pinned + "metadata.instance_config = x", len(pinned) + 27, "only presence (:*) or its fields can be tested"},
		{"response.@type = " + spannerBackupURL + " AND response.state = GONE", len("response.@type = "+spannerBackupURL+" AND ") + 17, `response.state is an enum`},
		// Limits.
		{"metadata." + strings.Repeat("x", 1000) + ":(" + strings.Repeat("a ", 10) + ")", 1019, "composite values expand the filter to more than 4128 bytes"},
		{strings.Repeat("done = true AND ", 300) + "done = true", 4096, "filter is longer than 4096 bytes"},
		{strings.Repeat("(", 40) + "done = true" + strings.Repeat(")", 40), 32, "filter is nested more than 32 levels deep"},
		{strings.Repeat("NOT ", 40) + "done = true", 128, "filter is nested more than 32 levels deep"},
		{strings.Repeat("-", 40) + "done = true", 32, "filter is nested more than 32 levels deep"},
	}
	for _, tc := range tests {
		name := tc.filter
		if len(name) > 80 {
			name = name[:80]
		}
		t.Run(name, func(t *testing.T) {
			f, err := Parse(tc.filter, Options{Resolver: resolver})
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want an error", tc.filter, f.String())
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%q) error %T %v, want *Error", tc.filter, err, err)
			}
			if fe.Pos != tc.pos || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("Parse(%q) = error at %d %q, want at %d containing %q", tc.filter, fe.Pos, fe.Msg, tc.pos, tc.msg)
			}
			if !strings.Contains(err.Error(), "column ") {
				t.Errorf("Error() = %q, want a column", err.Error())
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	_, err := Parse("done = 5", Options{})
	if got, want := err.Error(), `invalid filter at column 8: done is a bool: expected true or false, got "5"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	wrapped := fmt.Errorf("list operations: %w", err)
	if st := status.Convert(wrapped); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "column 8") {
		t.Errorf("status of a wrapped *Error = %v", st)
	}
}

func TestLimitOptions(t *testing.T) {
	if _, err := Parse("done = true", Options{MaxLength: 5}); err == nil {
		t.Error("MaxLength 5 accepted an 11-byte filter")
	}
	if _, err := Parse("((done = true))", Options{MaxDepth: 1}); err == nil {
		t.Error("MaxDepth 1 accepted depth 2")
	}
	if _, err := Parse("(done = true)", Options{MaxDepth: 1}); err != nil {
		t.Errorf("MaxDepth 1 rejected depth 1: %v", err)
	}
	long := strings.Repeat("done = true AND ", 250) + "done = true"
	if _, err := Parse(long, Options{MaxLength: 8192}); err != nil {
		t.Errorf("MaxLength 8192 rejected %d bytes: %v", len(long), err)
	}
}

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"done:true", "done = true"},
		{"done:*", "done = true"},
		{"done!=true", "done != true"},
		{"error.code = CANCELLED", "error.code = 1"},
		{"error:*", "error:*"},
		{"name = operations/*", `name = "operations/*"`},
		{`name = "a\*b"`, `name = "a\*b"`},
		{"a AND b", ""},
		{"done = true AND error.code = 1 OR error.code = 9", "done = true AND (error.code = 1 OR error.code = 9)"},
		{"(done = true AND error:*) OR name:x", `(done = true AND error:*) OR name:"x"`},
		{"done = true (error:* name:x)", `done = true AND error:* AND name:"x"`},
		{"((done = true))", "done = true"},
		{"error.code:(1 OR CANCELLED)", "error.code:1 OR error.code:1"},
		{"name = (a b)", `name = "a" AND name = "b"`},
		{"-error:*", "NOT error:*"},
		{"NOT (error:* OR done = true)", "NOT (error:* OR done = true)"},
		{"metadata.tags.\"my key\" = 'v\"'", `metadata.tags."my key" = "v\""`},
		{spannerFilter, `metadata.@type = "type.googleapis.com/google.spanner.admin.database.v1.CreateBackupMetadata" AND metadata.name:"howl" AND metadata.progress.start_time < "2018-03-28T14:50:00Z" AND error:*`},
	}
	for _, tc := range tests {
		f, err := Parse(tc.in, Options{})
		if tc.want == "" && tc.in != "" {
			if err == nil {
				t.Errorf("Parse(%q) succeeded", tc.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got := f.String(); got != tc.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDoneHint(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		filter string
		want   *bool
	}{
		{"", nil},
		{"done = true", &yes},
		{"done:false", &no},
		{"done != true", &no},
		{"NOT done = true", &no},
		{"error:* AND done = false", &no},
		{"error:* done = true", &yes},
		{"done = true OR error:*", nil},
		{"NOT (done = true AND error:*)", nil},
		{"error:*", nil},
		{"(done = false AND error:*) OR name:x", nil},
	}
	for _, tc := range tests {
		f, err := Parse(tc.filter, Options{})
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.filter, err)
		}
		if diff := cmp.Diff(tc.want, f.DoneHint()); diff != "" {
			t.Errorf("Parse(%q).DoneHint() (-want +got):\n%s", tc.filter, diff)
		}
	}
}

// TestDoneHintSound checks that every operation a filter matches has the
// done value of its hint.
func TestDoneHintSound(t *testing.T) {
	for _, tc := range filtertest.Cases {
		f, err := Parse(tc.Filter, Options{Resolver: resolver})
		if err != nil {
			t.Fatal(err)
		}
		h := f.DoneHint()
		if h == nil {
			continue
		}
		for _, op := range fixture() {
			if f.Match(op) && op.GetDone() != *h {
				t.Errorf("%q matches %s with done=%v, hint says %v", tc.Filter, op.GetName(), op.GetDone(), *h)
			}
		}
	}
}

func TestMatchNil(t *testing.T) {
	f, err := Parse("done = false", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Match(nil) {
		t.Error("a filter matched a nil operation")
	}
	var nf *Filter
	if !nf.Match(&longrunningpb.Operation{}) || nf.String() != "" || nf.DoneHint() != nil {
		t.Error("a nil *Filter is not the empty filter")
	}
}

// TestDefaultResolver checks that the global registry is used by default:
// the testpb types are registered under their own URLs.
func TestDefaultResolver(t *testing.T) {
	f, err := Parse("metadata.state = READY", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{opInstB}, matching(f, fixture())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Without the test resolver the Spanner URLs are unknown: no match.
	f, err = Parse("metadata.name:howl", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := matching(f, fixture()); got != nil {
		t.Errorf("matched %v with unknown metadata types", got)
	}
}

// TestConcurrentMatch runs one filter from many goroutines, so that the
// race detector checks the type cache and the message pools.
func TestConcurrentMatch(t *testing.T) {
	f, err := Parse("metadata.name:howl OR metadata.tags.env = prod OR response.node_count > 2", Options{Resolver: resolver})
	if err != nil {
		t.Fatal(err)
	}
	ops := fixture()
	want := []string{opHowl1, opHowl2, opHowl3, opInstA, opInstB}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if diff := cmp.Diff(want, matching(f, ops)); diff != "" {
					errs <- diff
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for diff := range errs {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// manyTypes is a resolver that knows a message type under any URL.
type manyTypes struct{}

func (manyTypes) FindMessageByURL(string) (protoreflect.MessageType, error) {
	return (&testpb.InstanceMetadata{}).ProtoReflect().Type(), nil
}

// TestTypeCacheBounded checks that a filter keeps working past the size of
// its type cache.
func TestTypeCacheBounded(t *testing.T) {
	f, err := Parse("metadata.count = 3", Options{Resolver: manyTypes{}})
	if err != nil {
		t.Fatal(err)
	}
	a := pack("x", &testpb.InstanceMetadata{Count: 3})
	for i := range maxCachedTypes + 10 {
		a.TypeUrl = fmt.Sprintf("type.googleapis.com/t%d", i)
		if !f.Match(&longrunningpb.Operation{Name: "operations/x", Metadata: a}) {
			t.Fatalf("no match with type URL %d", i)
		}
	}
	if n := len(*f.types.Load()); n != maxCachedTypes {
		t.Errorf("cache holds %d types, want %d", n, maxCachedTypes)
	}
}
