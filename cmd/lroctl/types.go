package main

// Type resolution: the message types of metadata, responses and error
// details, found in lroctl itself, in --descriptor-set files, or through
// the server's gRPC reflection service.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	rpbalpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	// Types decoded out of the box in metadata, responses and error details.
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"
	_ "google.golang.org/protobuf/types/known/emptypb"
	_ "google.golang.org/protobuf/types/known/fieldmaskpb"
	_ "google.golang.org/protobuf/types/known/structpb"
	_ "google.golang.org/protobuf/types/known/timestamppb"
	_ "google.golang.org/protobuf/types/known/wrapperspb"
)

// resolver finds message types in the global registry, then in the
// descriptor sets given with --descriptor-set, then, over gRPC unless
// --no-reflection is given, through the server's reflection service.
type resolver struct {
	extra   *protoregistry.Types
	reflect *reflector // nil: no reflection
}

func newResolver(files []string) (*resolver, error) {
	r := &resolver{extra: new(protoregistry.Types)}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--descriptor-set: %w", err)
		}
		var set descriptorpb.FileDescriptorSet
		if err := proto.Unmarshal(b, &set); err != nil {
			return nil, fmt.Errorf("--descriptor-set %s: not a FileDescriptorSet: %w", f, err)
		}
		reg, err := protodesc.NewFiles(&set)
		if err != nil {
			return nil, fmt.Errorf("--descriptor-set %s: %w (was it built with --include_imports?)", f, err)
		}
		var regErr error
		reg.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
			msgs := fd.Messages()
			for i := 0; i < msgs.Len(); i++ {
				regErr = registerMessage(r.extra, msgs.Get(i))
				if regErr != nil {
					return false
				}
			}
			return true
		})
		if regErr != nil {
			return nil, fmt.Errorf("--descriptor-set %s: %w", f, regErr)
		}
	}
	return r, nil
}

func registerMessage(t *protoregistry.Types, md protoreflect.MessageDescriptor) error {
	if _, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err != nil {
		if _, err := t.FindMessageByName(md.FullName()); err != nil {
			if err := t.RegisterMessage(dynamicpb.NewMessageType(md)); err != nil {
				return err
			}
		}
	}
	nested := md.Messages()
	for i := 0; i < nested.Len(); i++ {
		if err := registerMessage(t, nested.Get(i)); err != nil {
			return err
		}
	}
	return nil
}

func (r *resolver) FindMessageByName(n protoreflect.FullName) (protoreflect.MessageType, error) {
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(n); err == nil {
		return mt, nil
	}
	mt, err := r.extra.FindMessageByName(n)
	if err != nil && r.reflect != nil {
		return r.reflect.find(n)
	}
	return mt, err
}

func (r *resolver) FindMessageByURL(u string) (protoreflect.MessageType, error) {
	if mt, err := protoregistry.GlobalTypes.FindMessageByURL(u); err == nil {
		return mt, nil
	}
	mt, err := r.extra.FindMessageByURL(u)
	if err != nil && r.reflect != nil {
		return r.reflect.find(typeName(u))
	}
	return mt, err
}

func (r *resolver) FindExtensionByName(n protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByName(n)
}

func (r *resolver) FindExtensionByNumber(m protoreflect.FullName, f protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return protoregistry.GlobalTypes.FindExtensionByNumber(m, f)
}

// reflectionTimeout bounds one reflection lookup.
const reflectionTimeout = 10 * time.Second

// reflectionRetry is how long a lookup that failed for a reason other than
// the server not knowing the symbol (a dropped connection, a timeout) is
// not tried again.
const reflectionRetry = 10 * time.Second

