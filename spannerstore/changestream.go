package spannerstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"cloud.google.com/go/spanner"
	"github.com/lrokit/lro"
)

// The change stream reader: with WithChangeStream, each Store reads the
// change stream lro_changes on lro_operations (schema version 2) from the
// moment it starts, every partition of it, and reports each change to the
// watchers of its record, whichever replica made it. Cancel and Wait then
// reach across replicas without per-waiter polling, and the Store reports
// lro.NotifyHealth: while its reader runs and has caught up, the Manager
// re-reads nothing. When a partition query fails, the reader starts again
// from a new start time, and reports every watched record once more (as it
// is then), since changes made meanwhile were not read.

// changeRecord is one row of a change stream query (its STRUCT, decoded
// strictly: every field is named).
type changeRecord struct {
	DataChangeRecord      []*dataChangeRecord      `spanner:"data_change_record"`
	HeartbeatRecord       []*heartbeatRecord       `spanner:"heartbeat_record"`
	ChildPartitionsRecord []*childPartitionsRecord `spanner:"child_partitions_record"`
}

type dataChangeRecord struct {
	CommitTimestamp                      time.Time     `spanner:"commit_timestamp"`
	RecordSequence                       string        `spanner:"record_sequence"`
	ServerTransactionID                  string        `spanner:"server_transaction_id"`
	IsLastRecordInTransactionInPartition bool          `spanner:"is_last_record_in_transaction_in_partition"`
	TableName                            string        `spanner:"table_name"`
	ColumnTypes                          []*columnType `spanner:"column_types"`
	Mods                                 []*mod        `spanner:"mods"`
	ModType                              string        `spanner:"mod_type"`
	ValueCaptureType                     string        `spanner:"value_capture_type"`
	NumberOfRecordsInTransaction         int64         `spanner:"number_of_records_in_transaction"`
	NumberOfPartitionsInTransaction      int64         `spanner:"number_of_partitions_in_transaction"`
	TransactionTag                       string        `spanner:"transaction_tag"`
	IsSystemTransaction                  bool          `spanner:"is_system_transaction"`
}

type columnType struct {
	Name            string           `spanner:"name"`
	Type            spanner.NullJSON `spanner:"type"`
	IsPrimaryKey    bool             `spanner:"is_primary_key"`
	OrdinalPosition int64            `spanner:"ordinal_position"`
}

type mod struct {
	Keys      spanner.NullJSON `spanner:"keys"`
	NewValues spanner.NullJSON `spanner:"new_values"`
	OldValues spanner.NullJSON `spanner:"old_values"`
}

type heartbeatRecord struct {
	Timestamp time.Time `spanner:"timestamp"`
}

type childPartitionsRecord struct {
	StartTimestamp  time.Time         `spanner:"start_timestamp"`
	RecordSequence  string            `spanner:"record_sequence"`
	ChildPartitions []*childPartition `spanner:"child_partitions"`
}

type childPartition struct {
	Token                 string   `spanner:"token"`
	ParentPartitionTokens []string `spanner:"parent_partition_tokens"`
}

// streamHeartbeat is how often an idle partition query reports.
const streamHeartbeat = 2 * time.Second

// Notifying implements lro.NotifyHealth: true while the change stream
// reader runs and has reported every watched record since it (re)started.
// Without WithChangeStream it is always false.
func (s *Store) Notifying() bool { return s.notifying.Load() }

