//go:build !race

package chaos_test

// raceEnabled tells buildReplica to build the replica with -race too.
const raceEnabled = false
