// Package parquet is the embedded default sink: it writes findings and
// containment commands as Parquet files in a directory, through Apache
// Arrow, for ClickHouse's file() table function, DuckDB or pandas to query
// without any server.
//
// # Files
//
// Each Write produces at most two files, one per series (unless
// Options.RollRows is set: then each series has a current file, rewritten
// whole on each Write and closed by size or age, so a long run produces few,
// large files; the demo rolls at 20,000 rows or 30 s):
//
//	<Dir>/findings-<first event time>-<content hash>.parquet
//	<Dir>/commands-<first issue time>-<content hash>.parquet
//	<Dir>/events-<first event time>-<content hash>.parquet   (Options.Events)
//
// (a series with no rows in the batch produces no file). The name is
// derived from the rows' deterministic IDs, so a batch that is retried
// after an error rewrites the same file instead of duplicating rows: the
// writer is idempotent, as sink.Writer requires. When a series has more
// than Options.MaxRowsPerFile rows it is split into parts ("-p001", …).
// Files are written to a hidden ".*.tmp" file in Dir, synced, and renamed
// into place, so a reader globbing "findings-*.parquet" never sees a partial
// file. Files are never appended to: without RollRows a long run produces
// many small files, which the query engines above read as one table through
// a glob.
//
// # Schemas
//
// The columns are those of package columns' tables (Table.Parquet names
// them in file order; columns added later go last, and the readers take
// files written before as having them empty). Timestamps are
// timestamp[ms, UTC] (Parquet TIMESTAMP(MILLIS, UTC)), severity is uint8,
// evidence and finding ids are list<string>, features are
// list<struct<name, observed, baseline, spread>>. The Arrow schema is also
// stored in the file metadata. See FindingsSchema, CommandsSchema and
// EventsSchema.
package parquet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/columns"
)

// Series file-name prefixes.
const (
	FindingsPrefix = "findings"
	CommandsPrefix = "commands"
)

// ErrClosed is returned (wrapped) by Write after Close.
var ErrClosed = errors.New("parquet sink closed")

// Options configures a Writer.
type Options struct {
	// Dir receives the files; it is created if missing.
	Dir string
	// Compression is the Parquet column codec.
	Compression compress.Compression
	// MaxRowsPerFile splits a series of one batch into several files; 0
	// means one file per series per Write.
	MaxRowsPerFile int
	// Commands enables the commands series.
	Commands bool
	// Sync fsyncs each file (and the directory) before Write returns.
	Sync bool
	// Allocator is the Arrow memory allocator; nil means the Go allocator.
	Allocator memory.Allocator
	// RollRows, when > 0, rolls files by size instead of writing one per
	// Write: each series accumulates rows in a current file, rewritten
	// whole (atomically, under the same name) on each Write so that it is
	// durable when Write returns, until it holds RollRows rows or is
	// RollInterval old; then the next Write starts a new file. The current
	// file's rows (at most RollRows) and the ids of the previous file are
	// kept in memory; a row already in either is not written again (a
	// batch retried after a later sink failed). MaxRowsPerFile does not
	// apply.
	RollRows int
	// RollInterval closes a rolling file after this long (0: by size only).
	RollInterval time.Duration
	// Events enables the events series (the audit trail that `tether
	// query` reads for timelines); off by default.
	Events bool
	// EventRollRows is the rolling size of the events series (0: RollRows).
	EventRollRows int
}

// DefaultOptions writes zstd-compressed findings and commands into
// out/tether, one file per series per Write, fsynced.
func DefaultOptions() Options {
	return Options{
		Dir:         filepath.Join("out", "tether"),
		Compression: compress.Codecs.Zstd,
		Commands:    true,
		Sync:        true,
	}
}

// Writer implements sink.Writer with Parquet files. It is safe for
// concurrent use.
type Writer struct {
	opts Options
	mem  memory.Allocator

	mu       sync.Mutex
	closed   bool
	files    []string
	rows     map[string]int64
	findRoll roll[models.Finding]
	cmdRoll  roll[models.ContainmentCommand]
	evRoll   roll[*models.Event]
}

// roll is a series' current rolling file.
type roll[T any] struct {
	name    string
	started time.Time
	rows    []T
	ids     map[string]bool
	// prev holds the ids of the previous (closed) roll, so that a batch
	// written again after a later sink failed is not written twice.
	prev  map[string]bool
	dirty bool
}

// add appends the rows not yet in the roll and reports how many were new.
func (r *roll[T]) add(rows []T, id func(*T) string, first func(*T) time.Time, prefix string, now time.Time) int {
	n := 0
	for i := range rows {
		k := id(&rows[i])
		if r.ids[k] || r.prev[k] {
			continue
		}
		if r.ids == nil {
			r.ids = map[string]bool{}
			r.started = now
			r.name = fileName(prefix, first(&rows[i]), []string{k}, 0)
		}
		r.ids[k] = true
		r.rows = append(r.rows, rows[i])
		r.dirty = true
		n++
	}
	return n
}

