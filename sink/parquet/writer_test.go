package parquet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

var t0 = time.Date(2026, 3, 2, 9, 30, 15, 123_000_000, time.UTC)

func finding(i int, features ...models.Feature) models.Finding {
	f := models.Finding{
		Time:           t0.Add(time.Duration(i) * time.Second),
		AgentID:        "support-01",
		RootAgentID:    "support-01",
		SessionID:      "support-01-s0007",
		Principal:      "alice@corp.example",
		Detector:       "baseline",
		Kind:           "novel_tool",
		Severity:       uint8(40 + i),
		Confidence:     0.75,
		Explanation:    "crm.export was never used by this agent",
		EvidenceIDs:    []string{"ev-1", "ev-" + string(rune('a'+i))},
		Features:       features,
		Step:           12 + i,
		RuleID:         "TTH-baseline-novel_tool",
		RulesetVersion: "2026.12.0+ab12cd34",
	}
	if i%2 == 1 {
		f.Exception = "EXC-1"
	}
	f.SetID()
	return f
}

func command(i int) models.ContainmentCommand {
	c := models.ContainmentCommand{
		AgentID:        "support-01",
		SessionID:      "support-01-s0007",
		CredentialID:   "cred-1",
		Action:         models.ActionRevokeCredential,
		TargetAutonomy: models.AutonomyJunior,
		Severity:       95,
		Reason:         "exfiltration",
		FindingIDs:     []string{"f1", "f2"},
		IssuedAt:       t0.Add(time.Duration(i) * time.Minute),
		ExpiresAt:      t0.Add(time.Hour + time.Duration(i)*time.Minute),
		RootAgentID:    "support-root",
		AutonomyBefore: models.AutonomySenior,
	}
	c.SetID()
	c.KeyID, c.Signature = "k-test", "c2lnbmF0dXJl" // not verified here
	return c
}

// readTable reads a Parquet file back through pqarrow.
func readTable(t *testing.T, mem memory.Allocator, path string) arrow.Table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tbl, err := pqarrow.ReadTable(context.Background(), f, pq.NewReaderProperties(mem), pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return tbl
}

// sameSchema compares names, types and nullability, ignoring the field
// metadata the Parquet reader adds.
func sameSchema(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.Fields() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || fa.Nullable != fb.Nullable || !arrow.TypeEqual(fa.Type, fb.Type) {
			return false
		}
	}
	return true
}

func column(tbl arrow.Table, name string) arrow.Array {
	idx := tbl.Schema().FieldIndices(name)
	return tbl.Column(idx[0]).Data().Chunk(0)
}

