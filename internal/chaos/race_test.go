//go:build race

package chaos_test

// raceEnabled tells buildReplica to build the replica with -race too, so
// that it reuses the race-instrumented packages the test was built with.
const raceEnabled = true
