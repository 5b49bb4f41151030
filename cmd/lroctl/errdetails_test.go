package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/lrokit/lro"
)

// TestErrorDetails checks that lroctl shows the AIP-193 details of the
// real Manager's errors, over gRPC and REST: under a failed call's error
// line (reason, domain, metadata, BadRequest fields), in an operation's
// human output, and in its JSON output.
func TestErrorDetails(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	op, err := m.Start(ctx, func(ctx context.Context, _ *lro.Op) (proto.Message, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}, lro.WithParent("projects/p/locations/l"))
	if err != nil {
		t.Fatal(err)
	}
	cancelled := op.GetName()
	if _, err := m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: cancelled}); err != nil {
		t.Fatal(err)
	}
	if op, err := m.WaitOperation(ctx, &longrunningpb.WaitOperationRequest{Name: cancelled, Timeout: durationpb.New(30e9)}); err != nil || !op.GetDone() {
		t.Fatalf("waiting for the cancelled operation: %v %v", op, err)
	}
	const missing = "projects/p/locations/l/operations/missing"

	for mode, flags := range servers(t, m) {
		run := func(args ...string) string {
			t.Helper()
			got, _ := lroctl(t, append(append([]string{}, flags...), args...)...)
			return got
		}
		contains := func(what, got string, want ...string) {
			t.Helper()
			for _, w := range want {
				if !strings.Contains(got, w) {
					t.Errorf("%s: %s lacks %q:\n%s", mode, what, w, got)
				}
			}
		}
		if testing.Verbose() {
			t.Logf("%s:\n%s\n%s", mode, run("list", "projects/p/locations/l/operations", "--filter", "done ="), run("get", cancelled))
		}
		contains("get of a missing operation", run("get", missing),
			"lroctl: NOT_FOUND: ",
			"\n  reason: OPERATION_NOT_FOUND\n  domain: lro.lrokit.github.io\n  info: operation="+missing+"\n")
		contains("list with a bad filter", run("list", "projects/p/locations/l/operations", "--filter", "done ="),
			"lroctl: INVALID_ARGUMENT: ",
			"\n  reason: INVALID_FILTER\n",
			"column=",
			"\n  field: filter: ")
		contains("get of a cancelled operation", run("get", cancelled),
			"Error:     CANCELLED (1): ",
			"\nReason:    OPERATION_CANCELLED\nDomain:    lro.lrokit.github.io\nInfo:      operation="+cancelled+"\n")

		out := run("--json", "get", cancelled)
		_, body, _ := strings.Cut(out, "--- stdout\n")
		body, _, _ = strings.Cut(body, "--- stderr\n")
		var v struct {
			Error struct {
				Code    codes.Code
				Details []map[string]any
			}
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatalf("%s: --json get: %v\n%s", mode, err, out)
		}
		if len(v.Error.Details) != 1 || v.Error.Details[0]["reason"] != "OPERATION_CANCELLED" || v.Error.Details[0]["@type"] != errorInfoType {
			t.Errorf("%s: --json get of the cancelled operation: details %v, want its ErrorInfo", mode, v.Error.Details)
		}
	}
}

// TestDetailLines checks the rendering of details: ErrorInfo with sorted,
// escaped metadata, every BadRequest violation, and the details it does
// not render (other types, or undecodable) handed back in order.
func TestDetailLines(t *testing.T) {
	details := []json.RawMessage{
		json.RawMessage(`{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1s"}`),
		json.RawMessage(`{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"R","domain":"d.example","metadata":{"z":"1","a":"x\u001b[2Jy"}}`),
		json.RawMessage(`{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"page_size","description":"must not be\nnegative"},{"field":"filter","description":"bad","reason":"SYNTAX"}]}`),
		json.RawMessage(`{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":7}`),
	}
	lines, others := detailLines(details)
	want := []detailLine{
		{"Reason", "R"},
		{"Domain", "d.example"},
		{"Info", `a=x\x1b[2Jy, z=1`},
		{"Field", "page_size: must not be negative"},
		{"Field", "filter: bad (SYNTAX)"},
	}
	if len(lines) != len(want) {
		t.Fatalf("lines = %q, want %q", lines, want)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d = %q, want %q", i, lines[i], want[i])
		}
	}
	if len(others) != 2 || string(others[0]) != string(details[0]) || string(others[1]) != string(details[3]) {
		t.Errorf("others = %s, want the RetryInfo and the undecodable ErrorInfo", others)
	}
}

// TestStatusFromJSON checks that a REST error keeps the details lroctl
// knows and drops the others.
func TestStatusFromJSON(t *testing.T) {
	st := statusFromJSON(codes.NotFound, "gone", []json.RawMessage{
		json.RawMessage(`{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"R","domain":"d"}`),
		json.RawMessage(`{"@type":"type.googleapis.com/acme.v1.Unknown","x":1}`),
	})
	if st.Code() != codes.NotFound || st.Message() != "gone" || len(st.Proto().GetDetails()) != 1 {
		t.Fatalf("status = %v, details %v", st, st.Proto().GetDetails())
	}
}
