package exportserver

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/lrokit/lro"
	"github.com/lrokit/lro/examples/exportsvc/proto/exportpb"
)

// exportKind names the registered work behind ExportBooks operations.
// Because the work is registered by kind, its request is stored with the
// operation, and a replica sharing a persistent store could run it again.
const exportKind = "export"

// exportSteps is how many steps an export takes: progress moves by about
// 100/exportSteps percent per step.
const exportSteps = 10

// book is one book of the catalogue.
type book struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Author string `json:"author"`
	Year   int    `json:"year"`
}

// catalogue is the service's fixed, made-up library: shelf name → books.
var catalogue = map[string][]book{
	"shelves/fiction": makeBooks("fiction", 120),
	"shelves/science": makeBooks("science", 45),
	"shelves/poetry":  makeBooks("poetry", 12),
	"shelves/archive": makeBooks("archive", 30),
}

// coldShelves are kept in cold storage: the first attempt of an export
// finds the shelf still being restored and fails with UNAVAILABLE, a
// transient error that the export kind's retry policy runs again.
var coldShelves = map[string]bool{"shelves/archive": true}

// errRestoring is the transient failure of the first attempt to export a
// cold shelf: UNAVAILABLE, which lro.DefaultRetryable retries.
func errRestoring(shelf string) error {
	return status.Errorf(codes.Unavailable, "shelf %q is being restored from cold storage; try again shortly", shelf)
}

// makeBooks makes n deterministic books for a shelf.
func makeBooks(shelf string, n int) []book {
	adjectives := []string{"Silent", "Crimson", "Endless", "Hidden", "Lonely", "Golden", "Broken", "Distant"}
	nouns := []string{"Harbour", "Orbit", "Garden", "Archive", "Lighthouse", "Equation", "River", "Winter"}
	authors := []string{"A. Okafor", "B. Lindqvist", "C. Moreau", "D. Tanaka", "E. Novak", "F. Almeida"}
	books := make([]book, n)
	for i := range books {
		books[i] = book{
			ID:     fmt.Sprintf("%s-%03d", shelf, i+1),
			Title:  "The " + adjectives[i%len(adjectives)] + " " + nouns[(i/len(adjectives))%len(nouns)],
			Author: authors[(i*7)%len(authors)],
			Year:   1950 + (i*13)%75,
		}
	}
	return books
}

// exportService implements ExportService. ExportBooks validates the request
// and starts an operation of the "export" kind; the work (export) runs in the
// Manager.
type exportService struct {
	exportpb.UnimplementedExportServiceServer
	ops *lro.Manager
	// step is how long each of the exportSteps steps of an export waits, to
	// stand in for slow I/O.
	step time.Duration
	// log notes each export as it starts and as it runs, in the context
	// of the RPC and of the run, so each line carries its trace id.
	log *slog.Logger
}

// newExportService registers the export kind with ops, with the work
// controls opts, and returns the service, which logs to log.
func newExportService(ops *lro.Manager, step time.Duration, log *slog.Logger, opts ...lro.KindOption) (*exportService, error) {
	s := &exportService{ops: ops, step: step, log: log}
	if err := lro.Register(ops, exportKind, s.export, opts...); err != nil {
		return nil, fmt.Errorf("registering the %q kind: %w", exportKind, err)
	}
	return s, nil
}

// ExportBooks implements ExportService: it starts an export and returns its
// operation, not done. A repeated request_id returns the first operation.
func (s *exportService) ExportBooks(ctx context.Context, req *exportpb.ExportBooksRequest) (*longrunningpb.Operation, error) {
	shelf := req.GetShelf()
	if !strings.HasPrefix(shelf, "shelves/") || strings.Count(shelf, "/") != 1 || shelf == "shelves/" {
		return nil, status.Errorf(codes.InvalidArgument, "shelf %q: want shelves/{shelf}", shelf)
	}
	books, ok := catalogue[shelf]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "shelf %q not found", shelf)
	}
	if _, ok := exportpb.Format_name[int32(req.GetFormat())]; !ok {
		return nil, status.Errorf(codes.InvalidArgument, "format %d is not a known format", req.GetFormat())
	}
	if len(req.GetRequestId()) > 64 {
		return nil, status.Error(codes.InvalidArgument, "request_id is longer than 64 characters")
	}
	md := &exportpb.ExportBooksMetadata{
		Shelf:      shelf,
		TotalBooks: int32(len(books)),
		StartTime:  timestamppb.Now(),
	}
	op, err := s.ops.StartKind(ctx, exportKind, req, lro.WithMetadata(md), lro.WithRequestID(req.GetRequestId()))
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "export started", "operation", op.GetName(), "shelf", shelf)
	return op, nil
}

