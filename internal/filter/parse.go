package filter

import (
	"fmt"
	"strings"
)

// This file holds the lexer and recursive-descent parser. It turns the
// filter text into a small syntax tree (expr) that compile.go checks and
// turns into evaluation nodes.
//
// It is our own rather than go.einride.tech/aip/filtering because that
// parser's lexer rejects the unquoted values real filters use (it fails on
// "metadata.instance_config.name:custom-config" at the '-'), its
// type-checker needs every field's type up front (ours are known only per
// operation, from the metadata type URL), and it has no evaluator.
//
// The grammar is AIP-160's, with one deliberate difference: values after a
// comparator are read as plain text up to whitespace or a parenthesis, so
// that filters copied from Google's documentation work unquoted
// (metadata.name:custom-config, metadata.@type=type.googleapis.com/x.y.Z,
// create_time > 2023-01-01T00:00:00Z).
//
//	filter      = [expression]
//	expression  = sequence {"AND" sequence}
//	sequence    = factor {WS factor}           (implicit AND)
//	factor      = term {"OR" term}
//	term        = {"NOT" | "-"} simple
//	simple      = restriction | "(" expression ")"
//	restriction = path comparator (value | composite)
//	path        = segment {"." segment}        (segment: bare text or quoted)
//	comparator  = "=" | "!=" | "<" | "<=" | ">" | ">=" | ":"
//	value       = quoted string | bare text
//	composite   = "(" values joined as in an expression ")"
//
// A composite value distributes its field and comparator over its values:
// "error.code:(1 OR 9)" is "error.code:1 OR error.code:9".

type exprKind uint8

const (
	exprAnd exprKind = iota
	exprOr
	exprNot
	exprRestriction
)

// opKind is a comparator.
type opKind uint8

const (
	opEq opKind = iota
	opNe
	opLt
	opLe
	opGt
	opGe
	opHas
)

var opText = [...]string{opEq: "=", opNe: "!=", opLt: "<", opLe: "<=", opGt: ">", opGe: ">=", opHas: ":"}

func (o opKind) String() string { return opText[o] }

// segment is one dot-separated part of a field path.
type segment struct {
	text string
	pos  int
}

// literal is the value of a restriction. parts is the value split at
// unescaped '*' wildcards: "abc" is ["abc"], "*/abc" is ["", "/abc"].
type literal struct {
	parts  []string
	quoted bool
	pos    int
}

// text is the value with its wildcards written back as '*'.
func (l literal) text() string {
	if len(l.parts) == 1 {
		return l.parts[0]
	}
	return strings.Join(l.parts, "*")
}

// wildcard reports whether the value has an unescaped '*'.
func (l literal) wildcard() bool { return len(l.parts) > 1 }

// star reports whether the value is a single wildcard, as in "error:*".
func (l literal) star() bool {
	return len(l.parts) == 2 && l.parts[0] == "" && l.parts[1] == ""
}

type expr struct {
	kind exprKind
	pos  int
	kids []*expr // exprAnd, exprOr: two or more; exprNot: one

	// exprRestriction
	path  []segment
	op    opKind
	opPos int
	value literal
}

type parser struct {
	src      string
	pos      int
	depth    int
	maxDepth int
	valueOf  *expr // inside a composite value: the restriction it completes
	expanded int   // bytes of field paths repeated by composite values
}