// full reports whether the roll of at most rows rows is to be closed after
// its current write.
func (r *roll[T]) full(rows int, o Options, now time.Time) bool {
	return len(r.rows) >= rows || (o.RollInterval > 0 && now.Sub(r.started) >= o.RollInterval)
}

// keepEvent copies e for a roll (the batch's events are not retained),
// with its free text already cut.
func keepEvent(e *models.Event) *models.Event {
	c := *e
	t := columns.NewEvent(e, maxEventText)
	c.Arguments = []byte(t.Arguments)
	c.Result, c.Content, c.Error = t.Result, t.Content, t.Error
	c.DataClasses = slices.Clone(e.DataClasses)
	c.PrincipalSessionEnd, c.CredentialExpiry = nil, nil
	return &c
}

var _ sink.Writer = (*Writer)(nil)

// New creates the directory and returns a Writer.
func New(opts Options) (*Writer, error) {
	if opts.Dir == "" {
		return nil, fmt.Errorf("parquet sink: %w: empty Dir", models.ErrInvalid)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("parquet sink: %w: %v", sink.ErrUnavailable, err)
	}
	mem := opts.Allocator
	if mem == nil {
		mem = memory.NewGoAllocator()
	}
	return &Writer{opts: opts, mem: mem, rows: map[string]int64{}}, nil
}

// Dir returns the output directory.
func (w *Writer) Dir() string { return w.opts.Dir }

// Files returns the paths written so far, in order, without duplicates.
func (w *Writer) Files() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.files)
}

// Rows returns the number of rows written per series prefix (a retried
// batch counts again).
func (w *Writer) Rows(prefix string) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rows[prefix]
}

// Write implements sink.Writer. Events in the batch are written only with
// Options.Events.
func (w *Writer) Write(ctx context.Context, b *sink.Batch) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("parquet write: %w", ErrClosed)
	}
	if w.opts.RollRows > 0 {
		return w.writeRolling(ctx, b)
	}
	for part, rows := range chunks(b.Findings, w.opts.MaxRowsPerFile) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("parquet write: %w", err)
		}
		ids := make([]string, len(rows))
		for i := range rows {
			ids[i] = rows[i].ID
		}
		name := fileName(FindingsPrefix, rows[0].Time, ids, part)
		if err := w.writeFile(name, len(rows), FindingsSchema(), func(rb *array.RecordBuilder) { appendRows(rb, columns.Findings, rows) }); err != nil {
			return err
		}
		w.rows[FindingsPrefix] += int64(len(rows))
	}
	if w.opts.Events {
		for part, rows := range chunks(b.Events, w.opts.MaxRowsPerFile) {
			ids := make([]string, len(rows))
			for i := range rows {
				ids[i] = rows[i].ID
			}
			name := fileName(EventsPrefix, rows[0].Time, ids, part)
			if err := w.writeFile(name, len(rows), EventsSchema(), func(rb *array.RecordBuilder) { appendRows(rb, columns.Events, eventRows(rows)) }); err != nil {
				return err
			}
			w.rows[EventsPrefix] += int64(len(rows))
		}
	}
	if !w.opts.Commands {
		return nil
	}
	for part, rows := range chunks(b.Commands, w.opts.MaxRowsPerFile) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("parquet write: %w", err)
		}
		ids := make([]string, len(rows))
		for i := range rows {
			ids[i] = rows[i].ID
		}
		name := fileName(CommandsPrefix, rows[0].IssuedAt, ids, part)
		if err := w.writeFile(name, len(rows), CommandsSchema(), func(rb *array.RecordBuilder) { appendRows(rb, columns.Commands, rows) }); err != nil {
			return err
		}
		w.rows[CommandsPrefix] += int64(len(rows))
	}
	return nil
}

