package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
)

// grpcConfig is what newGRPCBackend needs to reach a server.
type grpcConfig struct {
	addr      string      // host:port
	plaintext bool        // no TLS
	tls       *tls.Config // unless plaintext
	headers   [][2]string // sent as metadata with every call
	// resolver decodes metadata and responses; unless noReflection, it
	// asks the server's reflection service for the types it lacks.
	resolver     *resolver
	noReflection bool
}

// grpcBackend talks gRPC through the generated client. It is the waiter
// of its own waits.
type grpcBackend struct {
	conn    *grpc.ClientConn
	client  longrunningpb.OperationsClient
	headers [][2]string
	mo      protojson.MarshalOptions
}

// newGRPCBackend connects to c.addr. Reflection lookups are made under ctx
// (the context of the run). It fails only on an address grpc.NewClient
// refuses: the connection itself is made by the first call.
func newGRPCBackend(ctx context.Context, c grpcConfig) (*grpcBackend, error) {
	creds := credentials.NewTLS(c.tls)
	if c.plaintext {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(c.addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("--addr %q: %w", c.addr, err)
	}
	b := &grpcBackend{conn: conn, client: longrunningpb.NewOperationsClient(conn), headers: c.headers, mo: protojson.MarshalOptions{Resolver: c.resolver}}
	if !c.noReflection {
		c.resolver.reflect = newReflector(b.ctx(ctx), conn)
	}
	return b, nil
}

func (b *grpcBackend) close() { _ = b.conn.Close() }

func (b *grpcBackend) listsAll() bool { return true }

func (b *grpcBackend) waiter() waiter { return b }

// ctx adds the -H headers to ctx as outgoing metadata.
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

// GetOperation implements lroclient.Client, with the -H headers.
func (b *grpcBackend) GetOperation(ctx context.Context, req *longrunningpb.GetOperationRequest, opts ...grpc.CallOption) (*longrunningpb.Operation, error) {
	return b.client.GetOperation(b.ctx(ctx), req, opts...)
}

// WaitOperation implements lroclient.Client, with the -H headers.
func (b *grpcBackend) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest, opts ...grpc.CallOption) (*longrunningpb.Operation, error) {
	return b.client.WaitOperation(b.ctx(ctx), req, opts...)
}

func (b *grpcBackend) get(ctx context.Context, name string) (*opView, error) {
	op, err := b.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: name})
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

func (b *grpcBackend) cancel(ctx context.Context, name string) error {
	_, err := b.client.CancelOperation(b.ctx(ctx), &longrunningpb.CancelOperationRequest{Name: name})
	return err
}

func (b *grpcBackend) delete(ctx context.Context, name string) error {
	_, err := b.client.DeleteOperation(b.ctx(ctx), &longrunningpb.DeleteOperationRequest{Name: name})
	return err
}
