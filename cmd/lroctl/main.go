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
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
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

// usageArgs wraps a cobra argument validator so its errors are usage errors.
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// run executes lroctl with args and returns its exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "lroctl: %s\n", errorText(err))
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

// globalFlags are the flags every command takes.
type globalFlags struct {
	addr       string
	plaintext  bool
	insecure   bool
	caFile     string
	serverName string
	restURL    string
	headers    []string
	json       bool
	timeout    time.Duration
	descriptor []string
	// noReflection turns off type lookups through gRPC reflection.
	noReflection bool
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "lroctl",
		Short: "Command-line client for google.longrunning Operations servers",
		Long: `lroctl lists, inspects, waits for, cancels and deletes long-running
operations on any server that implements google.longrunning.Operations,
over gRPC or over REST/JSON.

Choose the server with exactly one of:
  --addr HOST:PORT   gRPC, with TLS unless --plaintext is given
  --rest URL         REST/JSON, e.g. http://localhost:8080/v1 (a URL without
                     a path gets /v1)

Operation names are full resource names, such as operations/abc123 or
projects/p/locations/l/operations/abc123.

Metadata and responses are shown as JSON. Over gRPC, lroctl decodes the
message types linked into it (the google.protobuf well-known types,
google.rpc error details, google.longrunning), those of --descriptor-set
files, and any other type the server describes through gRPC server
reflection (v1 or v1alpha), unless --no-reflection is given. An Any that
cannot be decoded is shown as its type URL and base64 bytes. Over REST the
server decodes them.

Exit status: 0 on success, 1 when an operation failed or a call returned an
error, 2 for a usage error.`,
		Example: `  lroctl --addr localhost:9090 --plaintext list --filter 'done = false'
  lroctl --addr api.example.com:443 get operations/abc123
  lroctl --rest http://localhost:8080/v1 wait projects/p/locations/l/operations/abc123
  lroctl --addr localhost:9090 --plaintext --json list --page-size 100 --one-page`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{errors.New("missing command")}
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true

	pf := root.PersistentFlags()
	pf.StringVar(&g.addr, "addr", "", "gRPC server address `host:port`")
	pf.BoolVar(&g.plaintext, "plaintext", false, "use gRPC without TLS")
	pf.BoolVar(&g.insecure, "insecure-skip-verify", false, "use TLS (gRPC or https) without verifying the server's certificate")
	pf.StringVar(&g.caFile, "cacert", "", "PEM `file` of CA certificates to verify the server with (default: the system pool)")
	pf.StringVar(&g.serverName, "server-name", "", "`name` to verify the server's TLS certificate against (default: the host in --addr)")
	pf.StringVar(&g.restURL, "rest", "", "REST/JSON endpoint `URL`, e.g. http://localhost:8080/v1")
	pf.StringArrayVarP(&g.headers, "header", "H", nil, "add a request header or gRPC metadata entry, `'key: value'` (repeatable), e.g. -H 'authorization: Bearer TOKEN'")
	pf.BoolVar(&g.json, "json", false, "print JSON (lowerCamelCase, as the REST API answers) instead of text")
	pf.DurationVar(&g.timeout, "timeout", 0, "give up after this `duration` (e.g. 30s, 10m); 0 means no limit")
	pf.StringArrayVar(&g.descriptor, "descriptor-set", nil, "FileDescriptorSet `file` (protoc --descriptor_set_out --include_imports, or buf build -o) whose message types decode metadata and responses over gRPC (repeatable)")
	pf.BoolVar(&g.noReflection, "no-reflection", false, "do not ask the gRPC server's reflection service for message types lroctl does not know")

	root.AddCommand(newListCmd(g), newGetCmd(g), newWaitCmd(g), newCancelCmd(g), newDeleteCmd(g))
	return root
}

