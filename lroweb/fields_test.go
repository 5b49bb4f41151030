package lroweb

import (
	"math"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro/lroweb/internal/demo"
)

func TestProgressOf(t *testing.T) {
	md := demo.Export{Progress: 42}.Metadata().ProtoReflect()
	if p, ok := progressOf(md); !ok || p != 42 {
		t.Errorf("progress_percent 42: %v %v", p, ok)
	}
	// Zero is a progress, not its absence.
	if p, ok := progressOf(demo.Export{}.Metadata().ProtoReflect()); !ok || p != 0 {
		t.Errorf("progress_percent 0: %v %v", p, ok)
	}
	// Nested in a "progress" message, as Google's APIs have it.
	nested := demo.Import("gs://in", 63, time.Time{}, time.Time{}).ProtoReflect()
	if p, ok := progressOf(nested); !ok || p != 63 {
		t.Errorf("progress.progress_percent 63: %v %v", p, ok)
	}
	// Out of range values are clamped.
	if p, ok := progressOf(demo.Export{Progress: 250}.Metadata().ProtoReflect()); !ok || p != 100 {
		t.Errorf("progress_percent 250: %v %v", p, ok)
	}
	if p, ok := progressOf(demo.Export{Progress: -3}.Metadata().ProtoReflect()); !ok || p != 0 {
		t.Errorf("progress_percent -3: %v %v", p, ok)
	}
	// Messages without such a field have none.
	for _, m := range []protoreflect.Message{
		wrapperspb.Int32(40).ProtoReflect(),
		timestamppb.Now().ProtoReflect(),
		demo.Response("x", 1, 2, time.Now()).ProtoReflect(),
	} {
		if _, ok := progressOf(m); ok {
			t.Errorf("%s has a progress", m.Descriptor().FullName())
		}
	}
}

func TestPercentHelpers(t *testing.T) {
	if got := formatPercent(42.5); got != "42.5%" {
		t.Errorf("formatPercent(42.5) = %q", got)
	}
	if _, ok := clampPercent(math.NaN()); ok {
		t.Error("NaN is a progress")
	}
	if p, ok := clampPercent(math.Inf(1)); !ok || p != 100 {
		t.Errorf("clampPercent(+Inf) = %v %v", p, ok)
	}
}

func TestTimesOf(t *testing.T) {
	created := time.Date(2025, 6, 3, 13, 0, 0, 0, time.UTC)
	md := demo.Export{Created: created, Updated: created.Add(time.Minute)}.Metadata().ProtoReflect()
	resp := demo.Response("x", 1, 2, created.Add(90*time.Second)).ProtoReflect()
	got := timesOf(md, resp)
	want := []timeView{
		{Label: "Created", ISO: "2025-06-03T13:00:00Z", Text: "2025-06-03 13:00:00 UTC"},
		{Label: "Updated", ISO: "2025-06-03T13:01:00Z", Text: "2025-06-03 13:01:00 UTC"},
		{Label: "Ended", ISO: "2025-06-03T13:01:30Z", Text: "2025-06-03 13:01:30 UTC"},
		{Label: "Took", Text: "1m30s"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("timesOf =\n%+v\nwant\n%+v", got, want)
	}
	start := created.Add(time.Hour)
	nested := demo.Import("gs://in", 100, start, start.Add(time.Second)).ProtoReflect()
	if got := timesOf(nested, nil); len(got) != 3 || got[0].Label != "Started" || got[1].Label != "Ended" || got[2].Text != "1s" {
		t.Errorf("timesOf(nested progress) = %+v", got)
	}
	if got := timesOf(nil, nil); len(got) != 0 {
		t.Errorf("timesOf(nil, nil) = %v", got)
	}
	if got := humanName("publish_time"); got != "Publish" {
		t.Errorf("humanName = %q", got)
	}
}

func TestStateOf(t *testing.T) {
	for _, tc := range []struct {
		op   *longrunningpb.Operation
		want state
	}{
		{&longrunningpb.Operation{}, stateRunning},
		{&longrunningpb.Operation{Done: true}, stateSucceeded},
		{&longrunningpb.Operation{Done: true, Result: &longrunningpb.Operation_Error{Error: &spb.Status{Code: 1}}}, stateCancelled},
		{&longrunningpb.Operation{Done: true, Result: &longrunningpb.Operation_Error{Error: &spb.Status{Code: 13}}}, stateFailed},
	} {
		if got := stateOf(tc.op); got != tc.want {
			t.Errorf("stateOf(%v) = %s, want %s", tc.op, got, tc.want)
		}
	}
}

func TestWithChip(t *testing.T) {
	for _, tc := range []struct{ user, chip, want string }{
		{"", "", ""},
		{"a = 1", "", "a = 1"},
		{"  ", "done = false", "done = false"},
		{"a = 1 OR b = 2", "done = false", "a = 1 OR b = 2 AND (done = false)"},
	} {
		if got := withChip(tc.user, tc.chip); got != tc.want {
			t.Errorf("withChip(%q, %q) = %q, want %q", tc.user, tc.chip, got, tc.want)
		}
	}
}

func TestFilterCaret(t *testing.T) {
	bad := func(msg string) rpcError { return rpcError{Code: "INVALID_ARGUMENT", Message: msg} }
	for _, tc := range []struct {
		e      rpcError
		filter string
		want   string
		ok     bool
	}{
		{bad("filter: invalid filter at column 3: x"), "a = ", "  ", true},
		{bad("filter: invalid filter at column 40: x"), "a = ", "    ", true}, // in the chip's part: the end
		{bad("filter: invalid filter at column 3: x"), "é = ", " ", true},     // counts characters, not bytes
		{bad("page_token: bad"), "a", "", false},
		{rpcError{Code: "NOT_FOUND", Message: "at column 3"}, "abc", "", false},
	} {
		got, ok := filterCaret(tc.e, tc.filter)
		if got != tc.want || ok != tc.ok {
			t.Errorf("filterCaret(%q, %q) = %q %v, want %q %v", tc.e.Message, tc.filter, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBaseAndPaths(t *testing.T) {
	for path, want := range map[string]string{"/": "./", "/op/operations/x": "../../", "/events/a/operations/b": "../../../"} {
		r := httptest.NewRequest("GET", path, nil)
		if got := base(r); got != want {
			t.Errorf("base(%s) = %q, want %q", path, got, want)
		}
	}
	if got := opPath("a b/operations/c?d"); got != "a%20b/operations/c%3Fd" {
		t.Errorf("opPath = %q", got)
	}
	if got := shortType("type.googleapis.com/acme.exports.v1.ExportMetadata"); got != "ExportMetadata" {
		t.Errorf("shortType = %q", got)
	}
}
