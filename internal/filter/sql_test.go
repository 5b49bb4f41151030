package filter

import "testing"

func TestSQLPieces(t *testing.T) {
	joins := []struct {
		conds []string
		want  string
	}{
		{nil, SQLTrue},
		{[]string{SQLTrue, SQLTrue}, SQLTrue},
		{[]string{"a"}, "a"},
		{[]string{"a", SQLTrue, "b"}, "(a AND b)"},
		{[]string{"a", SQLFalse, "b"}, SQLFalse},
	}
	for _, tc := range joins {
		if got := SQLJoin(tc.conds, " AND ", SQLTrue, SQLFalse); got != tc.want {
			t.Errorf("SQLJoin(%q) = %q, want %q", tc.conds, got, tc.want)
		}
	}
	for in, want := range map[string]string{SQLTrue: SQLFalse, SQLFalse: SQLTrue, "a": "(NOT a)"} {
		if got := SQLNot(in); got != want {
			t.Errorf("SQLNot(%q) = %q, want %q", in, got, want)
		}
	}
	for op, want := range map[Op]string{OpNe: "<>", OpLt: "<", OpLe: "<=", OpGt: ">", OpGe: ">=", OpEq: "=", OpHas: "="} {
		if got := SQLOp(op); got != want {
			t.Errorf("SQLOp(%v) = %q, want %q", op, got, want)
		}
	}
	if got, want := LikePattern([]string{`a%b`, `c_d\`, ""}), `a\%b%c\_d\\%`; got != want {
		t.Errorf("LikePattern = %q, want %q", got, want)
	}
	if got := TypeColumn("o.", Response); got != "o.response_type" {
		t.Errorf("TypeColumn(o., Response) = %q", got)
	}
	if got := TypeColumn("", Metadata); got != "metadata_type" {
		t.Errorf("TypeColumn(\"\", Metadata) = %q", got)
	}
}

func TestTranslateSQL(t *testing.T) {
	// Leaves: done is exact, anything else unknown.
	leaf := func(c Cond) SQLCond {
		if c.Kind == CondDone {
			return SQLExact("d")
		}
		return SQLUnknown
	}
	tests := []struct {
		filter   string
		sup, sub string
	}{
		{"", SQLTrue, SQLTrue},
		{"done = true", "d", "d"},
		{`done = true AND name = "x"`, "d", SQLFalse},
		{`done = true OR name = "x"`, SQLTrue, "d"},
		{`NOT (done = true AND name = "x")`, SQLTrue, "(NOT d)"},
	}
	for _, tc := range tests {
		f, err := Parse(tc.filter, Options{})
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.filter, err)
		}
		if got := TranslateSQL(f, leaf); got.Sup != tc.sup || got.Sub != tc.sub {
			t.Errorf("TranslateSQL(%q) = %+v, want sup %q sub %q", tc.filter, got, tc.sup, tc.sub)
		}
	}
}

// TestStateSQL: done and queued restrictions, with = and !=, true and
// false, and a table prefix.
func TestStateSQL(t *testing.T) {
	cases := []struct {
		c    Cond
		want string
	}{
		{Cond{Kind: CondDone, Op: OpEq, Bool: true}, "o.done"},
		{Cond{Kind: CondDone, Op: OpNe, Bool: false}, "o.done"},
		{Cond{Kind: CondDone, Op: OpEq, Bool: false}, "NOT o.done"},
		{Cond{Kind: CondDone, Op: OpNe, Bool: true}, "NOT o.done"},
		{Cond{Kind: CondQueued, Op: OpEq, Bool: true}, "(NOT o.done AND o.start_time IS NULL)"},
		{Cond{Kind: CondQueued, Op: OpNe, Bool: false}, "(NOT o.done AND o.start_time IS NULL)"},
		{Cond{Kind: CondQueued, Op: OpEq, Bool: false}, "(o.done OR o.start_time IS NOT NULL)"},
		{Cond{Kind: CondQueued, Op: OpNe, Bool: true}, "(o.done OR o.start_time IS NOT NULL)"},
	}
	for _, tc := range cases {
		if got := StateSQL(tc.c, "o."); got != tc.want {
			t.Errorf("StateSQL(%+v) = %q, want %q", tc.c, got, tc.want)
		}
	}
	if got := StateSQL(Cond{Kind: CondDone, Op: OpEq, Bool: true}, ""); got != "done" {
		t.Errorf("StateSQL without a prefix = %q, want done", got)
	}
}