func TestRoundTripFindings(t *testing.T) {
	tests := []struct {
		name string
		rows []models.Finding
	}{
		{"one finding without features", []models.Finding{finding(0)}},
		{"several with features", []models.Finding{
			finding(1, models.Feature{Name: "calls_per_min", Observed: 42, Baseline: 3.5, Spread: 1.2}),
			finding(2),
			finding(3, models.Feature{Name: "bytes", Observed: 4e6, Baseline: 2400}, models.Feature{Name: "new_tools", Observed: 2}),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			w, err := New(Options{Dir: t.TempDir(), Allocator: mem, Commands: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(context.Background(), &sink.Batch{Findings: tc.rows}); err != nil {
				t.Fatal(err)
			}
			files := w.Files()
			if len(files) != 1 || !strings.HasPrefix(filepath.Base(files[0]), FindingsPrefix+"-") {
				t.Fatalf("files = %v, want one findings file", files)
			}
			tbl := readTable(t, mem, files[0])
			defer tbl.Release()
			if !sameSchema(tbl.Schema(), FindingsSchema()) {
				t.Fatalf("schema read back:\n%s\nwant:\n%s", tbl.Schema(), FindingsSchema())
			}
			if int(tbl.NumRows()) != len(tc.rows) {
				t.Fatalf("%d rows, want %d", tbl.NumRows(), len(tc.rows))
			}
			ids := column(tbl, "finding_id").(*array.String)
			times := column(tbl, "time").(*array.Timestamp)
			sev := column(tbl, "severity").(*array.Uint8)
			conf := column(tbl, "confidence").(*array.Float64)
			evid := column(tbl, "evidence_event_ids").(*array.List)
			feats := column(tbl, "features").(*array.List)
			step := column(tbl, "step").(*array.Int32)
			ruleID := column(tbl, "rule_id").(*array.String)
			rulesVer := column(tbl, "ruleset_version").(*array.String)
			except := column(tbl, "exception").(*array.String)
			for i, want := range tc.rows {
				if ruleID.Value(i) != want.RuleID || rulesVer.Value(i) != want.RulesetVersion || except.Value(i) != want.Exception {
					t.Errorf("row %d: rule %q version %q exception %q, want %q %q %q", i, ruleID.Value(i), rulesVer.Value(i), except.Value(i), want.RuleID, want.RulesetVersion, want.Exception)
				}
				if ids.Value(i) != want.ID || sev.Value(i) != want.Severity || conf.Value(i) != want.Confidence || int(step.Value(i)) != want.Step {
					t.Errorf("row %d: id %s sev %d conf %v step %d, want %s %d %v %d", i, ids.Value(i), sev.Value(i), conf.Value(i), step.Value(i), want.ID, want.Severity, want.Confidence, want.Step)
				}
				if got := times.Value(i).ToTime(arrow.Millisecond); !got.Equal(want.Time) {
					t.Errorf("row %d: time %s, want %s", i, got, want.Time)
				}
				var gotEv []string
				s, e := evid.ValueOffsets(i)
				for j := s; j < e; j++ {
					gotEv = append(gotEv, evid.ListValues().(*array.String).Value(int(j)))
				}
				if !slices.Equal(gotEv, want.EvidenceIDs) {
					t.Errorf("row %d: evidence %v, want %v", i, gotEv, want.EvidenceIDs)
				}
				var gotF []models.Feature
				st := feats.ListValues().(*array.Struct)
				s, e = feats.ValueOffsets(i)
				for j := int(s); j < int(e); j++ {
					gotF = append(gotF, models.Feature{
						Name:     st.Field(0).(*array.String).Value(j),
						Observed: st.Field(1).(*array.Float64).Value(j),
						Baseline: st.Field(2).(*array.Float64).Value(j),
						Spread:   st.Field(3).(*array.Float64).Value(j),
					})
				}
				if !slices.Equal(gotF, want.Features) {
					t.Errorf("row %d: features %v, want %v", i, gotF, want.Features)
				}
			}
		})
	}
}

func TestRoundTripCommands(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	w, err := New(Options{Dir: t.TempDir(), Allocator: mem, Commands: true})
	if err != nil {
		t.Fatal(err)
	}
	rows := []models.ContainmentCommand{command(0), command(1)}
	if err := w.Write(context.Background(), &sink.Batch{Commands: rows}); err != nil {
		t.Fatal(err)
	}
	files := w.Files()
	if len(files) != 1 || !strings.HasPrefix(filepath.Base(files[0]), CommandsPrefix+"-") {
		t.Fatalf("files = %v, want one commands file", files)
	}
	tbl := readTable(t, mem, files[0])
	defer tbl.Release()
	if !sameSchema(tbl.Schema(), CommandsSchema()) {
		t.Fatalf("schema read back:\n%s", tbl.Schema())
	}
	action := column(tbl, "action").(*array.String)
	target := column(tbl, "target_autonomy").(*array.String)
	exp := column(tbl, "expires_at").(*array.Timestamp)
	fids := column(tbl, "finding_ids").(*array.List)
	for i, want := range rows {
		if action.Value(i) != string(want.Action) || target.Value(i) != string(want.TargetAutonomy) {
			t.Errorf("row %d: %s %s", i, action.Value(i), target.Value(i))
		}
		if got := exp.Value(i).ToTime(arrow.Millisecond); !got.Equal(want.ExpiresAt) {
			t.Errorf("row %d: expires %s, want %s", i, got, want.ExpiresAt)
		}
		if s, e := fids.ValueOffsets(i); e-s != int64(len(want.FindingIDs)) {
			t.Errorf("row %d: %d finding ids, want %d", i, e-s, len(want.FindingIDs))
		}
	}
}

// TestParquetTypes checks the physical/logical types that ClickHouse, DuckDB
// and pandas see: UTC millisecond timestamps and unsigned 8-bit severity.
func TestParquetTypes(t *testing.T) {
	w, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(context.Background(), &sink.Batch{Findings: []models.Finding{finding(0)}}); err != nil {
		t.Fatal(err)
	}
	r, err := file.OpenParquetFile(w.Files()[0], false)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sc := r.MetaData().Schema
	tests := []struct {
		column string
		want   string
	}{
		{"time", schema.NewTimestampLogicalType(true, schema.TimeUnitMillis).String()},
		{"severity", schema.NewIntLogicalType(8, false).String()},
		{"finding_id", schema.StringLogicalType{}.String()},
	}
	for _, tc := range tests {
		i := sc.ColumnIndexByName(tc.column)
		if i < 0 {
			t.Fatalf("no column %s", tc.column)
		}
		if got := sc.Column(i).LogicalType().String(); got != tc.want {
			t.Errorf("%s: logical type %s, want %s", tc.column, got, tc.want)
		}
	}
}

func TestWriteSemantics(t *testing.T) {
	ctx := context.Background()
	batch := &sink.Batch{Findings: []models.Finding{finding(0), finding(1), finding(2)}, Commands: []models.ContainmentCommand{command(0)}}
	tests := []struct {
		name      string
		opts      Options
		writes    int
		wantFiles []string // glob patterns, in order of the listing
	}{
		{"retry rewrites the same files", Options{Commands: true}, 2, []string{"commands-*.parquet", "findings-*.parquet"}},
		{"split by rows", Options{Commands: true, MaxRowsPerFile: 2}, 1, []string{"commands-*.parquet", "findings-*-p001.parquet", "findings-*-p002.parquet"}},
		{"commands disabled", Options{}, 1, []string{"findings-*.parquet"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Dir = filepath.Join(t.TempDir(), "nested", "out")
			w, err := New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tc.writes; i++ {
				if err := w.Write(ctx, batch); err != nil {
					t.Fatal(err)
				}
			}
			entries, err := os.ReadDir(tc.opts.Dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if len(names) != len(tc.wantFiles) {
				t.Fatalf("files %v, want %v", names, tc.wantFiles)
			}
			for i, pat := range tc.wantFiles {
				if ok, _ := filepath.Match(pat, names[i]); !ok {
					t.Errorf("file %d is %s, want %s", i, names[i], pat)
				}
			}
		})
	}
	t.Run("empty batch writes nothing", func(t *testing.T) {
		w, _ := New(Options{Dir: t.TempDir(), Commands: true})
		if err := w.Write(ctx, &sink.Batch{}); err != nil || len(w.Files()) != 0 {
			t.Fatalf("err %v, files %v", err, w.Files())
		}
	})
	t.Run("closed", func(t *testing.T) {
		w, _ := New(Options{Dir: t.TempDir()})
		w.Close()
		if err := w.Write(ctx, batch); !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v, want ErrClosed", err)
		}
	})
	t.Run("no dir", func(t *testing.T) {
		if _, err := New(Options{}); !errors.Is(err, models.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}
