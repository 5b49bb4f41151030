package lroweb

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/genproto/googleapis/rpc/code"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
)

// opView is an operation as the pages show it, and as the live updates of
// an operation page send it (JSON).
type opView struct {
	Name string `json:"name"`
	Path string `json:"-"` // the name as a URL path
	// NameHead and NameTail split the name before its last segment (the
	// id), which the pages set off.
	NameHead string `json:"-"`
	NameTail string `json:"-"`
	State    state  `json:"state"`
	Done     bool   `json:"done"`
	// Type is the metadata's message name without its package; TypeURL in full.
	Type    string `json:"type"`
	TypeURL string `json:"typeUrl"`
	// TypeName is the metadata's full message name; Parent the name's
	// part before "/operations/", or "".
	TypeName string `json:"-"`
	Parent   string `json:"-"`

	HasProgress bool    `json:"hasProgress"`
	Progress    float64 `json:"progress"`
	ProgressPct string  `json:"progressText"`

	Times   []timeView `json:"times"`
	Started *timeView  `json:"-"` // create or start time, for the list

	Metadata     string `json:"metadata"`   // JSON, or ""
	ResultKind   string `json:"resultKind"` // "response", "error" or ""
	Result       string `json:"result"`     // JSON, or ""
	ErrorCode    string `json:"errorCode"`  // such as "NOT_FOUND"
	ErrorMessage string `json:"errorMessage"`
}

// timeView is a time taken from the metadata or the response.
type timeView struct {
	Label string `json:"label"`
	ISO   string `json:"iso"`  // RFC 3339, or "" for a duration
	Text  string `json:"text"` // as shown without script
}

// renderer turns operations into views, decoding Any values through the
// host's resolver.
type renderer struct {
	resolver TypeResolver
	json     protojson.MarshalOptions
	binary   proto.UnmarshalOptions
}

func newRenderer(r TypeResolver) renderer {
	jr := jsonResolver{r}
	return renderer{
		resolver: r,
		// Proto field names, as filters spell them; zero values shown.
		json:   protojson.MarshalOptions{Resolver: jr, UseProtoNames: true, EmitDefaultValues: true},
		binary: proto.UnmarshalOptions{Resolver: jr},
	}
}

// view returns op as the pages show it.
func (rd renderer) view(op *longrunningpb.Operation) opView {
	name := op.GetName()
	cut := strings.LastIndexByte(name, '/') + 1
	v := opView{Name: name, Path: opPath(name), NameHead: name[:cut], NameTail: name[cut:], State: stateOf(op), Done: op.GetDone()}
	v.Parent, _ = strings.CutSuffix(v.NameHead, "/operations/")
	if v.Parent == v.NameHead { // "operations/{id}", or not an lro-style name
		v.Parent = ""
	}
	var md, resp protoreflect.Message
	if a := op.GetMetadata(); a != nil {
		v.TypeURL = a.GetTypeUrl()
		v.TypeName = a.GetTypeUrl()[strings.LastIndexByte(a.GetTypeUrl(), '/')+1:]
		v.Type = shortType(v.TypeName)
		v.Metadata = rd.anyJSON(a)
		md = rd.unpack(a)
	}
	switch res := op.GetResult().(type) {
	case *longrunningpb.Operation_Response:
		v.ResultKind = "response"
		v.Result = rd.anyJSON(res.Response)
		resp = rd.unpack(res.Response)
	case *longrunningpb.Operation_Error:
		v.ResultKind = "error"
		v.Result = rd.statusJSON(res.Error)
		v.ErrorCode = code.Code(res.Error.GetCode()).String()
		v.ErrorMessage = res.Error.GetMessage()
	}
	if md != nil {
		v.Progress, v.HasProgress = progressOf(md)
		if v.HasProgress {
			v.ProgressPct = formatPercent(v.Progress)
		}
	}
	v.Times = timesOf(md, resp)
	for i, t := range v.Times {
		if t.Label == "Created" || t.Label == "Started" {
			v.Started = &v.Times[i]
			break
		}
	}
	return v
}

// unpack decodes a, or returns nil when its type is unknown or its bytes
// do not parse.
func (rd renderer) unpack(a *anypb.Any) protoreflect.Message {
	mt, err := rd.resolver.FindMessageByURL(a.GetTypeUrl())
	if err != nil {
		return nil
	}
	m := mt.New()
	if err := rd.binary.Unmarshal(a.GetValue(), m.Interface()); err != nil {
		return nil
	}
	return m
}

// anyJSON returns a as indented JSON: protojson with proto field names, or,
// when a's type (or the type of an Any inside it) is unknown, its type URL
// and base64 bytes.
func (rd renderer) anyJSON(a *anypb.Any) string {
	b, err := rd.json.Marshal(a)
	if err != nil {
		b = plainJSON(struct {
			Type  string `json:"@type"`
			Value string `json:"value"`
		}{a.GetTypeUrl(), base64.StdEncoding.EncodeToString(a.GetValue())})
	}
	return indent(b)
}

// statusJSON returns an error status as indented JSON, each detail decoded
// as anyJSON does.
func (rd renderer) statusJSON(s *spb.Status) string {
	out := struct {
		Code    int32             `json:"code"`
		Status  string            `json:"status"`
		Message string            `json:"message"`
		Details []json.RawMessage `json:"details,omitempty"`
	}{s.GetCode(), code.Code(s.GetCode()).String(), s.GetMessage(), nil}
	for _, d := range s.GetDetails() {
		out.Details = append(out.Details, json.RawMessage(rd.anyJSON(d)))
	}
	return indent(plainJSON(out))
}

// plainJSON encodes v without escaping <, > and &, which the templates
// escape: an operator reads the text as the server sent it.
func plainJSON(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil { // only strings, numbers and valid JSON: cannot happen
		return []byte("null")
	}
	return buf.Bytes()
}

// indent re-indents JSON evenly; protojson's own spacing is unstable.
func indent(b []byte) string {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return string(b)
	}
	return buf.String()
}

// shortType returns the message name of a type URL without its package.
func shortType(url string) string {
	name := url[strings.LastIndexByte(url, '/')+1:]
	return name[strings.LastIndexByte(name, '.')+1:]
}

// jsonResolver adapts a TypeResolver to what protojson and proto need.
type jsonResolver struct{ r TypeResolver }

func (j jsonResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	return j.r.FindMessageByURL(url)
}

func (j jsonResolver) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	return j.r.FindMessageByURL(string(name))
}

func (j jsonResolver) FindExtensionByName(field protoreflect.FullName) (protoreflect.ExtensionType, error) {
	if x, ok := j.r.(protoregistry.ExtensionTypeResolver); ok {
		return x.FindExtensionByName(field)
	}
	return nil, protoregistry.NotFound
}

func (j jsonResolver) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	if x, ok := j.r.(protoregistry.ExtensionTypeResolver); ok {
		return x.FindExtensionByNumber(message, field)
	}
	return nil, protoregistry.NotFound
}

// formatTime is how a time reads without script (the script shows it in
// the reader's zone, and how long ago).
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
