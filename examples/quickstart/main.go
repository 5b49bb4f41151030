// Command quickstart walks through the exportsvc example in one process.
//
// It starts the export server (package exportserver: ExportService,
// google.longrunning.Operations and reflection over gRPC, the same
// operations over REST) on free loopback ports, then acts as its client:
//
//  1. it calls ExportService.ExportBooks through the generated gRPC client
//     and follows the operation with lroclient.Wait, printing progress as
//     the metadata changes, then the typed ExportBooksResponse;
//  2. it starts a second export and cancels it through the standard
//     google.longrunning.Operations client: it ends with code 1, CANCELLED;
//  3. it lists the finished operations with the filter "done = true";
//  4. it gets the first operation over REST with net/http;
//
// and prints the lroctl and curl commands to try against a long-running
// `go run ./examples/exportsvc`. Then it shuts the server down.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	codepb "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/lrokit/lro/examples/exportsvc/exportserver"
	"github.com/lrokit/lro/examples/exportsvc/proto/exportpb"
	"github.com/lrokit/lro/lroclient"
)

// step is how long each of the ten steps of an export takes here: long
// enough to see progress, short enough that the walk takes about a second.
const step = 60 * time.Millisecond

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run starts the export server, walks through it as a client and shuts it
// down, printing to out.
func run(ctx context.Context, out io.Writer) (err error) {
	srv, err := exportserver.Start(ctx, exportserver.Config{
		GRPCAddr: "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:0",
		Step:     step,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return fmt.Errorf("starting the export server: %w", err)
	}
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if serr := srv.Shutdown(shutdownCtx); serr != nil {
			err = errors.Join(err, fmt.Errorf("shutting down: %w", serr))
		}
	}()
	fmt.Fprintf(out, "export server: gRPC on %s, REST on %s\n", srv.GRPCAddr(), srv.HTTPAddr())

	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("dialing %s: %w", srv.GRPCAddr(), err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c := &client{
		out:     out,
		exports: exportpb.NewExportServiceClient(conn),
		ops:     longrunningpb.NewOperationsClient(conn),
		restURL: "http://" + srv.HTTPAddr(),
	}

	name, err := c.export(ctx)
	if err != nil {
		return err
	}
	if err := c.cancelExport(ctx); err != nil {
		return err
	}
	if err := c.listDone(ctx); err != nil {
		return err
	}
	if err := c.getREST(ctx, name); err != nil {
		return err
	}
	fmt.Fprint(out, tryIt)
	return nil
}

// client is what any client of the export service does, through the
// generated ExportService client, the standard Operations client and REST.
type client struct {
	out     io.Writer
	exports exportpb.ExportServiceClient
	ops     longrunningpb.OperationsClient
	restURL string
}

// export exports shelves/fiction as CSV, follows the operation to its end
// and prints the response. It returns the operation's name.
func (c *client) export(ctx context.Context) (string, error) {
	fmt.Fprintln(c.out, "\n1. ExportBooks(shelves/fiction, CSV) through the generated ExportService client")
	op, err := c.exports.ExportBooks(ctx, &exportpb.ExportBooksRequest{Shelf: "shelves/fiction", Format: exportpb.Format_CSV})
	if err != nil {
		return "", fmt.Errorf("ExportBooks: %w", err)
	}
	fmt.Fprintf(c.out, "   started %s (done: %t)\n", op.GetName(), op.GetDone())

	// lroclient.Wait long-polls WaitOperation; a short timeout per call lets
	// the observer see each change of the metadata while the export runs.
	last := int32(-1)
	observe := func(op *longrunningpb.Operation) {
		md := new(exportpb.ExportBooksMetadata)
		if op.GetMetadata().UnmarshalTo(md) != nil || md.GetProgressPercent() == last {
			return
		}
		last = md.GetProgressPercent()
		fmt.Fprintf(c.out, "   progress %3d%%  %3d of %d books\n", md.GetProgressPercent(), md.GetBooksExported(), md.GetTotalBooks())
	}
	resp := new(exportpb.ExportBooksResponse)
	if _, err := lroclient.Wait(ctx, c.ops, op.GetName(), resp,
		lroclient.WithObserver(observe), lroclient.WithWaitTimeout(step/3)); err != nil {
		return "", fmt.Errorf("waiting for %s: %w", op.GetName(), err)
	}
	fmt.Fprintf(c.out, "   response: %d books from %s as %s, %d bytes, sha256 %.12s…\n",
		resp.GetBooksExported(), resp.GetShelf(), resp.GetFormat(), resp.GetSizeBytes(), resp.GetSha256())
	return op.GetName(), nil
}

// cancelExport starts an export of shelves/poetry, cancels it through the
// Operations client and shows how it ended.
func (c *client) cancelExport(ctx context.Context) error {
	fmt.Fprintln(c.out, "\n2. ExportBooks(shelves/poetry), then Operations.CancelOperation")
	op, err := c.exports.ExportBooks(ctx, &exportpb.ExportBooksRequest{Shelf: "shelves/poetry"})
	if err != nil {
		return fmt.Errorf("ExportBooks: %w", err)
	}
	fmt.Fprintf(c.out, "   started %s\n", op.GetName())
	if _, err := c.ops.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: op.GetName()}); err != nil {
		return fmt.Errorf("CancelOperation(%s): %w", op.GetName(), err)
	}
	// A failed operation comes back as an *lroclient.OperationError, which
	// status.FromError reads.
	_, err = lroclient.Wait(ctx, c.ops, op.GetName(), nil)
	var opErr *lroclient.OperationError
	if !errors.As(err, &opErr) {
		return fmt.Errorf("waiting for %s: got %v, want it to fail", op.GetName(), err)
	}
	st, _ := status.FromError(err)
	fmt.Fprintf(c.out, "   cancelled: done with error code %d (%s): %s\n", st.Code(), codepb.Code(st.Code()), st.Message())
	return nil
}

