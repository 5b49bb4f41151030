package pgstore

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sort"
	"sync"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// The derived columns of a row (migration 0003): what List filters test,
// taken from the operation when it is written, so that PostgreSQL can leave
// out rows that cannot match (see pushdown.go).

// derived holds the derived columns of one operation. ok is false when they
// cannot be derived exactly (a type URL PostgreSQL cannot hold); the row is
// then written with a NULL derived_version, which marks them unknown.
type derived struct {
	ok             bool
	errorCode      *int32
	metadataType   *string
	responseType   *string
	metadataJSON   *string // jsonb text; nil: unknown
	metadataSchema []byte  // schemaFingerprint of the metadata's type
}

// derive computes the derived columns of op. Metadata types are found in
// protoregistry.GlobalTypes; an unknown type leaves metadata_json NULL.
func derive(op *longrunningpb.Operation) derived {
	d := derived{ok: true}
	if e := op.GetError(); e != nil {
		c := e.GetCode()
		d.errorCode = &c
	}
	if r := op.GetResponse(); r != nil {
		u := r.GetTypeUrl()
		d.responseType = &u
		d.ok = validText(u)
	}
	if m := op.GetMetadata(); m != nil {
		u := m.GetTypeUrl()
		d.metadataType = &u
		d.ok = d.ok && validText(u)
		d.metadataJSON, d.metadataSchema = metadataJSON(u, m.GetValue())
	}
	if !d.ok {
		return derived{}
	}
	return d
}

// metadataJSON returns the JSON form of the message of type url encoded in
// b, and the fingerprint of its schema, or nils when the type is unknown,
// b does not decode, or the message has no JSON form that jsonb can hold.
func metadataJSON(url string, b []byte) (*string, []byte) {
	mt, err := protoregistry.GlobalTypes.FindMessageByURL(url)
	if err != nil {
		return nil, nil
	}
	m := mt.New().Interface()
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, nil
	}
	j, err := protojson.Marshal(m)
	// jsonb refuses the NUL character, which JSON writes as \u0000.
	if err != nil || bytes.Contains(j, []byte(`\u0000`)) {
		return nil, nil
	}
	s := string(j)
	return &s, schemaFingerprint(mt.Descriptor())
}

// fingerprints caches schemaFingerprint by descriptor.
var fingerprints sync.Map // protoreflect.MessageDescriptor → []byte

// schemaFingerprint returns a hash of everything the JSON form of messages
// of md depends on: the names, numbers, JSON names, kinds and defaults of
// its fields and those of every message and enum it reaches. A JSON test
// translated with one descriptor is applied only to rows whose metadata
// was written with a descriptor of the same fingerprint, so renaming a
// field, say, never makes older rows match wrongly.
func schemaFingerprint(md protoreflect.MessageDescriptor) []byte {
	if fp, ok := fingerprints.Load(md); ok {
		return fp.([]byte)
	}
	h := sha256.New()
	seen := map[protoreflect.FullName]bool{}
	var message func(md protoreflect.MessageDescriptor)
	var enum func(ed protoreflect.EnumDescriptor)
	enum = func(ed protoreflect.EnumDescriptor) {
		fmt.Fprintf(h, "E%s{", ed.FullName())
		vals := ed.Values()
		for i := range vals.Len() {
			v := vals.Get(i)
			fmt.Fprintf(h, "%s=%d;", v.Name(), v.Number())
		}
		fmt.Fprint(h, "}")
	}
	message = func(md protoreflect.MessageDescriptor) {
		fmt.Fprintf(h, "M%s{", md.FullName())
		if seen[md.FullName()] {
			fmt.Fprint(h, "}")
			return
		}
		seen[md.FullName()] = true
		fields := md.Fields()
		order := make([]protoreflect.FieldDescriptor, fields.Len())
		for i := range order {
			order[i] = fields.Get(i)
		}
		sort.Slice(order, func(i, j int) bool { return order[i].Number() < order[j].Number() })
		for _, fd := range order {
			fmt.Fprintf(h, "%d:%s:%s:%v:%v:%v:%v:%q;", fd.Number(), fd.Name(), fd.JSONName(), fd.Kind(),
				fd.Cardinality(), fd.IsMap(), fd.HasPresence(), defaultOf(fd))
			if fd.IsMap() {
				fmt.Fprintf(h, "K%v", fd.MapKey().Kind())
				fd = fd.MapValue()
				fmt.Fprintf(h, "V%v", fd.Kind())
			}
			if m := fd.Message(); m != nil {
				message(m)
			}
			if e := fd.Enum(); e != nil {
				enum(e)
			}
		}
		fmt.Fprint(h, "}")
	}
	message(md)
	fp := h.Sum(nil)[:16]
	fingerprints.Store(md, fp)
	return fp
}

// defaultOf is the default value of a scalar field, as text.
func defaultOf(fd protoreflect.FieldDescriptor) string {
	if fd.Message() != nil || fd.IsList() || fd.IsMap() {
		return ""
	}
	return fmt.Sprint(fd.Default().Interface())
}
