package filter

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// This file converts literals to the kind of the field they are compared
// with, and compares field values with them.

// pattern is a string value with '*' wildcards.
type pattern struct {
	parts []string // split at the wildcards; one part when there is none
	text  string   // the parts joined with '*', for ordering
}

func newPattern(l literal) pattern { return pattern{parts: l.parts, text: l.text()} }

// match reports whether s matches the whole pattern.
func (p *pattern) match(s string) bool {
	if len(p.parts) == 1 {
		return s == p.parts[0]
	}
	first, last := p.parts[0], p.parts[len(p.parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	s = s[len(first) : len(s)-len(last)]
	for _, mid := range p.parts[1 : len(p.parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return true
}

// contains reports whether some substring of s matches the pattern.
func (p *pattern) contains(s string) bool {
	for _, part := range p.parts {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return true
}

// unordered is the three-way comparison result for NaN.
const unordered = 2

type numKind uint8

const (
	numInt numKind = iota
	numUint
	numFloat
)

// number is a numeric literal.
type number struct {
	kind numKind
	i    int64
	u    uint64
	f    float64
}

// parseNumber reads an integer, a decimal or a number with an exponent.
func parseNumber(s string) (number, bool) {
	if !numberSyntax(s) {
		return number{}, false
	}
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return number{kind: numInt, i: i}, true
		}
		if u, err := strconv.ParseUint(strings.TrimPrefix(s, "+"), 10, 64); err == nil {
			return number{kind: numUint, u: u}, true
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return number{}, false
	}
	return number{kind: numFloat, f: f}, true
}

// numberSyntax accepts [+-] (digits [. [digits]] | . digits) [(e|E) [+-] digits].
func numberSyntax(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	n := digits()
	if i < len(s) && s[i] == '.' {
		i++
		n += digits()
	}
	if n == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// cmpFloat is cmp.Compare but for NaN, which is unordered here (cmp.Compare
// orders it before every number).
func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	case a == b:
		return 0
	}
	return unordered
}

func (n *number) cmpInt(a int64) int {
	switch n.kind {
	case numInt:
		return cmp.Compare(a, n.i)
	case numUint:
		return -1 // n.u is above every int64
	}
	return cmpFloat(float64(a), n.f)
}

func (n *number) cmpUint(a uint64) int {
	switch n.kind {
	case numInt:
		if n.i < 0 {
			return 1
		}
		return cmp.Compare(a, uint64(n.i))
	case numUint:
		return cmp.Compare(a, n.u)
	}
	return cmpFloat(float64(a), n.f)
}

func (n *number) cmpFloat(a float64) int {
	switch n.kind {
	case numInt:
		return cmpFloat(a, float64(n.i))
	case numUint:
		return cmpFloat(a, float64(n.u))
	}
	return cmpFloat(a, n.f)
}

type termKind uint8

const (
	termPresence termKind = iota
	termString
	termBytes
	termBool
	termEnum
	termInt
	termUint
	termFloat
	termTime     // google.protobuf.Timestamp
	termDuration // google.protobuf.Duration
	termWrapper  // google.protobuf.*Value
	termMap      // m:key
	termList     // r:value
)

// terminal is the test at the end of an accessor.
type terminal struct {
	kind termKind
	op   opKind

	str   pattern
	b     bool
	enum  protoreflect.EnumNumber
	num   number
	sec   int64 // termTime, termDuration
	nanos int64

	secFd, nanosFd protoreflect.FieldDescriptor // termTime, termDuration
	valueFd        protoreflect.FieldDescriptor // termWrapper
	inner          *terminal                    // termWrapper: on the value; termList: on an element
	key            protoreflect.MapKey          // termMap
	presence       bool                         // termMap, termList: non-empty
}

// evalField tests the singular field fd of m.
func (t *terminal) evalField(m protoreflect.Message, fd protoreflect.FieldDescriptor) bool {
	if t.kind == termPresence {
		return m.Has(fd)
	}
	if fd.Message() != nil {
		if !m.Has(fd) {
			return false
		}
		return t.evalMessage(m.Get(fd).Message())
	}
	return t.evalScalar(m.Get(fd))
}

// evalValue tests a map value or a list element.
func (t *terminal) evalValue(v protoreflect.Value) bool {
	switch t.kind {
	case termPresence:
		return true
	case termTime, termDuration, termWrapper:
		return t.evalMessage(v.Message())
	}
	return t.evalScalar(v)
}

func (t *terminal) evalList(l protoreflect.List) bool {
	if t.presence {
		return l.Len() > 0
	}
	for i := 0; i < l.Len(); i++ {
		if t.inner.evalValue(l.Get(i)) {
			return true
		}
	}
	return false
}

func (t *terminal) evalMap(m protoreflect.Map) bool {
	if t.presence {
		return m.Len() > 0
	}
	return m.Has(t.key)
}

func (t *terminal) evalMessage(m protoreflect.Message) bool {
	switch t.kind {
	case termTime, termDuration:
		s, n := m.Get(t.secFd).Int(), m.Get(t.nanosFd).Int()
		c := cmp.Compare(s, t.sec)
		if c == 0 {
			c = cmp.Compare(n, t.nanos)
		}
		return compareOrdered(t.op, c)
	case termWrapper:
		return t.inner.evalScalar(m.Get(t.valueFd))
	}
	return false
}

func (t *terminal) evalScalar(v protoreflect.Value) bool {
	switch t.kind {
	case termString:
		return compareString(t.op, &t.str, v.String())
	case termBytes:
		return compareString(t.op, &t.str, string(v.Bytes()))
	case termBool:
		return (v.Bool() == t.b) == (t.op == opEq)
	case termEnum:
		return (v.Enum() == t.enum) == (t.op == opEq)
	case termInt:
		return compareNumber(t.op, t.num.cmpInt(v.Int()))
	case termUint:
		return compareNumber(t.op, t.num.cmpUint(v.Uint()))
	case termFloat:
		return compareNumber(t.op, t.num.cmpFloat(v.Float()))
	}
	return false
}

func compareNumber(op opKind, c int) bool {
	if c == unordered {
		return op == opNe
	}
	return compareOrdered(op, c)
}

// kindName describes the kind of fd for error messages.
func kindName(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return "map"
	case fd.IsList():
		return "repeated " + elemKindName(fd)
	}
	return elemKindName(fd)
}

func elemKindName(fd protoreflect.FieldDescriptor) string {
	if md := fd.Message(); md != nil {
		return string(md.FullName())
	}
	if ed := fd.Enum(); ed != nil {
		return "enum " + string(ed.FullName())
	}
	return fd.Kind().String()
}

// convError reports a value that cannot be compared with a field.
func convError(d *dynLeaf, fd protoreflect.FieldDescriptor, want string) *Error {
	return &Error{Pos: d.lit.pos, Msg: fmt.Sprintf("%s.%s is %s: expected %s, got %q",
		d.side, strings.Join(d.path, "."), article(kindName(fd)), want, d.lit.text())}
}

// opError reports a comparator that does not apply to a field.
func opError(d *dynLeaf, fd protoreflect.FieldDescriptor, hint string) *Error {
	return &Error{Pos: d.opPos, Msg: fmt.Sprintf("comparator %s cannot be applied to %s.%s, %s%s",
		d.op, d.side, strings.Join(d.path, "."), article(kindName(fd)), hint)}
}

// article prefixes s with "a" or "an".
func article(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

// newMapTerminal builds the test for "m:key" or "m:*" on the map field fd.
func newMapTerminal(fd protoreflect.FieldDescriptor, d *dynLeaf) (*terminal, *Error) {
	if d.op != opHas {
		return nil, opError(d, fd, ": use m:key or m.key "+d.op.String()+" value")
	}
	if d.lit.star() {
		return &terminal{kind: termMap, presence: true}, nil
	}
	if d.lit.wildcard() {
		return nil, convError(d, fd, "a key without wildcards")
	}
	key, ok := mapKey(fd.MapKey(), d.lit.parts[0])
	if !ok {
		return nil, convError(d, fd, "a "+fd.MapKey().Kind().String()+" key")
	}
	return &terminal{kind: termMap, key: key}, nil
}

// newListTerminal builds the test for "r:value" or "r:*" on the repeated
// field fd: any element equal to the value.
func newListTerminal(fd protoreflect.FieldDescriptor, d *dynLeaf) (*terminal, *Error) {
	if d.op != opHas {
		return nil, opError(d, fd, ": use r:value to test for an element")
	}
	if d.lit.star() {
		return &terminal{kind: termList, presence: true}, nil
	}
	inner, err := newTerminal(fd, opEq, d)
	if err != nil {
		return nil, err
	}
	return &terminal{kind: termList, inner: inner}, nil
}

// newValueTerminal builds the test on a singular field or a map value.
func newValueTerminal(fd protoreflect.FieldDescriptor, d *dynLeaf) (*terminal, *Error) {
	if d.op == opHas && d.lit.star() {
		return &terminal{kind: termPresence}, nil
	}
	return newTerminal(fd, d.op, d)
}

// newTerminal converts the value of d to the kind of fd, or fails when it
// cannot be converted or op does not apply to that kind.
func newTerminal(fd protoreflect.FieldDescriptor, op opKind, d *dynLeaf) (*terminal, *Error) {
	lit := d.lit
	if md := fd.Message(); md != nil {
		return newMessageTerminal(fd, md, op, d)
	}
	t := &terminal{op: op}
	if op == opHas && fd.Kind() != protoreflect.StringKind && fd.Kind() != protoreflect.BytesKind {
		t.op = opEq // ':' on a scalar is equality
	}
	ordered := t.op != opEq && t.op != opNe
	switch fd.Kind() {
	case protoreflect.StringKind:
		t.kind, t.str = termString, newPattern(lit)
		return t, nil
	case protoreflect.BytesKind:
		t.kind, t.str = termBytes, newPattern(lit)
		return t, nil
	}
	s := lit.text()
	switch fd.Kind() {
	case protoreflect.BoolKind:
		if ordered {
			return nil, opError(d, fd, "")
		}
		b, ok := parseBool(lit)
		if !ok {
			return nil, convError(d, fd, "true or false")
		}
		t.kind, t.b = termBool, b
		return t, nil
	case protoreflect.EnumKind:
		if ordered {
			return nil, opError(d, fd, "")
		}
		t.kind = termEnum
		if v := fd.Enum().Values().ByName(protoreflect.Name(s)); v != nil && !lit.wildcard() {
			t.enum = v.Number()
		} else if n, err := strconv.ParseInt(s, 10, 32); err == nil {
			t.enum = protoreflect.EnumNumber(n)
		} else {
			return nil, convError(d, fd, "one of its value names")
		}
		return t, nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		t.kind = termInt
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		t.kind = termUint
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		t.kind = termFloat
	default:
		return nil, convError(d, fd, "nothing it can be compared with")
	}
	n, ok := parseNumber(s)
	if !ok {
		return nil, convError(d, fd, "a number")
	}
	t.num = n
	return t, nil
}

func newMessageTerminal(fd protoreflect.FieldDescriptor, md protoreflect.MessageDescriptor, op opKind, d *dynLeaf) (*terminal, *Error) {
	s := d.lit.text()
	switch md.FullName() {
	case "google.protobuf.Timestamp", "google.protobuf.Duration":
		if op == opHas {
			op = opEq
		}
		t := &terminal{op: op, secFd: md.Fields().ByNumber(1), nanosFd: md.Fields().ByNumber(2)}
		if t.secFd == nil || t.nanosFd == nil {
			return nil, convError(d, fd, "nothing it can be compared with")
		}
		if md.FullName() == "google.protobuf.Timestamp" {
			tm, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, convError(d, fd, "an RFC 3339 time such as 2023-01-01T00:00:00Z")
			}
			t.kind, t.sec, t.nanos = termTime, tm.Unix(), int64(tm.Nanosecond())
		} else {
			dur, err := time.ParseDuration(s)
			if err != nil {
				return nil, convError(d, fd, "a duration such as 20s or 1.5s")
			}
			t.kind, t.sec, t.nanos = termDuration, int64(dur/time.Second), int64(dur%time.Second)
		}
		return t, nil
	case "google.protobuf.DoubleValue", "google.protobuf.FloatValue",
		"google.protobuf.Int64Value", "google.protobuf.UInt64Value",
		"google.protobuf.Int32Value", "google.protobuf.UInt32Value",
		"google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		vfd := md.Fields().ByNumber(1)
		if vfd == nil {
			return nil, convError(d, fd, "nothing it can be compared with")
		}
		inner, err := newTerminal(vfd, op, d)
		if err != nil {
			return nil, err
		}
		return &terminal{kind: termWrapper, valueFd: vfd, inner: inner}, nil
	}
	return nil, &Error{Pos: d.lit.pos, Msg: fmt.Sprintf("%s.%s is a message (%s): only presence (:*) or its fields can be tested",
		d.side, strings.Join(d.path, "."), md.FullName())}
}

// mapKey converts s to a key of the kind of the map key field kd.
func mapKey(kd protoreflect.FieldDescriptor, s string) (protoreflect.MapKey, bool) {
	switch kd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(s).MapKey(), true
	case protoreflect.BoolKind:
		b, ok := parseBool(literal{parts: []string{s}})
		return protoreflect.ValueOfBool(b).MapKey(), ok
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := strconv.ParseInt(s, 10, 32)
		return protoreflect.ValueOfInt32(int32(n)).MapKey(), err == nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := strconv.ParseInt(s, 10, 64)
		return protoreflect.ValueOfInt64(n).MapKey(), err == nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := strconv.ParseUint(s, 10, 32)
		return protoreflect.ValueOfUint32(uint32(n)).MapKey(), err == nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := strconv.ParseUint(s, 10, 64)
		return protoreflect.ValueOfUint64(n).MapKey(), err == nil
	}
	return protoreflect.MapKey{}, false
}