// writeRolling is Write with Options.RollRows; the caller holds mu.
func (w *Writer) writeRolling(ctx context.Context, b *sink.Batch) error {
	now := time.Now()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("parquet write: %w", err)
	}
	n := w.findRoll.add(b.Findings, func(f *models.Finding) string { return f.ID }, func(f *models.Finding) time.Time { return f.Time }, FindingsPrefix, now)
	w.rows[FindingsPrefix] += int64(n)
	if r := &w.findRoll; r.dirty {
		if err := w.writeFile(r.name, len(r.rows), FindingsSchema(), func(rb *array.RecordBuilder) { appendRows(rb, columns.Findings, r.rows) }); err != nil {
			return err
		}
		r.dirty = false
		if r.full(w.opts.RollRows, w.opts, now) {
			*r = roll[models.Finding]{prev: r.ids}
		}
	}
	if w.opts.Events {
		kept := make([]*models.Event, len(b.Events))
		for i, e := range b.Events {
			kept[i] = keepEvent(e)
		}
		n := w.evRoll.add(kept, func(e **models.Event) string { return (*e).ID }, func(e **models.Event) time.Time { return (*e).Time }, EventsPrefix, now)
		w.rows[EventsPrefix] += int64(n)
		if r := &w.evRoll; r.dirty {
			if err := w.writeFile(r.name, len(r.rows), EventsSchema(), func(rb *array.RecordBuilder) { appendRows(rb, columns.Events, eventRows(r.rows)) }); err != nil {
				return err
			}
			r.dirty = false
			if r.full(cmp.Or(w.opts.EventRollRows, w.opts.RollRows), w.opts, now) {
				*r = roll[*models.Event]{prev: r.ids}
			}
		}
	}
	if !w.opts.Commands {
		return nil
	}
	n = w.cmdRoll.add(b.Commands, func(c *models.ContainmentCommand) string { return c.ID }, func(c *models.ContainmentCommand) time.Time { return c.IssuedAt }, CommandsPrefix, now)
	w.rows[CommandsPrefix] += int64(n)
	if r := &w.cmdRoll; r.dirty {
		if err := w.writeFile(r.name, len(r.rows), CommandsSchema(), func(rb *array.RecordBuilder) { appendRows(rb, columns.Commands, r.rows) }); err != nil {
			return err
		}
		r.dirty = false
		if r.full(w.opts.RollRows, w.opts, now) {
			*r = roll[models.ContainmentCommand]{prev: r.ids}
		}
	}
	return nil
}

// Close stops the writer; later Writes fail with ErrClosed. Files are
// complete when Write returns, so Close has nothing to flush.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	return nil
}

// chunks yields (part index, rows) slices of at most max rows (all rows at
// once when max <= 0); part is 0 when there is a single chunk.
func chunks[T any](rows []T, max int) func(yield func(int, []T) bool) {
	return func(yield func(int, []T) bool) {
		if len(rows) == 0 {
			return
		}
		if max <= 0 || len(rows) <= max {
			yield(0, rows)
			return
		}
		for part, i := 1, 0; i < len(rows); part, i = part+1, i+max {
			if !yield(part, rows[i:min(i+max, len(rows))]) {
				return
			}
		}
	}
}

func fileName(prefix string, first time.Time, ids []string, part int) string {
	name := fmt.Sprintf("%s-%s-%s", prefix, first.UTC().Format("20060102T150405.000Z"), models.StableID(ids...)[:16])
	if part > 0 {
		name += fmt.Sprintf("-p%03d", part)
	}
	return name + ".parquet"
}

// writeFile builds one record batch with fill and writes it atomically to
// Dir/name.
func (w *Writer) writeFile(name string, rows int, schema *arrow.Schema, fill func(*array.RecordBuilder)) (err error) {
	rb := array.NewRecordBuilder(w.mem, schema)
	defer rb.Release()
	rb.Reserve(rows)
	fill(rb)
	rec := rb.NewRecordBatch()
	defer rec.Release()

	tmp, err := os.CreateTemp(w.opts.Dir, "."+name+".*.tmp")
	if err != nil {
		return fmt.Errorf("parquet write %s: %w: %v", name, sink.ErrUnavailable, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	codec := w.opts.Compression
	props := pq.NewWriterProperties(pq.WithCompression(codec), pq.WithAllocator(w.mem), pq.WithCreatedBy("tether"))
	// Hide tmp's Close from the Parquet writer: the file is synced and
	// closed here.
	fw, err := pqarrow.NewFileWriter(schema, struct{ io.Writer }{tmp}, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(w.mem)))
	if err != nil {
		return fmt.Errorf("parquet write %s: %w", name, err)
	}
	if err := fw.Write(rec); err != nil {
		fw.Close()
		return fmt.Errorf("parquet write %s: %w", name, err)
	}
	if err := fw.Close(); err != nil {
		return fmt.Errorf("parquet write %s: close: %w", name, err)
	}
	if w.opts.Sync {
		if err := tmp.Sync(); err != nil {
			return fmt.Errorf("parquet write %s: sync: %w: %v", name, sink.ErrUnavailable, err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("parquet write %s: close: %w: %v", name, sink.ErrUnavailable, err)
	}
	final := filepath.Join(w.opts.Dir, name)
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("parquet write %s: rename: %w: %v", name, sink.ErrUnavailable, err)
	}
	if w.opts.Sync {
		if d, err := os.Open(w.opts.Dir); err == nil {
			d.Sync()
			d.Close()
		}
	}
	if !slices.Contains(w.files, final) {
		w.files = append(w.files, final)
	}
	return nil
}
