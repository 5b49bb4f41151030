package spannerstore_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/lrokit/lro/spannerstore"
)

// TestCloseEndsReader: Close returns only once the change stream reader
// and its partition readers have stopped, and Notifying is false then.
func TestCloseEndsReader(t *testing.T) {
	_, db := newStore(t, spannerstore.WithoutChangeStream())
	s := replica(t, db)
	waitNotifying(t, s)
	if n := readerGoroutines(); n == 0 {
		t.Fatal("no change stream reader goroutine while Notifying")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Notifying() {
		t.Error("Notifying = true after Close")
	}
	// Close waited for the readers, so none is left (the stacks of other
	// tests' Stores are not in this sequential test's way).
	if n := readerGoroutines(); n != 0 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d change stream reader goroutines left after Close:\n%s", n, buf[:runtime.Stack(buf, true)])
	}
}

// readerGoroutines counts the goroutines running the change stream reader.
func readerGoroutines() int {
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	n := 0
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "spannerstore.(*Store).runStream") || strings.Contains(g, "spannerstore.(*Store).readStream") {
			n++
		}
	}
	return n
}
