package clickhouse

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
			path := filepath.Join("testdata", "schema."+d.String()+".sql")
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
				t.Errorf("generated SQL differs from %s (rerun with -update if intended):\n%s", path, lineDiff(string(want), got))
			}
		})
	}
}

// lineDiff lists the lines only in want (-) and only in got (+).
func lineDiff(want, got string) string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	w, g := count(want), count(got)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if g[l] < w[l] {
			b.WriteString("- " + l + "\n")
			w[l]--
		}
	}
	w = count(want)
	for _, l := range strings.Split(got, "\n") {
		if w[l] < g[l] {
			b.WriteString("+ " + l + "\n")
			g[l]--
		}
	}
	return b.String()
}
