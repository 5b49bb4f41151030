package filter

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/code"
)

// This file type-checks the syntax tree against the Operation fields and
// builds the evaluation tree (node). Restrictions on metadata and response
// fields become dynLeafs, resolved per message type at evaluation time.

type nodeKind uint8

const (
	nodeAnd nodeKind = iota
	nodeOr
	nodeNot
	nodeName         // name <op> string
	nodeDone         // done = / != bool
	nodeQueued       // queued = / != bool (a pseudo-field: not done, not started)
	nodeError        // error:*
	nodeErrorCode    // error.code <op> number
	nodeErrorMessage // error.message <op> string
	nodeAnyPresence  // metadata:* / response:*
	nodeAnyType      // metadata.@type / response.@type <op> string
	nodeDyn          // metadata.<path> / response.<path>
)

// side tells metadata from response.
type side uint8

const (
	sideMetadata side = iota
	sideResponse
)

func (s side) String() string {
	if s == sideResponse {
		return "response"
	}
	return "metadata"
}

type node struct {
	kind nodeKind
	kids []*node // nodeAnd, nodeOr, nodeNot

	op       opKind
	side     side
	presence bool    // ":*"
	str      pattern // nodeName, nodeErrorMessage, nodeAnyType
	b        bool    // nodeDone, nodeQueued
	num      int64   // nodeErrorCode
	dyn      *dynLeaf

	path string  // canonical field path, for String
	lit  literal // the value as written, for String
}

// dynLeaf is a restriction on a field of the unpacked metadata or response.
type dynLeaf struct {
	side   side
	path   []string
	segPos []int // byte offset of each path segment
	op     opKind
	opPos  int
	lit    literal
	index  int // position in Filter.dyn and typeInfo.access
}

const fieldList = "name, done, queued, error, error.code, error.message, metadata, metadata.@type, metadata.<field>, response, response.@type, response.<field>"

func (f *Filter) compile(e *expr) (*node, error) {
	switch e.kind {
	case exprAnd, exprOr:
		kind := nodeAnd
		if e.kind == exprOr {
			kind = nodeOr
		}
		n := &node{kind: kind}
		for _, k := range e.kids {
			c, err := f.compile(k)
			if err != nil {
				return nil, err
			}
			if c.kind == kind { // flatten (a AND (b AND c))
				n.kids = append(n.kids, c.kids...)
			} else {
				n.kids = append(n.kids, c)
			}
		}
		return n, nil
	case exprNot:
		c, err := f.compile(e.kids[0])
		if err != nil {
			return nil, err
		}
		return &node{kind: nodeNot, kids: []*node{c}}, nil
	}
	return f.compileRestriction(e)
}

