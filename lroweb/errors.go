package lroweb

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lrokit/lro/lrohttp"
)

// rpcError is an RPC's failure as a page shows it.
type rpcError struct {
	HTTP    int
	Code    string // such as "PERMISSION_DENIED"
	Message string
}

// toRPCError reads the gRPC status of err; errors without one are
// UNKNOWN, context errors their status.
func toRPCError(err error) rpcError {
	st, ok := status.FromError(err)
	if !ok && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		st = status.FromContextError(err)
	}
	c := st.Code()
	if c == codes.OK { // an error that says OK is not one
		c = codes.Unknown
	}
	return rpcError{HTTP: lrohttp.HTTPStatus(c), Code: code.Code(c).String(), Message: st.Message()}
}

// errorPageData is what the error page shows.
type errorPageData struct {
	page
	HTTP    int
	Code    string
	Message string
}

// errorPage answers with a readable page for an HTTP status.
func (c *console) errorPage(w http.ResponseWriter, r *http.Request, httpCode int, code, msg string) {
	c.html(w, httpCode, "error.html", errorPageData{page: c.page(r, http.StatusText(httpCode)), HTTP: httpCode, Code: code, Message: msg})
}

// fail answers with the page for an RPC's error, in the HTTP status its
// gRPC code maps to (NOT_FOUND 404, PERMISSION_DENIED 403, ...).
func (c *console) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := toRPCError(err)
	c.errorPage(w, r, e.HTTP, e.Code, e.Message)
}

// columnRE finds the position in a filter error ("... at column 12: ...").
var columnRE = regexp.MustCompile(`at column (\d+)`)

// filterCaret returns the spaces that put a caret under the filter
// character an INVALID_ARGUMENT message points at (capped to the end of
// what the user typed), and whether it points at one.
func filterCaret(e rpcError, filter string) (string, bool) {
	if e.Code != "INVALID_ARGUMENT" || filter == "" {
		return "", false
	}
	m := columnRE.FindStringSubmatch(e.Message)
	if m == nil {
		return "", false
	}
	col, err := strconv.Atoi(m[1])
	if err != nil || col < 1 {
		return "", false
	}
	off := min(col-1, len(filter))
	n := utf8.RuneCountInString(filter[:off])
	spaces := make([]byte, n)
	for i := range spaces {
		spaces[i] = ' '
	}
	return string(spaces), true
}
