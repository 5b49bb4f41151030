package lro_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/lrokit/lro/internal/pgtest"
)

// TestReadmeTransactionalStart runs the README's "Transactional start
// (PostgreSQL)" program as it is, imports included, against the test
// database (in a schema of its own), so that the block stays a working
// program: the committed order's operation must run, and the rolled-back
// one must leave no operation.
func TestReadmeTransactionalStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a program; skipped with -short")
	}
	dbURL := pgtest.URL(t)
	schema := pgtest.FreshSchema(t, dbURL, "lro_readme_")
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("parsing %s: %v", pgtest.EnvURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()

	src := readmeBlock(t, "## Transactional start (PostgreSQL)", "go")
	// A directory inside the module, so the module's requirements resolve;
	// the leading underscore keeps it out of ./... .
	dir, err := os.MkdirTemp(".", "_readme")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(dir+"/main.go", []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "run", "./"+dir)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+u.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the program failed: %v\n%s", err, out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^committed: operations/\w+ done=true: shipped order-1$`),
		regexp.MustCompile(`(?m)^rolled back: out of stock$`),
		regexp.MustCompile(`(?m)^operations/\w+: NotFound$`),
	} {
		if !want.Match(out) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
