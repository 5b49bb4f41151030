package spannerstore

import (
	"context"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/grpc/codes"
)

// The Cloud Spanner emulator runs one read-write transaction at a time: a
// transaction begun while another is open invalidates one of them, and the
// loser's next call fails with NOT_FOUND ("Transaction not found") or
// FAILED_PRECONDITION ("Invalid transaction ID", "Cannot read or query
// using a transaction after it has been committed or rolledback") rather
// than with ABORTED, which the client would retry. Against the emulator
// (SPANNER_EMULATOR_HOST set), rw retries such transactions as Spanner
// would retry an aborted one. Against Spanner these errors are not
// retried: there they mean something else.

// emulated reports whether the client talks to the emulator.
func emulated() bool { return os.Getenv("SPANNER_EMULATOR_HOST") != "" }

// maxEmulatorRetries bounds the retries of one transaction.
const maxEmulatorRetries = 200

// emulatorMu runs the read-write transactions of this process one at a
// time against the emulator, which runs only one at a time anyway: without
// it, concurrent transactions invalidate each other and retry for many
// seconds. Transactions of other processes (and the change stream
// queries) still conflict, and are retried.
var emulatorMu sync.Mutex

// rw runs fn in a read-write transaction (see the comment above).
func (s *Store) rw(ctx context.Context, fn func(context.Context, *spanner.ReadWriteTransaction) error) error {
	if emulated() {
		emulatorMu.Lock()
		defer emulatorMu.Unlock()
	}
	for i := 0; ; i++ {
		_, err := s.client.ReadWriteTransaction(ctx, fn)
		if err == nil || !emulated() || !emulatorConflict(err) || i == maxEmulatorRetries {
			return err
		}
		d := time.Duration(1+rand.IntN(4<<min(i, 4))) * time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
	}
}

// emulatorConflict reports whether err is the emulator's way of saying a
// concurrent transaction won.
func emulatorConflict(err error) bool {
	switch spanner.ErrCode(err) {
	case codes.NotFound, codes.FailedPrecondition, codes.Aborted:
	default:
		return false
	}
	msg := spanner.ErrDesc(err)
	for _, s := range []string{"Transaction not found", "Invalid transaction ID", "after it has been committed or rolledback", "aborted"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
