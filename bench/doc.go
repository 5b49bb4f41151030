// Package bench holds the PostgreSQL benchmarks of lro, some of them against
// River (github.com/riverqueue/river) on the same database. It is a module
// of its own so that the library never depends on what it is compared with.
//
// The benchmarks need a database: set LRO_TEST_DATABASE_URL (without it they
// skip). Each works in a fresh schema, dropped at the end. From this
// directory:
//
//	go test -run '^$' -bench StartToDone -benchtime 10000x -count 5
//	go test -run '^$' -bench 'CrossReplica|CancelWrite' -benchtime 2000x -count 3
//	go test -run '^$' -bench OrphanRecovery -benchtime 30x
//	go test -run '^$' -bench RenewLeases
//	go test -run '^$' -bench IdleWaiters -benchtime 1x
//
// BenchmarkStartToDone reports jobs/s: no-op operations from Start to done
// with 32 concurrent starters, for lro on pgstore and for River doing the
// same on the same database. Its "lro-prototype-*" variants measure
// proposed changes to pgstore and the Manager, prototyped in
// optimistic_test.go; they are not what the library does.
//
// BenchmarkIdleWaiters reports xact/s: what 1000 WaitOperation calls
// blocked on one replica, on operations running on another, cost the
// database, with the listener up and with it down.
//
// The latency benchmarks (CrossReplicaWait, CrossReplicaCancel, CancelWrite,
// OrphanRecovery) report p50-ms, p99-ms and max-ms instead of ns/op.
package bench
