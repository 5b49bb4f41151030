package pgstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lrokit/lro"
)

// listIndexes are the list indexes as migration 0006 builds them: new
// operations, the newest, land on their right edge, and List walks them
// backward.
var listIndexes = map[string]string{
	"lro_operations_parent_list_idx":  "USING btree (parent, create_time, name DESC)",
	"lro_operations_list_idx":         "USING btree (create_time, name DESC)",
	"lro_operations_running_list_idx": "USING btree (create_time, name DESC) WHERE (NOT done)",
}

// indexDefs returns the definition of each list index in the pool's
// schema, from " USING" on; "" for a missing one.
func indexDefs(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name := range listIndexes {
		var def *string
		if err := s.pool.QueryRow(context.Background(),
			`SELECT pg_get_indexdef(to_regclass($1))`, name).Scan(&def); err != nil {
			t.Fatal(err)
		}
		if def != nil {
			_, out[name], _ = strings.Cut(*def, " USING ")
			out[name] = "USING " + out[name]
		}
	}
	return out
}

// TestListIndexesAscend fails if the list indexes go back to descending
// create_time, where every insert lands on the leftmost leaf.
func TestListIndexesAscend(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	got := indexDefs(t, s)
	for name, want := range listIndexes {
		if got[name] != want {
			t.Errorf("%s: %q; want %q", name, got[name], want)
		}
	}
}

// TestListPlansWalkBackward: every List statement shape walks its list
// index backward, in List order, with no sort: one parent, every parent,
// a wildcard parent, done = false, a filter tested on the rows, and each
// from a cursor.
func TestListPlansWalkBackward(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t, freshSchema(t))
	for i := range 40 {
		mustCreate(t, s, rec("projects/p"+string(rune('a'+i%4)), fmt.Sprint("op", i), i))
	}
	if _, err := s.pool.Exec(ctx, "ANALYZE lro_operations"); err != nil {
		t.Fatal(err)
	}
	running := false
	failed, err := lro.ParseFilter("error:*", nil)
	if err != nil {
		t.Fatal(err)
	}
	cursor := &lro.Cursor{CreateTime: baseTime.Add(20 * time.Second), Name: "projects/pa/operations/op20"}
	cases := []struct {
		name  string
		q     lro.ListQuery
		index string
	}{
		{"one parent", lro.ListQuery{Parent: "projects/pa"}, "lro_operations_parent_list_idx"},
		{"every parent", lro.ListQuery{AllParents: true}, "lro_operations_list_idx"},
		{"wildcard parent", lro.ListQuery{Parent: "projects/-"}, "lro_operations_list_idx"},
		{"done = false", lro.ListQuery{AllParents: true, Done: &running}, "lro_operations_running_list_idx"},
		{"filter, one parent", lro.ListQuery{Parent: "projects/pa", Filter: failed}, "lro_operations_parent_list_idx"},
		{"filter, every parent", lro.ListQuery{AllParents: true, Filter: failed}, "lro_operations_list_idx"},
	}
	for _, c := range cases {
		for _, after := range []*lro.Cursor{nil, cursor} {
			c.q.Limit = 50
			c.q.Budget = lro.DefaultListScanBudget
			p, ok := planList(c.q)
			if !ok {
				t.Fatalf("%s: planList found nothing to match", c.name)
			}
			sql, args := p.statement(after, minWindow, c.q.Limit)
			plan := planOf(t, s, sql, args...)
			if !strings.Contains(plan, "Index Scan Backward using "+c.index+" ") || strings.Contains(plan, "Sort") {
				t.Errorf("%s (cursor %v): want a backward scan of %s and no sort; plan:\n%s", c.name, after != nil, c.index, plan)
			}
		}
	}
}

// TestMigrateTurnsListIndexes: a table migrated with the descending list
// indexes gets them ascending, and an index an operator built beforehand
// (CONCURRENTLY, under the same name) is left as it is.
func TestMigrateTurnsListIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := freshSchema(t)
	pool := newPool(t, schema, 1)
	if err := migrate(ctx, pool, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `DROP INDEX lro_operations_list_idx;
		CREATE INDEX lro_operations_list_idx ON lro_operations (create_time, name DESC)`); err != nil {
		t.Fatal(err)
	}
	oid := func(name string) (o uint32) {
		t.Helper()
		if err := pool.QueryRow(ctx, `SELECT to_regclass($1)::oid`, name).Scan(&o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	prebuilt, parent := oid("lro_operations_list_idx"), oid("lro_operations_parent_list_idx")
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, schema)
	got := indexDefs(t, s)
	for name, want := range listIndexes {
		if got[name] != want {
			t.Errorf("after Migrate, %s: %q; want %q", name, got[name], want)
		}
	}
	if oid("lro_operations_list_idx") != prebuilt {
		t.Error("Migrate rebuilt an index that was already ascending")
	}
	if oid("lro_operations_parent_list_idx") == parent {
		t.Error("Migrate kept the descending parent index")
	}
}
