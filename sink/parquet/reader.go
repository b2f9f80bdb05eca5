package parquet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

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
		r := newRow(rec)
		for i := 0; i < int(rec.NumRows()); i++ {
			id := r.str("finding_id", i)
			if seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, models.Finding{ID: id, Time: r.time("time", i), AgentID: r.str("agent_id", i),
				RootAgentID: r.str("root_agent_id", i), SessionID: r.str("session_id", i), Principal: r.str("principal", i),
				Detector: r.str("detector", i), Kind: r.str("kind", i), Subject: r.str("subject", i), Severity: r.uint8("severity", i),
				Confidence: r.float("confidence", i), Explanation: r.str("explanation", i), EvidenceIDs: r.strs("evidence_event_ids", i),
				Features: r.features("features", i), Step: int(r.int("step", i)), RuleID: r.str("rule_id", i),
				RulesetVersion: r.str("ruleset_version", i), Exception: r.str("exception", i)})
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
		r := newRow(rec)
		for i := 0; i < int(rec.NumRows()); i++ {
			id := r.str("command_id", i)
			if seen[id] {
				continue
			}
			seen[id] = true
			out = append(out, models.ContainmentCommand{Version: int(r.uint8("version", i)), ID: id, AgentID: r.str("agent_id", i), SessionID: r.str("session_id", i),
				CredentialID: r.str("credential_id", i), RootAgentID: r.str("root_agent_id", i), Scope: models.Scope(r.str("scope", i)),
				Action: models.Action(r.str("action", i)), AutonomyBefore: models.Autonomy(r.str("autonomy_before", i)),
				TargetAutonomy: models.Autonomy(r.str("target_autonomy", i)), Severity: r.uint8("severity", i), Reason: r.str("reason", i),
				FindingIDs: r.strs("finding_ids", i), IssuedAt: r.time("issued_at", i), ExpiresAt: r.time("expires_at", i),
				KeyID: r.str("key_id", i), Signature: r.str("signature", i)})
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
	// A file of an earlier build lacks the columns added since, which are
	// always appended: its columns are a prefix of want's.
	got := tbl.Schema()
	if got.NumFields() == 0 || got.NumFields() > want.NumFields() {
		return fmt.Errorf("%w: %s has %d columns, want 1 to %d", ErrFormat, path, got.NumFields(), want.NumFields())
	}
	for i := range got.Fields() {
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
