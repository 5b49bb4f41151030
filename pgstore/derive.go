package pgstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"sync"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/jackc/pgx/v5"
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

// derivedColumns are the derived columns of a batch of rows, as the
// arrays a statement unnests: int4[], text[], text[], text[] (jsonb text),
// bytea[] and bool[] (derived).
type derivedColumns struct {
	errorCodes                                 []*int32
	metadataTypes, responseTypes, metadataJSON []*string
	schemas                                    [][]byte
	ok                                         []bool
}

// add appends the derived columns of one row.
func (c *derivedColumns) add(d derived) {
	c.errorCodes = append(c.errorCodes, d.errorCode)
	c.metadataTypes = append(c.metadataTypes, d.metadataType)
	c.responseTypes = append(c.responseTypes, d.responseType)
	c.metadataJSON = append(c.metadataJSON, d.metadataJSON)
	c.schemas = append(c.schemas, d.metadataSchema)
	c.ok = append(c.ok, d.ok)
}

// args returns the arrays, in the order of the type above.
func (c *derivedColumns) args() []any {
	return []any{c.errorCodes, c.metadataTypes, c.responseTypes, c.metadataJSON, c.schemas, c.ok}
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

// derivedMigration is the migration that adds the derived columns.
const derivedMigration = 3

// backfillBatch is how many rows backfillDerived writes per statement.
const backfillBatch = 500

// backfillDerived derives the columns of the rows whose derived columns
// are not current, walking the table by name a batch at a time. A row
// written meanwhile is left as its writer left it. Rows it misses (a crash
// half-way) stay unknown, which is still exact, only slower to filter.
func backfillDerived(ctx context.Context, conn *pgx.Conn) error {
	after := ""
	for {
		type row struct {
			name    string
			version int64
			op      []byte
		}
		rows, err := conn.Query(ctx, `SELECT name, version, operation FROM lro_operations
WHERE name > $1 AND derived_version IS DISTINCT FROM version ORDER BY name LIMIT $2`, after, backfillBatch)
		if err != nil {
			return storeErr("migrate: reading rows to derive", err)
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.name, &x.version, &x.op)
			return x, err
		})
		if err != nil {
			return storeErr("migrate: reading rows to derive", err)
		}
		if len(batch) == 0 {
			return nil
		}
		n := len(batch)
		names, versions := make([]string, n), make([]int64, n)
		var cols derivedColumns
		for i, x := range batch {
			op := new(longrunningpb.Operation)
			d := derived{}
			if proto.Unmarshal(x.op, op) == nil {
				d = derive(op)
			}
			names[i], versions[i] = x.name, x.version
			cols.add(d)
		}
		_, err = conn.Exec(ctx, `UPDATE lro_operations o SET error_code = i.error_code, metadata_type = i.metadata_type,
	response_type = i.response_type, metadata_json = i.metadata_json::jsonb, metadata_schema = i.metadata_schema,
	derived_version = CASE WHEN i.ok THEN o.version END
FROM unnest($1::text[], $2::int8[], $3::int4[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::bool[])
	AS i(name, version, error_code, metadata_type, response_type, metadata_json, metadata_schema, ok)
WHERE o.name = i.name AND o.version = i.version`, append([]any{names, versions}, cols.args()...)...)
		if err != nil {
			return storeErr("migrate: writing derived columns", err)
		}
		after = batch[n-1].name
	}
}
