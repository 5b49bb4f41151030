package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/lrokit/lro/lrohttp"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/cenkalti/backoff/v5"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	// Types decoded out of the box in metadata, responses and error details.
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
	_ "google.golang.org/protobuf/types/known/emptypb"
	_ "google.golang.org/protobuf/types/known/fieldmaskpb"
	_ "google.golang.org/protobuf/types/known/structpb"
	_ "google.golang.org/protobuf/types/known/timestamppb"
	_ "google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/lrokit/lro/lroclient"
)

// backend is one way of talking to an Operations server. Errors are gRPC
// status errors whichever the transport.
type backend interface {
	get(ctx context.Context, name string) (*opView, error)
	list(ctx context.Context, name, filter string, pageSize int32, token string) ([]*opView, string, error)
	// waitFor returns the done operation, a failed one included, calling
	// observe with every state it receives.
	waitFor(ctx context.Context, name string, c waitConfig, observe func(*opView)) (*opView, error)
	cancel(ctx context.Context, name string) error
	delete(ctx context.Context, name string) error
	close()
}

// waitConfig tunes waitFor.
type waitConfig struct {
	refresh  time.Duration // timeout of each WaitOperation call
	pollOnly bool          // GetOperation only
	pollMax  time.Duration // cap of the pause between polls
	retryFor time.Duration // how long transient errors in a row are retried
}

// pollMin is the first pause between polls (or less, when pollMax is).
const pollMin = 250 * time.Millisecond

// opView is an operation as lroctl shows it, read from its JSON form.
type opView struct {
	raw      json.RawMessage
	Name     string          `json:"name"`
	Done     bool            `json:"done"`
	Metadata json.RawMessage `json:"metadata"`
	Response json.RawMessage `json:"response"`
	Error    *statusView     `json:"error"`
}

// statusView is a google.rpc.Status in JSON form.
type statusView struct {
	Code    int32             `json:"code"`
	Message string            `json:"message"`
	Details []json.RawMessage `json:"details"`
}

func (o *opView) status() *status.Status {
	if o.Error == nil {
		return status.New(codes.OK, "")
	}
	c := codes.Code(o.Error.Code)
	if c == codes.OK {
		c = codes.Unknown
	}
	return status.New(c, o.Error.Message)
}

func parseOp(b []byte) (*opView, error) {
	var v opView
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decoding operation: %w", err)
	}
	v.raw = append(json.RawMessage(nil), b...)
	return &v, nil
}

// resolver finds message types in the global registry, then in the
// descriptor sets given with --descriptor-set, then, over gRPC unless
// --no-reflection is given, through the server's reflection service.
type resolver struct {
	extra   *protoregistry.Types
	reflect *reflector // nil: no reflection
}

func newResolver(files []string) (*resolver, error) {
	r := &resolver{extra: new(protoregistry.Types)}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--descriptor-set: %w", err)
		}
		var set descriptorpb.FileDescriptorSet
		if err := proto.Unmarshal(b, &set); err != nil {
			return nil, fmt.Errorf("--descriptor-set %s: not a FileDescriptorSet: %w", f, err)
		}
		reg, err := protodesc.NewFiles(&set)
		if err != nil {
			return nil, fmt.Errorf("--descriptor-set %s: %w (was it built with --include_imports?)", f, err)
		}
		var regErr error
		reg.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
			msgs := fd.Messages()
			for i := 0; i < msgs.Len(); i++ {
				regErr = registerMessage(r.extra, msgs.Get(i))
				if regErr != nil {
					return false
				}
			}
			return true
		})
		if regErr != nil {
			return nil, fmt.Errorf("--descriptor-set %s: %w", f, regErr)
		}
	}
	return r, nil
}

func registerMessage(t *protoregistry.Types, md protoreflect.MessageDescriptor) error {
	if _, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err != nil {
		if _, err := t.FindMessageByName(md.FullName()); err != nil {
			if err := t.RegisterMessage(dynamicpb.NewMessageType(md)); err != nil {
				return err
			}
		}
	}
	nested := md.Messages()
	for i := 0; i < nested.Len(); i++ {
		if err := registerMessage(t, nested.Get(i)); err != nil {
			return err
		}
	}
	return nil
}

func (r *resolver) FindMessageByName(n protoreflect.FullName) (protoreflect.MessageType, error) {
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(n); err == nil {
		return mt, nil
	}
	mt, err := r.extra.FindMessageByName(n)
	if err != nil && r.reflect != nil {
		return r.reflect.find(n)
	}
	return mt, err
}

func (r *resolver) FindMessageByURL(u string) (protoreflect.MessageType, error) {
	if mt, err := protoregistry.GlobalTypes.FindMessageByURL(u); err == nil {
		return mt, nil
	}
	mt, err := r.extra.FindMessageByURL(u)
	if err != nil && r.reflect != nil {
		return r.reflect.find(typeName(u))
	}
	return mt, err
}

