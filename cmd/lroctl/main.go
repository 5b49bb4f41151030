// Command lroctl is a command-line client for any google.longrunning
// Operations server: one built with github.com/lrokit/lro or anyone else's.
//
// It lists, gets, waits for, cancels and deletes operations over gRPC
// (--addr, with TLS or --plaintext) or over REST/JSON (--rest, the routes
// that package lrohttp serves and Google's REST APIs use). Output is a
// human-readable table or listing by default and JSON with --json. Over
// gRPC, metadata and response types that lroctl does not link in are
// decoded from --descriptor-set files or, when the server offers it,
// through gRPC server reflection.
//
// Exit status: 0 on success, 1 when an operation failed or a call returned
// an error, 2 for a usage error.
//
// lroctl is a module of its own, so that the library does not require its
// dependencies. Install it with
//
//	go install github.com/lrokit/lro/cmd/lroctl@latest
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"google.golang.org/grpc/status"
)

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError marks an error in how lroctl was invoked (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// opFailedError reports an operation that finished with an error (exit
// code 1); the operation itself has been printed already.
type opFailedError struct {
	name string
	st   *status.Status
}

func (e opFailedError) Error() string {
	return fmt.Sprintf("operation %s failed: %s", e.name, statusText(e.st))
}

// statusText formats a status as CODE: message.
func statusText(st *status.Status) string {
	return fmt.Sprintf("%s: %s", codeName(st.Code()), st.Message())
}

// run executes lroctl with args and returns its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "lroctl: %s\n", clean(errorText(err)))
	printErrorDetails(stderr, err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "Run 'lroctl --help' for usage.\n")
		return exitUsage
	}
	return exitFailed
}

// callError says which call of several failed.
type callError struct {
	what string
	err  error
}

func (e callError) Error() string { return e.what + ": " + errorText(e.err) }
func (e callError) Unwrap() error { return e.err }

// errorText renders an error for people: gRPC statuses as CODE: message.
func errorText(err error) string {
	var ce callError
	if errors.As(err, &ce) {
		return ce.Error()
	}
	var of opFailedError
	if errors.As(err, &of) {
		return of.Error()
	}
	var ue usageError
	if errors.As(err, &ue) {
		return ue.Error()
	}
	var gu *gaveUpError
	if errors.As(err, &gu) {
		return gu.Error()
	}
	if st, ok := status.FromError(err); ok {
		return statusText(st)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "DEADLINE_EXCEEDED: " + err.Error()
	}
	if errors.Is(err, context.Canceled) {
		return "CANCELLED: " + err.Error()
	}
	return err.Error()
}
