package lro_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// TestSecondCloseWaits: a Close called while another is under way returns
// only once the Manager has stopped, with the same result; its ctx ending
// cuts the work short as the first Close's would.
func TestSecondCloseWaits(t *testing.T) {
	m, err := lro.New()
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan string, 1)
	ended := make(chan struct{})
	op, err := m.Start(context.Background(), func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		defer close(ended)
		return blockingWork(started, nil)(ctx, op)
	})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	first := make(chan error, 1)
	go func() { first <- m.Close(context.Background()) }()
	<-lro.Closing(m)

	cut, cancel := context.WithCancel(context.Background())
	cancel()
	second := m.Close(cut)
	select {
	case <-ended:
	default:
		t.Fatal("the second Close returned while the work still ran")
	}
	if !errors.Is(second, context.Canceled) {
		t.Errorf("second Close = %v, want the work cut short by its context", second)
	}
	if got := <-first; got != second {
		t.Errorf("first Close = %v, second = %v; want the same result", got, second)
	}
	if got := m.Close(context.Background()); got != second {
		t.Errorf("Close after the Manager stopped = %v, want the same result %v", got, second)
	}
	checkNoManagerGoroutines(t, m)
	if got := get(t, m, op.GetName()).GetError(); codes.Code(got.GetCode()) != codes.Unavailable {
		t.Errorf("cut-short work ended with %v, want UNAVAILABLE", got)
	}
}

// TestNilContext: a nil context is INVALID_ARGUMENT from every call that
// takes one, never a panic, and leaves the Manager working.
func TestNilContext(t *testing.T) {
	m := newManager(t)
	if err := lro.Register(m, "export", exportHandler); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	created, err := m.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	opErr := make(chan error, 1)
	running, err := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
		opErr <- op.SetMetadata(nil, wrapperspb.Int32(1)) //nolint:staticcheck // a nil context on purpose
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var nilCtx context.Context
	work := func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil }
	for _, tt := range []struct {
		call string
		do   func() error
	}{
		{"Start", func() error { _, err := m.Start(nilCtx, work); return err }},
		{"StartKind", func() error { _, err := m.StartKind(nilCtx, "export", wrapperspb.String("x")); return err }},
		{"Create", func() error { _, err := m.Create(nilCtx); return err }},
		{"SetMetadata", func() error { return m.SetMetadata(nilCtx, created.GetName(), wrapperspb.Int32(1)) }},
		{"Complete", func() error { return m.Complete(nilCtx, created.GetName(), nil) }},
		{"Fail", func() error { return m.Fail(nilCtx, created.GetName(), errors.New("x")) }},
		{"Op.SetMetadata", func() error { return <-opErr }},
		{"Close", func() error { return m.Close(nilCtx) }},
	} {
		err := callNoPanic(tt.do)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "nil context") {
			t.Errorf("%s(nil context) = %v, want INVALID_ARGUMENT saying so", tt.call, err)
		}
	}
	waitDone(t, m, running.GetName())
	if got := get(t, m, created.GetName()); got.GetDone() {
		t.Errorf("a call with a nil context changed the operation: %v", got)
	}
	// The Manager still works, and Close (in the cleanup) still returns.
	if _, err := m.Start(ctx, work); err != nil {
		t.Errorf("Start after the nil-context calls: %v", err)
	}
}

// callNoPanic calls f and turns a panic into an error.
func callNoPanic(f func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panicked: %v", v)
		}
	}()
	return f()
}

// panicWatch is a store whose Watch panics: host code that the Manager
// calls while it holds its lock.
type panicWatch struct{ *lro.MemoryStore }

func (panicWatch) Watch(string, func(lro.Event)) func() { panic("watch exploded") }

