package ocsf

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
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
)

// LakeOptions configures a LakeWriter.
type LakeOptions struct {
	// Dir is the root that is synchronised to the Security Lake bucket
	// (e.g. `aws s3 sync Dir s3://<lake bucket>/`).
	Dir string
	// SourceName is the custom source's name in Security Lake (the ext/
	// prefix); default "tether".
	SourceName string
	// Region and AccountID are the partition values Security Lake expects
	// (the AWS region and account of the custom source); both required.
	Region, AccountID string
	// Map fills the deployment-specific OCSF attributes.
	Map Options
	// Compression is the Parquet codec (Security Lake reads zstd, gzip and
	// snappy).
	Compression compress.Compression
}

// DefaultLakeOptions returns source "tether", zstd and DefaultOptions();
// Dir, Region and AccountID must be set.
func DefaultLakeOptions() LakeOptions {
	return LakeOptions{SourceName: "tether", Compression: compress.Codecs.Zstd, Map: DefaultOptions()}
}

// ErrLakeClosed is returned (wrapped) by LakeWriter.Write after Close.
var ErrLakeClosed = errors.New("security lake sink closed")

// LakeWriter writes findings as OCSF Detection Findings in Parquet, laid out
// as Amazon Security Lake expects a custom source's objects:
//
//	<Dir>/ext/<SourceName>/region=<Region>/accountId=<AccountID>/eventDay=<YYYYMMDD>/<file>.parquet
//
// one OCSF class (Detection Finding) per source, eventDay from the finding's
// event time in UTC. Columns follow the OCSF attributes of Map's output
// (nested objects are structs, arrays are lists); `unmapped` is a JSON
// string. File names derive from the findings' ids, so a retried batch
// rewrites the same files: it implements sink.Writer idempotently.
type LakeWriter struct {
	opts   LakeOptions
	mem    memory.Allocator
	mu     sync.Mutex
	closed bool
	files  []string
}

var _ sink.Writer = (*LakeWriter)(nil)

// NewLakeWriter checks opts and creates Dir.
func NewLakeWriter(opts LakeOptions) (*LakeWriter, error) {
	if opts.Dir == "" || opts.Region == "" || opts.AccountID == "" {
		return nil, fmt.Errorf("security lake sink: %w: Dir, Region and AccountID are required", models.ErrInvalid)
	}
	if opts.SourceName == "" {
		opts.SourceName = "tether"
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("security lake sink: %w: %v", sink.ErrUnavailable, err)
	}
	return &LakeWriter{opts: opts, mem: memory.NewGoAllocator()}, nil
}

// Files returns the files written so far.
func (w *LakeWriter) Files() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.files)
}

// Close stops further writes.
func (w *LakeWriter) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	return nil
}

// Write writes b's findings, one file per event day.
func (w *LakeWriter) Write(ctx context.Context, b *sink.Batch) error {
	if b == nil || len(b.Findings) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("security lake write: %w", ErrLakeClosed)
	}
	days := map[string][]models.Finding{}
	var order []string
	for _, f := range b.Findings {
		if f.ID == "" {
			f.SetID()
		}
		day := lakeDay(f.Time)
		if _, ok := days[day]; !ok {
			order = append(order, day)
		}
		days[day] = append(days[day], f)
	}
	for _, day := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := w.writeDay(day, days[day]); err != nil {
			return err
		}
	}
	return nil
}

// LakePartition returns the folder of one event day under Dir.
func (w *LakeWriter) LakePartition(day string) string {
	return filepath.Join(w.opts.Dir, "ext", w.opts.SourceName, "region="+w.opts.Region,
		"accountId="+w.opts.AccountID, "eventDay="+day)
}

// lakeRow is a Detection Finding with unmapped as a JSON string.
type lakeRow struct {
	DetectionFinding
	Unmapped string `json:"unmapped"`
}

