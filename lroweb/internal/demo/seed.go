package demo

import (
	"context"
	"fmt"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lrokit/lro"
)

// Seeded names the operations Seed made, by what they show.
type Seeded struct {
	// Running is a running export at 42%, made with Create so that a test
	// drives it with SetMetadata, Complete and Fail.
	Running string
	// All lists every operation, oldest first.
	All []string
}

// Seed makes a realistic set of export operations on m, as if started over
// the last hour before now: some running with progress, some succeeded,
// one failed, one cancelled. Operations are made oldest first, so List
// shows them newest first.
func Seed(ctx context.Context, m *lro.Manager, now time.Time) (Seeded, error) {
	type plan struct {
		source, dest string
		ago          time.Duration
		progress     int32
		rows         int64
		outcome      string // "", "ok", "fail", "cancel"
		parent       string
	}
	plans := []plan{
		{"shelves/fiction", "gs://acme-exports/2025-06/fiction.jsonl", 58 * time.Minute, 100, 120_000, "ok", "projects/acme/locations/eu-west1"},
		{"shelves/science", "gs://acme-exports/2025-06/science.csv", 51 * time.Minute, 100, 45_210, "ok", "projects/acme/locations/eu-west1"},
		{"shelves/poetry", "s3://partner-drop/poetry.csv", 44 * time.Minute, 61, 7_320, "fail", "projects/acme/locations/us-east1"},
		{"shelves/history", "gs://acme-exports/2025-06/history.jsonl", 37 * time.Minute, 100, 88_004, "ok", "projects/acme/locations/eu-west1"},
		{"shelves/archive-1998", "gs://acme-cold/archive-1998.jsonl", 29 * time.Minute, 12, 1_204_113, "cancel", "projects/acme/locations/us-east1"},
		{"shelves/children", "gs://acme-exports/2025-06/children.jsonl", 21 * time.Minute, 100, 9_870, "ok", "projects/acme/locations/eu-west1"},
		{"shelves/reference", "gs://acme-exports/2025-06/reference.jsonl", 12 * time.Minute, 87, 301_442, "", "projects/acme/locations/eu-west1"},
		{"shelves/periodicals", "gs://acme-exports/2025-06/periodicals.csv", 7 * time.Minute, 42, 51_930, "", "projects/acme/locations/eu-west1"},
		{"shelves/maps", "gs://acme-exports/2025-06/maps.jsonl", 2 * time.Minute, 3, 410, "", "projects/acme/locations/us-east1"},
	}
	var s Seeded
	for _, p := range plans {
		created := now.Add(-p.ago)
		md := Export{Source: p.source, Destination: p.dest, Progress: p.progress, Rows: p.rows, Created: created, Updated: now.Add(-p.ago / 3)}
		op, err := m.Create(ctx, lro.WithParent(p.parent), lro.WithMetadata(md.Metadata()))
		if err != nil {
			return s, fmt.Errorf("demo: creating the export of %s: %w", p.source, err)
		}
		name := op.GetName()
		s.All = append(s.All, name)
		switch p.outcome {
		case "ok":
			err = m.Complete(ctx, name, Response(p.dest, p.rows, p.rows*412, created.Add(p.ago/2)))
		case "fail":
			err = m.Fail(ctx, name, status.Error(codes.PermissionDenied, "writing s3://partner-drop/poetry.csv: AccessDenied: the bucket policy does not allow PutObject"))
		case "cancel":
			_, err = m.CancelOperation(ctx, &longrunningpb.CancelOperationRequest{Name: name})
		}
		if err != nil {
			return s, fmt.Errorf("demo: finishing the export of %s: %w", p.source, err)
		}
		if p.source == "shelves/periodicals" {
			s.Running = name
		}
	}
	return s, nil
}