// connect validates the global flags and opens the backend they name.
func connect(cmd *cobra.Command, g *globalFlags) (context.Context, context.CancelFunc, backend, error) {
	if (g.addr == "") == (g.restURL == "") {
		return nil, nil, nil, usageError{errors.New("give exactly one of --addr (gRPC) or --rest (REST/JSON)")}
	}
	if g.restURL != "" && g.plaintext {
		return nil, nil, nil, usageError{errors.New("--plaintext applies to --addr; a --rest URL says http or https itself")}
	}
	if g.plaintext && (g.insecure || g.caFile != "" || g.serverName != "") {
		return nil, nil, nil, usageError{errors.New("--plaintext cannot be combined with TLS flags (--insecure-skip-verify, --cacert, --server-name)")}
	}
	hdrs := make([][2]string, 0, len(g.headers))
	for _, h := range g.headers {
		k, v, ok := strings.Cut(h, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, nil, nil, usageError{fmt.Errorf("--header %q: want 'key: value'", h)}
		}
		hdrs = append(hdrs, [2]string{k, strings.TrimSpace(v)})
	}
	res, err := newResolver(g.descriptor)
	if err != nil {
		return nil, nil, nil, usageError{err}
	}
	tlsConf, err := tlsConfig(g)
	if err != nil {
		return nil, nil, nil, usageError{err}
	}
	ctx := cmd.Context()
	cancel := context.CancelFunc(func() {})
	if g.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
	}
	var be backend
	if g.addr != "" {
		be, err = newGRPCBackend(ctx, g.addr, g.plaintext, tlsConf, hdrs, res, g.noReflection)
	} else {
		be, err = newRESTBackend(g.restURL, tlsConf, hdrs)
	}
	if err != nil {
		cancel()
		return nil, nil, nil, usageError{err}
	}
	return ctx, func() { cancel(); be.close() }, be, nil
}

func newListCmd(g *globalFlags) *cobra.Command {
	var (
		filter   string
		pageSize int32
		token    string
		onePage  bool
	)
	cmd := &cobra.Command{
		Use:   "list [COLLECTION]",
		Short: "List operations",
		Long: `List the operations of a collection, newest first as the server orders
them. COLLECTION defaults to "operations"; servers that keep operations
under a parent take e.g. projects/p/locations/l/operations, and "-" as a
segment matches any value where the server supports it.

By default every page is fetched and printed; --one-page prints one page
and the token of the next (in a "next page token:" line, or the
nextPageToken field with --json).

The table shows NAME, STATE (RUNNING, SUCCEEDED, FAILED or DONE),
PROGRESS (when the metadata carries a progress figure), METADATA (its
type) and RESULT (the response type, or the error).`,
		Example: `  lroctl --addr localhost:9090 --plaintext list
  lroctl --addr localhost:9090 --plaintext list --filter 'done = true AND error:*'
  lroctl --rest http://localhost:8080/v1 list projects/p/locations/-/operations --page-size 20 --one-page`,
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pageSize < 0 {
				return usageError{fmt.Errorf("--page-size %d is negative", pageSize)}
			}
			ctx, done, be, err := connect(cmd, g)
			if err != nil {
				return err
			}
			defer done()
			name := "operations"
			if len(args) == 1 {
				name = args[0]
			}
			var all []*opView
			next := token
			for {
				ops, nt, err := be.list(ctx, name, filter, pageSize, next)
				if err != nil {
					return err
				}
				if nt != "" && nt == next {
					return fmt.Errorf("the server answered page token %q with the same token; stopping", nt)
				}
				all = append(all, ops...)
				next = nt
				if onePage || next == "" {
					break
				}
			}
			out := cmd.OutOrStdout()
			if g.json {
				return printListJSON(out, all, next)
			}
			printTable(out, all)
			if next != "" {
				fmt.Fprintf(out, "next page token: %s\n", next)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&filter, "filter", "", "AIP-160 `filter`, e.g. 'done = false' or 'metadata.@type:ExportMetadata'")
	f.Int32Var(&pageSize, "page-size", 0, "ask for `n` operations per page; 0 lets the server choose")
	f.StringVar(&token, "page-token", "", "start at this page `token` from an earlier --one-page listing")
	f.BoolVar(&onePage, "one-page", false, "fetch one page only and print the next page token")
	return cmd
}

func newGetCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show one operation",
		Long: `Show the latest state of one operation: its name, state, progress (when
the metadata carries a progress figure), metadata, and its response or
error once done. With --json, print the Operation message as JSON.

get exits 0 whatever the operation's state; use wait to act on the outcome.`,
		Example: `  lroctl --addr localhost:9090 --plaintext get operations/abc123
  lroctl --rest http://localhost:8080/v1 --json get operations/abc123 | jq .metadata`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, done, be, err := connect(cmd, g)
			if err != nil {
				return err
			}
			defer done()
			op, err := be.get(ctx, args[0])
			if err != nil {
				return err
			}
			return printOp(cmd.OutOrStdout(), op, g.json)
		},
	}
}

