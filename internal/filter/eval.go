package filter

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// evalCtx holds what one Match call has unpacked. It lives on the stack.
type evalCtx struct {
	f      *Filter
	op     *longrunningpb.Operation
	queued bool

	unpacked [2]bool
	msgs     [2]protoreflect.Message
	types    [2]*typeInfo
}

// matchString matches a string field against a restriction on it: with
// :* it is present when not empty.
func (n *node) matchString(s string) bool {
	if n.presence {
		return s != ""
	}
	return compareString(n.op, &n.str, s)
}

func (c *evalCtx) eval(n *node) bool {
	switch n.kind {
	case nodeAnd:
		for _, k := range n.kids {
			if !c.eval(k) {
				return false
			}
		}
		return true
	case nodeOr:
		for _, k := range n.kids {
			if c.eval(k) {
				return true
			}
		}
		return false
	case nodeNot:
		return !c.eval(n.kids[0])
	case nodeName:
		return n.matchString(c.op.GetName())
	case nodeDone:
		return (c.op.GetDone() == n.b) == (n.op == opEq)
	case nodeQueued:
		return (c.queued == n.b) == (n.op == opEq)
	case nodeError:
		return c.op.GetError() != nil
	case nodeErrorCode:
		e := c.op.GetError()
		if e == nil {
			return false
		}
		if n.presence {
			return e.GetCode() != 0
		}
		return compareOrdered(n.op, cmp.Compare(int64(e.GetCode()), n.num))
	case nodeErrorMessage:
		e := c.op.GetError()
		return e != nil && n.matchString(e.GetMessage())
	case nodeAnyPresence:
		return c.any(n.side) != nil
	case nodeAnyType:
		a := c.any(n.side)
		return a != nil && n.matchString(a.GetTypeUrl())
	case nodeDyn:
		m, ti := c.message(n.side)
		if m == nil {
			return false
		}
		acc := ti.access[n.dyn.index]
		if acc == nil {
			return false
		}
		return acc.eval(m)
	}
	return false
}

func (c *evalCtx) any(s side) *anypb.Any {
	if s == sideResponse {
		return c.op.GetResponse()
	}
	return c.op.GetMetadata()
}

// message unpacks the metadata or response once per Match call. It returns
// nil when the Any is unset, its type unknown or its bytes invalid.
func (c *evalCtx) message(s side) (protoreflect.Message, *typeInfo) {
	if c.unpacked[s] {
		return c.msgs[s], c.types[s]
	}
	c.unpacked[s] = true
	a := c.any(s)
	if a == nil {
		return nil, nil
	}
	ti := c.f.typeInfo(a.GetTypeUrl())
	if ti.mt == nil {
		return nil, nil
	}
	m := ti.pool.Get().(proto.Message)
	if err := ti.unmarshal(a.GetValue(), m); err != nil {
		ti.pool.Put(m)
		return nil, nil
	}
	c.msgs[s] = m.ProtoReflect()
	c.types[s] = ti
	return c.msgs[s], ti
}

// release gives the unpacked messages back to their pools.
func (c *evalCtx) release() {
	for s := range c.msgs {
		if c.msgs[s] != nil {
			c.types[s].pool.Put(c.msgs[s].Interface())
		}
	}
}

// typeInfo is what a Filter knows about one metadata or response type: the
// message type, a pool of messages to unpack into, and each dynLeaf resolved
// against the type (nil when it can never match that type).
type typeInfo struct {
	mt     protoreflect.MessageType
	pool   sync.Pool
	access []*accessor
	fields []protowire.Number // top-level fields the accessors read
}

var mergeOptions = proto.UnmarshalOptions{Merge: true, AllowPartial: true, DiscardUnknown: true}

