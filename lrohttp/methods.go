package lrohttp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// This file holds the five methods: each turns its request into a call to
// the Operations server and writes the answer.

// call is one request being served.
type call struct {
	ctx context.Context
	w   http.ResponseWriter
	r   *http.Request
	rt  route
	sys sysParams
	q   map[string]string // the request parameters, system parameters left out
}

// reply writes v as the successful answer.
func (h *handler) reply(c *call, v any) {
	writeJSON(c.w, http.StatusOK, v, c.sys.compact)
}

func (h *handler) list(c *call) {
	q, err := requestParams(c.q, "filter", "pageSize", "pageToken", "returnPartialSuccess")
	if err != nil {
		h.writeError(c.w, c.sys, err)
		return
	}
	req := &longrunningpb.ListOperationsRequest{Name: c.rt.name, Filter: q["filter"], PageToken: q["pageToken"]}
	if s, ok := q["pageSize"]; ok {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			h.writeError(c.w, c.sys, status.Errorf(codes.InvalidArgument, "pageSize %q is not a 32-bit integer", s))
			return
		}
		req.PageSize = int32(n)
	}
	if s, ok := q["returnPartialSuccess"]; ok {
		b, err := strconv.ParseBool(s)
		if err != nil {
			h.writeError(c.w, c.sys, status.Errorf(codes.InvalidArgument, "returnPartialSuccess %q is not a boolean", s))
			return
		}
		req.ReturnPartialSuccess = b
	}
	resp, err := h.srv.ListOperations(c.ctx, req)
	if err != nil {
		h.writeError(c.w, c.sys, err)
		return
	}
	h.reply(c, h.encoder(c.sys).list(resp))
}

func (h *handler) get(c *call) {
	if _, err := requestParams(c.q); err != nil {
		h.writeError(c.w, c.sys, err)
		return
	}
	op, err := h.srv.GetOperation(c.ctx, &longrunningpb.GetOperationRequest{Name: c.rt.name})
	if err != nil {
		h.writeError(c.w, c.sys, err)
		return
	}
	h.reply(c, h.encoder(c.sys).operation(op))
}

func (h *handler) delete(c *call) {
	if _, err := requestParams(c.q); err != nil {
		h.writeError(c.w, c.sys, err)
		return
	}
	if _, err := h.srv.DeleteOperation(c.ctx, &longrunningpb.DeleteOperationRequest{Name: c.rt.name}); err != nil {
		h.writeError(c.w, c.sys, err)
		return
	}
	h.reply(c, object{})
}

func (h *handler) cancel(c *call) {
	req := &longrunningpb.CancelOperationRequest{}
	if err := h.readNamedBody(c, req); err != nil {
		h.writeError(c.w, c.sys, err)
		return
	}
	req.Name = c.rt.name
	if _, err := h.srv.CancelOperation(c.ctx, req); err != nil {
		h.writeError(c.w, c.sys, err)
		return
	}
	h.reply(c, object{})
}

func (h *handler) wait(c *call) {
	req := &longrunningpb.WaitOperationRequest{}
	if err := h.readNamedBody(c, req); err != nil {
		h.writeError(c.w, c.sys, err)
		return
	}
	req.Name = c.rt.name
	op, err := h.srv.WaitOperation(c.ctx, req)
	if err != nil {
		h.writeError(c.w, c.sys, err)
		return
	}
	h.reply(c, h.encoder(c.sys).operation(op))
}

// namedRequest is a request body that may repeat the name in the path.
type namedRequest interface {
	proto.Message
	GetName() string
}

// readNamedBody reads the body into req and checks that a name it gives
// is the one in the path.
func (h *handler) readNamedBody(c *call, req namedRequest) error {
	if err := h.readBody(c, req); err != nil {
		return err
	}
	if n := req.GetName(); n != "" && n != c.rt.name {
		return status.Errorf(codes.InvalidArgument, "body name %q differs from the name in the path %q", n, c.rt.name)
	}
	return nil
}

// readBody decodes a JSON request body into m. An empty body leaves m as it
// is. Request parameters in the query are refused: the bindings put
// everything in the body.
//
// The body is read as JSON when its Content-Type (or the $ct system
// parameter, which overrides it) is missing or is application/json
// (whatever its parameters), and also when it is
// application/x-www-form-urlencoded but the body is JSON: that is what
// "curl -d '{...}'" sends. Any other type, and a form body that is not
// JSON, is refused with 415 Unsupported Media Type.
func (h *handler) readBody(c *call, m proto.Message) error {
	if _, err := requestParams(c.q); err != nil {
		return err
	}
	ct := c.r.Header.Get("Content-Type")
	if c.sys.contentType != "" {
		ct = c.sys.contentType
	}
	form := false
	if ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		switch {
		case err != nil:
			return unsupportedType(ct)
		case mt == "application/json":
		case mt == "application/x-www-form-urlencoded":
			form = true
		default:
			return unsupportedType(ct)
		}
	}
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxBodyBytes+1))
	if err != nil {
		return status.Errorf(codes.InvalidArgument, "reading request body: %v", err)
	}
	if len(body) > maxBodyBytes {
		return httpError{http.StatusRequestEntityTooLarge, status.Newf(codes.InvalidArgument, "request body larger than %d bytes", maxBodyBytes)}
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if form && !json.Valid(body) {
		return httpError{http.StatusUnsupportedMediaType, status.Newf(codes.InvalidArgument,
			"unsupported Content-Type %q: the body is not JSON; send JSON, with Content-Type application/json", ct)}
	}
	if err := h.uo.Unmarshal(body, m); err != nil {
		return status.Errorf(codes.InvalidArgument, "malformed request body: %v", err)
	}
	return nil
}

// unsupportedType is the 415 error for a request body of a type other than
// JSON.
func unsupportedType(ct string) error {
	return httpError{http.StatusUnsupportedMediaType, status.Newf(codes.InvalidArgument, "unsupported Content-Type %q: want application/json", ct)}
}

// httpError carries a status with an HTTP code other than the one its gRPC
// code maps to (415, 413, 405).
type httpError struct {
	httpCode int
	st       *status.Status
}

func (e httpError) Error() string { return e.st.Message() }

// writeError writes err as a google.rpc.Status JSON error, in the format
// sys asks for.
func (h *handler) writeError(w http.ResponseWriter, sys sysParams, err error) {
	var he httpError
	if errors.As(err, &he) {
		h.writeStatus(w, sys, he.httpCode, he.st)
		return
	}
	st, ok := status.FromError(err)
	if !ok {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			st = status.FromContextError(err)
		}
	}
	h.writeStatus(w, sys, HTTPStatus(st.Code()), st)
}

func (h *handler) writeStatus(w http.ResponseWriter, sys sysParams, httpCode int, st *status.Status) {
	writeJSON(w, httpCode, h.encoder(sys).errorBody(httpCode, st, sys.errorsV1), sys.compact)
}
