package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"

	spb "google.golang.org/genproto/googleapis/rpc/status"
)

// The error details of AIP-193 that lroctl shows as text: a status's
// google.rpc.ErrorInfo (reason, domain, metadata) and google.rpc.BadRequest
// (field violations). Other details are shown as JSON, as before.
const (
	errorInfoType  = "type.googleapis.com/google.rpc.ErrorInfo"
	badRequestType = "type.googleapis.com/google.rpc.BadRequest"
)

// detailLine is one line of a status's details as text: a label (Reason,
// Domain, Info, Field) and its value, escaped (see clean).
type detailLine struct{ label, value string }

// detailLines renders the ErrorInfo and BadRequest details of a status in
// JSON form, in their order, and returns the other details untouched. A
// detail that does not decode is returned among the others.
func detailLines(details []json.RawMessage) (lines []detailLine, others []json.RawMessage) {
	for _, raw := range details {
		switch anyType(raw) {
		case errorInfoType:
			var info struct {
				Reason   string            `json:"reason"`
				Domain   string            `json:"domain"`
				Metadata map[string]string `json:"metadata"`
			}
			if json.Unmarshal(raw, &info) != nil {
				others = append(others, raw)
				continue
			}
			lines = append(lines, detailLine{"Reason", clean(info.Reason)}, detailLine{"Domain", clean(info.Domain)})
			if len(info.Metadata) > 0 {
				pairs := make([]string, 0, len(info.Metadata))
				for _, k := range slices.Sorted(maps.Keys(info.Metadata)) {
					pairs = append(pairs, clean(k)+"="+clean(info.Metadata[k]))
				}
				lines = append(lines, detailLine{"Info", strings.Join(pairs, ", ")})
			}
		case badRequestType:
			var br struct {
				FieldViolations []struct {
					Field       string `json:"field"`
					Description string `json:"description"`
					Reason      string `json:"reason"`
				} `json:"fieldViolations"`
			}
			if json.Unmarshal(raw, &br) != nil {
				others = append(others, raw)
				continue
			}
			for _, v := range br.FieldViolations {
				text := clean(v.Field) + ": " + oneLine(v.Description, 200)
				if v.Reason != "" {
					text += " (" + clean(v.Reason) + ")"
				}
				lines = append(lines, detailLine{"Field", text})
			}
		default:
			others = append(others, raw)
		}
	}
	return lines, others
}

// printStatusDetails prints the details of an operation's error below its
// Error line: ErrorInfo and BadRequest as labelled lines, the others as
// JSON.
func printStatusDetails(w io.Writer, details []json.RawMessage) {
	lines, others := detailLines(details)
	for _, l := range lines {
		fmt.Fprintf(w, "%-11s%s\n", l.label+":", l.value)
	}
	for _, d := range others {
		printAny(w, "Detail:    ", d)
	}
}

// printErrorDetails prints, below the "lroctl: CODE: message" line, the
// ErrorInfo and BadRequest details of the status err carries (over gRPC or
// REST), indented. Errors without a status or details print nothing.
func printErrorDetails(w io.Writer, err error) {
	st, ok := status.FromError(err)
	if !ok {
		return
	}
	var details []json.RawMessage
	for _, d := range st.Proto().GetDetails() {
		b, err := protojson.Marshal(d)
		if err != nil {
			continue // a type lroctl does not link in
		}
		details = append(details, b)
	}
	lines, _ := detailLines(details)
	for _, l := range lines {
		fmt.Fprintf(w, "  %s: %s\n", strings.ToLower(l.label), l.value)
	}
}

// statusFromJSON makes the status of a REST error answer, keeping the
// details whose types lroctl knows (ErrorInfo, BadRequest and the other
// google.rpc details); the others are dropped.
func statusFromJSON(c codes.Code, message string, details []json.RawMessage) *status.Status {
	p := &spb.Status{Code: int32(c), Message: message}
	for _, raw := range details {
		var a anypb.Any
		if protojson.Unmarshal(raw, &a) == nil {
			p.Details = append(p.Details, &a)
		}
	}
	return status.FromProto(p)
}
