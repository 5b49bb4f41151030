package lrohttp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/rpc/code"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
)

// This file writes the JSON answers: operations, lists and errors, in the
// form the system parameters of the request ask for.

// object is a JSON object whose members keep the order they were added
// in, so that fields come in field-number order, as protojson writes them.
type object []member

type member struct {
	key string
	val any
}

// MarshalJSON implements json.Marshaler.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.val)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// encoder builds the JSON form of the Operations messages. They are built
// by hand, rather than by protojson alone, so that an Any of an unknown
// type degrades to its type URL and bytes instead of failing the whole
// answer; for known types the result is what protojson writes.
type encoder struct {
	defaults bool // $outputDefaults: emit fields that hold their default value
	mo       protojson.MarshalOptions
}

func (h *handler) encoder(sys sysParams) encoder {
	mo := h.mo
	mo.EmitUnpopulated = sys.outputDefaults
	return encoder{defaults: sys.outputDefaults, mo: mo}
}

// add appends the member key unless it holds its default value (zero) and
// defaults are not asked for.
func (e encoder) add(o object, key string, val any, zero bool) object {
	if zero && !e.defaults {
		return o
	}
	return append(o, member{key, val})
}

func (e encoder) operation(op *longrunningpb.Operation) object {
	o := e.add(object{}, "name", op.GetName(), op.GetName() == "")
	var md any // JSON null, as protojson writes an unset message
	if a := op.GetMetadata(); a != nil {
		md = e.any(a)
	}
	o = e.add(o, "metadata", md, op.GetMetadata() == nil)
	o = e.add(o, "done", op.GetDone(), !op.GetDone())
	switch res := op.GetResult().(type) { // an unset oneof is never written
	case *longrunningpb.Operation_Error:
		o = append(o, member{"error", e.status(res.Error)})
	case *longrunningpb.Operation_Response:
		o = append(o, member{"response", e.any(res.Response)})
	}
	return o
}

func (e encoder) status(s *spb.Status) object {
	o := e.add(object{}, "code", s.GetCode(), s.GetCode() == 0)
	o = e.add(o, "message", s.GetMessage(), s.GetMessage() == "")
	details := make([]json.RawMessage, 0, len(s.GetDetails()))
	for _, d := range s.GetDetails() {
		details = append(details, e.any(d))
	}
	return e.add(o, "details", details, len(details) == 0)
}

// list writes a ListOperationsResponse. An empty list is {}, as Google's
// servers write it: proto3 JSON leaves out empty repeated fields and empty
// strings (see the package documentation).
func (e encoder) list(resp *longrunningpb.ListOperationsResponse) object {
	ops := make([]object, 0, len(resp.GetOperations()))
	for _, op := range resp.GetOperations() {
		ops = append(ops, e.operation(op))
	}
	unreachable := resp.GetUnreachable()
	if unreachable == nil {
		unreachable = []string{}
	}
	o := e.add(object{}, "operations", ops, len(ops) == 0)
	o = e.add(o, "nextPageToken", resp.GetNextPageToken(), resp.GetNextPageToken() == "")
	return e.add(o, "unreachable", unreachable, len(unreachable) == 0)
}

// any writes a as protojson does, or, when its type is unknown to the
// resolver (or its bytes do not parse), as its type URL and base64 bytes.
func (e encoder) any(a *anypb.Any) json.RawMessage {
	if b, err := e.mo.Marshal(a); err == nil {
		return b
	}
	b, err := json.Marshal(struct {
		Type  string `json:"@type"`
		Value string `json:"value"`
	}{a.GetTypeUrl(), base64.StdEncoding.EncodeToString(a.GetValue())})
	if err != nil { // cannot happen for two strings
		return json.RawMessage(`{}`)
	}
	return b
}

// errorBody is the JSON error answer for st, sent with HTTP status
// httpCode. Format 2 (the default of $.xgafv) is
//
//	{"error": {"code": 404, "message": "...", "status": "NOT_FOUND", "details": [...]}}
//
// Format 1 adds the legacy "errors" array of Google's older JSON APIs after
// the message, with one entry: the message again, the domain "global" and
// the reason that Google's global-domain error list gives for the HTTP
// status (see legacyReason). Nothing else changes.
func (e encoder) errorBody(httpCode int, st *status.Status, v1 bool) object {
	c := st.Code()
	if c == codes.OK { // an error that says OK is not one
		c = codes.Unknown
	}
	o := object{{"code", httpCode}, {"message", st.Message()}}
	if v1 {
		o = append(o, member{"errors", []object{{
			{"message", st.Message()}, {"domain", "global"}, {"reason", legacyReason(httpCode)},
		}}})
	}
	o = append(o, member{"status", code.Code(c).String()})
	if ds := st.Proto().GetDetails(); len(ds) > 0 {
		details := make([]json.RawMessage, 0, len(ds))
		for _, d := range ds {
			details = append(details, e.any(d))
		}
		o = append(o, member{"details", details})
	}
	return object{{"error", o}}
}

// legacyReason is the reason of an error in format 1 ($.xgafv=1): the one
// Google's list of global-domain errors gives for the HTTP status, and
// badRequest or backendError for a 4xx or 5xx status it does not list.
func legacyReason(httpCode int) string {
	switch httpCode {
	case http.StatusBadRequest:
		return "badRequest"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "notFound"
	case http.StatusMethodNotAllowed:
		return "httpMethodNotAllowed"
	case http.StatusConflict:
		return "conflict"
	case http.StatusRequestEntityTooLarge:
		return "uploadTooLarge"
	case http.StatusTooManyRequests:
		return "rateLimitExceeded"
	case http.StatusInternalServerError:
		return "internalError"
	case http.StatusNotImplemented:
		return "notImplemented"
	}
	if httpCode < 500 {
		return "badRequest"
	}
	return "backendError"
}

// writeJSON writes v with the HTTP status httpCode, indented unless compact.
func writeJSON(w http.ResponseWriter, httpCode int, v any, compact bool) {
	b, err := json.Marshal(v)
	if err == nil && !compact {
		var buf bytes.Buffer
		if err = json.Indent(&buf, b, "", "  "); err == nil {
			b = buf.Bytes()
		}
	}
	if err != nil {
		httpCode = http.StatusInternalServerError
		b = []byte(`{"error": {"code": 500, "message": "lrohttp: encoding the answer failed", "status": "INTERNAL"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(httpCode)
	_, _ = w.Write(append(b, '\n'))
}
