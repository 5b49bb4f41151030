package lro

import (
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

var testSpanContext = trace.NewSpanContext(trace.SpanContextConfig{
	TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
	SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
	TraceFlags: trace.FlagsSampled,
})

const testTraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestParseTraceParent(t *testing.T) {
	unsampled := testSpanContext.WithTraceFlags(0)
	for _, c := range []struct {
		in   string
		want trace.SpanContext // the zero one: no link
	}{
		{testTraceParent, testSpanContext},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", unsampled},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03", testSpanContext.WithTraceFlags(3)}, // flags kept as given (Trace Context level 2's random bit)
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more", testSpanContext},              // a later version may add fields
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", testSpanContext},
		{"", trace.SpanContext{}},
		{"garbage", trace.SpanContext{}},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more", trace.SpanContext{}}, // version 00 has no more
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01more", trace.SpanContext{}},
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", trace.SpanContext{}},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01", trace.SpanContext{}},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", trace.SpanContext{}},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", trace.SpanContext{}},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", trace.SpanContext{}},
		{"00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", trace.SpanContext{}},
		{"0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", trace.SpanContext{}},
		{testTraceParent[:54], trace.SpanContext{}},
	} {
		got := parseTraceParent(c.in)
		want := c.want
		if want.IsValid() {
			want = want.WithRemote(true)
		}
		if !got.Equal(want) {
			t.Errorf("parseTraceParent(%q) = %v, want %v", c.in, got, want)
		}
	}
}

func TestNewOperationName(t *testing.T) {
	for _, parent := range []string{"", "projects/p", strings.Repeat("projects/p/", 20) + "x"} { // the last one longer than the buffer
		name, tp := newOperationName(parent, testSpanContext)
		if tp != testTraceParent {
			t.Errorf("parent %q: traceparent %q, want %q", parent, tp, testTraceParent)
		}
		if err := validateName(name); err != nil || !strings.HasPrefix(name, operationName(parent, "")) || len(name) != len(operationName(parent, newID())) {
			t.Errorf("parent %q: name %q (%v), want %q followed by an id", parent, name, err, operationName(parent, ""))
		}
		if name, tp := newOperationName(parent, trace.SpanContext{}); tp != "" || !strings.HasPrefix(name, operationName(parent, "")) {
			t.Errorf("parent %q, no span: name %q traceparent %q, want no traceparent", parent, name, tp)
		}
	}
	if a, _ := newOperationName("", testSpanContext); a == func() string { b, _ := newOperationName("", testSpanContext); return b }() {
		t.Errorf("two names are the same: %q", a)
	}
}
