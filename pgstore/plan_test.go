package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/jackc/pgx/v5"
	"github.com/lrokit/lro"
)

// TestNextPlan: the first check notes the size; the generation moves on
// once the table reaches planFloor and then at each 16-fold growth, and
// stops at the last one. A Store that starts on a large table counts from
// its size.
func TestNextPlan(t *testing.T) {
	const mb = 1 << 20
	tests := []struct {
		name       string
		gen        int
		base, size int64
		wantGen    int
		wantBase   int64
	}{
		{"first check, empty table", 0, -1, 0, 0, 0},
		{"first check, large table", 0, -1, 100 * mb, 0, 100 * mb},
		{"below the floor", 0, 8192, mb - 1, 0, 8192},
		{"at the floor", 0, 8192, mb, 1, mb},
		{"from an empty table", 0, 0, mb, 1, mb},
		{"grown 15-fold", 1, mb, 15 * mb, 1, mb},
		{"grown 16-fold", 1, mb, 16 * mb, 2, 16 * mb},
		{"large at start, grown 15-fold", 0, 100 * mb, 1500 * mb, 0, 100 * mb},
		{"large at start, grown 16-fold", 0, 100 * mb, 1600 * mb, 1, 1600 * mb},
		{"last generation", planGens - 1, mb, 1000 * mb, planGens - 1, mb},
		{"shrunk", 2, 16 * mb, mb, 2, 16 * mb},
	}
	for _, tt := range tests {
		gen, base := nextPlan(tt.gen, tt.base, tt.size)
		if gen != tt.wantGen || base != tt.wantBase {
			t.Errorf("%s: nextPlan(%d, %d, %d) = %d, %d; want %d, %d", tt.name, tt.gen, tt.base, tt.size, gen, base, tt.wantGen, tt.wantBase)
		}
	}
}

// TestPlannedTexts: every generation's text is the statement, and no two
// share a text (a shared text would keep its prepared plan).
func TestPlannedTexts(t *testing.T) {
	for _, sql := range []string{finishSQL, updateBatchSQL, claimNotesSQL} {
		p := newPlanned(sql)
		seen := map[string]bool{}
		for g, text := range p {
			if !strings.HasPrefix(text, sql+"\n--") {
				t.Errorf("generation %d is not the statement and a comment: %q", g, text)
			}
			if seen[text] {
				t.Errorf("generation %d repeats a text", g)
			}
			seen[text] = true
		}
	}
}

// TestPlanCheckIsDue: planned reads the table's size at its first call,
// and not again before planCheckEvery has passed.
func TestPlanCheckIsDue(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	ctx := context.Background()
	if got := s.planned(ctx, readPlans); got != readPlans[0] {
		t.Errorf("planned = %q; want generation 0", got)
	}
	if s.plans.base < 0 {
		t.Fatal("the first planned did not read the table's size")
	}
	s.plans.base = -1
	s.plans.next.Store(time.Now().Add(time.Hour).UnixNano())
	s.planned(ctx, readPlans)
	if s.plans.base >= 0 {
		t.Error("planned read the size before the check was due")
	}
	s.plans.next.Store(0)
	s.planned(ctx, readPlans)
	if s.plans.base < 0 {
		t.Error("planned did not read the size once the check was due")
	}
}

