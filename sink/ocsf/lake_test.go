package ocsf

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

func readLakeFile(t *testing.T, path string) arrow.Table {
	t.Helper()
	rdr, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdr.Close() })
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.NewGoAllocator())
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tbl.Release)
	return tbl
}

// TestLakeWriter writes findings of two event days and checks the Security
// Lake layout, the columns and that a retried batch rewrites the same files.
func TestLakeWriter(t *testing.T) {
	dir := t.TempDir()
	o := DefaultLakeOptions()
	o.Dir, o.Region, o.AccountID = dir, "eu-west-1", "123456789012"
	w, err := NewLakeWriter(o)
	if err != nil {
		t.Fatal(err)
	}
	day1, day2 := finding("agent-1", 75), finding("agent-2", 20)
	day2.Time = day2.Time.Add(24 * time.Hour)
	day2.Principal, day2.EvidenceIDs, day2.Features = "", nil, nil
	day2.SetID()
	b := &sink.Batch{Findings: []models.Finding{day1, day2}}
	for range 2 { // the retry rewrites the same files
		if err := w.Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	files := w.Files()
	if len(files) != 2 {
		t.Fatalf("files %v, want one per event day", files)
	}
	for i, f := range []models.Finding{day1, day2} {
		wantDir := filepath.Join(dir, "ext", "tether", "region=eu-west-1", "accountId=123456789012", "eventDay="+f.Time.UTC().Format("20060102"))
		if filepath.Dir(files[i]) != wantDir {
			t.Fatalf("file %s, want it in %s", files[i], wantDir)
		}
		entries, _ := os.ReadDir(wantDir)
		if len(entries) != 1 || strings.HasPrefix(entries[0].Name(), ".") {
			t.Fatalf("partition %s holds %v", wantDir, entries)
		}
		tbl := readLakeFile(t, files[i])
		if tbl.NumRows() != 1 || !sameFields(tbl.Schema(), LakeSchema()) {
			t.Fatalf("rows %d, schema %s", tbl.NumRows(), tbl.Schema())
		}
		col := func(name string) arrow.Array {
			idx := tbl.Schema().FieldIndices(name)
			if len(idx) != 1 {
				t.Fatalf("no column %s", name)
			}
			return tbl.Column(idx[0]).Data().Chunk(0)
		}
		if got := col("class_uid").(*array.Int64).Value(0); got != ClassUID {
			t.Errorf("class_uid %d", got)
		}
		if got := col("time").(*array.Int64).Value(0); got != f.Time.UnixMilli() {
			t.Errorf("time %d, want %d", got, f.Time.UnixMilli())
		}
		fi := col("finding_info").(*array.Struct)
		uid := fi.Field(fi.DataType().(*arrow.StructType).FieldIndices("uid")[0]).(*array.String).Value(0)
		if uid != f.ID {
			t.Errorf("finding_info.uid %s, want %s", uid, f.ID)
		}
		if um := col("unmapped").(*array.String).Value(0); !strings.Contains(um, `"detector":"flow"`) {
			t.Errorf("unmapped %s", um)
		}
		md := col("metadata").(*array.Struct)
		prof := md.Field(md.DataType().(*arrow.StructType).FieldIndices("profiles")[0]).(*array.List)
		if n := prof.Len(); n != 1 || prof.ListValues().Len() != len(Profiles) {
			t.Errorf("metadata.profiles: %d lists, %d values", n, prof.ListValues().Len())
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(context.Background(), b); err == nil {
		t.Fatal("write after close succeeded")
	}
	if _, err := NewLakeWriter(LakeOptions{Dir: dir}); err == nil {
		t.Fatal("missing region and account accepted")
	}
}

// sameFields compares names and types, not Parquet's field metadata.
func sameFields(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.NumFields() {
		if a.Field(i).Name != b.Field(i).Name || !arrow.TypeEqual(a.Field(i).Type, b.Field(i).Type) {
			return false
		}
	}
	return true
}
