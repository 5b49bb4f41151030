package spannerstore_test

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"cloud.google.com/go/spanner"
	"github.com/google/go-cmp/cmp"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/internal/filter/filtertest"
	"github.com/lrokit/lro/lrotest"
	"github.com/lrokit/lro/spannerstore"
	"github.com/lrokit/lro/spannerstore/internal/emulator"
)

// catalogStores returns a Store and a memory store holding the fixture
// operations of the filter catalog, listed in fixture order.
func catalogStores(t *testing.T) (*spannerstore.Store, *emulator.DB, *lro.MemoryStore) {
	t.Helper()
	sp, db := newStore(t, spannerstore.WithoutChangeStream())
	mem := lro.NewMemoryStore()
	for i, op := range filtertest.Operations() {
		r := lrotest.NewRecord(op.GetName(), lrotest.Epoch.Add(-time.Duration(i)*time.Second))
		r.Operation = op
		if op.GetDone() {
			r.ExpireTime = lrotest.Epoch.Add(time.Hour)
		}
		for _, s := range []lro.Store{sp, mem} {
			if _, _, err := s.Create(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
	}
	return sp, db, mem
}

// catalogManager is a Manager over s at the fixture's time.
func catalogManager(t *testing.T, s lro.Store, opts ...lro.Option) *lro.Manager {
	t.Helper()
	m, err := lro.New(append([]lro.Option{lro.WithStore(s), lro.WithClock(lrotest.NewClock(lrotest.Epoch)),
		lro.WithTypeResolver(filtertest.Resolver)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(context.Background()) })
	return m
}

// listNamesBy pages through every operation matching filter, or returns
// the error.
func listNamesBy(m *lro.Manager, filter string, size int32) ([]string, error) {
	req := &longrunningpb.ListOperationsRequest{Filter: filter, PageSize: size}
	var names []string
	for {
		resp, err := m.ListOperations(context.Background(), req)
		if err != nil {
			return nil, err
		}
		for _, op := range resp.GetOperations() {
			names = append(names, op.GetName())
		}
		if resp.GetNextPageToken() == "" {
			return names, nil
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

// TestFilterCatalog lists every filter of the catalog through the Store, where parts of it run
// as SQL, and through the memory store, where all of it runs in Go: the
// results are the same, and the expected ones, with and without a scan
// budget, in pages of any size.
func TestFilterCatalog(t *testing.T) {
	t.Parallel()
	sp, _, mem := catalogStores(t)
	checkCatalog(t, sp, mem)
}

// TestFilterCatalogStaleDerived gives every other row derived columns that
// are wrong and stale (the version moved on without them, as a replica
// that predates them writes): results stay exact.
func TestFilterCatalogStaleDerived(t *testing.T) {
	t.Parallel()
	sp, db, mem := catalogStores(t)
	var every []string
	for i, op := range filtertest.Operations() {
		if i%2 == 0 {
			every = append(every, op.GetName())
		}
	}
	if _, err := db.Client.ReadWriteTransaction(context.Background(), func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		_, err := tx.Update(ctx, spanner.Statement{
			SQL: `UPDATE lro_operations SET error_code = 99, metadata_type = 'x', response_type = NULL, version = version + 1
WHERE name IN UNNEST(@names)`,
			Params: map[string]any{"names": every},
		})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	checkCatalog(t, sp, mem)
}

func checkCatalog(t *testing.T, sp *spannerstore.Store, mem *lro.MemoryStore) {
	t.Helper()
	managers := map[string][2]*lro.Manager{
		"default": {catalogManager(t, sp), catalogManager(t, mem)},
		"budget 3": {catalogManager(t, sp, lro.WithListScanBudget(3)),
			catalogManager(t, mem, lro.WithListScanBudget(3))},
	}
	for _, tc := range filtertest.Cases {
		for name, ms := range managers {
			for _, size := range []int32{0, 2} {
				got, err := listNamesBy(ms[0], tc.Filter, size)
				want, werr := listNamesBy(ms[1], tc.Filter, size)
				if (err == nil) != (werr == nil) {
					t.Fatalf("%s, %q: spannerstore says %v, the memory store %v", name, tc.Filter, err, werr)
				}
				if err != nil {
					continue
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s, page_size %d, %q: spannerstore lists (-memory store +spannerstore):\n%s", name, size, tc.Filter, diff)
				}
				if tc.Want != nil {
					if diff := cmp.Diff(tc.Want, got); diff != "" {
						t.Errorf("%s, page_size %d, %q: (-catalog +spannerstore):\n%s", name, size, tc.Filter, diff)
					}
				}
			}
		}
	}
}

// TestPushdownExact checks that the filters the translation claims to
// decide in SQL are decided there: the Store returns exactly the matching
// rows, no candidate for Go to drop.
func TestPushdownExact(t *testing.T) {
	sp, _, _ := catalogStores(t)
	ctx := context.Background()
	for _, src := range []string{
		"done:true", "done = false", "error:*", "NOT error:*", "error.code = 1", "error.code != 1",
		"error.code > 5", "error.code:*", "metadata:*", "NOT metadata:*", "response:*",
		"response.@type = type.googleapis.com/lro.internal.testpb.Instance", "metadata.@type:InstanceMetadata",
		`metadata.@type = "*CreateBackupMetadata"`, `name = "*/abc"`, "name:inst-", "name:backup-*-2",
		"name != operations/plain", `name > "projects/p"`, "name:(howl -2)", "queued = true",
		"done = true AND error.code = 1 OR error.code = 9", "NOT (done = true OR metadata:*)",
	} {
		f, err := lro.ParseFilter(src, filtertest.Resolver)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", src, err)
		}
		res, err := sp.List(ctx, lro.ListQuery{AllParents: true, Limit: 100, Filter: f})
		if err != nil {
			t.Fatalf("List(%q): %v", src, err)
		}
		var extra []string
		for _, r := range res.Records {
			if !f.MatchRecord(r) {
				extra = append(extra, r.Operation.GetName())
			}
		}
		if len(extra) > 0 {
			t.Errorf("%q: SQL let through %v, which the filter rejects: not pushed down exactly", src, extra)
		}
		if res.Examined != len(filtertest.Operations()) {
			t.Errorf("%q: examined %d rows; want every one of the %d counted", src, res.Examined, len(filtertest.Operations()))
		}
	}
}
