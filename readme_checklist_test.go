package lro_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeChecklistNamesRealOptions checks that every option the
// README's production checklist names (lro.WithX, pgstore.WithX,
// lroweb.WithX) exists, so that a renamed option cannot leave the
// checklist pointing at nothing, and that the checklist covers each topic
// it must.
func TestReadmeChecklistNamesRealOptions(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "\n## Production checklist\n")
	if start < 0 {
		t.Fatal("README.md has no Production checklist section")
	}
	section := s[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	for _, topic := range []string{"owner ids", "leases", "retention", "payload limit", "page sizes and list cost", "timeouts", "metrics and traces", "the console", "HA (PostgreSQL)", "shutdown order"} {
		if !strings.Contains(section, "\n| "+topic+" |") {
			t.Errorf("the checklist has no row for %q", topic)
		}
	}
	exported := map[string]map[string]bool{"lro": exportedFuncs(t, "."), "pgstore": exportedFuncs(t, "pgstore"), "lroweb": exportedFuncs(t, "lroweb")}
	names := regexp.MustCompile(`\b(lro|pgstore|lroweb)\.([A-Z]\w*)`).FindAllStringSubmatch(section, -1)
	if len(names) < 10 {
		t.Fatalf("found only %d option names in the checklist", len(names))
	}
	for _, n := range names {
		if !exported[n[1]][n[2]] {
			t.Errorf("the checklist names %s.%s, which package %s does not export", n[1], n[2], n[1])
		}
	}
}

// exportedFuncs returns the exported functions and types of the package
// in dir (test files left out).
func exportedFuncs(t *testing.T, dir string) map[string]bool {
	t.Helper()
	pkgs, err := parser.ParseDir(token.NewFileSet(), dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range pkgs {
		for _, f := range p.Files {
			for _, d := range f.Decls {
				switch d := d.(type) {
				case *ast.FuncDecl:
					if d.Recv == nil && d.Name.IsExported() {
						out[d.Name.Name] = true
					}
				case *ast.GenDecl:
					for _, sp := range d.Specs {
						if ts, ok := sp.(*ast.TypeSpec); ok && ts.Name.IsExported() {
							out[ts.Name.Name] = true
						}
					}
				}
			}
		}
	}
	return out
}
