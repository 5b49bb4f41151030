package chaos_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/durationpb"
)

// queryEach runs sql on pool and calls scan for each row, failing the test
// on any error.
func queryEach(ctx context.Context, t *testing.T, pool *pgxpool.Pool, sql string, scan func(pgx.Rows) error) {
	t.Helper()
	r, err := pool.Query(ctx, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer r.Close()
	for r.Next() {
		if err := scan(r); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if err := r.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// span is one run of work, from when it began to when it ended, by the
// database's clock.
type span struct{ from, to time.Time }

// maxOverlap returns the most spans that overlap at any instant. Spans
// that only touch (one ends when the other begins) do not overlap.
func maxOverlap(spans []span) int {
	type edge struct {
		at    time.Time
		delta int
	}
	edges := make([]edge, 0, 2*len(spans))
	for _, s := range spans {
		edges = append(edges, edge{s.from, 1}, edge{s.to, -1})
	}
	slices.SortFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // ends first
	})
	n, peak := 0, 0
	for _, e := range edges {
		n += e.delta
		peak = max(peak, n)
	}
	return peak
}

func TestMaxOverlap(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(int64(s), 0) }
	tests := []struct {
		name  string
		spans []span
		want  int
	}{
		{"none", nil, 0},
		{"one", []span{{at(0), at(1)}}, 1},
		{"disjoint", []span{{at(0), at(1)}, {at(2), at(3)}}, 1},
		{"touching", []span{{at(0), at(1)}, {at(1), at(2)}}, 1},
		{"nested", []span{{at(0), at(10)}, {at(2), at(3)}, {at(4), at(5)}}, 2},
		{"staircase", []span{{at(0), at(4)}, {at(1), at(5)}, {at(2), at(6)}, {at(5), at(7)}}, 3},
	}
	for _, tt := range tests {
		if got := maxOverlap(tt.spans); got != tt.want {
			t.Errorf("%s: maxOverlap = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// queueRunRow is a row of chaos_runs.
type queueRunRow struct {
	name, owner string
	attempt     int
	at          time.Time
	ended       *time.Time
}

// move is a row of chaos_moves (see movesSQL).
type move struct {
	name, from, to string
	fromAttempt    int
	at             time.Time
	leaseExpire    *time.Time
}

// verifyQueueRun checks the end state of TestQueueAcrossReplicas against
// the database. killed is a time, by the database's clock, after the victim
// died.
func verifyQueueRun(ctx context.Context, t *testing.T, pool *pgxpool.Pool, q *queueRun, killed time.Time) {
	t.Helper()
	type doneRow struct {
		n       int
		owner   string
		attempt int
	}
	doneBy := map[string]doneRow{}
	queryEach(ctx, t, pool, `SELECT name, n, owner, attempt FROM chaos_done`, func(r pgx.Rows) error {
		var name string
		var d doneRow
		err := r.Scan(&name, &d.n, &d.owner, &d.attempt)
		doneBy[name] = d
		return err
	})
	createdBy := map[string]string{}
	queryEach(ctx, t, pool, `SELECT name, owner FROM chaos_created`, func(r pgx.Rows) error {
		var name, owner string
		err := r.Scan(&name, &owner)
		createdBy[name] = owner
		return err
	})
	type storedRow struct{ done, started bool }
	stored := map[string]storedRow{}
	queryEach(ctx, t, pool, `SELECT name, done, start_time IS NOT NULL FROM lro_operations`, func(r pgx.Rows) error {
		var name string
		var s storedRow
		err := r.Scan(&name, &s.done, &s.started)
		stored[name] = s
		return err
	})
	queryEach(ctx, t, pool, `SELECT name, what FROM chaos_anomalies`, func(r pgx.Rows) error {
		var name, what string
		if err := r.Scan(&name, &what); err != nil {
			return err
		}
		t.Errorf("%s: %s", name, what)
		return nil
	})
	var runs []queueRunRow
	queryEach(ctx, t, pool, `SELECT name, owner, attempt, at, ended FROM chaos_runs ORDER BY at`, func(r pgx.Rows) error {
		var x queueRunRow
		err := r.Scan(&x.name, &x.owner, &x.attempt, &x.at, &x.ended)
		runs = append(runs, x)
		return err
	})
	effects := map[string]int{}
	queryEach(ctx, t, pool, `SELECT name, runs FROM chaos_effects`, func(r pgx.Rows) error {
		var name string
		var n int
		err := r.Scan(&name, &n)
		effects[name] = n
		return err
	})
	var moves []move
	queryEach(ctx, t, pool, `SELECT name, from_owner, from_attempt, to_owner, at, lease_expire FROM chaos_moves ORDER BY at`, func(r pgx.Rows) error {
		var m move
		err := r.Scan(&m.name, &m.from, &m.fromAttempt, &m.to, &m.at, &m.leaseExpire)
		moves = append(moves, m)
		return err
	})

	// Takeovers: only the victim's operations, each after its lease lapsed.
	taken := map[string]bool{}
	var putBack int
	for _, m := range moves {
		if m.to == "" {
			putBack++ // a claimer with no free slot queued an orphan again
			continue
		}
		if m.from != q.victim {
			t.Errorf("%s: taken from %s by %s, but only %s died", m.name, m.from, m.to, q.victim)
			continue
		}
		taken[m.name] = true
		if m.leaseExpire == nil || !m.leaseExpire.Before(m.at) {
			t.Errorf("%s: taken from %s by %s at %v, but its lease ran until %v", m.name, m.from, m.to, m.at, m.leaseExpire)
		}
	}

	byName := map[string][]run{}
	perOwner := map[string][]span{}
	var all []span
	for _, x := range runs {
		byName[x.name] = append(byName[x.name], run{x.owner, x.attempt})
		end := killed
		switch {
		case x.ended != nil:
			end = *x.ended
		case x.owner != q.victim:
			t.Errorf("%s: the run of %s attempt %d never ended, yet %s was not killed", x.name, x.owner, x.attempt, x.owner)
		case !taken[x.name]:
			t.Errorf("%s: %s died running it, but it was never taken over", x.name, x.owner)
		}
		perOwner[x.owner] = append(perOwner[x.owner], span{x.at, end})
		// Across replicas the limit holds while the run's owner holds the
		// operation at the run's attempt in the store: a run whose owner
		// lost it may go on until it notices, or even begin after (only
		// the finish is fenced).
		for _, m := range moves {
			if m.name == x.name && m.from == x.owner && m.fromAttempt == x.attempt && m.at.Before(end) {
				end = m.at
			}
		}
		if end.After(x.at) {
			all = append(all, span{x.at, end})
		}
	}
	if n := len(perOwner[q.front]); n != 0 {
		t.Errorf("the accept-only replica %s ran work %d times", q.front, n)
	}
	for owner, spans := range perOwner {
		if peak, limit := maxOverlap(spans), q.limits[owner]; peak > limit {
			t.Errorf("%s ran %d works at once, limit %d", owner, peak, limit)
		} else {
			t.Logf("%s: %d runs, at most %d at once (limit %d)", owner, len(spans), peak, limit)
		}
	}
	if peak := maxOverlap(all); peak > q.global {
		t.Errorf("the workers ran %d works at once, global limit %d", peak, q.global)
	} else {
		t.Logf("all: %d runs, at most %d at once (global limit %d)", len(all), peak, q.global)
	}

	if len(stored) != q.total {
		t.Errorf("the store holds %d operations, want %d (one per request id)", len(stored), q.total)
	}
	survivor := 0
	for i, name := range q.names {
		s, d := stored[name], doneBy[name]
		switch {
		case !s.done:
			t.Errorf("op %d %s: not done in the store (present: %v)", i, name, name != "")
			continue
		case d.n != 1:
			t.Errorf("op %d %s: became done %d times, want exactly once", i, name, d.n)
		}
		if !s.started {
			t.Errorf("op %d %s: done, but the store shows no start", i, name)
		}
		if owner, ok := createdBy[name]; !ok || owner != "" {
			t.Errorf("op %d %s: created owned by %q (recorded %v), want queued for any worker", i, name, owner, ok)
		}
		if _, worker := q.limits[d.owner]; !worker || d.owner == q.victim && taken[name] {
			t.Errorf("op %d %s: finished by %q", i, name, d.owner)
		}
		if !finishedLatest(byName[name], run{d.owner, d.attempt}) {
			t.Errorf("op %d %s: finished by %s attempt %d, but its runs were %v", i, name, d.owner, d.attempt, byName[name])
		}
		if n := effects[name]; n < 1 || n > len(byName[name]) {
			t.Errorf("op %d %s: %d effects recorded by %d runs, want at least one and at most one per run", i, name, n, len(byName[name]))
		}
		if taken[name] {
			survivor++
			if d.attempt < 2 {
				t.Errorf("op %d %s: finished at attempt %d after its owner died, want ≥ 2", i, name, d.attempt)
			}
		}
		if e := q.final[i].GetError(); e != nil {
			t.Errorf("op %d %s: ended with %d %q, want success", i, name, e.GetCode(), e.GetMessage())
			continue
		}
		var got durationpb.Duration
		if err := q.final[i].GetResponse().UnmarshalTo(&got); err != nil {
			t.Errorf("op %d %s: response %v: %v", i, name, q.final[i].GetResponse(), err)
		} else if want := time.Duration(q.ms(i)) * time.Millisecond; got.AsDuration() != want {
			t.Errorf("op %d %s: response %v, want %v", i, name, got.AsDuration(), want)
		}
	}
	t.Logf("taken over from %s: %d, of which %d were queued again by a claimer without a free slot", q.victim, len(taken), putBack)
	if survivor == 0 {
		t.Errorf("no operation of %s was taken over: the test exercised nothing", q.victim)
	}
}
