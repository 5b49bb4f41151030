package pgstore

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
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/lrotest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// selfCall marks the context of an Authorizer's own calls.
type selfCall struct{}

// TestListAuthorizerUsesStore lists every operation, with a pool of two
// connections, through an Authorizer that checks ownership with the
// Manager and the Store and writes to the Store, while four writers run
// beside it: host code never runs on a connection List holds, so nothing
// waits for a connection that never comes back.
func TestListAuthorizerUsesStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := newPool(t, freshSchema(t), 2)
	s, err := New(ctx, pool, WithAutoMigrate())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	var m *lro.Manager
	var asked atomic.Int64
	authz := func(ctx context.Context, method, name string) error {
		if ctx.Value(selfCall{}) != nil || method != lro.MethodGet {
			return nil
		}
		asked.Add(1)
		own := context.WithValue(ctx, selfCall{}, true)
		if _, err := m.GetOperation(own, &longrunningpb.GetOperationRequest{Name: name}); err != nil {
			return err
		}
		if _, err := s.Get(own, name); err != nil {
			return err
		}
		if _, err := m.Create(own, lro.WithParent("audit")); err != nil {
			return err
		}
		if strings.HasSuffix(name, "0") {
			return status.Error(codes.PermissionDenied, "not yours")
		}
		return nil
	}
	m = lrotest.NewManager(t, s, lro.WithAuthorizer(authz))
	for i := range 120 {
		if _, err := m.Create(ctx, lro.WithParent(fmt.Sprint("projects/p", i%3))); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var writers sync.WaitGroup
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
			}
		}()
	}
	done := make(chan error, 1)
	go func() {
		_, err := m.ListOperations(ctx, &longrunningpb.ListOperationsRequest{PageSize: 1000, Filter: "done = false"})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ListOperations: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("ListOperations with an Authorizer that uses the store did not return: deadlock")
	}
	close(stop)
	writers.Wait()
	if asked.Load() < 120 {
		t.Errorf("the Authorizer was asked about %d operations, want at least 120", asked.Load())
	}
}

// examinedStore records how many rows each List call examined.
type examinedStore struct {
	*Store
	examined atomic.Int64
}

func (s *examinedStore) List(ctx context.Context, q lro.ListQuery) (lro.ListResult, error) {
	res, err := s.Store.List(ctx, q)
	s.examined.Add(int64(res.Examined))
	return res, err
}

// TestListByName lists with filters that require a name, under a scan
// budget far smaller than the table: each is one primary key look-up, so
// the first page holds the operation (the oldest, last in List order) and
// has no next page, and at most one row is examined.
func TestListByName(t *testing.T) {
	t.Parallel()
	s := &examinedStore{Store: newStore(t, freshSchema(t))}
	scaleLoad(t, s.Store, 0, 3000)
	m := lrotest.NewManager(t, s, lro.WithListScanBudget(100))
	oldest, _ := scaleOp(0)  // done, under projects/p000
	running, _ := scaleOp(7) // running, under projects/p007
	for _, tc := range []struct {
		collection, filter string
		want               []string
	}{
		{"", `name = "` + oldest.GetName() + `"`, []string{oldest.GetName()}},
		{"projects/p000/operations", `name = "` + oldest.GetName() + `"`, []string{oldest.GetName()}},
		{"projects/p001/operations", `name = "` + oldest.GetName() + `"`, nil},
		{"projects/-/operations", `name = "` + oldest.GetName() + `"`, []string{oldest.GetName()}},
		{"", `done = true AND name = "` + oldest.GetName() + `" AND error:*`, nil},
		{"", `done = false AND name = "` + running.GetName() + `"`, []string{running.GetName()}},
		{"", `done = false AND name = "` + oldest.GetName() + `"`, nil},
		{"", `name = "` + oldest.GetName() + `" AND name = "` + running.GetName() + `"`, nil},
		{"", `name = "projects/p000/operations/missing"`, nil},
	} {
		s.examined.Store(0)
		resp, err := m.ListOperations(context.Background(), &longrunningpb.ListOperationsRequest{
			Name: tc.collection, Filter: tc.filter, PageSize: 10})
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
		if n := s.examined.Load(); n > 1 {
			t.Errorf("%q in %q: %d rows examined, want at most 1", tc.filter, tc.collection, n)
		}
	}
}