// TestPanicInStoreHoldsNoLock: a panic from the store inside Start reaches
// the caller and leaves no lock held: Close still returns.
func TestPanicInStoreHoldsNoLock(t *testing.T) {
	m := newManager(t, lro.WithStore(panicWatch{lro.NewMemoryStore()}))
	err := callNoPanic(func() error {
		_, err := m.Start(context.Background(), func(context.Context, *lro.Op) (proto.Message, error) { return nil, nil })
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "watch exploded") {
		t.Errorf("Start on a store whose Watch panics = %v, want the panic", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- m.Close(context.Background()) }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Close hung: the panic left the Manager's lock held")
	}
}

// stuckFinish is a store whose Finish blocks until its context ends: a
// finishing write that hangs.
type stuckFinish struct{ *lro.MemoryStore }

func (stuckFinish) Finish(ctx context.Context, p lro.FinishParams) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestCloseGivesUpAfterGrace: once Close's context has ended and the
// work's contexts are cancelled, Close waits the grace and no longer, for
// work that ignores its context and for a finishing write that hangs. It
// names what it abandoned; those operations end UNAVAILABLE; the goroutine
// of the stuck work is left running, and its result is dropped.
func TestCloseGivesUpAfterGrace(t *testing.T) {
	const grace = 3 * time.Second
	for _, tt := range []struct {
		desc  string
		store lro.Store
		// work ignores its context until release is closed.
		stubborn bool
	}{
		{"work ignores its context", lro.NewMemoryStore(), true},
		{"finishing write hangs", stuckFinish{lro.NewMemoryStore()}, false},
	} {
		t.Run(tt.desc, func(t *testing.T) {
			clk := lrotest.NewClock(epoch)
			m, err := lro.New(lro.WithStore(tt.store), lro.WithClock(clk), lro.WithCloseGrace(grace))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			started := make(chan string, 1)
			release := make(chan struct{})
			stuck, err := m.Start(ctx, func(ctx context.Context, op *lro.Op) (proto.Message, error) {
				started <- op.Name()
				if tt.stubborn {
					<-release
				}
				return wrapperspb.String("late"), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			<-started

			cut, cancel := context.WithCancel(ctx)
			cancel()
			closed := make(chan error, 1)
			go func() { closed <- m.Close(cut) }()
			timeout := time.After(waitTimeout)
			if !clk.WaitForTimer(grace, toDone(timeout)) {
				t.Fatal("Close never armed its grace timer")
			}
			clk.Advance(grace)
			var closeErr error
			select {
			case closeErr = <-closed:
			case <-timeout:
				t.Fatal("Close did not return after its grace")
			}
			if !errors.Is(closeErr, lro.ErrWorkAbandoned) || !errors.Is(closeErr, context.Canceled) ||
				!strings.Contains(closeErr.Error(), stuck.GetName()) || !strings.Contains(closeErr.Error(), " 1 operations") {
				t.Errorf("Close = %v, want ErrWorkAbandoned and context.Canceled, naming the 1 abandoned operation %s", closeErr, stuck.GetName())
			}
			if got := get(t, m, stuck.GetName()).GetError(); codes.Code(got.GetCode()) != codes.Unavailable {
				t.Errorf("the abandoned operation ended with %v, want UNAVAILABLE", got)
			}
			if tt.stubborn {
				// Only the goroutine running the stuck work is left.
				if alive := managerGoroutines(m); len(alive) != 1 || !strings.Contains(alive[0], "lro.(*Manager).run(") {
					t.Errorf("after Close gave up: %d goroutines of the Manager, want only the stuck work's:\n%s", len(alive), strings.Join(alive, "\n\n"))
				}
				close(release)
			}
			checkNoManagerGoroutines(t, m)
			if got := get(t, m, stuck.GetName()); got.GetResponse() != nil {
				t.Errorf("the abandoned work's result was stored: %v", got)
			}
		})
	}
}

// toDone turns a timer channel into a done channel.
func toDone(c <-chan time.Time) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		<-c
		close(done)
	}()
	return done
}

// managerGoroutines returns the stacks of the goroutines running a method
// of m (see checkNoManagerGoroutines).
func managerGoroutines(m *lro.Manager) []string {
	self := fmt.Sprintf("(%p", m)
	buf := make([]byte, 4<<20)
	n := runtime.Stack(buf, true)
	var alive []string
	for _, g := range strings.Split(string(buf[:n]), "\n\n") {
		if strings.Contains(g, "github.com/lrokit/lro.(*Manager).") && strings.Contains(g, self) {
			alive = append(alive, g)
		}
	}
	return alive
}