func (w *LakeWriter) writeDay(day string, fs []models.Finding) (err error) {
	dir := w.LakePartition(day)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("security lake write %s: %w: %v", dir, sink.ErrUnavailable, err)
	}
	ids := make([]string, len(fs))
	var buf bytes.Buffer
	for i, f := range fs {
		ids[i] = f.ID
		d := Map(f, w.opts.Map)
		um, err := json.Marshal(d.Unmapped)
		if err != nil {
			return fmt.Errorf("security lake write: finding %s: %w", f.ID, err)
		}
		line, err := json.Marshal(lakeRow{DetectionFinding: d, Unmapped: string(um)})
		if err != nil {
			return fmt.Errorf("security lake write: finding %s: %w", f.ID, err)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	schema := LakeSchema()
	rd := array.NewJSONReader(&buf, schema, array.WithAllocator(w.mem), array.WithChunk(-1))
	defer rd.Release()
	if !rd.Next() {
		return fmt.Errorf("security lake write: convert %d findings: %v", len(fs), rd.Err())
	}
	rec := rd.RecordBatch()
	name := "tether-" + day + "-" + models.StableID(ids...)[:16] + ".parquet"

	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return fmt.Errorf("security lake write %s: %w: %v", name, sink.ErrUnavailable, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	props := pq.NewWriterProperties(pq.WithCompression(w.opts.Compression), pq.WithAllocator(w.mem), pq.WithCreatedBy("tether"))
	fw, err := pqarrow.NewFileWriter(schema, struct{ io.Writer }{tmp}, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(w.mem)))
	if err != nil {
		return fmt.Errorf("security lake write %s: %w", name, err)
	}
	if err := fw.Write(rec); err != nil {
		fw.Close()
		return fmt.Errorf("security lake write %s: %w", name, err)
	}
	if err := fw.Close(); err != nil {
		return fmt.Errorf("security lake write %s: close: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("security lake write %s: sync: %w: %v", name, sink.ErrUnavailable, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("security lake write %s: close: %w: %v", name, sink.ErrUnavailable, err)
	}
	final := filepath.Join(dir, name)
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("security lake write %s: rename: %w: %v", name, sink.ErrUnavailable, err)
	}
	if !slices.Contains(w.files, final) {
		w.files = append(w.files, final)
	}
	return nil
}

var (
	lakeSchemaOnce sync.Once
	lakeSchema     *arrow.Schema
)

// LakeSchema is the Arrow schema of the Security Lake files: the OCSF
// attributes Map emits, derived from DetectionFinding's JSON names (strings,
// int64, booleans; objects as structs; arrays as lists; every column
// nullable), with unmapped as a JSON string.
func LakeSchema() *arrow.Schema {
	lakeSchemaOnce.Do(func() {
		st := arrowType(reflect.TypeOf(lakeRow{})).(*arrow.StructType)
		lakeSchema = arrow.NewSchema(st.Fields(), nil)
	})
	return lakeSchema
}

var floatType = reflect.TypeOf(Float(0))

func arrowType(t reflect.Type) arrow.DataType {
	switch {
	case t.Kind() == reflect.Pointer:
		return arrowType(t.Elem())
	case t == floatType || t.Kind() == reflect.Float64:
		return arrow.PrimitiveTypes.Float64
	}
	switch t.Kind() {
	case reflect.String:
		return arrow.BinaryTypes.String
	case reflect.Bool:
		return arrow.FixedWidthTypes.Boolean
	case reflect.Int, reflect.Int64, reflect.Int32:
		return arrow.PrimitiveTypes.Int64
	case reflect.Slice:
		return arrow.ListOf(arrowType(t.Elem()))
	case reflect.Struct:
		var fields []arrow.Field
		structFields(t, &fields, map[string]bool{})
		return arrow.StructOf(fields...)
	}
	panic(fmt.Sprintf("ocsf: no Arrow type for %s", t))
}

// structFields appends t's JSON fields; an outer field shadows an embedded
// one of the same name, as in encoding/json.
func structFields(t reflect.Type, out *[]arrow.Field, seen map[string]bool) {
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			embedded = append(embedded, f.Type)
			continue
		}
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if name == "" || name == "-" || seen[name] {
			continue
		}
		seen[name] = true
		*out = append(*out, arrow.Field{Name: name, Type: arrowType(f.Type), Nullable: true})
	}
	for _, e := range embedded {
		var inner []arrow.Field
		structFields(e, &inner, seen)
		// embedded fields come first, in their declaration order
		*out = append(inner, *out...)
	}
}

// lakeDay is the eventDay partition value of a time.
func lakeDay(t time.Time) string { return t.UTC().Format("20060102") }
