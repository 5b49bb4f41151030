//go:build !unix

package lro_test

import "time"

// benchRusage reports that the CPU time cannot be read here.
func benchRusage() (time.Duration, bool) { return 0, false }
