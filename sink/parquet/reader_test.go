package parquet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// TestReadBack writes two batches (one repeated, as a retried batch is)
// and reads the series back: every row once, every field intact.
func TestReadBack(t *testing.T) {
	tests := []struct {
		name     string
		findings []models.Finding
		commands []models.ContainmentCommand
	}{
		{"with features", []models.Finding{finding(0, models.Feature{Name: "z", Observed: 7, Baseline: 1.5, Spread: 0.5}), finding(1)}, []models.ContainmentCommand{command(0)}},
		{"no commands", []models.Finding{finding(2)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			o.Dir = t.TempDir()
			w, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			b := &sink.Batch{Findings: tt.findings, Commands: tt.commands}
			for range 2 {
				if err := w.Write(context.Background(), b); err != nil {
					t.Fatal(err)
				}
			}
			gotF, err := ReadFindings(o.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotF, tt.findings) {
				t.Errorf("findings read back\n%+v\nwant\n%+v", gotF, tt.findings)
			}
			gotC, err := ReadCommands(o.Dir)
			if err != nil {
				t.Fatal(err)
			}
			// The commands series holds the whole signed envelope.
			if !reflect.DeepEqual(gotC, tt.commands) {
				t.Errorf("commands read back\n%+v\nwant\n%+v", gotC, tt.commands)
			}
		})
	}
}

func TestReadNotParquet(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "findings-x.parquet"), []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFindings(dir); !errors.Is(err, ErrFormat) {
		t.Errorf("err %v, want ErrFormat", err)
	}
}

// TestRolling writes 10 batches of 30 findings (each batch written twice,
// as a retried batch is) with RollRows 100: three files (a roll closes at
// the first Write that reaches 100 rows), every finding once.
func TestRolling(t *testing.T) {
	o := DefaultOptions()
	o.Dir, o.RollRows = t.TempDir(), 100
	w, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var all []models.Finding
	for b := range 10 {
		var batch []models.Finding
		for i := range 30 {
			f := finding(b*30 + i)
			f.Kind = fmt.Sprintf("k%03d", b*30+i)
			f.SetID()
			batch = append(batch, f)
		}
		all = append(all, batch...)
		for range 2 {
			if err := w.Write(context.Background(), &sink.Batch{Findings: batch}); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(o.Dir, FindingsPrefix+"-*.parquet"))
	if len(files) != 3 || len(w.Files()) != 3 {
		t.Errorf("%d files (%d reported), want 3", len(files), len(w.Files()))
	}
	got, err := ReadFindings(o.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(all) || w.Rows(FindingsPrefix) != int64(len(all)) {
		t.Errorf("read %d findings, counted %d, want %d", len(got), w.Rows(FindingsPrefix), len(all))
	}
	if left, _ := filepath.Glob(filepath.Join(o.Dir, ".*.tmp")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestEventsSeries writes events in both modes and reads them back: every
// field the schema keeps, free text cut at a UTF-8 boundary, no duplicates.
func TestEventsSeries(t *testing.T) {
	long := strings.Repeat("ü", 3000) // 6000 bytes
	mk := func(i int) *models.Event {
		return &models.Event{SchemaVersion: models.SchemaVersion, ID: fmt.Sprintf("e%d", i), Kind: models.KindToolCall, Time: t0.Add(time.Duration(i) * time.Millisecond),
			AgentID: "a.worker", RootAgentID: "a", SessionID: "s1", Step: i, Role: "assistant", ToolName: "http.post", Arguments: []byte(`{"to":"x"}`),
			Result: long, ParentAgentID: "a", ParentSessionID: "s0", Principal: "p@x", Autonomy: models.AutonomyJunior,
			DataClasses: []string{"pii", "secret"}, Resource: "r", Destination: "https://x.example"}
	}
	for _, roll := range []int{0, 3} {
		t.Run(fmt.Sprintf("roll %d", roll), func(t *testing.T) {
			o := DefaultOptions()
			o.Dir, o.Events, o.RollRows, o.Sync = t.TempDir(), true, roll, false
			w, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var want []*models.Event
			for b := range 3 {
				batch := []*models.Event{mk(2 * b), mk(2*b + 1)}
				want = append(want, batch...)
				for range 2 {
					if err := w.Write(context.Background(), &sink.Batch{Events: batch}); err != nil {
						t.Fatal(err)
					}
				}
			}
			got, err := ReadEvents(o.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("read %d events, want %d", len(got), len(want))
			}
			for i, g := range got {
				exp := *want[i]
				exp.Result = long[:maxEventText] // 4096 is even: a whole number of ü
				if !utf8.ValidString(g.Result) || !reflect.DeepEqual(*g, exp) {
					t.Errorf("event %d read back\n%+v\nwant\n%+v", i, *g, exp)
				}
			}
		})
	}
}
