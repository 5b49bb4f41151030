//go:build unix

package lro_test

import (
	"syscall"
	"time"
)

// benchRusage returns the CPU time (user and system) the process has used,
// to the microsecond; ok is false if the system cannot tell.
func benchRusage() (d time.Duration, ok bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
