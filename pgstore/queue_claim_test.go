package pgstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lrokit/lro"
)

// queuedRec returns a queued record of kind named operations/id.
func queuedRec(id, kind string, age int) *lro.Record {
	r := rec("", id, age)
	r.Kind = kind
	return r
}

// TestClaimQueuedNotifiesWatchers: the claim sends its notification after
// it commits (claimNotes), and a watcher of the claimed operation still
// learns of it, with the new owner.
func TestClaimQueuedNotifiesWatchers(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	ctx := context.Background()
	r := mustCreate(t, s, queuedRec("q1", "job", 0))
	events := make(chan lro.Event, 10)
	stop := s.Watch(r.Operation.GetName(), func(ev lro.Event) { events <- ev })
	defer stop()
	got, err := s.ClaimQueued(ctx, lro.QueueClaimParams{Owner: "w1", Now: baseTime.Add(time.Hour), Kinds: map[string]int{"job": 1}, Limit: 1})
	if err != nil || len(got) != 1 {
		t.Fatalf("ClaimQueued: %d records, %v", len(got), err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Owner == "w1" && !ev.Done {
				return
			}
		case <-timeout:
			t.Fatal("no event with the claimer as owner within 10s")
		}
	}
}

// TestClaimQueuedUsesQueueIndex: the claim's plan can use the partial
// queue index (its predicate needs a non-empty kind, which kind = $n alone does
// not prove to the planner); without it every claim sorted all the queued
// rows.
func TestClaimQueuedUsesQueueIndex(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	if p := planOf(t, s, claimQueuedSQL, baseTime, "w1", []string{"job"}, []int32{4}, 4); !strings.Contains(p, "lro_operations_queue_idx") {
		t.Errorf("the claim does not use the queue index:\n%s", p)
	}
}

// TestRunningCountsUseRunningKindIndex: the global limits' count can use
// lro_operations_running_kind_idx, and that index leaves out the
// operations of plain work functions (the empty kind), which no count reads, so
// that their Starts write one index entry fewer.
func TestRunningCountsUseRunningKindIndex(t *testing.T) {
	t.Parallel()
	s := newStore(t, freshSchema(t))
	if p := planOf(t, s, runningCountsSQL, []string{"job"}); !strings.Contains(p, "lro_operations_running_kind_idx") {
		t.Errorf("the count does not use the running-kind index:\n%s", p)
	}
	var def string
	err := s.pool.QueryRow(context.Background(),
		`SELECT pg_get_indexdef('lro_operations_running_kind_idx'::regclass)`).Scan(&def)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(def, "kind <> ''") {
		t.Errorf("the running-kind index holds work functions' operations too: %s", def)
	}
}

// planOf returns the plan of sql with args, with sequential and bitmap
// scans disabled so that an index the plan can use is the one it shows.
func planOf(t *testing.T, s *Store, sql string, args ...any) string {
	t.Helper()
	ctx := context.Background()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for _, set := range []string{`SET LOCAL enable_seqscan = off`, `SET LOCAL enable_bitmapscan = off`} {
		if _, err := tx.Exec(ctx, set); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := tx.Query(ctx, `EXPLAIN `+sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}
