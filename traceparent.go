package lro

import (
	"encoding/hex"

	"go.opentelemetry.io/otel/trace"
)

// The trace context a record keeps (Record.TraceParent): the span of the
// request that started the operation, as a W3C Trace Context traceparent
// (https://www.w3.org/TR/trace-context/#traceparent-header), so that every
// run of the work links to it, wherever and whenever it runs.

// traceParentLen is the length of a version 00 traceparent:
// "00-{32 hex trace id}-{16 hex span id}-{2 hex flags}".
const traceParentLen = 2 + 1 + 32 + 1 + 16 + 1 + 2

// appendTraceParent appends sc as a version 00 traceparent to b, or
// nothing when sc is not valid. The trace state is not kept.
func appendTraceParent(b []byte, sc trace.SpanContext) []byte {
	if !sc.IsValid() {
		return b
	}
	tid, sid := sc.TraceID(), sc.SpanID()
	flags := [1]byte{byte(sc.TraceFlags())}
	b = append(b, "00-"...)
	b = hex.AppendEncode(b, tid[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, sid[:])
	b = append(b, '-')
	return hex.AppendEncode(b, flags[:])
}

// parseTraceParent returns the span context a stored traceparent s
// describes, marked remote, or an invalid (zero) one when s is empty or
// malformed: a stored value never fails a run, a malformed one only costs
// the link. It accepts what the W3C specification asks a parser to
// accept: lowercase hex, version 00 of exactly traceParentLen bytes, a
// later version (not ff) longer than that only after a '-', non-zero ids.
func parseTraceParent(s string) trace.SpanContext {
	if len(s) < traceParentLen || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return trace.SpanContext{}
	}
	var version [1]byte
	if !decodeLowerHex(version[:], s[0:2]) || version[0] == 0xff {
		return trace.SpanContext{}
	}
	if len(s) > traceParentLen && (version[0] == 0 || s[traceParentLen] != '-') {
		return trace.SpanContext{}
	}
	var (
		tid   trace.TraceID
		sid   trace.SpanID
		flags [1]byte
	)
	if !decodeLowerHex(tid[:], s[3:35]) || !decodeLowerHex(sid[:], s[36:52]) || !decodeLowerHex(flags[:], s[53:55]) {
		return trace.SpanContext{}
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    tid,
		SpanID:     sid,
		TraceFlags: trace.TraceFlags(flags[0]) & trace.FlagsSampled, // other bits are not defined for version 00
		Remote:     true,
	})
	if !sc.IsValid() {
		return trace.SpanContext{}
	}
	return sc
}

// decodeLowerHex decodes s, lowercase hex of exactly 2*len(dst) digits,
// into dst, and reports whether it was.
func decodeLowerHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := lowerHexDigit(s[2*i])
		lo, ok2 := lowerHexDigit(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// lowerHexDigit returns the value of the lowercase hex digit c.
func lowerHexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
