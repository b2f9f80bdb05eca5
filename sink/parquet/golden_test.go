package parquet

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherhq/tether/deploy/testenv"
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
	testenv.Golden(t, filepath.Join("testdata", "schemas.txt"), []byte(b.String()), *update)
}
