package parquet

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/columns"
)

// TestEveryColumnRoundTrips writes one finding, command and event with
// every Parquet column set, reads each file back through pqarrow and
// compares every column, by name, with the column table's getter.
func TestEveryColumnRoundTrips(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	w, err := New(Options{Dir: t.TempDir(), Allocator: mem, Commands: true, Events: true})
	if err != nil {
		t.Fatal(err)
	}
	f := finding(1, models.Feature{Name: "z", Observed: 7, Baseline: 1.5, Spread: 0.5})
	f.Subject = "x.example"
	c := command(1)
	end := t0.Add(time.Hour)
	ev := &models.Event{SchemaVersion: 1, ID: "ev-1", Kind: models.KindToolCall, Time: t0, RootAgentID: "root", AgentID: "a",
		SessionID: "s", Step: 3, Role: models.RoleAssistant, ToolName: "http.post", Arguments: json.RawMessage(`{"u":1}`),
		Result: "ok", Content: "c", Error: "e", ParentAgentID: "p", ParentSessionID: "ps", ChildAgentID: "ch", ChildSessionID: "cs",
		Principal: "alice", PrincipalSessionEnd: &end, Autonomy: models.AutonomyJunior, DataClasses: []string{"pii"},
		Resource: "r", Destination: "d"}
	if err := w.Write(context.Background(), &sink.Batch{Events: []*models.Event{ev}, Findings: []models.Finding{f}, Commands: []models.ContainmentCommand{c}}); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, p := range w.Files() {
		for _, prefix := range []string{FindingsPrefix, CommandsPrefix, EventsPrefix} {
			if strings.HasPrefix(filepath.Base(p), prefix+"-") {
				files[prefix] = p
			}
		}
	}
	e := columns.NewEvent(ev, maxEventText)
	checkColumns(t, mem, files[FindingsPrefix], columns.Findings, &f)
	checkColumns(t, mem, files[CommandsPrefix], columns.Commands, &c)
	checkColumns(t, mem, files[EventsPrefix], columns.Events, &e)
}

// checkColumns reads the one-row file at path and compares each of ct's
// Parquet columns with its getter's value for rec.
func checkColumns[T any](t *testing.T, mem memory.Allocator, path string, ct columns.Table[T], rec *T) {
	t.Run(ct.Name, func(t *testing.T) {
		if path == "" {
			t.Fatal("no file written")
		}
		tbl := readTable(t, mem, path)
		defer tbl.Release()
		tr := array.NewTableReader(tbl, 0)
		defer tr.Release()
		if !tr.Next() {
			t.Fatal("no record")
		}
		r := newRow(tr.RecordBatch())
		for _, c := range ct.ParquetColumns() {
			want := c.Value(rec)
			if reflect.ValueOf(want).IsZero() {
				t.Errorf("%s: the sample leaves it zero; set it so its round trip is tested", c.Name)
			}
			var got any
			switch c.ParquetType() {
			case columns.String, columns.LowCard:
				got = r.str(c.Name, 0)
			case columns.Time:
				got, want = r.time(c.Name, 0), want.(time.Time).UTC().Truncate(time.Millisecond)
			case columns.Strings, columns.LowCards:
				got = r.strs(c.Name, 0)
			case columns.Int32:
				got, want = r.int(c.Name, 0), reflect.ValueOf(want).Int()
			case columns.UInt8:
				got = r.uint8(c.Name, 0)
			case columns.Float64:
				got = r.float(c.Name, 0)
			case columns.Features:
				got = r.features(c.Name, 0)
			default:
				t.Fatalf("%s: kind %s not covered by this test", c.Name, c.ParquetType())
			}
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
				t.Errorf("%s = %#v, want %#v", c.Name, got, want)
			}
		}
		if got, want := tr.RecordBatch().Schema().NumFields(), len(ct.Parquet); got != want {
			t.Errorf("%d columns in the file, want %d", got, want)
		}
	})
}

// TestReadFilesOfEarlierBuilds reads files written before the subject and
// command envelope columns existed (their columns are a prefix of today's):
// the rows read back with those fields empty.
func TestReadFilesOfEarlierBuilds(t *testing.T) {
	dir := t.TempDir()
	w, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	f := finding(2)
	f.Subject = "dropped"
	c := command(2)
	oldF, oldC := columns.Findings, columns.Commands
	oldF.Parquet, oldC.Parquet = oldF.Parquet[:17], oldC.Parquet[:11] // as of the first release with rule_id
	if err := w.writeFile("findings-old.parquet", 1, schemaOf(oldF), func(rb *array.RecordBuilder) { appendRows(rb, oldF, []models.Finding{f}) }); err != nil {
		t.Fatal(err)
	}
	if err := w.writeFile("commands-old.parquet", 1, schemaOf(oldC), func(rb *array.RecordBuilder) { appendRows(rb, oldC, []models.ContainmentCommand{c}) }); err != nil {
		t.Fatal(err)
	}
	gotF, err := ReadFindings(dir)
	if err != nil {
		t.Fatal(err)
	}
	f.Subject = ""
	if !reflect.DeepEqual(gotF, []models.Finding{f}) {
		t.Errorf("findings = %+v, want %+v", gotF, f)
	}
	gotC, err := ReadCommands(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.Version, c.RootAgentID, c.Scope, c.AutonomyBefore, c.KeyID, c.Signature = 0, "", "", "", "", ""
	if !reflect.DeepEqual(gotC, []models.ContainmentCommand{c}) {
		t.Errorf("commands = %+v, want %+v", gotC, c)
	}
}
