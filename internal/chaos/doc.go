// Package chaos holds fault tests of the library on PostgreSQL:
//
//   - TestKillReplica: three replica processes (package replica) share one
//     database; 1000 operations, one replica SIGKILLed mid-run, cancels
//     through the survivors; every operation ends exactly once, as a
//     trigger on lro_operations counts.
//   - TestQueueAcrossReplicas: issue 10's queue proof. An accept-only
//     replica (WithMaxRunning(0)) takes 1000 StartKind requests; two
//     workers with small limits (WithMaxRunning, KindMaxRunning, and
//     KindMaxRunningGlobal across both) drain the queue, and one is
//     SIGKILLed while it runs work. Every operation ends once and
//     successfully, the front runs nothing, no limit is ever exceeded (the
//     runs' overlap in chaos_runs), and the killed worker's operations are
//     taken over once its lease lapsed and finished by the survivor.
//   - TestFrozenReplica: a replica SIGSTOPped for longer than its lease
//     resumes after a survivor took its work over; it stops its own runs
//     at once, and the survivor alone finishes them.
//   - TestPostgresRestart: a Manager rides out a restart of a cluster the
//     test runs itself (pg_ctl stop -m fast, then start).
//   - TestPostgresFailover: three Managers on a primary with a synchronous
//     streaming standby (clusters the test runs itself), through a
//     multi-host URL with target_session_attrs=read-write; the primary
//     crashes and the standby is promoted while 1000 operations run and
//     clients Wait and Cancel; every operation ends exactly once in the
//     new primary, none is lost, every Wait returns.
//   - TestCancelRightAfterCreate: a cancellation between a Create and the
//     Manager's subscription is still heard, without the fallback poll.
//
// The tests need a database: set LRO_TEST_DATABASE_URL (see .ci/run). They
// skip without it, and fail without it when CI is set. TestPostgresRestart
// and TestPostgresFailover also need the PostgreSQL server binaries (PGBIN, or
// /usr/lib/postgresql/*/bin); when running as root they run the server as
// the postgres user. Each test works in a schema (or cluster) of its own.
package chaos

// Kinds of work the replica program serves. Both sleep for the requested
// length, then record their run in the chaos_effects table.
const (
	// KindSleep is registered work (lro.Register, StartKind): a surviving
	// replica runs it again when its owner dies.
	KindSleep = "sleep"
	// KindFunc is a plain work function (Start): when its owner dies it
	// ends with UNAVAILABLE.
	KindFunc = "func"
)

// ReadyPrefix starts the line a replica prints on stdout once it serves,
// followed by "grpc=ADDR http=ADDR".
const ReadyPrefix = "READY"

// TablesSQL creates the tables the replicas' work writes to, in the current
// schema: chaos_runs gets a row each time work begins (so a re-run shows as
// a second row with a higher attempt), whose ended is set when that run
// returns if the replica runs with -record-ends (NULL while it runs, or
// when its process died); chaos_effects
// counts the runs that got to the end, keyed by operation (the work's
// idempotent effect). Times are the database's clock_timestamp().
const TablesSQL = `
CREATE TABLE IF NOT EXISTS chaos_runs (
    id      bigserial PRIMARY KEY,
    name    text NOT NULL,
    owner   text NOT NULL,
    attempt integer NOT NULL,
    at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    ended   timestamptz
);
CREATE TABLE IF NOT EXISTS chaos_effects (
    name text PRIMARY KEY,
    runs integer NOT NULL
);`
