package lro_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// countingStore records how many records each List call examined.
type countingStore struct {
	lro.Store
	mu       sync.Mutex
	examined []int
}

func (s *countingStore) List(ctx context.Context, q lro.ListQuery) (lro.ListResult, error) {
	res, err := s.Store.List(ctx, q)
	s.mu.Lock()
	s.examined = append(s.examined, res.Examined)
	s.mu.Unlock()
	return res, err
}

// take returns the examined counts recorded since the last take.
func (s *countingStore) take() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.examined
	s.examined = nil
	return out
}

// pageAll pages through a listing, where pages may be short or empty
// before the end, and returns the names and every page's length.
func pageAll(t *testing.T, m *lro.Manager, req *longrunningpb.ListOperationsRequest) (names []string, sizes []int) {
	t.Helper()
	req = proto.Clone(req).(*longrunningpb.ListOperationsRequest)
	for page := 0; ; page++ {
		if page > 10_000 {
			t.Fatalf("listing %v did not end", req)
		}
		resp, err := m.ListOperations(context.Background(), req)
		if err != nil {
			t.Fatalf("ListOperations(%v) page %d: %v", req, page, err)
		}
		if n := len(resp.GetOperations()); n > int(req.GetPageSize()) && req.GetPageSize() > 0 {
			t.Fatalf("page %d holds %d operations, more than page_size %d", page, n, req.GetPageSize())
		}
		for _, op := range resp.GetOperations() {
			names = append(names, op.GetName())
		}
		sizes = append(sizes, len(resp.GetOperations()))
		if resp.GetNextPageToken() == "" {
			return names, sizes
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

func TestListScanBudget(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	store := &countingStore{Store: lro.NewMemoryStore()}
	const budget = 10
	m := newManager(t, lro.WithStore(store), lro.WithClock(clk), lro.WithListScanBudget(budget))
	ctx := context.Background()
	var all, failed []string
	for i := range 60 {
		op, err := m.Create(ctx, lro.WithParent("projects/p"))
		if err != nil {
			t.Fatal(err)
		}
		if i%7 == 3 {
			if err := m.Fail(ctx, op.GetName(), status.Error(codes.Aborted, "conflict")); err != nil {
				t.Fatal(err)
			}
			failed = append(failed, op.GetName())
		}
		all = append(all, op.GetName())
		clk.Advance(time.Second)
	}
	slices.Reverse(all)
	slices.Reverse(failed)
	store.take()

	for _, tc := range []struct {
		req  *longrunningpb.ListOperationsRequest
		want []string
	}{
		{&longrunningpb.ListOperationsRequest{Name: "projects/p/operations", Filter: "error.code = ABORTED", PageSize: 3}, failed},
		{&longrunningpb.ListOperationsRequest{Filter: "error:*", PageSize: 100}, failed},
		{&longrunningpb.ListOperationsRequest{Name: "projects/-/operations", Filter: "done = true", PageSize: 2}, failed},
		{&longrunningpb.ListOperationsRequest{Name: "projects/p/operations", PageSize: 25}, all},
		{&longrunningpb.ListOperationsRequest{Filter: "name:nothing", PageSize: 5}, nil},
	} {
		got, sizes := pageAll(t, m, tc.req)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("listing %v (-want +got):\n%s", tc.req, diff)
		}
		// Every call examined at most the budget, so a listing of 60
		// operations takes at least 60/budget calls.
		examined := store.take()
		total := 0
		for _, n := range examined {
			total += n
		}
		if total > budget*len(sizes) {
			t.Errorf("listing %v: %d pages examined %d operations, more than %d each", tc.req, len(sizes), total, budget)
		}
		if len(sizes) < 60/budget {
			t.Errorf("listing %v took %d pages (%v); the budget allows no fewer than %d", tc.req, len(sizes), sizes, 60/budget)
		}
	}
	// A filter that matches nothing gives empty pages with a token, and
	// the last page only has none.
	_, sizes := pageAll(t, m, &longrunningpb.ListOperationsRequest{Filter: "name:nothing"})
	if want := slices.Repeat([]int{0}, 6); !slices.Equal(sizes, want) {
		t.Errorf("no-match listing gave pages of %v, want %v (budget %d of 60 operations)", sizes, want, budget)
	}
}

// TestListByNameMemory lists with filters that require a name, under a
// scan budget far smaller than the store: the memory store looks the name
// up, so the first page holds the operation (the oldest, last in List
// order) and has no next page, and at most one record is examined.
func TestListByNameMemory(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	store := &countingStore{Store: lro.NewMemoryStore()}
	m := newManager(t, lro.WithStore(store), lro.WithClock(clk), lro.WithListScanBudget(10))
	ctx := context.Background()
	var names []string
	for i := range 100 {
		op, err := m.Create(ctx, lro.WithParent(fmt.Sprint("projects/p", i%2)))
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if err := m.Complete(ctx, op.GetName(), wrapperspb.String("ok")); err != nil {
				t.Fatal(err)
			}
		}
		names = append(names, op.GetName())
		clk.Advance(time.Second)
	}
	oldest, done := names[0], names[1] // under projects/p0 and projects/p1
	store.take()
	for _, tc := range []struct {
		collection, filter string
		want               []string
	}{
		{"", `name = "` + oldest + `"`, []string{oldest}},
		{"projects/p0/operations", `name = "` + oldest + `"`, []string{oldest}},
		{"projects/p1/operations", `name = "` + oldest + `"`, nil},
		{"projects/-/operations", `name = "` + oldest + `"`, []string{oldest}},
		{"", `done = true AND name = "` + done + `"`, []string{done}},
		{"", `done = true AND name = "` + oldest + `"`, nil},
		{"", `name = "` + oldest + `" AND name = "` + done + `"`, nil},
		{"", `name = "projects/p0/operations/missing"`, nil},
	} {
		resp, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{Name: tc.collection, Filter: tc.filter, PageSize: 10})
		if err != nil {
			t.Fatalf("%q in %q: %v", tc.filter, tc.collection, err)
		}
		var got []string
		for _, op := range resp.GetOperations() {
			got = append(got, op.GetName())
		}
		if !slices.Equal(got, tc.want) || resp.GetNextPageToken() != "" {
			t.Errorf("%q in %q: got %q and next page token %q, want %q and none", tc.filter, tc.collection, got, resp.GetNextPageToken(), tc.want)
		}
		total := 0
		for _, n := range store.take() {
			total += n
		}
		if total > 1 {
			t.Errorf("%q in %q: %d records examined, want at most 1", tc.filter, tc.collection, total)
		}
	}
}

