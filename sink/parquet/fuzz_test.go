package parquet

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// FuzzReadSeries feeds arbitrary bytes (seeded with real files and their
// truncations) to the series readers: they return rows or an error, never
// panic.
func FuzzReadSeries(f *testing.F) {
	dir := f.TempDir()
	o := DefaultOptions()
	o.Dir, o.Events, o.Sync = dir, true, false
	w, err := New(o)
	if err != nil {
		f.Fatal(err)
	}
	ev := &models.Event{ID: "e1", Kind: models.KindToolCall, Time: t0, AgentID: "a", SessionID: "s", DataClasses: []string{"pii"}}
	if err := w.Write(context.Background(), &sink.Batch{Events: []*models.Event{ev}, Findings: []models.Finding{finding(1)}, Commands: []models.ContainmentCommand{command(1)}}); err != nil {
		f.Fatal(err)
	}
	for _, p := range w.Files() {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[len(b)/3:])
	}
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := t.TempDir()
		for _, prefix := range []string{FindingsPrefix, CommandsPrefix, EventsPrefix} {
			if err := os.WriteFile(filepath.Join(d, prefix+"-x.parquet"), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, _ = ReadFindings(d)
		_, _ = ReadCommands(d)
		_, _ = ReadEvents(d)
	})
}