// runStream reads the change stream until ctx ends, starting again after
// failures.
func (s *Store) runStream(ctx context.Context) {
	defer close(s.streamDone)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.readStream(ctx)
		s.notifying.Store(false)
		if ctx.Err() != nil {
			return
		}
		s.logf("spannerstore: reading change stream %s (starting again): %v", s.stream, err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// readStream reads every partition from now until one fails or ctx ends.
func (s *Store) readStream(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if err := s.hook("start"); err != nil {
		return err
	}
	var start time.Time
	if err := s.client.Single().Query(ctx, spanner.Statement{SQL: `SELECT CURRENT_TIMESTAMP()`}).Do(func(r *spanner.Row) error {
		return r.Columns(&start)
	}); err != nil {
		return fmt.Errorf("reading the start time: %w", err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		seen = map[string]bool{}
	)
	var read func(token *string, from time.Time)
	read = func(token *string, from time.Time) {
		defer wg.Done()
		err := s.readPartition(ctx, token, from, func(children []*childPartition, at time.Time) {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range children {
				if seen[c.Token] {
					continue
				}
				seen[c.Token] = true
				tok := c.Token
				wg.Add(1)
				go read(&tok, at)
			}
		})
		if err != nil && ctx.Err() == nil {
			cancel(err)
		}
	}
	wg.Add(1)
	go read(nil, start)
	// Catch up: changes made before start were not read; report every
	// watched record as it is now, then say notifications flow.
	if err := s.catchUp(ctx); err != nil {
		cancel(err)
	} else {
		s.notifying.Store(true)
	}
	wg.Wait()
	return context.Cause(ctx)
}

// catchUp reports the current state of every watched record.
func (s *Store) catchUp(ctx context.Context) error {
	s.mu.Lock()
	names := make([]string, 0, len(s.watchers))
	for n := range s.watchers {
		names = append(names, n)
	}
	s.mu.Unlock()
	evs, err := s.ReadStates(ctx, names)
	if err != nil {
		return err
	}
	found := map[string]bool{}
	for _, ev := range evs {
		found[ev.Name] = true
	}
	for _, n := range names {
		if !found[n] {
			evs = append(evs, lro.Event{Name: n, Deleted: true})
		}
	}
	s.notify(evs...)
	s.pokeQueue() // queued work may have been recorded meanwhile
	return nil
}

// emulatorWindow is how long one partition query of the emulator lasts:
// the emulator returns a change stream query's records only when the
// query ends (about 20 s later with no end_timestamp), so against it a
// partition is read in short windows, one query each.
const emulatorWindow = 250 * time.Millisecond

// readPartition reads one partition (the root one when token is nil) from
// from on, reporting data changes to watchers and child partitions to
// children. It returns when the partition ends (nil) or fails.
func (s *Store) readPartition(ctx context.Context, token *string, from time.Time, children func([]*childPartition, time.Time)) error {
	var window time.Duration
	if emulated() {
		window = emulatorWindow
	}
	for {
		end := spanner.NullTime{}
		if window > 0 {
			end = spanner.NullTime{Time: from.Add(window), Valid: true}
		}
		stmt := spanner.Statement{
			SQL: fmt.Sprintf(`SELECT ChangeRecord FROM READ_%s(start_timestamp => @start, end_timestamp => @end,
	partition_token => @token, heartbeat_milliseconds => @hb)`, s.stream),
			Params: map[string]any{"start": from, "end": end,
				"token": spanner.NullString{StringVal: deref(token), Valid: token != nil},
				"hb":    streamHeartbeat.Milliseconds()},
		}
		if err := s.hook("query"); err != nil {
			return err
		}
		ended := false
		err := s.client.Single().Query(ctx, stmt).Do(func(r *spanner.Row) error {
			var recs []*changeRecord
			if err := r.Columns(&recs); err != nil {
				return err
			}
			for _, cr := range recs {
				for _, d := range cr.DataChangeRecord {
					evs, queued := changeEvents(d)
					s.notify(evs...)
					if queued {
						s.pokeQueue()
					}
				}
				for _, c := range cr.ChildPartitionsRecord {
					ended = true
					children(c.ChildPartitions, c.StartTimestamp)
				}
			}
			return nil
		})
		if err != nil {
			if errors.Is(err, context.Canceled) || ctx.Err() != nil {
				return nil
			}
			return err
		}
		if ended || !end.Valid {
			return nil
		}
		from = end.Time
	}
}

// hook calls the test hook, if any, at stage.
func (s *Store) hook(stage string) error {
	if s.streamHook == nil {
		return nil
	}
	return s.streamHook(stage)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// changeEvents turns a data change record into watch events, and reports
// whether it tells of queued work: a record of a kind inserted or updated
// queued (no owner, no start time, not done), or done (a slot freed).
func changeEvents(d *dataChangeRecord) (out []lro.Event, queued bool) {
	if d.TableName != "lro_operations" {
		return nil, false
	}
	for _, m := range d.Mods {
		var key struct {
			Name string `json:"name"`
		}
		if b, err := json.Marshal(m.Keys.Value); err != nil || json.Unmarshal(b, &key) != nil || key.Name == "" {
			continue
		}
		ev := lro.Event{Name: key.Name}
		if d.ModType == "DELETE" {
			ev.Deleted = true
			out = append(out, ev)
			continue
		}
		var v struct {
			Done            *bool   `json:"done"`
			CancelRequested *bool   `json:"cancel_requested"`
			Owner           *string `json:"owner"`
			Kind            *string `json:"kind"`
		}
		var raw map[string]json.RawMessage // tells a null column from an absent one
		if b, err := json.Marshal(m.NewValues.Value); err == nil {
			_ = json.Unmarshal(b, &v)
			_ = json.Unmarshal(b, &raw)
		}
		if v.Done != nil {
			ev.Done = *v.Done
		}
		if v.CancelRequested != nil {
			ev.CancelRequested = *v.CancelRequested
		}
		if v.Owner != nil {
			ev.Owner = *v.Owner
		}
		out = append(out, ev)
		if v.Kind == nil || *v.Kind == "" || v.Done == nil {
			continue // not a kind's, or from before schema version 4
		}
		start, tracked := raw["start_time"] // absent: not known to be queued
		if *v.Done || (v.Owner != nil && *v.Owner == "" && tracked && string(start) == "null") {
			queued = true
		}
	}
	return out, queued
}