func TestListScanBudgetOption(t *testing.T) {
	for _, n := range []int{0, -1} {
		if _, err := lro.New(lro.WithListScanBudget(n)); err == nil || !strings.Contains(err.Error(), "WithListScanBudget") {
			t.Errorf("New(WithListScanBudget(%d)) = %v; want an error naming the option", n, err)
		}
		if _, err := lro.New(lro.WithListPageBytes(n)); err == nil || !strings.Contains(err.Error(), "WithListPageBytes") {
			t.Errorf("New(WithListPageBytes(%d)) = %v; want an error naming the option", n, err)
		}
	}
}

func TestListPageBytes(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	const limit = 10_000
	m := newManager(t, lro.WithClock(clk), lro.WithListPageBytes(limit))
	ctx := context.Background()
	var want []string
	for i := range 40 {
		size := 900
		if i == 7 {
			size = 3 * limit // bigger than a page: it gets a page of its own
		}
		op, err := m.Create(ctx, lro.WithMetadata(wrapperspb.String(strings.Repeat("x", size))))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, op.GetName())
		clk.Advance(time.Second)
	}
	slices.Reverse(want)
	req := &longrunningpb.ListOperationsRequest{PageSize: 1000}
	var got []string
	for page := 0; page < 100; page++ {
		resp, err := m.ListOperations(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		ops := resp.GetOperations()
		if len(ops) == 0 {
			t.Fatalf("page %d is empty", page)
		}
		if n := proto.Size(&longrunningpb.ListOperationsResponse{Operations: ops}); len(ops) > 1 && n > limit {
			t.Errorf("page %d holds %d operations in %d bytes, over the %d-byte limit", page, len(ops), n, limit)
		}
		for _, op := range ops {
			got = append(got, op.GetName())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listing in pages of at most %d bytes (-want +got):\n%s", limit, diff)
	}
}

func TestListDefaultPageBytes(t *testing.T) {
	// Four operations of 1 MB each (under the default payload cap) would
	// be a 4 MB page, which a default gRPC client refuses: the default
	// limit splits them.
	m := newManager(t)
	ctx := context.Background()
	for range 4 {
		if _, err := m.Create(ctx, lro.WithMetadata(wrapperspb.Bytes(make([]byte, 1_000_000)))); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if n := proto.Size(resp); n > lro.DefaultListPageBytes+4096 || resp.GetNextPageToken() == "" {
		t.Errorf("first page: %d bytes, token %q; want at most %d bytes and a token", n, resp.GetNextPageToken(), lro.DefaultListPageBytes)
	}
}

func TestListReturnPartialSuccess(t *testing.T) {
	m := newManager(t)
	_, err := m.ListOperations(context.Background(), &longrunningpb.ListOperationsRequest{ReturnPartialSuccess: true})
	wantCode(t, err, codes.Unimplemented)
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "return_partial_success is not supported") {
		t.Errorf("message %q does not say return_partial_success is not supported", msg)
	}
	// page_size is still checked first.
	_, err = m.ListOperations(context.Background(), &longrunningpb.ListOperationsRequest{ReturnPartialSuccess: true, PageSize: -1})
	wantCode(t, err, codes.InvalidArgument)
}

// selfCall marks the context of an Authorizer's own calls to the Manager.
type selfCall struct{}

// TestListAuthorizerUsesStore lists every operation with an Authorizer that
// checks ownership through the Manager and the store and writes to the
// store, while writers run beside it: nothing deadlocks.
func TestListAuthorizerUsesStore(t *testing.T) {
	store := lro.NewMemoryStore()
	var m *lro.Manager
	var calls atomic.Int64
	authz := func(ctx context.Context, method, name string) error {
		if ctx.Value(selfCall{}) != nil || method != lro.MethodGet {
			return nil
		}
		calls.Add(1)
		own := context.WithValue(ctx, selfCall{}, true)
		op, err := m.GetOperation(own, &longrunningpb.GetOperationRequest{Name: name})
		if err != nil {
			return err
		}
		// A write, which needs the store's write lock, from the goroutine
		// that runs List.
		if _, err := m.Create(own, lro.WithParent("audit")); err != nil {
			return err
		}
		if strings.HasSuffix(op.GetName(), "0") {
			return status.Error(codes.PermissionDenied, "not yours")
		}
		return nil
	}
	m = newManager(t, lro.WithStore(store), lro.WithAuthorizer(authz), lro.WithListScanBudget(100_000))
	ctx := context.Background()
	for range 2*lro.MemListChunk + 10 {
		if _, err := m.Create(ctx, lro.WithParent("projects/p")); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var writers sync.WaitGroup
	var written atomic.Int64
	for range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				op, err := m.Create(ctx, lro.WithParent("projects/w"))
				if err == nil {
					_, err = m.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.GetName()})
				}
				if err != nil {
					t.Error(err)
					return
				}
				written.Add(1)
			}
		}()
	}
	done := make(chan error, 1)
	go func() {
		_, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{PageSize: 1000})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ListOperations: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("ListOperations with an Authorizer that uses the store did not return: deadlock")
	}
	close(stop)
	writers.Wait()
	if calls.Load() == 0 {
		t.Error("the Authorizer was never asked about an operation")
	}
}

