package eval

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteMarkdown(t *testing.T) {
	evs, ls := load(t)
	rep, err := Run(evs, withTemplates(ls), stubOptions())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := rep.WriteJSONFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadReportFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, []NamedReport{{"one", rep}, {"two", back}}, []string{"suite", "template", "absent"}); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	// Headline: 3 hijacked, 3 clean, AUROC 6/9; attacked 5.
	for _, want := range []string{
		"| one | 3 | 3 | 0.667 | 0.333 | 0.667 | 0.333 | 5 |",
		"| two | 3 | 3 | 0.667 | 0.333 | 0.667 | 0.333 | 5 |",
		"By suite:", "| one | x | 2 | 2 | 0.875 |",
		"By template:", "| two | a | 2 | 3 | 0.917 |",
		"Leave one template out", "| one | no (= by-group figures) | b |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "absent") {
		t.Error("a dimension no report has was tabulated")
	}
	if _, err := ReadReportFile(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("no error for a missing report")
	}
}