// export is the work of an export operation: it encodes the shelf's books
// in exportSteps batches, publishing progress after each, and returns an
// ExportBooksResponse. Cancelling the operation cancels ctx; export then
// stops and the operation ends with CANCELLED, and so does its deadline
// (DEADLINE_EXCEEDED). The first attempt on a cold shelf fails with
// UNAVAILABLE (errRestoring), which the retry policy runs again. A run
// after the first (op.Attempt() > 1: such a retry, or a replica sharing a
// persistent store taking over a lost one) simply starts the export again:
// it has no side effects to undo.
func (s *exportService) export(ctx context.Context, op *lro.Op, req *exportpb.ExportBooksRequest) (proto.Message, error) {
	books, ok := catalogue[req.GetShelf()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "shelf %q not found", req.GetShelf())
	}
	s.log.InfoContext(ctx, "export running", "operation", op.Name(), "attempt", op.Attempt())
	if coldShelves[req.GetShelf()] && op.Attempt() == 1 {
		return nil, errRestoring(req.GetShelf())
	}
	md := &exportpb.ExportBooksMetadata{
		Shelf:      req.GetShelf(),
		TotalBooks: int32(len(books)),
		StartTime:  timestamppb.Now(),
	}
	hash := sha256.New()
	out := &countingWriter{w: hash}
	enc := newEncoder(req.GetFormat(), out)
	batch := (len(books) + exportSteps - 1) / exportSteps
	for i := 0; i < len(books); i += batch {
		if err := s.pause(ctx); err != nil {
			return nil, err
		}
		end := min(i+batch, len(books))
		for _, b := range books[i:end] {
			if err := enc.encode(b); err != nil {
				return nil, fmt.Errorf("encoding book %s: %w", b.ID, err)
			}
		}
		md.BooksExported = int32(end)
		md.ProgressPercent = int32(100 * end / len(books))
		if err := op.SetMetadata(ctx, md); err != nil {
			return nil, fmt.Errorf("publishing progress: %w", err)
		}
	}
	if err := enc.flush(); err != nil {
		return nil, fmt.Errorf("finishing the export: %w", err)
	}
	return &exportpb.ExportBooksResponse{
		Shelf:         req.GetShelf(),
		Format:        req.GetFormat(),
		BooksExported: int32(len(books)),
		SizeBytes:     out.n,
		Sha256:        hex.EncodeToString(hash.Sum(nil)),
		EndTime:       timestamppb.Now(),
	}, nil
}

// pause waits one step, or returns ctx's error if ctx ends first.
func (s *exportService) pause(ctx context.Context) error {
	if s.step <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(s.step)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// encoder writes books in one export format.
type encoder struct {
	encode func(book) error
	flush  func() error
}

// newEncoder returns the encoder for format, writing to w.
func newEncoder(format exportpb.Format, w io.Writer) encoder {
	if format == exportpb.Format_CSV {
		cw := csv.NewWriter(w)
		header := false
		return encoder{
			encode: func(b book) error {
				if !header {
					header = true
					if err := cw.Write([]string{"id", "title", "author", "year"}); err != nil {
						return err
					}
				}
				return cw.Write([]string{b.ID, b.Title, b.Author, strconv.Itoa(b.Year)})
			},
			flush: func() error { cw.Flush(); return cw.Error() },
		}
	}
	je := json.NewEncoder(w)
	return encoder{encode: func(b book) error { return je.Encode(b) }, flush: func() error { return nil }}
}