// reflector finds message types that lroctl does not link in by asking the
// server's gRPC reflection service (v1, or v1alpha when the server lacks
// v1) for the file that declares them, with its imports. Files and types
// are kept for the rest of the run, and so are failed lookups (for
// reflectionRetry only when the failure may be transient); once the
// server answers UNIMPLEMENTED to both versions, or refuses the caller
// (PERMISSION_DENIED, UNAUTHENTICATED), the reflector stops asking. It is
// safe for concurrent use.
type reflector struct {
	conn grpc.ClientConnInterface
	// ctx is the context of the run (with its --timeout and -H metadata);
	// every lookup is made under it.
	ctx context.Context
	now func() time.Time

	mu     sync.Mutex
	alpha  bool // v1 answered UNIMPLEMENTED: use v1alpha
	off    bool // no reflection service
	files  *protoregistry.Files
	types  *protoregistry.Types
	failed map[protoreflect.FullName]time.Time // lookups not to repeat before the time (zero: never)
}

func newReflector(ctx context.Context, conn grpc.ClientConnInterface) *reflector {
	return &reflector{
		conn:   conn,
		ctx:    ctx,
		now:    time.Now,
		files:  new(protoregistry.Files),
		types:  new(protoregistry.Types),
		failed: make(map[protoreflect.FullName]time.Time),
	}
}

// find returns the message type named n, asking the server when it is not
// known yet.
func (r *reflector) find(n protoreflect.FullName) (protoreflect.MessageType, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if mt, err := r.types.FindMessageByName(n); err == nil {
		return mt, nil
	}
	if r.off || !n.IsValid() {
		return nil, protoregistry.NotFound
	}
	if until, ok := r.failed[n]; ok && (until.IsZero() || r.now().Before(until)) {
		return nil, protoregistry.NotFound
	}
	if err := r.fetch(n); err != nil {
		if errors.Is(err, errNoReflection) {
			r.off = true
			return nil, protoregistry.NotFound
		}
		switch status.Code(err) {
		case codes.PermissionDenied, codes.Unauthenticated:
			r.off = true // the service refuses this caller: no other type will do better
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.ResourceExhausted, codes.Aborted:
			r.failed[n] = r.now().Add(reflectionRetry)
		default:
			r.failed[n] = time.Time{}
		}
		return nil, protoregistry.NotFound
	}
	mt, err := r.types.FindMessageByName(n)
	if err != nil {
		r.failed[n] = time.Time{} // the symbol is not a message (a service, an enum...)
		return nil, protoregistry.NotFound
	}
	return mt, nil
}

// errNoReflection means the server serves neither version of reflection.
var errNoReflection = errors.New("the server does not serve gRPC reflection")

// fetch asks for the file declaring symbol and registers it, with the
// imports it needs that are not known yet.
func (r *reflector) fetch(symbol protoreflect.FullName) error {
	ctx, cancel := context.WithTimeout(r.ctx, reflectionTimeout)
	defer cancel()
	var (
		raw [][]byte
		err error
	)
	if !r.alpha {
		raw, err = fileContainingSymbol(ctx, r.conn, reflectionV1, string(symbol))
		if status.Code(err) == codes.Unimplemented {
			r.alpha = true
		}
	}
	if r.alpha {
		raw, err = fileContainingSymbol(ctx, r.conn, reflectionV1alpha, string(symbol))
		if status.Code(err) == codes.Unimplemented {
			return errNoReflection
		}
	}
	if err != nil {
		return err
	}
	pending := make(map[string]*descriptorpb.FileDescriptorProto, len(raw))
	var order []string
	for _, b := range raw {
		fdp := new(descriptorpb.FileDescriptorProto)
		if err := proto.Unmarshal(b, fdp); err != nil {
			return fmt.Errorf("reflection: decoding a file descriptor: %w", err)
		}
		if _, dup := pending[fdp.GetName()]; !dup {
			order = append(order, fdp.GetName())
		}
		pending[fdp.GetName()] = fdp
	}
	for _, name := range order {
		if err := r.addFile(name, pending, map[string]bool{}); err != nil {
			return err
		}
	}
	return nil
}

// known reports whether a file of that path is registered, here or in the
// binary.
func (r *reflector) known(path string) bool {
	if _, err := r.files.FindFileByPath(path); err == nil {
		return true
	}
	_, err := protoregistry.GlobalFiles.FindFileByPath(path)
	return err == nil
}