// listDone lists the finished operations through the Operations client.
func (c *client) listDone(ctx context.Context) error {
	const filter = "done = true"
	fmt.Fprintf(c.out, "\n3. Operations.ListOperations(filter %q)\n", filter)
	req := &longrunningpb.ListOperationsRequest{Name: "operations", Filter: filter}
	for {
		resp, err := c.ops.ListOperations(ctx, req)
		if err != nil {
			return fmt.Errorf("ListOperations: %w", err)
		}
		for _, op := range resp.GetOperations() {
			md := new(exportpb.ExportBooksMetadata)
			if err := op.GetMetadata().UnmarshalTo(md); err != nil {
				return fmt.Errorf("metadata of %s: %w", op.GetName(), err)
			}
			result := "succeeded"
			if e := op.GetError(); e != nil {
				result = fmt.Sprintf("failed with code %d (%s)", e.GetCode(), codepb.Code(e.GetCode()))
			}
			fmt.Fprintf(c.out, "   %s  %-15s %3d%%  %s\n", op.GetName(), md.GetShelf(), md.GetProgressPercent(), result)
		}
		if resp.GetNextPageToken() == "" {
			return nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// getREST gets the named operation over REST, as curl would, and prints
// the JSON.
func (c *client) getREST(ctx context.Context, name string) error {
	url := c.restURL + "/v1/" + name
	fmt.Fprintf(c.out, "\n4. GET %s\n", url)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("making the request: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("GET %s: reading the body: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	// The server indents its JSON; indent it once more under the heading.
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		fmt.Fprintln(c.out, "   "+line)
	}
	return nil
}

// tryIt is what to run by hand against a server that keeps running.
const tryIt = `
Try it by hand. In one terminal, start the server (--step 2s makes an
export take 20 s, long enough to watch and cancel):

   go run ./examples/exportsvc --grpc 127.0.0.1:8080 --http 127.0.0.1:8081 --step 2s

In another, start an export and follow it (use the name it prints):

   curl -X POST 127.0.0.1:8081/v1/shelves/fiction/books:export -d '{"format": "CSV"}'
   go run ./cmd/lroctl --addr 127.0.0.1:8080 --plaintext list
   go run ./cmd/lroctl --addr 127.0.0.1:8080 --plaintext wait operations/ID
   go run ./cmd/lroctl --addr 127.0.0.1:8080 --plaintext cancel operations/ID
   go run ./cmd/lroctl --rest http://127.0.0.1:8081 list --filter 'done = true'
   curl 127.0.0.1:8081/v1/operations/ID
`
