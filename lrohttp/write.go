package lrohttp

// Writing answers: JSON bodies, and errors as Google's REST APIs write
// them.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// httpError carries a status with an HTTP code other than the one its gRPC
// code maps to (415, 413).
type httpError struct {
	httpCode int
	st       *status.Status
}

func (e httpError) Error() string { return e.st.Message() }

// writeError writes err as a google.rpc.Status JSON error.
func (h *handler) writeError(w http.ResponseWriter, err error) {
	var he httpError
	if errors.As(err, &he) {
		h.writeStatus(w, he.httpCode, he.st)
		return
	}
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			st = status.FromContextError(err)
		}
	}
	h.writeStatus(w, HTTPStatus(st.Code()), st)
}

func (h *handler) writeHTTPError(w http.ResponseWriter, httpCode int, c codes.Code, msg string) {
	h.writeStatus(w, httpCode, status.New(c, msg))
}

func (h *handler) writeStatus(w http.ResponseWriter, httpCode int, st *status.Status) {
	c := st.Code()
	if c == codes.OK { // an error that says OK is not one
		c = codes.Unknown
	}
	body := struct {
		Error errorJSON `json:"error"`
	}{errorJSON{Code: httpCode, Message: st.Message(), Status: code.Code(c).String()}}
	for _, d := range st.Proto().GetDetails() {
		body.Error.Details = append(body.Error.Details, h.any(d))
	}
	writeJSON(w, httpCode, body)
}

// errorJSON is the "error" object of Google's REST error answers.
type errorJSON struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Status  string            `json:"status"`
	Details []json.RawMessage `json:"details,omitempty"`
}

func writeJSON(w http.ResponseWriter, httpCode int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		httpCode = http.StatusInternalServerError
		b = []byte(`{"error": {"code": 500, "message": "lrohttp: encoding the answer failed", "status": "INTERNAL"}}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(httpCode)
	_, _ = w.Write(append(b, '\n'))
}

// HTTPStatus returns the HTTP status code that google.rpc.Code documents
// for the gRPC code c (NOT_FOUND → 404, INVALID_ARGUMENT → 400, ...).
// Unknown codes give 500.
func HTTPStatus(c codes.Code) int {
	switch c {
	case codes.OK:
		return http.StatusOK
	case codes.Canceled:
		return 499 // Client Closed Request
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.Aborted:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	default: // Unknown, Internal, DataLoss and anything newer
		return http.StatusInternalServerError
	}
}
