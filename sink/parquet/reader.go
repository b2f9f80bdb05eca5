package parquet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/tetherhq/tether/models"
)

// ErrFormat is wrapped when a file does not have the series' schema.
var ErrFormat = errors.New("not a Tether Parquet series file")

// ReadFindings reads every findings file in dir (the series this package
// writes), de-duplicated by finding id, in file then row order.
func ReadFindings(dir string) ([]models.Finding, error) {
	var out []models.Finding
	seen := map[string]bool{}
	err := readSeries(dir, FindingsPrefix, findingsSchema, func(rec arrow.RecordBatch) {
		var (
			id      = rec.Column(0).(*array.String)
			tm      = rec.Column(1).(*array.Timestamp)
			agent   = rec.Column(2).(*array.String)
			root    = rec.Column(3).(*array.String)
			session = rec.Column(4).(*array.String)
			princ   = rec.Column(5).(*array.String)
			det     = rec.Column(6).(*array.String)
			kind    = rec.Column(7).(*array.String)
			sev     = rec.Column(8).(*array.Uint8)
			conf    = rec.Column(9).(*array.Float64)
			expl    = rec.Column(10).(*array.String)
			evid    = rec.Column(11).(*array.List)
			evidV   = evid.ListValues().(*array.String)
			feat    = rec.Column(12).(*array.List)
			featV   = feat.ListValues().(*array.Struct)
			fName   = featV.Field(0).(*array.String)
			fObs    = featV.Field(1).(*array.Float64)
			fBase   = featV.Field(2).(*array.Float64)
			fSpread = featV.Field(3).(*array.Float64)
			step    = rec.Column(13).(*array.Int32)
			ruleID  = rec.Column(14).(*array.String)
			rulesV  = rec.Column(15).(*array.String)
			except  = rec.Column(16).(*array.String)
		)
		for i := 0; i < int(rec.NumRows()); i++ {
			if seen[id.Value(i)] {
				continue
			}
			seen[id.Value(i)] = true
			f := models.Finding{ID: id.Value(i), Time: time.UnixMilli(int64(tm.Value(i))).UTC(), AgentID: agent.Value(i),
				RootAgentID: root.Value(i), SessionID: session.Value(i), Principal: princ.Value(i), Detector: det.Value(i),
				Kind: kind.Value(i), Severity: sev.Value(i), Confidence: conf.Value(i), Explanation: expl.Value(i), Step: int(step.Value(i)),
				RuleID: ruleID.Value(i), RulesetVersion: rulesV.Value(i), Exception: except.Value(i)}
			s, e := evid.ValueOffsets(i)
			for j := s; j < e; j++ {
				f.EvidenceIDs = append(f.EvidenceIDs, evidV.Value(int(j)))
			}
			s, e = feat.ValueOffsets(i)
			for j := s; j < e; j++ {
				f.Features = append(f.Features, models.Feature{Name: fName.Value(int(j)), Observed: fObs.Value(int(j)), Baseline: fBase.Value(int(j)), Spread: fSpread.Value(int(j))})
			}
			out = append(out, f)
		}
	})
	return out, err
}

// ReadCommands reads every commands file in dir, de-duplicated by command
// id, in file then row order.
func ReadCommands(dir string) ([]models.ContainmentCommand, error) {
	var out []models.ContainmentCommand
	seen := map[string]bool{}
	err := readSeries(dir, CommandsPrefix, commandsSchema, func(rec arrow.RecordBatch) {
		var (
			id      = rec.Column(0).(*array.String)
			agent   = rec.Column(1).(*array.String)
			session = rec.Column(2).(*array.String)
			cred    = rec.Column(3).(*array.String)
			action  = rec.Column(4).(*array.String)
			target  = rec.Column(5).(*array.String)
			sev     = rec.Column(6).(*array.Uint8)
			reason  = rec.Column(7).(*array.String)
			fids    = rec.Column(8).(*array.List)
			fidsV   = fids.ListValues().(*array.String)
			issued  = rec.Column(9).(*array.Timestamp)
			expires = rec.Column(10).(*array.Timestamp)
		)
		for i := 0; i < int(rec.NumRows()); i++ {
			if seen[id.Value(i)] {
				continue
			}
			seen[id.Value(i)] = true
			c := models.ContainmentCommand{ID: id.Value(i), AgentID: agent.Value(i), SessionID: session.Value(i), CredentialID: cred.Value(i),
				Action: models.Action(action.Value(i)), TargetAutonomy: models.Autonomy(target.Value(i)), Severity: sev.Value(i), Reason: reason.Value(i),
				IssuedAt: time.UnixMilli(int64(issued.Value(i))).UTC(), ExpiresAt: time.UnixMilli(int64(expires.Value(i))).UTC()}
			s, e := fids.ValueOffsets(i)
			for j := s; j < e; j++ {
				c.FindingIDs = append(c.FindingIDs, fidsV.Value(int(j)))
			}
			out = append(out, c)
		}
	})
	return out, err
}