func (f *Filter) compileRestriction(e *expr) (*node, error) {
	path := e.path
	n := &node{op: e.op, lit: e.value, path: pathString(path)}
	n.presence = e.op == opHas && e.value.star()
	noFields := func(kind string) error {
		return &Error{Pos: path[1].pos, Msg: fmt.Sprintf("%s is a %s and has no field %q", path[0].text, kind, path[1].text)}
	}
	switch first := path[0].text; first {
	case "name":
		if len(path) > 1 {
			return nil, noFields("string")
		}
		n.kind = nodeName
		n.str = newPattern(e.value)
		return n, nil
	case "done", "queued":
		if len(path) > 1 {
			return nil, noFields("bool")
		}
		n.kind = nodeDone
		if first == "queued" {
			n.kind = nodeQueued
		}
		if n.presence { // done:* is true when done is set, as for any proto3 scalar
			n.op, n.b, n.presence = opEq, true, false
			return n, nil
		}
		switch e.op {
		case opEq, opNe:
		case opHas:
			n.op = opEq
		default:
			return nil, &Error{Pos: e.opPos, Msg: fmt.Sprintf("comparator %s cannot be applied to the bool field %s", e.op, first)}
		}
		b, ok := parseBool(e.value)
		if !ok {
			return nil, &Error{Pos: e.value.pos, Msg: fmt.Sprintf("%s is a bool: expected true or false, got %q", first, e.value.text())}
		}
		n.b = b
		return n, nil
	case "error":
		if len(path) == 1 {
			if !n.presence {
				return nil, &Error{Pos: e.opPos, Msg: "error can only be tested for presence (error:*); compare error.code or error.message"}
			}
			n.kind = nodeError
			return n, nil
		}
		if len(path) > 2 {
			return nil, &Error{Pos: path[2].pos, Msg: fmt.Sprintf("%s has no field %q", pathString(path[:2]), path[2].text)}
		}
		switch path[1].text {
		case "code":
			n.kind = nodeErrorCode
			if n.presence {
				return n, nil
			}
			c, ok := parseCode(e.value)
			if !ok {
				return nil, &Error{Pos: e.value.pos, Msg: fmt.Sprintf("error.code is a status code: expected a number or a code name such as CANCELLED, got %q", e.value.text())}
			}
			n.num = c
			return n, nil
		case "message":
			n.kind = nodeErrorMessage
			n.str = newPattern(e.value)
			return n, nil
		}
		return nil, &Error{Pos: path[1].pos, Msg: fmt.Sprintf("unknown field error.%s: error has code and message", path[1].text)}
	case "metadata", "response":
		n.side = sideMetadata
		if first == "response" {
			n.side = sideResponse
		}
		if len(path) == 1 {
			if !n.presence {
				return nil, &Error{Pos: e.opPos, Msg: fmt.Sprintf("%s can only be tested for presence (%s:*); compare %s.@type or a field of the %s message", first, first, first, first)}
			}
			n.kind = nodeAnyPresence
			return n, nil
		}
		if path[1].text == "@type" {
			if len(path) > 2 {
				return nil, &Error{Pos: path[2].pos, Msg: fmt.Sprintf("%s.@type is a string and has no field %q", first, path[2].text)}
			}
			n.kind = nodeAnyType
			n.str = newPattern(e.value)
			return n, nil
		}
		if len(f.dyn) >= 1<<16 {
			return nil, &Error{Pos: e.pos, Msg: "too many restrictions"}
		}
		d := &dynLeaf{side: n.side, op: e.op, opPos: e.opPos, lit: e.value, index: len(f.dyn)}
		for _, s := range path[1:] {
			if s.text == "" {
				return nil, &Error{Pos: s.pos, Msg: "empty field name"}
			}
			d.path = append(d.path, s.text)
			d.segPos = append(d.segPos, s.pos)
		}
		f.dyn = append(f.dyn, d)
		n.kind = nodeDyn
		n.dyn = d
		return n, nil
	}
	return nil, &Error{Pos: path[0].pos, Msg: fmt.Sprintf("unknown field %q: the fields are %s", path[0].text, fieldList)}
}

func parseBool(l literal) (bool, bool) {
	if l.wildcard() {
		return false, false
	}
	switch strings.ToLower(l.parts[0]) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// parseCode reads a status code given as a number or a name (any case).
func parseCode(l literal) (int64, bool) {
	if l.wildcard() {
		return 0, false
	}
	s := l.parts[0]
	if n, err := strconv.ParseInt(s, 10, 32); err == nil {
		return n, true
	}
	u := strings.ToUpper(s)
	if u == "CANCELED" {
		u = "CANCELLED"
	}
	if c, ok := code.Code_value[u]; ok {
		return int64(c), true
	}
	return 0, false
}

// write appends the canonical form of n. Nested conjunctions and
// disjunctions are parenthesized when paren is set.
func (n *node) write(b *strings.Builder, paren bool) {
	switch n.kind {
	case nodeAnd, nodeOr:
		sep := " AND "
		if n.kind == nodeOr {
			sep = " OR "
		}
		if paren {
			b.WriteByte('(')
		}
		for i, k := range n.kids {
			if i > 0 {
				b.WriteString(sep)
			}
			k.write(b, true)
		}
		if paren {
			b.WriteByte(')')
		}
		return
	case nodeNot:
		b.WriteString("NOT ")
		n.kids[0].write(b, true)
		return
	}
	b.WriteString(n.path)
	if n.presence {
		b.WriteString(":*")
		return
	}
	if n.op == opHas {
		b.WriteByte(':')
	} else {
		b.WriteByte(' ')
		b.WriteString(n.op.String())
		b.WriteByte(' ')
	}
	switch n.kind {
	case nodeDone, nodeQueued:
		b.WriteString(strconv.FormatBool(n.b))
	case nodeErrorCode:
		b.WriteString(strconv.FormatInt(n.num, 10))
	default:
		writeQuoted(b, n.lit.parts)
	}
}

// doneHint returns the value done must have for n to hold, when n requires
// one at its top level.
func (n *node) doneHint() *bool {
	switch n.kind {
	case nodeDone:
		v := n.b
		if n.op == opNe {
			v = !v
		}
		return &v
	case nodeNot:
		if k := n.kids[0]; k.kind == nodeDone {
			v := *k.doneHint()
			v = !v
			return &v
		}
	case nodeAnd:
		for _, k := range n.kids {
			if k.kind == nodeDone || k.kind == nodeNot {
				if h := k.doneHint(); h != nil {
					return h
				}
			}
		}
	}
	return nil
}