// TestListReleasesLockBetweenChunks writes to the memory store between the
// chunks of one List scan, from the scanning goroutine: a scan that kept
// the read lock would deadlock, and the write must not disturb the scan.
func TestListReleasesLockBetweenChunks(t *testing.T) {
	clk := lrotest.NewClock(epoch)
	store := lro.NewMemoryStore()
	m := newManager(t, lro.WithStore(store), lro.WithClock(clk))
	ctx := context.Background()
	var want []string
	for range 3 * lro.MemListChunk {
		op, err := m.Create(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, op.GetName())
		clk.Advance(time.Millisecond)
	}
	slices.Reverse(want)
	var between atomic.Int64
	store.SetBetweenChunks(func() {
		between.Add(1)
		// Newer than every listed operation: the listing resumes after
		// its cursor and never sees it.
		if _, err := m.Create(ctx, lro.WithParent(fmt.Sprint("projects/x", between.Load()))); err != nil {
			t.Error(err)
		}
	})
	defer store.SetBetweenChunks(nil)
	got, _ := pageAll(t, m, &longrunningpb.ListOperationsRequest{Name: "operations", Filter: "done = false", PageSize: 1000})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listing across chunks (-want +got):\n%s", diff)
	}
	if between.Load() < 2 {
		t.Errorf("the scan of %d operations took %d breaks; want at least 2", len(want), between.Load())
	}
}