func newWaitCmd(g *globalFlags) *cobra.Command {
	var (
		refresh  time.Duration
		poll     bool
		pollMax  time.Duration
		retryFor time.Duration
	)
	cmd := &cobra.Command{
		Use:   "wait NAME",
		Short: "Wait for an operation to finish",
		Long: `Wait until an operation is done, then print it as get does.

lroctl long-polls with WaitOperation (POST {name}:wait over REST), asking
for a --refresh timeout per call so the display stays current; servers that
do not implement it (UNIMPLEMENTED, or 404/405/501 over REST) are polled
with GetOperation under a jittered backoff capped by --poll-max.

While waiting, progress goes to standard error: a live progress bar on a
terminal when the metadata carries a progress figure (fields such as
progressPercent, progress_percent, percentComplete, progress.percent, or
completedWork/estimatedWork), a spinner when it does not; and plain
"NAME: N%" lines when standard error is not a terminal.

A call that fails with UNAVAILABLE (the server is down or restarting) or
DEADLINE_EXCEEDED is retried with backoff (capped by --poll-max) until such
failures have gone on for --retry-for in a row; the first failure after
that ends the wait, and its error is printed. Other errors end the wait at
once.

wait exits 0 when the operation succeeded and 1 when it failed (its status
is printed to standard error), when a call fails, when retries run out, or
when --timeout ends the wait first.`,
		Example: `  lroctl --addr localhost:9090 --plaintext wait operations/abc123
  lroctl --rest http://localhost:8080/v1 --timeout 10m --json wait operations/abc123`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if refresh <= 0 || pollMax <= 0 {
				return usageError{errors.New("--refresh and --poll-max must be positive")}
			}
			if retryFor < 0 {
				return usageError{fmt.Errorf("--retry-for %s is negative", retryFor)}
			}
			ctx, done, be, err := connect(cmd, g)
			if err != nil {
				return err
			}
			defer done()
			name := args[0]
			pr := newProgress(cmd.ErrOrStderr(), name)
			op, err := be.waitFor(ctx, name, waitConfig{refresh: refresh, pollOnly: poll, pollMax: pollMax, retryFor: retryFor}, pr.update)
			pr.finish(op)
			if err != nil {
				return err
			}
			if err := printOp(cmd.OutOrStdout(), op, g.json); err != nil {
				return err
			}
			if op.Error != nil {
				return opFailedError{name: op.Name, st: op.status()}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&refresh, "refresh", time.Second, "`duration` asked as the timeout of each WaitOperation call, and so how often progress refreshes")
	f.BoolVar(&poll, "poll", false, "poll with GetOperation only, for servers without WaitOperation")
	f.DurationVar(&pollMax, "poll-max", 5*time.Second, "longest pause (a `duration`) between GetOperation polls")
	f.DurationVar(&retryFor, "retry-for", 30*time.Second, "keep retrying UNAVAILABLE and DEADLINE_EXCEEDED calls for this `duration` of failures in a row, then give up; 0 gives up at the first")
	return cmd
}

func newCancelCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel NAME...",
		Short: "Request cancellation of operations",
		Long: `Ask the server to cancel each named operation. Cancellation is
asynchronous: the operation ends later, usually with error code CANCELLED
(or finishes anyway); use wait or get to see the outcome. Cancelling a
finished operation changes nothing. Stops at the first error.

Prints "cancellation requested: NAME" per operation (nothing with --json).`,
		Example: `  lroctl --addr localhost:9090 --plaintext cancel operations/abc123`,
		Args:    usageArgs(cobra.MinimumNArgs(1)),
		RunE:    forEachName(g, "cancel", "cancellation requested", backend.cancel),
	}
}

func newDeleteCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete operations",
		Long: `Delete each named operation: the server forgets it, and later calls
answer NOT_FOUND. Deleting does not cancel work that still runs. Stops at
the first error.

Prints "deleted: NAME" per operation (nothing with --json).`,
		Example: `  lroctl --addr localhost:9090 --plaintext delete operations/abc123 operations/def456`,
		Args:    usageArgs(cobra.MinimumNArgs(1)),
		RunE:    forEachName(g, "delete", "deleted", backend.delete),
	}
}

// forEachName runs call on each name argument in turn, stopping at the
// first error, and prints "DONE: NAME" for each unless --json is set.
func forEachName(g *globalFlags, verb, done string, call func(backend, context.Context, string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx, closeConn, be, err := connect(cmd, g)
		if err != nil {
			return err
		}
		defer closeConn()
		for _, name := range args {
			if err := call(be, ctx, name); err != nil {
				return callError{verb + " " + name, err}
			}
			if !g.json {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", done, name)
			}
		}
		return nil
	}
}
