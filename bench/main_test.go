package bench

import (
	"testing"

	"github.com/lrokit/lro/internal/pgtest"
)

// TestMain says in one line when the benchmarks and tests skipped.
func TestMain(m *testing.M) { pgtest.Main(m, "bench") }