// readSeries calls each for every record batch of every prefix-*.parquet
// file in dir, after checking the file's schema against want.
func readSeries(dir, prefix string, want *arrow.Schema, each func(arrow.RecordBatch)) error {
	files, err := filepath.Glob(filepath.Join(dir, prefix+"-*.parquet"))
	if err != nil {
		return err
	}
	slices.Sort(files)
	mem := memory.NewGoAllocator()
	for _, path := range files {
		if err := readFile(path, mem, want, each); err != nil {
			return err
		}
	}
	return nil
}

func readFile(path string, mem memory.Allocator, want *arrow.Schema, each func(arrow.RecordBatch)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// Pages cannot be larger than the file, nor decompress to more than a
	// generous ratio of it: a corrupt header cannot ask for gigabytes.
	size := fileSize(f)
	props := pq.NewReaderProperties(mem)
	props.MaxCompressedPageSize = max(size, 1)
	props.MaxUncompressedPageSize = min(max(size*64, 1<<20), 256<<20)
	pf, err := file.NewParquetReader(f, file.WithReadProps(props))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrFormat, path, err)
	}
	defer pf.Close()
	// Ignore the stored Arrow schema: the types come from the Parquet
	// schema and are checked below, and a corrupt stored schema can make
	// the Arrow decoder allocate without bound (found by FuzzReadSeries).
	md := pf.MetaData()
	kvs := md.FileMetaData.KeyValueMetadata
	kept := kvs[:0:0]
	for _, kv := range kvs {
		if kv != nil && kv.Key != "ARROW:schema" {
			kept = append(kept, kv)
		}
	}
	md.FileMetaData.KeyValueMetadata = kept
	if err := checkChunks(md, size); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrFormat, path, err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrFormat, path, err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrFormat, path, err)
	}
	defer tbl.Release()
	got := tbl.Schema()
	if got.NumFields() != want.NumFields() {
		return fmt.Errorf("%w: %s has %d columns, want %d", ErrFormat, path, got.NumFields(), want.NumFields())
	}
	for i := range want.Fields() {
		if got.Field(i).Name != want.Field(i).Name || !arrow.TypeEqual(got.Field(i).Type, want.Field(i).Type) {
			return fmt.Errorf("%w: %s column %d is %s %s, want %s %s", ErrFormat, path, i, got.Field(i).Name, got.Field(i).Type, want.Field(i).Name, want.Field(i).Type)
		}
	}
	tr := array.NewTableReader(tbl, 0)
	defer tr.Release()
	for tr.Next() {
		each(tr.RecordBatch())
	}
	return tr.Err()
}

func fileSize(f *os.File) int64 {
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

// checkChunks rejects footers whose row counts or column chunks do not fit
// the file: the Arrow reader trusts them, and a corrupt one makes it
// allocate a negative or huge buffer in a goroutine it starts, where the
// panic cannot be recovered (found by FuzzReadSeries).
func checkChunks(md *metadata.FileMetaData, size int64) error {
	for i := range md.NumRowGroups() {
		rg := md.RowGroup(i)
		if rg.NumRows() < 0 || rg.NumRows() > size*8 {
			return fmt.Errorf("row group %d: %d rows in a file of %d bytes", i, rg.NumRows(), size)
		}
		for j := range rg.NumColumns() {
			cc, err := rg.ColumnChunk(j)
			if err != nil {
				return fmt.Errorf("row group %d column %d: %w", i, j, err)
			}
			start := cc.DataPageOffset()
			if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 {
				start = min(start, cc.DictionaryPageOffset())
			}
			n := cc.TotalCompressedSize()
			if start < 0 || n < 0 || start > size || n > size-start || cc.NumValues() < 0 || cc.NumValues() > size*8 {
				return fmt.Errorf("row group %d column %d: chunk at %d of %d bytes (%d values) in a file of %d bytes", i, j, start, n, cc.NumValues(), size)
			}
		}
	}
	return nil
}
