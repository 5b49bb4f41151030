package main

import (
	"net/http"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
)

// codeName is the google.rpc.Code name of c ("NOT_FOUND"), or CODE_n for
// a code it does not know.
func codeName(c codes.Code) string {
	if n, ok := code.Code_name[int32(c)]; ok {
		return n
	}
	return "CODE_" + strconv.Itoa(int(c))
}

// codeFromName returns the gRPC code whose google.rpc.Code name is name
// ("NOT_FOUND" gives codes.NotFound), as found in the "status" field of a
// JSON error; ok is false for a name it does not know.
func codeFromName(name string) (c codes.Code, ok bool) {
	v, ok := code.Code_value[name]
	return codes.Code(v), ok
}

// codeFromHTTP maps an HTTP status back to the gRPC code that
// google.rpc.Code documents for it (lrohttp.HTTPStatus maps the other
// way), for errors from a REST server that sent no status name. Statuses
// no code maps to give UNKNOWN.
func codeFromHTTP(c int) codes.Code {
	switch c {
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusNotFound:
		return codes.NotFound
	case http.StatusConflict:
		return codes.Aborted
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	case 499:
		return codes.Canceled
	case http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return codes.Unimplemented
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return codes.Unavailable
	case http.StatusGatewayTimeout:
		return codes.DeadlineExceeded
	default:
		return codes.Unknown
	}
}
