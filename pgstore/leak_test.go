package pgstore

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/lrokit/lro"
)

// TestCloseEndsGoroutines: after Close, no goroutine of the Store (its
// listener, its finish batchers) is left, even with work in flight.
func TestCloseEndsGoroutines(t *testing.T) {
	schema := freshSchema(t)
	s, err := New(context.Background(), newPool(t, schema, 4), WithAutoMigrate())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rec := &lro.Record{Operation: &longrunningpb.Operation{Name: "operations/leak"}, CreateTime: time.Now(), UpdateTime: time.Now(), Owner: "me"}
	if _, _, err := s.Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	stop := s.Watch("operations/leak", func(lro.Event) {})
	defer stop()
	if err := s.Finish(ctx, lro.FinishParams{Owner: "me", Operation: &longrunningpb.Operation{Name: "operations/leak", Done: true}, UpdateTime: time.Now(), ExpireTime: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Finish(ctx, lro.FinishParams{Owner: "me", Operation: &longrunningpb.Operation{Name: "operations/leak", Done: true}, UpdateTime: time.Now(), ExpireTime: time.Now()}); err == nil {
		t.Error("Finish after Close succeeded")
	}

	self := fmt.Sprintf("(%p", s)
	deadline := time.Now().Add(2 * time.Second)
	for {
		var alive []string
		buf := make([]byte, 4<<20)
		n := runtime.Stack(buf, true)
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, "pgstore.(*Store).") && strings.Contains(g, self) && !strings.Contains(g, "TestCloseEndsGoroutines") {
				alive = append(alive, g)
			}
		}
		if len(alive) == 0 {
			return
		}
		// A goroutine that signalled its WaitGroup may still be returning.
		if time.Now().After(deadline) {
			for _, g := range alive {
				t.Errorf("goroutine outlived Close:\n%s", g)
			}
			return
		}
		runtime.Gosched()
	}
}
