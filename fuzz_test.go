package lro

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// clientCodes are the only codes bad client input may produce.
func clientCode(c codes.Code) bool {
	return c == codes.OK || c == codes.InvalidArgument || c == codes.NotFound
}

func FuzzOperationName(f *testing.F) {
	for _, s := range []string{"", "operations/abc", "projects/p/operations/x", "/operations/a", "operations/", "projects/-/operations/x", "a//b", "operations/a\x00", "projects/p/locations/l/operations/" + newID()} {
		f.Add(s)
	}
	m, err := New()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = m.Close(context.Background()) })
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, name string) {
		parent, err := parseOperationName(name)
		if err == nil {
			if operationName(parent, name[strings.LastIndexByte(name, '/')+1:]) != name {
				t.Fatalf("parseOperationName(%q) = parent %q, which does not rebuild the name", name, parent)
			}
		}
		for _, call := range []func() error{
			func() error {
				_, err := m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
				return err
			},
			func() error {
				_, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: name})
				return err
			},
			func() error {
				_, err := m.DeleteOperation(ctx, &longrunningpb.DeleteOperationRequest{Name: name})
				return err
			},
			func() error {
				_, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: name})
				return err
			},
		} {
			if c := status.Code(call()); !clientCode(c) {
				t.Fatalf("name %q: got code %v", name, c)
			}
		}
		if err == nil {
			_, werr := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: name})
			if status.Code(werr) != codes.NotFound {
				t.Fatalf("Wait(%q) = %v, want NOT_FOUND", name, werr)
			}
		}
	})
}

func FuzzPageToken(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	valid := encodePageToken(key, listBinding("", ""), Cursor{CreateTime: time.Unix(1700000000, 123000), Name: "operations/abc"})
	for _, s := range []string{"", valid, valid[:len(valid)-1], "AAAA", "!!!", strings.Repeat("A", 100)} {
		f.Add(s)
	}
	m, err := New(WithPageTokenKey(key))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = m.Close(context.Background()) })
	for range 3 {
		_, _ = m.Create(context.Background())
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := decodePageToken(key, listBinding("", ""), tok)
		if err == nil && tok != valid {
			// Only a token this key signed decodes; anything else that
			// decodes must re-encode to itself.
			if encodePageToken(key, listBinding("", ""), c) != tok {
				t.Fatalf("token %q decoded to %v but is not what we issue", tok, c)
			}
		}
		_, err = m.ListOperations(context.Background(), &longrunningpb.ListOperationsRequest{PageToken: tok})
		if c := status.Code(err); c != codes.OK && c != codes.InvalidArgument {
			t.Fatalf("token %q: got %v", tok, err)
		}
	})
}

func FuzzFilter(f *testing.F) {
	for _, s := range []string{"done:true", "done = false", "error:*", "NOT error:*", "(metadata.@type=type.googleapis.com/google.protobuf.Int32Value) AND metadata.value > 3", "name = \"*/abc\"", "((((", "a AND", "-done"} {
		f.Add(s)
	}
	m, err := New()
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = m.Close(context.Background()) })
	op, _ := m.Create(context.Background())
	_ = m.Fail(context.Background(), op.GetName(), status.Error(codes.Aborted, "x"))
	_, _ = m.Create(context.Background())
	f.Fuzz(func(t *testing.T, filter string) {
		_, err := m.ListOperations(context.Background(), &longrunningpb.ListOperationsRequest{Filter: filter})
		if c := status.Code(err); c != codes.OK && c != codes.InvalidArgument {
			t.Fatalf("filter %q: got %v", filter, err)
		}
	})
}

// traceParentLen is the length of a version 00 traceparent:
// "00-{32 hex trace id}-{16 hex span id}-{2 hex flags}".
const traceParentLen = 2 + 1 + 32 + 1 + 16 + 1 + 2

// FuzzTraceParent: a stored trace context (Record.TraceParent) comes from
// a store, which may hold anything; parsing it never panics, and what it
// accepts is a valid span context that reads back the same once written.
func FuzzTraceParent(f *testing.F) {
	for _, s := range []string{"", testTraceParent, "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", "ff-" + testTraceParent[3:], testTraceParent[:54], "00-0-0-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc := parseTraceParent(s)
		if !sc.IsValid() {
			if sc.IsRemote() || sc.IsSampled() {
				t.Fatalf("parseTraceParent(%q) = %v: an invalid one, not zero", s, sc)
			}
			return
		}
		if !sc.IsRemote() {
			t.Errorf("parseTraceParent(%q) = %v, not remote", s, sc)
		}
		back := string(appendTraceParent(nil, sc))
		if again := parseTraceParent(back); !again.Equal(sc) {
			t.Errorf("parseTraceParent(%q) = %v, written %q, read back %v", s, sc, back, again)
		}
		if len(s) == traceParentLen && s[:2] == "00" && (s[53:] == "00" || s[53:] == "01") && back != s {
			t.Errorf("parseTraceParent(%q) written back as %q", s, back)
		}
	})
}
