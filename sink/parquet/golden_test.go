package parquet

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestSchemaGolden pins the Arrow schemas of the three series: files
// already written must stay readable, and query engines that match columns
// by position (DuckDB's default over a glob) must see the old columns where
// they were. Rewrite with -update.
func TestSchemaGolden(t *testing.T) {
	var b strings.Builder
	for _, s := range []struct{ name, schema string }{
		{FindingsPrefix, FindingsSchema().String()},
		{CommandsPrefix, CommandsSchema().String()},
		{EventsPrefix, EventsSchema().String()},
	} {
		b.WriteString(s.name + ":\n" + s.schema + "\n\n")
	}
	path := filepath.Join("testdata", "schemas.txt")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("Arrow schemas differ from %s (rerun with -update if intended):\ngot:\n%s", path, got)
	}
}