func (p *parser) errorf(pos int, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

// keyword reports whether the keyword kw starts at the current position and
// is followed by whitespace, a parenthesis or the end of the input.
func (p *parser) keyword(kw string) bool {
	if !strings.HasPrefix(p.src[p.pos:], kw) {
		return false
	}
	end := p.pos + len(kw)
	return end == len(p.src) || isSpace(p.src[end]) || p.src[end] == '(' || p.src[end] == ')'
}

// noOperand reports whether what follows cannot start an operand: the end
// of the input, a closing parenthesis, or AND or OR.
func (p *parser) noOperand() bool {
	return p.eof() || p.src[p.pos] == ')' || p.keyword("AND") || p.keyword("OR")
}

// join makes a conjunction or disjunction of kids, or kids[0] alone.
func join(kind exprKind, pos int, kids []*expr) *expr {
	if len(kids) == 1 {
		return kids[0]
	}
	return &expr{kind: kind, pos: pos, kids: kids}
}

// enter counts one more level of nesting and fails past the limit, so that
// no input can exhaust the stack.
func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > p.maxDepth {
		return p.errorf(pos, "filter is nested more than %d levels deep", p.maxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// parseFilter parses the whole input. It returns nil for an empty filter.
func (p *parser) parseFilter() (*expr, error) {
	p.skipSpace()
	if p.eof() {
		return nil, nil
	}
	e, err := p.parseExpression()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if !p.eof() {
		if p.src[p.pos] == ')' {
			return nil, p.errorf(p.pos, "unbalanced parentheses: ')' has no matching '('")
		}
		return nil, p.errorf(p.pos, "unexpected %q", p.src[p.pos])
	}
	return e, nil
}

// parseExpression parses sequences joined by AND, and the factors of a
// sequence (implicit AND); both are conjunctions and are flattened.
func (p *parser) parseExpression() (*expr, error) {
	start := p.pos
	var kids []*expr
	for {
		f, err := p.parseFactor()
		if err != nil {
			return nil, err
		}
		kids = append(kids, f)
		before := p.pos
		p.skipSpace()
		if p.eof() || p.src[p.pos] == ')' {
			break
		}
		if p.keyword("AND") {
			kwPos := p.pos
			p.pos += len("AND")
			p.skipSpace()
			if p.noOperand() {
				return nil, p.errorf(kwPos, "AND is not followed by a restriction")
			}
			continue
		}
		if p.pos == before && p.src[p.pos] != '(' {
			return nil, p.errorf(p.pos, "unexpected %q: restrictions must be separated by whitespace, AND or OR", p.src[p.pos])
		}
		// Whitespace between two factors: an implicit AND.
	}
	return join(exprAnd, start, kids), nil
}

// parseFactor parses terms joined by OR.
func (p *parser) parseFactor() (*expr, error) {
	start := p.pos
	t, err := p.parseTerm()
	if err != nil {
		return nil, err
	}
	kids := []*expr{t}
	for {
		save := p.pos
		p.skipSpace()
		if p.eof() || !p.keyword("OR") {
			p.pos = save
			break
		}
		kwPos := p.pos
		p.pos += len("OR")
		p.skipSpace()
		if p.noOperand() {
			return nil, p.errorf(kwPos, "OR is not followed by a restriction")
		}
		t, err := p.parseTerm()
		if err != nil {
			return nil, err
		}
		kids = append(kids, t)
	}
	return join(exprOr, start, kids), nil
}

// parseTerm parses an optional negation and what it negates.
func (p *parser) parseTerm() (*expr, error) {
	start := p.pos
	switch {
	case p.src[p.pos] == '-':
		p.pos++
		if p.eof() || isSpace(p.src[p.pos]) || p.src[p.pos] == ')' {
			return nil, p.errorf(start, "'-' must be followed directly by a restriction")
		}
	case p.keyword("NOT"):
		p.pos += len("NOT")
		p.skipSpace()
		if p.noOperand() {
			return nil, p.errorf(start, "NOT is not followed by a restriction")
		}
	default:
		return p.parseSimple()
	}
	if err := p.enter(start); err != nil {
		return nil, err
	}
	inner, err := p.parseTerm()
	p.leave()
	if err != nil {
		return nil, err
	}
	return &expr{kind: exprNot, pos: start, kids: []*expr{inner}}, nil
}

// parseSimple parses a parenthesized expression or a restriction.
func (p *parser) parseSimple() (*expr, error) {
	start := p.pos
	switch p.src[p.pos] {
	case '(':
		if err := p.enter(start); err != nil {
			return nil, err
		}
		p.pos++
		p.skipSpace()
		if p.eof() {
			return nil, p.errorf(start, "unbalanced parentheses: '(' is never closed")
		}
		if p.src[p.pos] == ')' {
			return nil, p.errorf(start, "empty parentheses")
		}
		e, err := p.parseExpression()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.eof() {
			return nil, p.errorf(start, "unbalanced parentheses: '(' is never closed")
		}
		// parseExpression stops only at the end or at ')'.
		p.pos++
		p.leave()
		return e, nil
	case ')':
		return nil, p.errorf(start, "unbalanced parentheses: ')' has no matching '('")
	}
	if p.valueOf != nil {
		return p.parseValueLeaf()
	}
	return p.parseRestriction()
}

func isComparatorStart(c byte) bool {
	return c == '=' || c == '!' || c == '<' || c == '>' || c == ':'
}

// comparators lists the comparators with the two-character ones first, so
// that "<=" is not read as "<".
var comparators = [...]opKind{opLe, opGe, opNe, opEq, opLt, opGt, opHas}

// comparator reads a comparator at the current position and returns it
// with its length, or a length of 0 when there is none.
func (p *parser) comparator() (opKind, int) {
	s := p.src[p.pos:]
	for _, op := range comparators {
		if strings.HasPrefix(s, opText[op]) {
			return op, len(opText[op])
		}
	}
	return 0, 0
}

func (p *parser) parseRestriction() (*expr, error) {
	start := p.pos
	if p.keyword("AND") || p.keyword("OR") {
		kw := "AND"
		if p.src[p.pos] == 'O' {
			kw = "OR"
		}
		return nil, p.errorf(start, "%s is not preceded by a restriction", kw)
	}
	if c := p.src[p.pos]; isComparatorStart(c) {
		return nil, p.errorf(start, "comparator %q is not preceded by a field", c)
	}
	path, err := p.parsePath()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	op, n := opEq, 0
	if !p.eof() {
		op, n = p.comparator()
	}
	if n == 0 {
		if !p.eof() && p.src[p.pos] == '!' {
			return nil, p.errorf(p.pos, "unknown comparator '!': did you mean '!='?")
		}
		if len(path) == 1 {
			switch kw := strings.ToUpper(path[0].text); kw {
			case "AND", "OR", "NOT":
				return nil, p.errorf(start, "%q is not a keyword: write %s in upper case", path[0].text, kw)
			}
		}
		return nil, p.errorf(start, "%s needs a comparator and a value, such as %s = value (bare values are not supported)", pathString(path), pathString(path))
	}
	opPos := p.pos
	p.pos += n
	p.skipSpace()
	if p.noOperand() {
		return nil, p.errorf(opPos, "comparator %s is not followed by a value", op)
	}
	r := &expr{kind: exprRestriction, pos: start, path: path, op: op, opPos: opPos}
	if p.src[p.pos] == '(' {
		// A composite value: "f:(a OR b)" is "f:a OR f:b".
		p.valueOf = r
		e, err := p.parseSimple()
		p.valueOf = nil
		return e, err
	}
	val, err := p.parseValue()
	if err != nil {
		return nil, err
	}
	r.value = val
	return r, nil
}

// parseValueLeaf parses one value of a composite value and gives it the
// field and comparator of the restriction it belongs to.
func (p *parser) parseValueLeaf() (*expr, error) {
	if p.keyword("AND") || p.keyword("OR") {
		kw := "OR"
		if p.src[p.pos] == 'A' {
			kw = "AND"
		}
		return nil, p.errorf(p.pos, "%s is not preceded by a value", kw)
	}
	start := p.pos
	val, err := p.parseValue()
	if err != nil {
		return nil, err
	}
	r := *p.valueOf
	r.value = val
	// Each value repeats the field path: bound what the filter expands to.
	p.expanded += r.opPos - r.pos
	if p.expanded > 4*len(p.src) {
		return nil, p.errorf(start, "composite values expand the filter to more than %d bytes", 4*len(p.src))
	}
	return &r, nil
}

// isPathEnd reports whether c ends a bare path segment.
func isPathEnd(c byte) bool {
	return isSpace(c) || c == '(' || c == ')' || c == '"' || c == '\'' || c == '.' || isComparatorStart(c)
}

func (p *parser) parsePath() ([]segment, error) {
	var segs []segment
	for {
		segStart := p.pos
		if p.eof() {
			return nil, p.errorf(segStart, "expected a field name after '.'")
		}
		switch c := p.src[p.pos]; {
		case c == '"' || c == '\'':
			lit, err := p.parseQuoted()
			if err != nil {
				return nil, err
			}
			segs = append(segs, segment{text: lit.text(), pos: segStart})
		default:
			for !p.eof() && !isPathEnd(p.src[p.pos]) {
				p.pos++
			}
			if p.pos == segStart {
				if len(segs) == 0 {
					return nil, p.errorf(segStart, "expected a field name, found %q", c)
				}
				return nil, p.errorf(segStart, "expected a field name after '.'")
			}
			segs = append(segs, segment{text: p.src[segStart:p.pos], pos: segStart})
		}
		if !p.eof() && p.src[p.pos] == '.' {
			p.pos++
			continue
		}
		return segs, nil
	}
}

// parseValue reads the value after a comparator: a quoted string, or bare
// text up to whitespace or a parenthesis.
func (p *parser) parseValue() (literal, error) {
	start := p.pos
	switch c := p.src[p.pos]; {
	case c == '"' || c == '\'':
		return p.parseQuoted()
	case isComparatorStart(c):
		return literal{}, p.errorf(start, "unexpected %q: expected a value", c)
	}
	var parts []string
	partStart := p.pos
	for !p.eof() {
		c := p.src[p.pos]
		if isSpace(c) || c == '(' || c == ')' || c == '"' || c == '\'' {
			break
		}
		if c == '*' {
			parts = append(parts, p.src[partStart:p.pos])
			partStart = p.pos + 1
		}
		p.pos++
	}
	parts = append(parts, p.src[partStart:p.pos])
	return literal{parts: parts, pos: start}, nil
}

// parseQuoted reads a string in double or single quotes. Backslash escapes
// \\ \" \' \n \r \t and \* (a literal star); an unescaped * is a wildcard.
func (p *parser) parseQuoted() (literal, error) {
	start := p.pos
	q := p.src[p.pos]
	p.pos++
	var parts []string
	var b strings.Builder
	for {
		if p.eof() {
			return literal{}, p.errorf(start, "unterminated string")
		}
		c := p.src[p.pos]
		switch c {
		case q:
			p.pos++
			parts = append(parts, b.String())
			return literal{parts: parts, quoted: true, pos: start}, nil
		case '*':
			parts = append(parts, b.String())
			b.Reset()
			p.pos++
		case '\\':
			if p.pos+1 >= len(p.src) {
				return literal{}, p.errorf(start, "unterminated string")
			}
			e := p.src[p.pos+1]
			switch e {
			case '\\', '"', '\'', '*':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				return literal{}, p.errorf(p.pos, "unknown escape sequence \\%c in string", e)
			}
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
}

// pathString writes a path back as text, quoting segments that need it.
func pathString(path []segment) string {
	var b strings.Builder
	for i, s := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		if plainSegment(s.text) {
			b.WriteString(s.text)
		} else {
			writeQuoted(&b, []string{s.text})
		}
	}
	return b.String()
}

// plainSegment reports whether a path segment can be written unquoted.
func plainSegment(s string) bool {
	if s == "" || s == "AND" || s == "OR" || s == "NOT" || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isPathEnd(c) || c == '*' || c == '\\' || c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// writeQuoted writes parts as a double-quoted string whose unescaped stars
// are the wildcards between the parts.
func writeQuoted(b *strings.Builder, parts []string) {
	b.WriteByte('"')
	for i, part := range parts {
		if i > 0 {
			b.WriteByte('*')
		}
		for j := 0; j < len(part); j++ {
			switch c := part[j]; c {
			case '"', '\\', '*':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			default:
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}
