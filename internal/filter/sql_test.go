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
