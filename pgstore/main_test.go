package pgstore

import (
	"testing"

	"github.com/lrokit/lro/internal/pgtest"
)

// TestMain says in one line when the PostgreSQL tests skipped.
func TestMain(m *testing.M) { pgtest.Main(m, "pgstore") }
