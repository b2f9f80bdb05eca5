package clickhouse

import (
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherhq/tether/deploy/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// TestSchemaGolden pins the generated DDL and INSERT statements of both
// dialects: a change to a column table shows up here as a diff of the SQL
// an existing deployment would run. Rewrite with -update.
func TestSchemaGolden(t *testing.T) {
	opts := DefaultOptions()
	for _, d := range []Dialect{DialectModern, DialectLegacy} {
		t.Run(d.String(), func(t *testing.T) {
			s := NewSchema(opts, d)
			var b strings.Builder
			for _, stmt := range s.Statements() {
				b.WriteString(stmt)
				b.WriteString(";\n\n")
			}
			for _, tbl := range s.Tables() {
				b.WriteString(s.InsertQuery(tbl))
				b.WriteString(";\n")
			}
			testenv.Golden(t, filepath.Join("testdata", "schema."+d.String()+".sql"), []byte(b.String()), *update)
		})
	}
}
