package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
)

// restBackend talks to REST/JSON routes shaped as lrohttp serves them.
type restBackend struct {
	base    *url.URL
	client  *http.Client
	headers [][2]string
}

// newRESTBackend checks the --rest URL (http or https, no query or
// fragment; no path means /v1) and returns a backend for it.
func newRESTBackend(raw string, tlsConf *tls.Config, headers [][2]string) (*restBackend, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("--rest: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--rest %q: want an http or https URL such as http://localhost:8080/v1", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("--rest %q: the URL must not have a query or fragment", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	if u.Path == "" {
		u.Path = "/v1"
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsConf
	return &restBackend{base: u, client: &http.Client{Transport: tr}, headers: headers}, nil
}

func (b *restBackend) close() { b.client.CloseIdleConnections() }

// listsAll is false: a REST collection is a URL, and no URL names them all.
func (b *restBackend) listsAll() bool { return false }

// url builds the URL of a name, escaping each segment, plus a verb.
func (b *restBackend) url(name, verb string, q url.Values) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	u := b.base.String() + "/" + strings.Join(segs, "/")
	if verb != "" {
		u += ":" + verb
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// do sends a request and returns the body of a 2xx answer, or the error
// the answer carries as a gRPC status error.
func (b *restBackend) do(ctx context.Context, method, u string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "building request: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range b.headers {
		req.Header.Add(h[0], h[1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, status.Errorf(codes.Unavailable, "%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, status.Errorf(codes.Unavailable, "%s %s: reading the answer: %v", method, u, err)
	}
	if resp.StatusCode/100 == 2 {
		return data, nil
	}
	return nil, httpError(resp.StatusCode, data)
}

// httpError turns an error answer into a gRPC status error: from the
// google.rpc.Status JSON body when there is one, else from the HTTP code.
func httpError(httpCode int, body []byte) error {
	var e struct {
		Error *struct {
			Code    int               `json:"code"`
			Message string            `json:"message"`
			Status  string            `json:"status"`
			Details []json.RawMessage `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != nil {
		c := codeFromHTTP(httpCode)
		if named, ok := codeFromName(e.Error.Status); ok && httpCode != http.StatusMethodNotAllowed {
			c = named
		}
		return statusFromJSON(c, e.Error.Message, e.Error.Details).Err()
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(httpCode)
	}
	return status.Errorf(codeFromHTTP(httpCode), "HTTP %d: %s", httpCode, msg)
}

func (b *restBackend) parse(data []byte) (*opView, error) {
	op, err := parseOp(data)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "the server's answer: %v", err)
	}
	return op, nil
}

func (b *restBackend) get(ctx context.Context, name string) (*opView, error) {
	data, err := b.do(ctx, http.MethodGet, b.url(name, "", nil), nil)
	if err != nil {
		return nil, err
	}
	return b.parse(data)
}

func (b *restBackend) list(ctx context.Context, name, filter string, pageSize int32, token string) ([]*opView, string, error) {
	q := url.Values{}
	if filter != "" {
		q.Set("filter", filter)
	}
	if pageSize != 0 {
		q.Set("pageSize", strconv.Itoa(int(pageSize)))
	}
	if token != "" {
		q.Set("pageToken", token)
	}
	data, err := b.do(ctx, http.MethodGet, b.url(name, "", q), nil)
	if err != nil {
		return nil, "", err
	}
	var resp struct {
		Operations    []json.RawMessage `json:"operations"`
		NextPageToken string            `json:"nextPageToken"`
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, "", status.Errorf(codes.Internal, "the server's answer: %v", err)
	}
	ops := make([]*opView, 0, len(resp.Operations))
	for _, r := range resp.Operations {
		op, err := b.parse(r)
		if err != nil {
			return nil, "", err
		}
		ops = append(ops, op)
	}
	return ops, resp.NextPageToken, nil
}

// wait makes one POST {name}:wait call.
func (b *restBackend) wait(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*opView, error) {
	body, err := protojson.Marshal(&longrunningpb.WaitOperationRequest{Timeout: req.GetTimeout()})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encoding the wait request: %v", err)
	}
	data, err := b.do(ctx, http.MethodPost, b.url(req.GetName(), "wait", nil), body)
	if err != nil {
		return nil, err
	}
	return b.parse(data)
}

func (b *restBackend) cancel(ctx context.Context, name string) error {
	_, err := b.do(ctx, http.MethodPost, b.url(name, "cancel", nil), []byte("{}"))
	return err
}

func (b *restBackend) delete(ctx context.Context, name string) error {
	_, err := b.do(ctx, http.MethodDelete, b.url(name, "", nil), nil)
	return err
}

func (b *restBackend) waiter() waiter { return &restWaiter{b: b} }

// restWaiter is the lroclient.Client of one wait over REST. Wait gets a
// skeleton of each answer (name, done, the error's code and message, the
// response's type); view returns the answer itself, whose metadata and
// response stay as the server wrote them. Wait observes each operation
// right after the call that returned it, so the latest answer is the only
// one view is asked for.
type restWaiter struct {
	b      *restBackend
	latest *longrunningpb.Operation // the skeleton of the latest answer
	answer *opView                  // the latest answer
}

// GetOperation implements lroclient.Client with GET {name}.
func (w *restWaiter) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest, _ ...grpc.CallOption) (*longrunningpb.Operation, error) {
	v, err := w.b.get(ctx, req.GetName())
	return w.skeleton(v, err)
}

// WaitOperation implements lroclient.Client with POST {name}:wait. A
// NOT_FOUND answer may mean that the server has no :wait route as well as
// no such operation: it is reported as UNIMPLEMENTED, so that Wait asks
// GetOperation, whose answer tells.
func (w *restWaiter) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest, _ ...grpc.CallOption) (*longrunningpb.Operation, error) {
	v, err := w.b.wait(ctx, req)
	if status.Code(err) == codes.NotFound {
		return nil, status.Errorf(codes.Unimplemented, "POST %s: %v", w.b.url(req.GetName(), "wait", nil), err)
	}
	return w.skeleton(v, err)
}

func (w *restWaiter) skeleton(v *opView, err error) (*longrunningpb.Operation, error) {
	if err != nil {
		return nil, err
	}
	op := &longrunningpb.Operation{Name: v.Name, Done: v.Done}
	switch {
	case v.Error != nil:
		op.Result = &longrunningpb.Operation_Error{Error: &spb.Status{Code: v.Error.Code, Message: v.Error.Message}}
	case v.Response != nil:
		op.Result = &longrunningpb.Operation_Response{Response: &anypb.Any{TypeUrl: anyType(v.Response)}}
	}
	w.latest, w.answer = op, v
	return op, nil
}

func (w *restWaiter) view(op *longrunningpb.Operation) (*opView, error) {
	if op != w.latest {
		return nil, fmt.Errorf("internal error: no REST answer for operation %s", op.GetName())
	}
	return w.answer, nil
}