func (r *resolver) FindExtensionByName(n protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByName(n)
}

func (r *resolver) FindExtensionByNumber(m protoreflect.FullName, f protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByNumber(m, f)
}

func tlsConfig(g *globalFlags) (*tls.Config, error) {
	c := &tls.Config{InsecureSkipVerify: g.insecure, ServerName: g.serverName} //nolint:gosec // opt-in flag
	if g.caFile != "" {
		pem, err := os.ReadFile(g.caFile)
		if err != nil {
			return nil, fmt.Errorf("--cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--cacert %s: no PEM certificates found", g.caFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// grpcBackend talks gRPC through the generated client.
type grpcBackend struct {
	conn    *grpc.ClientConn
	client  longrunningpb.OperationsClient
	headers [][2]string
	mo      protojson.MarshalOptions
}

// newGRPCBackend connects to addr. Unless noReflection, message types that
// res does not know are looked up through the server's reflection service,
// under ctx (the context of the run).
func newGRPCBackend(ctx context.Context, addr string, plaintext bool, tlsConf *tls.Config, headers [][2]string, res *resolver, noReflection bool) (*grpcBackend, error) {
	creds := credentials.NewTLS(tlsConf)
	if plaintext {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("--addr %q: %w", addr, err)
	}
	b := &grpcBackend{conn: conn, client: longrunningpb.NewOperationsClient(conn), headers: headers, mo: protojson.MarshalOptions{Resolver: res}}
	if !noReflection {
		res.reflect = newReflector(b.ctx(ctx), conn)
	}
	return b, nil
}

func (b *grpcBackend) close() { _ = b.conn.Close() }

func (b *grpcBackend) ctx(ctx context.Context) context.Context {
	for _, h := range b.headers {
		ctx = metadata.AppendToOutgoingContext(ctx, strings.ToLower(h[0]), h[1])
	}
	return ctx
}

// view turns an Operation into its JSON view, writing an Any whose type is
// unknown as its type URL and base64 bytes.
func (b *grpcBackend) view(op *longrunningpb.Operation) (*opView, error) {
	type statusJSON struct {
		Code    int32             `json:"code,omitempty"`
		Message string            `json:"message,omitempty"`
		Details []json.RawMessage `json:"details,omitempty"`
	}
	out := struct {
		Name     string          `json:"name,omitempty"`
		Metadata json.RawMessage `json:"metadata,omitempty"`
		Done     bool            `json:"done,omitempty"`
		Error    *statusJSON     `json:"error,omitempty"`
		Response json.RawMessage `json:"response,omitempty"`
	}{Name: op.GetName(), Done: op.GetDone()}
	if md := op.GetMetadata(); md != nil {
		out.Metadata = b.any(md)
	}
	switch r := op.GetResult().(type) {
	case *longrunningpb.Operation_Error:
		s := &statusJSON{Code: r.Error.GetCode(), Message: r.Error.GetMessage()}
		for _, d := range r.Error.GetDetails() {
			s.Details = append(s.Details, b.any(d))
		}
		out.Error = s
	case *longrunningpb.Operation_Response:
		out.Response = b.any(r.Response)
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encoding operation %s: %w", op.GetName(), err)
	}
	return parseOp(raw)
}

func (b *grpcBackend) any(a *anypb.Any) json.RawMessage {
	if j, err := b.mo.Marshal(a); err == nil {
		return j
	}
	j, _ := json.Marshal(map[string]string{"@type": a.GetTypeUrl(), "value": base64.StdEncoding.EncodeToString(a.GetValue())})
	return j
}

func (b *grpcBackend) get(ctx context.Context, name string) (*opView, error) {
	op, err := b.client.GetOperation(b.ctx(ctx), &longrunningpb.GetOperationRequest{Name: name})
	if err != nil {
		return nil, err
	}
	return b.view(op)
}

func (b *grpcBackend) list(ctx context.Context, name, filter string, pageSize int32, token string) ([]*opView, string, error) {
	resp, err := b.client.ListOperations(b.ctx(ctx), &longrunningpb.ListOperationsRequest{Name: name, Filter: filter, PageSize: pageSize, PageToken: token})
	if err != nil {
		return nil, "", err
	}
	ops := make([]*opView, 0, len(resp.GetOperations()))
	for _, op := range resp.GetOperations() {
		v, err := b.view(op)
		if err != nil {
			return nil, "", err
		}
		ops = append(ops, v)
	}
	return ops, resp.GetNextPageToken(), nil
}

// waitFor waits with lroclient.Wait.
func (b *grpcBackend) waitFor(ctx context.Context, name string, c waitConfig, observe func(*opView)) (*opView, error) {
	var viewErr error
	opts := []lroclient.Option{
		lroclient.WithWaitTimeout(c.refresh),
		lroclient.WithBackoff(min(pollMin, c.pollMax), c.pollMax),
		lroclient.WithObserver(func(op *longrunningpb.Operation) {
			v, err := b.view(op)
			if err != nil {
				viewErr = err
				return
			}
			observe(v)
		}),
	}
	if c.pollOnly {
		opts = append(opts, lroclient.WithPollOnly())
	}
	client := budgetClient{b.client, newRetryBudget(c.retryFor, nil)}
	op, err := lroclient.Wait(b.ctx(ctx), client, name, nil, opts...)
	var oe *lroclient.OperationError
	if err != nil && !errors.As(err, &oe) {
		return nil, err
	}
	if viewErr != nil {
		return nil, viewErr
	}
	return b.view(op)
}

func (b *grpcBackend) cancel(ctx context.Context, name string) error {
	_, err := b.client.CancelOperation(b.ctx(ctx), &longrunningpb.CancelOperationRequest{Name: name})
	return err
}

func (b *grpcBackend) delete(ctx context.Context, name string) error {
	_, err := b.client.DeleteOperation(b.ctx(ctx), &longrunningpb.DeleteOperationRequest{Name: name})
	return err
}

// restBackend talks to REST/JSON routes shaped as lrohttp serves them.
type restBackend struct {
	base    *url.URL
	client  *http.Client
	headers [][2]string
}

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
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != nil {
		c := lrohttp.CodeFromHTTP(httpCode)
		if v, ok := code.Code_value[e.Error.Status]; ok && httpCode != http.StatusMethodNotAllowed {
			c = codes.Code(v)
		}
		return status.Error(c, e.Error.Message)
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	if msg == "" {
		msg = http.StatusText(httpCode)
	}
	return status.Errorf(lrohttp.CodeFromHTTP(httpCode), "HTTP %d: %s", httpCode, msg)
}

func (b *restBackend) get(ctx context.Context, name string) (*opView, error) {
	data, err := b.do(ctx, http.MethodGet, b.url(name, "", nil), nil)
	if err != nil {
		return nil, err
	}
	return b.parse(data)
}

func (b *restBackend) parse(data []byte) (*opView, error) {
	op, err := parseOp(data)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "the server's answer: %v", err)
	}
	return op, nil
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

func (b *restBackend) wait(ctx context.Context, name string, timeout time.Duration) (*opView, error) {
	body, err := protojson.Marshal(&longrunningpb.WaitOperationRequest{Timeout: durationpb.New(timeout)})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encoding the wait request: %v", err)
	}
	data, err := b.do(ctx, http.MethodPost, b.url(name, "wait", nil), body)
	if err != nil {
		return nil, err
	}
	return b.parse(data)
}

// waitFor long-polls POST {name}:wait, or polls GET {name} when the server
// lacks the route, as lroclient.Wait does over gRPC.
func (b *restBackend) waitFor(ctx context.Context, name string, c waitConfig, observe func(*opView)) (*opView, error) {
	bo := &backoff.ExponentialBackOff{InitialInterval: min(pollMin, c.pollMax), RandomizationFactor: 0.5, Multiplier: 1.5, MaxInterval: c.pollMax}
	bo.Reset()
	budget := newRetryBudget(c.retryFor, nil)
	longPoll := !c.pollOnly
	for {
		var (
			op  *opView
			err error
		)
		began := time.Now()
		if longPoll {
			op, err = b.wait(ctx, name, c.refresh)
			if sc := status.Code(err); sc == codes.Unimplemented || sc == codes.NotFound {
				// No :wait route here (a 404 could also mean no such
				// operation: the GET below tells).
				longPoll = false
				op, err = b.get(ctx, name)
			}
		} else {
			op, err = b.get(ctx, name)
		}
		if err := budget.check(ctx, err); err != nil {
			if transient(ctx, err) {
				if err := sleepCtx(ctx, min(bo.NextBackOff(), c.pollMax)); err != nil {
					return nil, err
				}
				continue
			}
			return nil, err
		}
		observe(op)
		if op.Done {
			return op, nil
		}
		if longPoll && time.Since(began) >= min(c.refresh/2, time.Second) {
			bo.Reset()
			continue
		}
		if err := sleepCtx(ctx, min(bo.NextBackOff(), c.pollMax)); err != nil {
			return nil, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	case <-t.C:
		return nil
	}
}

func (b *restBackend) cancel(ctx context.Context, name string) error {
	_, err := b.do(ctx, http.MethodPost, b.url(name, "cancel", nil), []byte("{}"))
	return err
}

func (b *restBackend) delete(ctx context.Context, name string) error {
	_, err := b.do(ctx, http.MethodDelete, b.url(name, "", nil), nil)
	return err
}

// codeName is the google.rpc.Code name of c ("NOT_FOUND").
func codeName(c codes.Code) string {
	if n, ok := code.Code_name[int32(c)]; ok {
		return n
	}
	return "CODE_" + strconv.Itoa(int(c))
}
