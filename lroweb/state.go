package lroweb

import (
	"strings"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
)

// state is what the console calls where an operation is in its life.
type state string

const (
	stateQueued    state = "queued"
	stateRunning   state = "running"
	stateSucceeded state = "succeeded"
	stateFailed    state = "failed"
	stateCancelled state = "cancelled"
)

// stateOf tells an operation's state from the Operation message alone,
// which cannot tell queued from running: both are "running".
func stateOf(op *longrunningpb.Operation) state {
	switch {
	case !op.GetDone():
		return stateRunning
	case op.GetError() == nil:
		return stateSucceeded
	case codes.Code(op.GetError().GetCode()) == codes.Canceled:
		return stateCancelled
	default:
		return stateFailed
	}
}

// chip is a state filter on the list page.
type chip struct {
	State  state
	Label  string
	Filter string // "" when disabled
	// Disabled explains why the chip does nothing, or is "".
	Disabled string
}

// chips returns the state chips and the AIP-160 filter each one adds.
// Without a queued filter the queued chip is disabled and running means
// not done.
func (c *console) chips() []chip {
	queued := chip{State: stateQueued, Label: "Queued",
		Disabled: "This server does not tell queued operations from running ones (see lroweb.WithQueuedFilter)."}
	running := "done = false"
	if q := c.cfg.queuedFilter; q != "" {
		queued.Filter, queued.Disabled = q, ""
		running = "done = false AND NOT (" + q + ")"
	}
	return []chip{
		queued,
		{State: stateRunning, Label: "Running", Filter: running},
		{State: stateSucceeded, Label: "Succeeded", Filter: "done = true AND NOT error:*"},
		{State: stateFailed, Label: "Failed", Filter: "error:* AND error.code != CANCELLED"},
		{State: stateCancelled, Label: "Cancelled", Filter: "error.code = CANCELLED"},
	}
}

// withChip adds a chip's filter to the filter the user typed. The user's
// text comes first and unchanged, so the column of an error in it is the
// column the server reports; AND binds loosest in AIP-160, so appending
// "AND (chip)" conjoins the whole of it.
func withChip(user, chipFilter string) string {
	switch {
	case chipFilter == "":
		return user
	case strings.TrimSpace(user) == "":
		return chipFilter
	}
	return user + " AND (" + chipFilter + ")"
}
