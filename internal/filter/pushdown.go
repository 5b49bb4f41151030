package filter

import (
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// This file shows a parsed filter to stores that translate it into a query
// language of their own (pgstore's SQL), so that the database can leave out
// operations that cannot match. A translation may only be looser than
// Match, never stricter: the Manager still matches what the store returns.

// Op is a comparator.
type Op = opKind

// The comparators.
const (
	OpEq  Op = opEq
	OpNe  Op = opNe
	OpLt  Op = opLt
	OpLe  Op = opLe
	OpGt  Op = opGt
	OpGe  Op = opGe
	OpHas Op = opHas
)

// Side tells the metadata from the response.
type Side = side

// The sides.
const (
	Metadata Side = sideMetadata
	Response Side = sideResponse
)

// CondKind tells what a Cond tests.
type CondKind uint8

// The kinds of Cond. A string test (Text) is: with OpEq, the whole string
// matches the pattern, whose Parts are separated by '*' wildcards; OpNe its
// negation; OpHas, some substring matches it; OpLt, OpLe, OpGt, OpGe, the
// string compared byte-wise with the Parts joined by "*". With Presence,
// the string is not empty instead.
const (
	CondAnd          CondKind = iota // every Kid holds
	CondOr                           // some Kid holds
	CondNot                          // Kids[0] does not hold
	CondName                         // the name passes the string test
	CondDone                         // done equals Bool (Op is OpEq or OpNe)
	CondError                        // the error is set
	CondErrorCode                    // the error is set and its code compares with Code by Op (Presence: is not 0)
	CondErrorMessage                 // the error is set and its message passes the string test
	CondAny                          // Side is set
	CondAnyType                      // Side is set and its type URL passes the string test
	CondField                        // a field of the unpacked Side message: see JSON
	CondQueued                       // the pseudo-field queued equals Bool (Op is OpEq or OpNe): not done, not started
)

// Cond is a read-only view of one node of a parsed filter.
type Cond struct {
	Kind     CondKind
	Kids     []Cond
	Op       Op
	Presence bool     // ":*": the string or code is set (not empty, not 0)
	Bool     bool     // CondDone
	Code     int64    // CondErrorCode
	Parts    []string // the string pattern: CondName, CondErrorMessage, CondAnyType
	Side     Side     // CondAny, CondAnyType, CondField

	f    *Filter
	leaf *dynLeaf
}

// Cond returns the filter's tree, or false for the empty filter, which
// matches everything.
func (f *Filter) Cond() (Cond, bool) {
	if f == nil || f.root == nil {
		return Cond{}, false
	}
	return f.cond(f.root), true
}

func (f *Filter) cond(n *node) Cond {
	c := Cond{f: f, Op: n.op, Presence: n.presence, Side: n.side}
	switch n.kind {
	case nodeAnd, nodeOr, nodeNot:
		c.Kind = map[nodeKind]CondKind{nodeAnd: CondAnd, nodeOr: CondOr, nodeNot: CondNot}[n.kind]
		for _, k := range n.kids {
			c.Kids = append(c.Kids, f.cond(k))
		}
	case nodeName:
		c.Kind, c.Parts = CondName, n.str.parts
	case nodeDone:
		c.Kind, c.Bool = CondDone, n.b
	case nodeQueued:
		c.Kind, c.Bool = CondQueued, n.b
	case nodeError:
		c.Kind = CondError
	case nodeErrorCode:
		c.Kind, c.Code = CondErrorCode, n.num
	case nodeErrorMessage:
		c.Kind, c.Parts = CondErrorMessage, n.str.parts
	case nodeAnyPresence:
		c.Kind = CondAny
	case nodeAnyType:
		c.Kind, c.Parts = CondAnyType, n.str.parts
	case nodeDyn:
		c.Kind, c.leaf = CondField, n.dyn
	}
	return c
}

// Pins returns the type URLs the filter requires of side at its top level
// ("metadata.@type = URL AND ..."): an operation can match only if the
// type URL of its side is each of them.
func (f *Filter) Pins(s Side) []string {
	if f == nil || f.root == nil {
		return nil
	}
	pins := []*node{f.root}
	if f.root.kind == nodeAnd {
		pins = f.root.kids
	}
	var urls []string
	for _, n := range pins {
		if n.kind == nodeAnyType && n.side == s && n.op == opEq && !n.presence && len(n.str.parts) == 1 {
			urls = append(urls, n.str.parts[0])
		}
	}
	return urls
}

// Names returns the names the filter requires at its top level ("name =
// NAME AND ...", NAME without a wildcard): an operation can match only if
// its name is each of them, so a store may look it up by name instead of
// scanning for it.
func (f *Filter) Names() []string {
	if f == nil || f.root == nil {
		return nil
	}
	top := []*node{f.root}
	if f.root.kind == nodeAnd {
		top = f.root.kids
	}
	var names []string
	for _, n := range top {
		if n.kind == nodeName && n.op == opEq && !n.presence && len(n.str.parts) == 1 {
			names = append(names, n.str.parts[0])
		}
	}
	return names
}

// JSONKind tells what a JSONTest tests.
type JSONKind uint8

// The kinds of JSONTest.
const (
	// JSONPresent: the value at Path is present.
	JSONPresent JSONKind = iota
	// JSONText: the text of the value at Path (a JSON string without its
	// quotes, or true/false) passes the string test of Op and Parts (see
	// CondKind).
	JSONText
	// JSONNumber: the value at Path (a JSON number, or a JSON string
	// holding a decimal integer) compares by Op with the decimal integer
	// Number.
	JSONNumber
	// JSONContains: the value at Path, an object or an array, has the key
	// or the string element Elem.
	JSONContains
)

// JSONTest is a CondField restriction as a test on the JSON form of a
// message of one type, as protojson.Marshal writes it with default
// options: for every message m of that type, the test holds on
// protojson.Marshal(m) exactly when Match holds for an operation whose
// Side is m.
//
// Path is a list of object keys from the top (JSON field names and map
// keys). The first Required keys must be present for the test to hold;
// when only the last is absent (Required = len(Path)-1), the value is
// Default, the text of the field's default value, which protojson omits.
type JSONTest struct {
	Kind     JSONKind
	Path     []string
	Required int
	Default  string
	Op       Op
	Parts    []string // JSONText
	Number   string   // JSONNumber
	Elem     string   // JSONContains
}

// JSON resolves a CondField against the message type the filter's
// Resolver gives for url, as Match does for an operation whose Side has
// that type URL. It returns the test and the descriptor of the type, or
// false when the type is unknown, when the restriction can never match it
// (Match is then false), or when its meaning cannot be kept exactly in a
// JSON test: lists of messages on the path, well-known types with a JSON
// form of their own (Timestamp, Duration, Any, Struct...) on the path,
// bytes and floating point fields, and numbers that are not integers.
func (c Cond) JSON(url string) (JSONTest, protoreflect.MessageDescriptor, bool) {
	if c.Kind != CondField || c.leaf.side != c.Side {
		return JSONTest{}, nil, false
	}
	ti := c.f.typeInfo(url)
	if ti.mt == nil {
		return JSONTest{}, nil, false
	}
	acc := ti.access[c.leaf.index]
	md := ti.mt.Descriptor()
	if acc == nil || ownJSON(md) {
		return JSONTest{}, nil, false
	}
	t, ok := jsonTest(acc)
	return t, md, ok
}

// ownJSON reports whether messages of md have a JSON form other than an
// object of their fields.
func ownJSON(md protoreflect.MessageDescriptor) bool {
	return strings.HasPrefix(string(md.FullName()), "google.protobuf.")
}

// jsonTest translates a resolved restriction (see Cond.JSON).
func jsonTest(acc *accessor) (JSONTest, bool) {
	var t JSONTest
	for i, st := range acc.steps {
		fd := st.fd
		last := i == len(acc.steps)-1
		t.Path = append(t.Path, fd.JSONName())
		switch {
		case fd.IsMap():
			if !st.hasKey {
				return mapTest(t, acc.term) // m:* or m:key
			}
			if fd.MapKey().Kind() != protoreflect.StringKind {
				return JSONTest{}, false
			}
			t.Path = append(t.Path, st.key.String())
			t.Required = len(t.Path) // a map entry is always written
			if last {
				return valueTest(t, fd.MapValue(), acc.term)
			}
			if ownJSON(fd.MapValue().Message()) {
				return JSONTest{}, false
			}
		case fd.IsList():
			if !last {
				return JSONTest{}, false // any element: not kept
			}
			return listTest(t, fd, acc.term)
		case last:
			t.Required = len(t.Path) - 1
			return valueTest(t, fd, acc.term)
		default:
			if ownJSON(fd.Message()) {
				return JSONTest{}, false
			}
			t.Required = len(t.Path) // a set message is written, even empty
		}
	}
	return JSONTest{}, false
}

// mapTest is "m:*" (a non-empty map is written) or "m:key" on a map with
// string keys.
func mapTest(t JSONTest, term *terminal) (JSONTest, bool) {
	t.Required = len(t.Path)
	if term.presence {
		t.Kind = JSONPresent
		return t, true
	}
	if term.key.Interface() == nil {
		return JSONTest{}, false
	}
	k, ok := term.key.Interface().(string)
	if !ok {
		return JSONTest{}, false
	}
	t.Kind, t.Elem = JSONContains, k
	return t, true
}

// listTest is "r:*" (a non-empty list is written) or "r:value" on a list
// of strings or enums without wildcards.
func listTest(t JSONTest, fd protoreflect.FieldDescriptor, term *terminal) (JSONTest, bool) {
	t.Required = len(t.Path)
	if term.presence {
		t.Kind = JSONPresent
		return t, true
	}
	in := term.inner
	t.Kind = JSONContains
	switch {
	case in.kind == termString && len(in.str.parts) == 1:
		t.Elem = in.str.parts[0]
	case in.kind == termEnum && !nullEnum(fd):
		v := fd.Enum().Values().ByNumber(in.enum)
		if v == nil {
			return JSONTest{}, false // written as a number
		}
		t.Elem = string(v.Name())
	default:
		return JSONTest{}, false
	}
	return t, true
}

// valueTest is the test on the singular field or map value fd, whose key
// is the last of t.Path; t.Required says whether it must be present.
func valueTest(t JSONTest, fd protoreflect.FieldDescriptor, term *terminal) (JSONTest, bool) {
	if term.kind == termPresence {
		// A singular field is written when set (proto3: not zero); a map
		// value is always written.
		t.Kind, t.Required = JSONPresent, len(t.Path)
		return t, true
	}
	if term.kind == termWrapper {
		// A set wrapper is written as its bare value, even when zero.
		t.Required = len(t.Path)
		return scalarTest(t, term.valueFd, term.inner)
	}
	if t.Required < len(t.Path) {
		d, ok := defaultText(fd)
		if !ok {
			return JSONTest{}, false
		}
		t.Default = d
	}
	return scalarTest(t, fd, term)
}

// scalarTest is the test on the scalar value at t.Path.
func scalarTest(t JSONTest, fd protoreflect.FieldDescriptor, term *terminal) (JSONTest, bool) {
	t.Op = term.op
	switch term.kind {
	case termString:
		t.Kind, t.Parts = JSONText, term.str.parts
	case termBool:
		t.Kind, t.Parts = JSONText, []string{strconv.FormatBool(term.b)}
	case termEnum:
		if nullEnum(fd) {
			return JSONTest{}, false
		}
		t.Kind, t.Parts = JSONText, []string{enumText(fd, term.enum)}
	case termInt, termUint:
		switch term.num.kind {
		case numInt:
			t.Number = strconv.FormatInt(term.num.i, 10)
		case numUint:
			t.Number = strconv.FormatUint(term.num.u, 10)
		default:
			return JSONTest{}, false
		}
		t.Kind = JSONNumber
	default:
		return JSONTest{}, false
	}
	return t, true
}

// nullEnum reports whether fd is a google.protobuf.NullValue, written as
// JSON null.
func nullEnum(fd protoreflect.FieldDescriptor) bool {
	return fd.Enum() != nil && fd.Enum().FullName() == "google.protobuf.NullValue"
}

// enumText is how protojson writes the enum number n of fd: its name, or
// the number when the enum has no such value.
func enumText(fd protoreflect.FieldDescriptor, n protoreflect.EnumNumber) string {
	if v := fd.Enum().Values().ByNumber(n); v != nil {
		return string(v.Name())
	}
	return strconv.Itoa(int(n))
}

// defaultText is the text of fd's default value, which an unset field
// compares as, in the form a JSONTest compares it.
func defaultText(fd protoreflect.FieldDescriptor) (string, bool) {
	v := fd.Default()
	switch fd.Kind() {
	case protoreflect.StringKind:
		return v.String(), true
	case protoreflect.BoolKind:
		return strconv.FormatBool(v.Bool()), true
	case protoreflect.EnumKind:
		return enumText(fd, v.Enum()), true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.FormatInt(v.Int(), 10), true
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.FormatUint(v.Uint(), 10), true
	}
	return "", false
}
