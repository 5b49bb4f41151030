package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lrokit/lro/lroclient"
)

// backend is one way of talking to an Operations server: gRPC (grpc.go)
// or REST/JSON (rest.go). Errors are gRPC status errors whichever the
// transport.
type backend interface {
	get(ctx context.Context, name string) (*opView, error)
	list(ctx context.Context, name, filter string, pageSize int32, token string) ([]*opView, string, error)
	// waiter returns what waitFor gives lroclient.Wait for one wait.
	waiter() waiter
	cancel(ctx context.Context, name string) error
	delete(ctx context.Context, name string) error
	// listsAll reports whether list with an empty name asks the server
	// for every operation the caller may see (REST has no such route).
	listsAll() bool
	close()
}

// waiter is the lroclient.Client of one wait, with the view lroctl shows
// of each operation its calls returned.
type waiter interface {
	lroclient.Client
	view(op *longrunningpb.Operation) (*opView, error)
}

// opView is an operation as lroctl shows it, read from its JSON form.
type opView struct {
	raw      json.RawMessage
	Name     string          `json:"name"`
	Done     bool            `json:"done"`
	Metadata json.RawMessage `json:"metadata"`
	Response json.RawMessage `json:"response"`
	Error    *statusView     `json:"error"`
	// queued is set by markQueued for an operation not done that the
	// server lists as queued (not started yet).
	queued bool
}

// statusView is a google.rpc.Status in JSON form.
type statusView struct {
	Code    int32             `json:"code"`
	Message string            `json:"message"`
	Details []json.RawMessage `json:"details"`
}

// status is the operation's error as a status: OK when it has none, and
// UNKNOWN for an error whose code is OK.
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

// tlsConfig is the TLS configuration the flags ask for, for gRPC and https
// alike.
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
