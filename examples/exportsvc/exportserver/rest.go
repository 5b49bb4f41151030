package exportserver

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	codepb "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/lrokit/lro/examples/exportsvc/proto/exportpb"
	"github.com/lrokit/lro/lrohttp"
)

// maxBodyBytes bounds the size of a REST request body.
const maxBodyBytes = 1 << 20

// newHTTPHandler serves the REST mapping of the example: the Operations
// service under /v1/operations (package lrohttp) and ExportBooks at
// POST /v1/shelves/{shelf}/books:export, as export.proto's google.api.http
// option declares; and the web console under /console/.
func newHTTPHandler(ops longrunningpb.OperationsServer, svc exportpb.ExportServiceServer, console http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(consolePrefix+"/", console)
	opsHandler := lrohttp.NewHandler(ops)
	mux.Handle("/v1/operations", opsHandler)
	mux.Handle("/v1/operations/", opsHandler)
	mux.HandleFunc("POST /v1/shelves/{shelf}/books:export", func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		op, err := exportBooksREST(r, svc)
		if err != nil {
			writeRESTError(w, err)
			return
		}
		b, err := protojson.Marshal(op)
		if err != nil {
			writeRESTError(w, status.Errorf(codes.Internal, "encoding the operation: %v", err))
			return
		}
		// protojson's spacing is deliberately unstable; indent it evenly.
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			writeRESTError(w, status.Errorf(codes.Internal, "encoding the operation: %v", err))
			return
		}
		out.WriteByte('\n')
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out.Bytes())
	})
	return mux
}

// exportBooksREST decodes a REST ExportBooks call and makes it. The body is
// the request as JSON; the shelf comes from the path.
func exportBooksREST(r *http.Request, svc exportpb.ExportServiceServer) (*longrunningpb.Operation, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "reading the body: %v", err)
	}
	req := new(exportpb.ExportBooksRequest)
	if len(body) > 0 {
		if err := protojson.Unmarshal(body, req); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "decoding the body: %v", err)
		}
	}
	shelf := "shelves/" + r.PathValue("shelf")
	if req.GetShelf() != "" && req.GetShelf() != shelf {
		return nil, status.Errorf(codes.InvalidArgument, "body shelf %q does not match the path's %q", req.GetShelf(), shelf)
	}
	req.Shelf = shelf
	return svc.ExportBooks(r.Context(), req)
}

// writeRESTError writes err as Google's REST APIs do:
// {"error": {"code": 404, "message": "...", "status": "NOT_FOUND"}}.
func writeRESTError(w http.ResponseWriter, err error) {
	st, ok := status.FromError(err)
	if !ok {
		st = status.New(codes.Unknown, err.Error())
	}
	httpCode := lrohttp.HTTPStatus(st.Code())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpCode)
	body := map[string]any{"error": map[string]any{
		"code":    httpCode,
		"message": st.Message(),
		"status":  codepb.Code_name[int32(st.Code())],
	}}
	_ = json.NewEncoder(w).Encode(body) // a failure means the client went away
}