// addFile registers the pending file name after its imports.
func (r *reflector) addFile(name string, pending map[string]*descriptorpb.FileDescriptorProto, visiting map[string]bool) error {
	if r.known(name) {
		return nil
	}
	fdp, ok := pending[name]
	if !ok {
		return fmt.Errorf("reflection: the server did not send %q", name)
	}
	if visiting[name] {
		return fmt.Errorf("reflection: import cycle through %q", name)
	}
	visiting[name] = true
	for _, dep := range fdp.GetDependency() {
		if err := r.addFile(dep, pending, visiting); err != nil {
			return err
		}
	}
	fd, err := protodesc.NewFile(fdp, fileResolver{r.files})
	if err != nil {
		return fmt.Errorf("reflection: file %q: %w", name, err)
	}
	if err := r.files.RegisterFile(fd); err != nil {
		return fmt.Errorf("reflection: file %q: %w", name, err)
	}
	msgs := fd.Messages()
	for i := 0; i < msgs.Len(); i++ {
		if err := registerMessage(r.types, msgs.Get(i)); err != nil {
			return fmt.Errorf("reflection: file %q: %w", name, err)
		}
	}
	return nil
}

// fileResolver finds the imports of a reflected file among the files
// reflected before, then among those linked into lroctl.
type fileResolver struct{ local *protoregistry.Files }

func (f fileResolver) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if fd, err := f.local.FindFileByPath(path); err == nil {
		return fd, nil
	}
	return protoregistry.GlobalFiles.FindFileByPath(path)
}

func (f fileResolver) FindDescriptorByName(n protoreflect.FullName) (protoreflect.Descriptor, error) {
	if d, err := f.local.FindDescriptorByName(n); err == nil {
		return d, nil
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(n)
}

// The reflection methods, v1 and v1alpha. Their messages are the same on
// the wire, so both are spoken with the v1 types.
var (
	reflectionV1      = rpb.ServerReflection_ServerReflectionInfo_FullMethodName
	reflectionV1alpha = rpbalpha.ServerReflection_ServerReflectionInfo_FullMethodName
)

// fileContainingSymbol makes one FileContainingSymbol request with the
// reflection method given and returns the serialized files of the answer.
func fileContainingSymbol(ctx context.Context, conn grpc.ClientConnInterface, method, symbol string) ([][]byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, method)
	if err != nil {
		return nil, err
	}
	req := &rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: symbol}}
	if err := stream.SendMsg(req); err != nil && !errors.Is(err, io.EOF) {
		return nil, err // io.EOF: the stream ended, and RecvMsg tells why
	}
	resp := new(rpb.ServerReflectionResponse)
	if err := stream.RecvMsg(resp); err != nil {
		return nil, err
	}
	_ = stream.CloseSend()
	switch m := resp.GetMessageResponse().(type) {
	case *rpb.ServerReflectionResponse_FileDescriptorResponse:
		return m.FileDescriptorResponse.GetFileDescriptorProto(), nil
	case *rpb.ServerReflectionResponse_ErrorResponse:
		return nil, reflectionError(m.ErrorResponse.GetErrorCode(), m.ErrorResponse.GetErrorMessage())
	default:
		return nil, status.Errorf(codes.Internal, "reflection: unexpected answer %T", m)
	}
}

// reflectionError is the status of an ErrorResponse. It is never
// UNIMPLEMENTED, which is kept for a server without the service.
func reflectionError(c int32, msg string) error {
	code := codes.Code(c)
	if code == codes.OK || code == codes.Unimplemented {
		code = codes.NotFound
	}
	return status.Error(code, "reflection: "+msg)
}

// typeName is the full name of the message in a type URL.
func typeName(url string) protoreflect.FullName {
	if i := strings.LastIndexByte(url, '/'); i >= 0 {
		url = url[i+1:]
	}
	return protoreflect.FullName(url)
}
