package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

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
them. Servers that keep operations under a parent take e.g.
projects/p/locations/l/operations, and "-" as a segment matches any value
where the server supports it.

Without COLLECTION, lroctl lists every operation the caller may see: over
gRPC it sends an empty name, which lro servers answer with all of them; a
server that refuses the empty name (INVALID_ARGUMENT) is asked for
"operations" instead. REST has no route for all collections, so over REST
lroctl lists "operations". When it lists "operations" only, it says so on
standard error.

By default every page is fetched and printed; --one-page prints one page
and the token of the next (in a "next page token:" line, or the
nextPageToken field with --json).

The table shows NAME, STATE (QUEUED, RUNNING, SUCCEEDED, FAILED or DONE),
PROGRESS (when the metadata carries a progress figure), METADATA (its
type) and RESULT (the response type, or the error).

QUEUED is an operation recorded but not started yet (it waits for a free
slot). The Operation message cannot say so, so for each page that has
operations not done lroctl makes one more List call, with the filter
queued = true AND (name = "..." OR ...), which lro servers answer (see
docs/FILTERING.md). A server that does not know the queued field refuses
that filter, and its operations not done show RUNNING. The filter
queued = true lists the queued operations only.`,
		Example: `  lroctl --addr localhost:9090 --plaintext list
  lroctl --addr localhost:9090 --plaintext list --filter 'done = true AND error:*'
  lroctl --addr localhost:9090 --plaintext list --filter 'queued = true'
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
			pages := func(name string) ([]*opView, string, error) {
				return listPages(ctx, be, name, filter, pageSize, token, onePage, !g.json)
			}
			var (
				all  []*opView
				next string
			)
			switch {
			case len(args) == 1:
				all, next, err = pages(args[0])
			case !be.listsAll():
				all, next, err = pages(defaultCollection)
				if err == nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "lroctl: listed the collection %q only: REST names one collection per URL; give another, such as projects/-/locations/-/operations, to list it\n", defaultCollection)
				}
			default:
				all, next, err = pages("")
				if refused := err; status.Code(refused) == codes.InvalidArgument {
					all, next, err = pages(defaultCollection)
					if err == nil {
						fmt.Fprintf(cmd.ErrOrStderr(), "lroctl: listed the collection %q only: the server refused to list all (%s)\n", defaultCollection, clean(errorText(refused)))
					}
				}
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.json {
				return printListJSON(out, all, next)
			}
			printTable(out, all)
			if next != "" {
				fmt.Fprintf(out, "next page token: %s\n", clean(next))
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

// collectionOf is the collection of the operation name: name without its
// last segment ("operations" for "operations/abc"), or "" (every
// collection) for a name without a slash.
func collectionOf(name string) string {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return ""
	}
	return name[:i]
}

// defaultCollection is the collection listed when the server cannot list
// all of them at once.
const defaultCollection = "operations"

// listPages lists the collection name from the page token (or the first
// page), one page or all, and returns the operations and the token of the
// next page. With queued, it asks after each page which of its operations
// are queued (markQueued).
func listPages(ctx context.Context, be backend, name, filter string, pageSize int32, token string, onePage, queued bool) ([]*opView, string, error) {
	var all []*opView
	next := token
	for {
		ops, nt, err := be.list(ctx, name, filter, pageSize, next)
		if err != nil {
			return nil, "", err
		}
		if nt != "" && nt == next {
			return nil, "", fmt.Errorf("the server answered page token %q with the same token; stopping", nt)
		}
		if queued {
			markQueued(ctx, be, name, ops)
		}
		all = append(all, ops...)
		next = nt
		if onePage || next == "" {
			return all, next, nil
		}
	}
}

func newGetCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show one operation",
		Long: `Show the latest state of one operation: its name, state, progress (when
the metadata carries a progress figure), metadata, and its response or
error once done. With --json, print the Operation message as JSON.

The state is QUEUED (recorded, not started yet), RUNNING, SUCCEEDED,
FAILED or DONE. For an operation not done, lroctl asks its collection
with one List call and the filter queued = true AND name = "NAME"; a
server that does not know the queued field shows RUNNING.

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
			if !g.json {
				markQueued(ctx, be, collectionOf(op.Name), []*opView{op})
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
			pr := newProgress(cmd.ErrOrStderr(), name, isTerminal(cmd.ErrOrStderr()))
			op, err := waitFor(ctx, be, name, waitConfig{refresh: refresh, pollOnly: poll, pollMax: pollMax, retryFor: retryFor}, pr.update)
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
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", done, clean(name))
			}
		}
		return nil
	}
}
