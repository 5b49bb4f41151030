package pgstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/go-cmp/cmp"
	"github.com/lrokit/lro"
	"github.com/lrokit/lro/internal/filter/filtertest"
	"github.com/lrokit/lro/lrotest"
)

// catalogStores returns a pgstore and a memory store holding the fixture
// operations of the filter catalog, listed in fixture order.
func catalogStores(t *testing.T) (*Store, *lro.MemoryStore) {
	t.Helper()
	pg := newStore(t, freshSchema(t))
	mem := lro.NewMemoryStore()
	for i, op := range filtertest.Operations() {
		r := lrotest.NewRecord(op.GetName(), lrotest.Epoch.Add(-time.Duration(i)*time.Second))
		r.Operation = op
		if op.GetDone() {
			r.ExpireTime = lrotest.Epoch.Add(time.Hour)
		}
		for _, s := range []lro.Store{pg, mem} {
			if _, _, err := s.Create(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
	}
	return pg, mem
}

// catalogFilters is the catalog, and each filter again under a pinned
// metadata type, so that restrictions on metadata fields are pushed down.
func catalogFilters() []filtertest.Case {
	cases := append([]filtertest.Case(nil), filtertest.Cases...)
	for _, tc := range filtertest.Cases {
		cases = append(cases, filtertest.Case{Filter: "metadata.@type = " + filtertest.InstanceMetaURL + " AND (" + tc.Filter + ")"})
	}
	return cases
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
// the error (a pinned variant the pinned type refuses).
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

// TestFilterCatalog lists every filter of the catalog through pgstore,
// where parts of it run as SQL, and through the memory store, where all of
// it runs in Go: the results are the same, and the expected ones.
func TestFilterCatalog(t *testing.T) {
	t.Parallel()
	pg, mem := catalogStores(t)
	checkCatalog(t, pg, mem)
}

// TestFilterCatalogUnknownDerived makes the derived columns of every other
// row unknown, as a replica that predates them leaves them, and gives the
// rest a metadata JSON of another schema: results stay exact.
func TestFilterCatalogUnknownDerived(t *testing.T) {
	t.Parallel()
	pg, mem := catalogStores(t)
	ctx := context.Background()
	// Every other row: wrong derived values, made unknown by a version
	// bump without them. The others: a metadata JSON with wrong values,
	// written with another schema.
	if _, err := pg.pool.Exec(ctx, `WITH n AS (SELECT name, row_number() OVER (ORDER BY name) % 2 = 0 AS even FROM lro_operations)
		UPDATE lro_operations o SET error_code = 99, metadata_type = 'x', response_type = NULL,
			metadata_json = '{"count": 12345, "state": "READY", "labels": ["team"]}', version = o.version + 1
		FROM n WHERE o.name = n.name AND n.even`); err != nil {
		t.Fatal(err)
	}
	if _, err := pg.pool.Exec(ctx, `WITH n AS (SELECT name, row_number() OVER (ORDER BY name) % 2 = 0 AS even FROM lro_operations)
		UPDATE lro_operations o SET metadata_json = '{"count": 12345, "state": "READY", "labels": ["team"]}',
			metadata_schema = '\x00'::bytea
		FROM n WHERE o.name = n.name AND NOT n.even AND o.metadata_json IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	checkCatalog(t, pg, mem)
}

func checkCatalog(t *testing.T, pg *Store, mem *lro.MemoryStore) {
	t.Helper()
	managers := map[string][2]*lro.Manager{
		"default": {catalogManager(t, pg), catalogManager(t, mem)},
		"budget 3": {catalogManager(t, pg, lro.WithListScanBudget(3)),
			catalogManager(t, mem, lro.WithListScanBudget(3))},
	}
	for _, tc := range catalogFilters() {
		for name, ms := range managers {
			for _, size := range []int32{0, 2} {
				got, err := listNamesBy(ms[0], tc.Filter, size)
				want, werr := listNamesBy(ms[1], tc.Filter, size)
				if (err == nil) != (werr == nil) {
					t.Fatalf("%s, %q: pgstore says %v, the memory store %v", name, tc.Filter, err, werr)
				}
				if err != nil {
					continue
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s, page_size %d, %q: pgstore lists (-memory store +pgstore):\n%s", name, size, tc.Filter, diff)
				}
				if tc.Want != nil || tc.Filter != "" && len(want) == 0 {
					if diff := cmp.Diff(orEmpty(tc.Want), orEmpty(got)); diff != "" {
						t.Errorf("%s, page_size %d, %q: (-catalog +pgstore):\n%s", name, size, tc.Filter, diff)
					}
				}
			}
		}
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// TestPushdownExact checks that the filters the translation claims to
// decide in SQL are decided there: pgstore returns exactly the matching
// rows, no candidate for Go to drop.
func TestPushdownExact(t *testing.T) {
	t.Parallel()
	pg, _ := catalogStores(t)
	ctx := context.Background()
	pinned := "metadata.@type = " + filtertest.InstanceMetaURL + " AND "
	for _, src := range []string{
		"done:true", "done = false", "error:*", "NOT error:*", "error.code = 1", "error.code != 1",
		"error.code > 5", "error.code:*", "metadata:*", "NOT metadata:*", "response:*",
		"response.@type = type.googleapis.com/lro.internal.testpb.Instance", "metadata.@type:InstanceMetadata",
		`metadata.@type = "*CreateBackupMetadata"`, `name = "*/abc"`, "name:inst-", "name:backup-*-2",
		"name != operations/plain", `name > "projects/p"`, "name:(howl -2)",
		"done = true AND error.code = 1 OR error.code = 9", "NOT (done = true OR metadata:*)",
		pinned + "metadata.state = READY", pinned + "metadata.state != READY", pinned + "metadata.count < 0",
		pinned + "metadata.count = 3", pinned + "metadata.bytes_total > 1000000000", pinned + "metadata.dry_run = true",
		pinned + "metadata.instance_config.name:custom-config", pinned + "metadata.labels:team",
		pinned + "metadata.tags.env = prod", pinned + "metadata.tags.env != prod", pinned + "metadata.tags:tier",
		pinned + "metadata.owner = alice", pinned + "metadata.priority:*", pinned + "metadata.priority = 0",
		pinned + "metadata.history:READY", pinned + "NOT metadata.instance_config.display_name = Custom",
	} {
		f, err := lro.ParseFilter(src, filtertest.Resolver)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", src, err)
		}
		res, err := pg.List(ctx, lro.ListQuery{AllParents: true, Limit: 100, Filter: f})
		if err != nil {
			t.Fatalf("List(%q): %v", src, err)
		}
		var extra []string
		for _, r := range res.Records {
			if !f.Match(r.Operation) {
				extra = append(extra, r.Operation.GetName())
			}
		}
		if len(extra) > 0 {
			t.Errorf("%q: SQL let through %v, which the filter rejects: not pushed down exactly", src, extra)
		}
	}
}

// TestPushdownSQL pins the translation of a few filters.
func TestPushdownSQL(t *testing.T) {
	for _, tc := range []struct{ filter, sup string }{
		{"done = true", "o.done"},
		{"done = true AND name:x", "(o.done AND o.name LIKE $1 ESCAPE '\\')"},
		{"error.message:x", sqlTrue},
		{"NOT error.message:x", sqlTrue},
		{"done = true OR error.message:x", sqlTrue},
		{"done = true AND done = false", "(o.done AND NOT o.done)"},
		{"NOT (done = true AND error.message:x)", sqlTrue},
		{"NOT (done = true OR error.message:x)", "(NOT o.done)"},
		{"metadata.value = 3", sqlTrue}, // no pinned type
	} {
		f, err := lro.ParseFilter(tc.filter, nil)
		if err != nil {
			t.Fatal(err)
		}
		var q query
		got, _ := compact(q.filterCond(f.Parsed()).Sup, q.args)
		if got != tc.sup {
			t.Errorf("%q: sup = %s, want %s", tc.filter, got, tc.sup)
		}
	}
	if !strings.Contains(fresh, "derived_version") {
		t.Error("derived columns are not checked for freshness")
	}
}

// TestMigrateBackfillsDerived takes a table back to before migration 0003
// and migrates it again: Migrate derives the columns of the rows there.
func TestMigrateBackfillsDerived(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := freshSchema(t)
	old := newStore(t, schema)
	for i, op := range filtertest.Operations() {
		r := lrotest.NewRecord(op.GetName(), lrotest.Epoch.Add(-time.Duration(i)*time.Second))
		r.Operation = op
		mustCreate(t, old, r)
	}
	pool := newPool(t, schema, 1)
	if _, err := pool.Exec(ctx, `ALTER TABLE lro_operations DROP COLUMN error_code, DROP COLUMN metadata_type,
		DROP COLUMN response_type, DROP COLUMN metadata_json, DROP COLUMN metadata_schema, DROP COLUMN derived_version;
		DROP INDEX lro_operations_running_list_idx;
		DELETE FROM lro_schema_migrations WHERE version = 3`); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	var stale, errors, docs int
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE derived_version IS DISTINCT FROM version),
		count(error_code), count(metadata_json) FROM lro_operations`).Scan(&stale, &errors, &docs); err != nil {
		t.Fatal(err)
	}
	// Three operations failed; three have metadata of a type linked into
	// the program (the Spanner look-alikes are known to the test resolver
	// only).
	if stale != 0 || errors != 3 || docs != 3 {
		t.Errorf("after the backfill: %d rows not derived, %d error codes, %d metadata documents; want 0, 3, 3", stale, errors, docs)
	}
	s := newStore(t, schema)
	f, err := lro.ParseFilter("error:*", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.List(ctx, lro.ListQuery{AllParents: true, Limit: 100, Filter: f})
	if err != nil || len(res.Records) != 3 {
		t.Errorf("List(error:*) after the backfill = %d records, %v; want the 3 failed operations", len(res.Records), err)
	}
}
