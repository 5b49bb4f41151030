package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestClean(t *testing.T) {
	tests := []struct{ in, line, lines string }{
		{"plain text, ünïcödé, 日本", "plain text, ünïcödé, 日本", "plain text, ünïcödé, 日本"},
		{"\x1b[2J\x1b[H", `\x1b[2J\x1b[H`, `\x1b[2J\x1b[H`},
		{"a\r\nb\tc", `a\x0d\x0ab\x09c`, "a\\x0d\nb\\x09c"},
		{"bell\a del\x7f", `bell\x07 del\x7f`, `bell\x07 del\x7f`},
		{"c1 \u009b31m", `c1 \u009b31m`, `c1 \u009b31m`},
		{"bidi \u202edcba\u2066", `bidi \u202edcba\u2066`, `bidi \u202edcba\u2066`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`, `bad \xff\xfe utf8`},
		{"real \ufffd stays", "real \ufffd stays", "real \ufffd stays"},
	}
	for _, tt := range tests {
		if got := clean(tt.in); got != tt.line {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.line)
		}
		if got := cleanLines(tt.in); got != tt.lines {
			t.Errorf("cleanLines(%q) = %q, want %q", tt.in, got, tt.lines)
		}
	}
}

func TestJSONSafe(t *testing.T) {
	in, err := json.Marshal(map[string]string{"k": "esc \x1b del \x7f c1 \u009b bidi \u202e bad \xff ok é"})
	if err != nil {
		t.Fatal(err)
	}
	// json.Marshal turns invalid UTF-8 into U+FFFD itself; put a raw
	// invalid byte back to see jsonSafe handle it.
	in = []byte(strings.Replace(string(in), "\ufffd", "\xff", 1))
	out := jsonSafe(in)
	if !json.Valid(out) {
		t.Fatalf("jsonSafe(%q) = %q, not valid JSON", in, out)
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if want := "esc \x1b del \x7f c1 \u009b bidi \u202e bad \ufffd ok é"; got["k"] != want {
		t.Errorf("decoded %q, want %q", got["k"], want)
	}
	assertNoUnsafe(t, string(out), false)
}

// assertNoUnsafe fails when out holds a rune that could act on a terminal
// (line breaks aside, when allowed) or a byte that is not UTF-8.
func assertNoUnsafe(t *testing.T, out string, newlines bool) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("output is not UTF-8: %q", out)
	}
	for _, r := range out {
		if unsafeRune(r) && !(newlines && r == '\n') {
			t.Errorf("output holds %U:\n%q", r, out)
			return
		}
	}
}

// hostile is an Operations server whose names, messages and metadata try
// to clear the screen, move the cursor, retitle the terminal and reorder
// text.
type hostile struct{ *fakeServer }

const (
	evilName = "operations/evil\x1b[2J\x1b[H"
	evilText = "done\x1b]0;pwned\a\r\nState:     SUCCEEDED \u009b31m \u202eeman\x7f"
)

func newHostile() hostile {
	f := newFake()
	evil := &longrunningpb.Operation{
		Name:     evilName,
		Metadata: meta(map[string]any{"progressPercent": 50, "note": evilText}),
		Done:     true,
		Result:   &longrunningpb.Operation_Error{Error: &spb.Status{Code: int32(codes.Aborted), Message: evilText}},
	}
	f.ops = []*longrunningpb.Operation{evil}
	f.scripts[evilName+"-wait"] = []*longrunningpb.Operation{
		{Name: evilName, Metadata: meta(map[string]any{"progressPercent": 10})},
		evil,
	}
	return hostile{f}
}

func (h hostile) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	if req.GetName() == "operations/angry" {
		return nil, status.Error(codes.PermissionDenied, evilText)
	}
	return h.fakeServer.GetOperation(ctx, req)
}

func (h hostile) ListOperations(context.Context, *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	return &longrunningpb.ListOperationsResponse{Operations: h.ops, NextPageToken: "next\x1b[2J"}, nil
}

// TestHostileServerEscaped runs every command's human output, and the JSON
// output, against the hostile server: nothing that acts on a terminal gets
// through, and the escaped text is still shown.
func TestHostileServerEscaped(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in the output, escaped
	}{
		{"list", []string{"list", "operations", "--one-page"}, `operations/evil\x1b[2J\x1b[H`},
		{"get", []string{"get", evilName}, `done\x1b]0;pwned\x07\x0d\x0aState:     SUCCEEDED \u009b31m \u202eeman\x7f`},
		{"wait", []string{"wait", "--poll-max", "1ms", evilName + "-wait"}, `ABORTED: done\x1b]0;pwned\x07\x0d\x0aState:`},
		{"error", []string{"get", "operations/angry"}, `lroctl: PERMISSION_DENIED: done\x1b]0;pwned\x07\x0d\x0aState:`},
		{"json", []string{"--json", "get", evilName}, `\u001b]0;pwned\u0007\r\nState:     SUCCEEDED \u009b31m \u202eeman\u007f`},
	}
	for _, tt := range tests {
		for _, mode := range []string{"grpc", "rest"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				flags := servers(t, newHostile())[mode]
				out, _ := lroctl(t, append(append([]string{}, flags...), tt.args...)...)
				assertNoUnsafe(t, out, true)
				if !strings.Contains(out, tt.want) {
					t.Errorf("output lacks %s:\n%s", tt.want, out)
				}
			})
		}
	}
}

// FuzzClean: whatever the server sends, the escaped text is UTF-8 without
// an unsafe rune (cleanLines keeps line breaks), and JSON made safe still
// decodes to what it held.
func FuzzClean(f *testing.F) {
	f.Add(evilText)
	f.Add("plain")
	f.Add("\xff\xfe\u009b\u202e\x1b[2J")
	f.Fuzz(func(t *testing.T, s string) {
		assertNoUnsafe(t, clean(s), false)
		assertNoUnsafe(t, cleanLines(s), true)
		if got, want := strings.Count(cleanLines(s), "\n"), strings.Count(s, "\n"); got != want {
			t.Errorf("cleanLines(%q) has %d line breaks, want %d", s, got, want)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var want, got string
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatal(err)
		}
		safe := jsonSafe(b)
		assertNoUnsafe(t, string(safe), false)
		if err := json.Unmarshal(safe, &got); err != nil || got != want {
			t.Errorf("jsonSafe(%s) = %s: decodes to %q, %v; want %q", b, safe, got, err, want)
		}
	})
}