// unmarshal decodes into m only the top-level fields the filter reads, so
// that unrelated strings, lists and maps cost nothing. Decoding each run of
// wanted records in order with Merge gives those fields the values a full
// decoding would.
func (ti *typeInfo) unmarshal(b []byte, m proto.Message) error {
	proto.Reset(m)
	run := -1 // start of the current run of wanted records
	for i := 0; i < len(b); {
		num, typ, n := protowire.ConsumeTag(b[i:])
		if n < 0 {
			return protowire.ParseError(n)
		}
		v := protowire.ConsumeFieldValue(num, typ, b[i+n:])
		if v < 0 {
			return protowire.ParseError(v)
		}
		if slices.Contains(ti.fields, num) {
			if run < 0 {
				run = i
			}
		} else if run >= 0 {
			if err := mergeOptions.Unmarshal(b[run:i], m); err != nil {
				return err
			}
			run = -1
		}
		i += n + v
	}
	if run >= 0 {
		return mergeOptions.Unmarshal(b[run:], m)
	}
	return nil
}

// typeInfo returns the cached information on the type with the given URL,
// resolving it on first use.
func (f *Filter) typeInfo(url string) *typeInfo {
	if m := f.types.Load(); m != nil {
		if ti, ok := (*m)[url]; ok {
			return ti
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.types.Load()
	if old != nil {
		if ti, ok := (*old)[url]; ok {
			return ti
		}
	}
	ti := f.newTypeInfo(url)
	if old != nil && len(*old) >= maxCachedTypes {
		return ti // do not grow without bound; still correct, only slower
	}
	m := make(map[string]*typeInfo, 1+mapLen(old))
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[url] = ti
	f.types.Store(&m)
	return ti
}

func mapLen(m *map[string]*typeInfo) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

func (f *Filter) newTypeInfo(url string) *typeInfo {
	ti := &typeInfo{}
	mt, err := f.resolver.FindMessageByURL(url)
	if err != nil || mt == nil {
		return ti
	}
	ti.mt = mt
	ti.pool.New = func() any { return mt.New().Interface() }
	ti.access = make([]*accessor, len(f.dyn))
	md := mt.Descriptor()
	for i, d := range f.dyn {
		if acc, err := resolve(md, d); err == nil {
			ti.access[i] = acc
			if num := acc.steps[0].fd.Number(); !slices.Contains(ti.fields, num) {
				ti.fields = append(ti.fields, num)
			}
		}
	}
	return ti
}

// accessor is a dynLeaf resolved against one message type: the fields to
// walk and the test to apply at the end.
type accessor struct {
	steps []step
	term  *terminal
}

type step struct {
	fd     protoreflect.FieldDescriptor
	key    protoreflect.MapKey // map key, when hasKey
	hasKey bool
}

// findField looks a field up by proto name, then by JSON name. On a
// google.protobuf.Any, "@type" names its type_url, as in the JSON form.
func findField(md protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
	fields := md.Fields()
	if name == "@type" && md.FullName() == anyFullName {
		return fields.ByName("type_url")
	}
	if fd := fields.ByName(protoreflect.Name(name)); fd != nil {
		return fd
	}
	return fields.ByJSONName(name)
}

const anyFullName = "google.protobuf.Any"

// pathEnd is what a path names in a message type: the last field, and how
// the path reaches it.
type pathEnd int

const (
	endValue pathEnd = iota // a singular field, or the value of a map at a key
	endMap                  // a map field itself (m:key, m:*)
	endList                 // a repeated field (r:value, r:*)
)

// walkPath follows the path of d from the message descriptor md, by the
// rules of a filter path: singular messages, the elements of repeated
// messages, maps by key. It returns the steps to take, the last field
// (the map value field at a key) and what it is, or an *Error at the
// segment that no field of md matches.
func walkPath(md protoreflect.MessageDescriptor, d *dynLeaf) ([]step, protoreflect.FieldDescriptor, pathEnd, *Error) {
	var steps []step
	path := d.path
	for i := 0; i < len(path); i++ {
		fd := findField(md, path[i])
		if fd == nil {
			return nil, nil, 0, &Error{Pos: d.segPos[i], Msg: fmt.Sprintf("%s has no field %q", md.FullName(), path[i])}
		}
		st := step{fd: fd}
		last := i == len(path)-1
		switch {
		case fd.IsMap():
			if last {
				return append(steps, st), fd, endMap, nil
			}
			i++
			key, ok := mapKey(fd.MapKey(), path[i])
			if !ok {
				return nil, nil, 0, &Error{Pos: d.segPos[i], Msg: fmt.Sprintf("%q is not a key of the map %s, which has %s keys", path[i], fd.FullName(), fd.MapKey().Kind())}
			}
			st.key, st.hasKey = key, true
			steps = append(steps, st)
			if i == len(path)-1 {
				return steps, fd.MapValue(), endValue, nil
			}
			if md = fd.MapValue().Message(); md == nil {
				return nil, nil, 0, &Error{Pos: d.segPos[i+1], Msg: fmt.Sprintf("the values of the map %s are %s and have no fields", fd.FullName(), elemKindName(fd.MapValue()))}
			}
			continue
		case fd.IsList():
			steps = append(steps, st)
			if last {
				return steps, fd, endList, nil
			}
		default:
			steps = append(steps, st)
			if last {
				return steps, fd, endValue, nil
			}
		}
		md = fd.Message()
		if md == nil {
			return nil, nil, 0, &Error{Pos: d.segPos[i+1], Msg: fmt.Sprintf("%s is %s and has no fields", fd.FullName(), article(kindName(fd)))}
		}
	}
	return nil, nil, 0, &Error{Pos: d.lit.pos, Msg: "empty path"}
}

// resolve resolves d against the message descriptor md. It fails when d
// can never match a message of that type.
func resolve(md protoreflect.MessageDescriptor, d *dynLeaf) (*accessor, *Error) {
	steps, fd, end, err := walkPath(md, d)
	if err != nil {
		return nil, err
	}
	acc := &accessor{steps: steps}
	switch end {
	case endMap:
		acc.term, err = newMapTerminal(fd, d)
	case endList:
		acc.term, err = newListTerminal(fd, d)
	default:
		acc.term, err = newValueTerminal(fd, d)
	}
	if err != nil {
		return nil, err
	}
	return acc, nil
}

func (a *accessor) eval(m protoreflect.Message) bool { return a.walk(m, 0) }

// walk follows the steps from m. A repeated message on the way matches when
// any element does; an unset message or absent map key does not match.
func (a *accessor) walk(m protoreflect.Message, i int) bool {
	st := &a.steps[i]
	fd := st.fd
	last := i == len(a.steps)-1
	switch {
	case fd.IsMap():
		mp := m.Get(fd).Map()
		if !st.hasKey {
			return a.term.evalMap(mp)
		}
		v := mp.Get(st.key)
		if !v.IsValid() {
			return false
		}
		if last {
			return a.term.evalValue(v)
		}
		return a.walk(v.Message(), i+1)
	case fd.IsList():
		l := m.Get(fd).List()
		if last {
			return a.term.evalList(l)
		}
		for j := 0; j < l.Len(); j++ {
			if a.walk(l.Get(j).Message(), i+1) {
				return true
			}
		}
		return false
	}
	if last {
		return a.term.evalField(m, fd)
	}
	if !m.Has(fd) {
		return false
	}
	return a.walk(m.Get(fd).Message(), i+1)
}

// compareString applies op to s and the pattern p.
func compareString(op opKind, p *pattern, s string) bool {
	switch op {
	case opEq:
		return p.match(s)
	case opNe:
		return !p.match(s)
	case opHas:
		return p.contains(s)
	}
	return compareOrdered(op, strings.Compare(s, p.text))
}

// compareOrdered applies an ordering comparator to the result of a
// three-way comparison of the field value with the literal.
func compareOrdered(op opKind, c int) bool {
	switch op {
	case opEq, opHas:
		return c == 0
	case opNe:
		return c != 0
	case opLt:
		return c < 0
	case opLe:
		return c <= 0
	case opGt:
		return c > 0
	case opGe:
		return c >= 0
	}
	return false
}
