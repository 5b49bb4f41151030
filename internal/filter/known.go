package filter

import (
	"fmt"
	"reflect"
	"strings"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// This file refuses metadata and response paths that no known message type
// has (AIP-160: a filter on an unknown field is an error), instead of
// letting them match nothing.

// TypeRanger is implemented by a Resolver that can list the message types
// it knows, as *protoregistry.Types does. Parse checks metadata and
// response paths against the types of such a resolver; for a resolver that
// cannot list its types it uses the types linked into the program
// (protoregistry.GlobalTypes).
type TypeRanger interface {
	RangeMessages(f func(protoreflect.MessageType) bool)
}

// typeCounter is implemented by a TypeRanger whose set of types can be
// compared cheaply with the one an index was built from, as
// *protoregistry.Types does: types are only ever added to it.
type typeCounter interface {
	NumMessages() int
}

// typeIndex lists, for every field name (proto and JSON), the known
// message types that have a field of that name.
type typeIndex struct {
	count  int // the NumMessages the index was built at
	byName map[string][]protoreflect.MessageDescriptor
}

// maxCachedIndexes bounds the number of resolvers whose index is kept.
const maxCachedIndexes = 16

var indexes = struct {
	sync.Mutex
	m map[TypeRanger]*typeIndex
}{m: map[TypeRanger]*typeIndex{}}

// knownTypes returns the index of the message types known to r. The index
// of a resolver that can tell its number of types (a *protoregistry.Types,
// protoregistry.GlobalTypes above all) is built once and kept while that
// number stays the same, so that Parse stays cheap; others are listed
// anew on each call.
func knownTypes(r Resolver) *typeIndex {
	tr, ok := r.(TypeRanger)
	if !ok {
		tr = protoregistry.GlobalTypes
	}
	tc, counts := tr.(typeCounter)
	if !counts || !reflect.ValueOf(tr).Comparable() {
		return buildIndex(tr, -1)
	}
	n := tc.NumMessages()
	indexes.Lock()
	x := indexes.m[tr]
	indexes.Unlock()
	if x != nil && x.count == n {
		return x
	}
	x = buildIndex(tr, n)
	indexes.Lock()
	if _, kept := indexes.m[tr]; kept || len(indexes.m) < maxCachedIndexes {
		indexes.m[tr] = x
	}
	indexes.Unlock()
	return x
}

func buildIndex(tr TypeRanger, count int) *typeIndex {
	x := &typeIndex{count: count, byName: map[string][]protoreflect.MessageDescriptor{}}
	tr.RangeMessages(func(mt protoreflect.MessageType) bool {
		md := mt.Descriptor()
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			name := string(fd.Name())
			x.byName[name] = append(x.byName[name], md)
			if j := fd.JSONName(); j != name {
				x.byName[j] = append(x.byName[j], md)
			}
		}
		return true
	})
	return x
}

// check returns an *Error when no known message type has the path of d,
// at the deepest segment a known type reaches.
func (x *typeIndex) check(d *dynLeaf) *Error {
	pos := d.segPos[0]
	for _, md := range x.byName[d.path[0]] {
		_, _, _, err := walkPath(md, d)
		if err == nil {
			return nil
		}
		pos = max(pos, err.Pos)
	}
	return &Error{Pos: pos, Msg: fmt.Sprintf("unknown field %s.%s: no message type known to the server has it", d.side, strings.Join(d.path, "."))}
}

// checkKnown refuses a metadata or response path that no message type
// known to the resolver has.
func (f *Filter) checkKnown() error {
	if len(f.dyn) == 0 {
		return nil
	}
	x := knownTypes(f.resolver)
	for _, d := range f.dyn {
		if err := x.check(d); err != nil {
			return err
		}
	}
	return nil
}