// TestPlansFollowTheTable: statements whose plans were made while the
// table was tiny scan the whole table after it grew; once the Store sees
// the growth, the batch read, update and finish statements use the
// indexes again, through generic plans that PostgreSQL keeps. The table's autovacuum is off so that no ANALYZE
// replans them meanwhile; one connection makes the plans and the counts
// that of one session. Not parallel: other tests' DDL can make PostgreSQL
// drop every cached plan, which would hide the old plans' scans.
func TestPlansFollowTheTable(t *testing.T) {
	ctx := context.Background()
	schema := freshSchema(t)
	s := newStore(t, schema)
	s.Close()
	pool := newPool(t, schema, 1)
	s, err := New(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := pool.Exec(ctx, `ALTER TABLE lro_operations SET (autovacuum_enabled = false)`); err != nil {
		t.Fatal(err)
	}
	const few = 8
	for i := range few {
		mustCreate(t, s, rec("", fmt.Sprint(i), i))
	}
	seqScans := func() int64 {
		t.Helper()
		var n int64
		if _, err := pool.Exec(ctx, `SELECT pg_stat_force_next_flush()`); err != nil {
			t.Fatal(err)
		}
		if err := pool.QueryRow(ctx, `SELECT seq_scan FROM pg_stat_user_tables WHERE relid = 'lro_operations'::regclass`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// run reads two records in one batch and updates and finishes one,
	// each statement more than five times, so that it gets its generic
	// plan.
	runs := 0
	run := func() {
		t.Helper()
		for range 7 {
			calls := []*readCall{{req: "operations/0", out: make(chan readAnswer, 1)}, {req: "operations/1", out: make(chan readAnswer, 1)}}
			s.readBatch(calls)
			for _, c := range calls {
				if a := <-c.out; a.err != nil {
					t.Fatalf("reading %s: %v", c.req, a.err)
				}
			}
			if _, err := s.Update(ctx, "operations/2", func(r *lro.Record) error { r.Owner = "me"; return nil }); err != nil {
				t.Fatal(err)
			}
			name := fmt.Sprintf("operations/%d", 3+runs)
			if _, err := s.Update(ctx, name, func(r *lro.Record) error {
				r.Owner, r.Operation = "me", &longrunningpb.Operation{Name: name}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			// Finishing an operation twice is refused: it reads which it
			// was (presentPlans) as well.
			for _, want := range []error{nil, lro.ErrNotOwner} {
				err := s.Finish(ctx, lro.FinishParams{Owner: "me", Operation: &longrunningpb.Operation{Name: name, Done: true},
					UpdateTime: baseTime, ExpireTime: baseTime.Add(time.Hour)})
				if !errors.Is(err, want) {
					t.Fatalf("Finish %s: %v; want %v", name, err, want)
				}
			}
		}
		runs++
	}
	run()
	// Checked by the first batch, while the table was tiny; no check comes
	// due in this test, but the one it makes.
	s.plans.next.Store(time.Now().Add(time.Hour).UnixNano())
	// Grow the table far beyond the floor, and let the Store see it.
	if _, err := pool.Exec(ctx, `INSERT INTO lro_operations (name, parent, create_time, update_time, version, done, operation)
		SELECT 'operations/big' || g, '', now(), now(), 1, true, decode(repeat('00', 200), 'hex') FROM generate_series(1, 20000) g`); err != nil {
		t.Fatal(err)
	}
	before := seqScans()
	run()
	// They scan it, unless PostgreSQL dropped every cached plan meanwhile
	// (as it does when its invalidation queue overflows, under DDL of
	// concurrent tests).
	t.Logf("plans made on the tiny table: %d sequential scans", seqScans()-before)
	if err := s.checkPlans(ctx); err != nil {
		t.Fatal(err)
	}
	if g := s.plans.gen.Load(); g != 1 {
		t.Errorf("plan generation %d after the table grew; want 1", g)
	}
	before = seqScans()
	run()
	if got := seqScans() - before; got != 0 {
		t.Errorf("the new generation's plans made %d sequential scans; want none", got)
	}
	// And PostgreSQL keeps their generic plans rather than planning each
	// run anew (planPad).
	rows, err := pool.Query(ctx, `SELECT statement, generic_plans FROM pg_prepared_statements WHERE statement LIKE '%-- plan generation 1'`)
	if err != nil {
		t.Fatal(err)
	}
	type prepared struct {
		Statement string
		Generic   int64
	}
	stmts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[prepared])
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 4 { // read, update, finish, present
		t.Errorf("%d statements of generation 1 prepared; want 4", len(stmts))
	}
	for _, p := range stmts {
		if p.Generic == 0 {
			t.Errorf("PostgreSQL planned every run of %.60q… anew", p.Statement)
		}
	}
}
