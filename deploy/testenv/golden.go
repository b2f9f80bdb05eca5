package testenv

import (
	"os"
	"strings"
	"testing"
)

// Golden compares got with the golden file at path, first rewriting the
// file with got when update is set (a test's -update flag). A mismatch
// fails t with the lines only in the file (-) and only in got (+).
func Golden(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("output differs from %s (rerun with -update if intended):\n%s", path, LineDiff(string(want), string(got)))
	}
}

// LineDiff lists the lines of want missing from got (prefixed "- ") and
// the lines of got missing from want ("+ "), each in its text's order,
// counting repeated lines.
func LineDiff(want, got string) string {
	var b strings.Builder
	only := func(a, c, prefix string) {
		left := map[string]int{}
		for _, l := range strings.Split(c, "\n") {
			left[l]++
		}
		for _, l := range strings.Split(a, "\n") {
			if left[l] > 0 {
				left[l]--
				continue
			}
			b.WriteString(prefix + l + "\n")
		}
	}
	only(want, got, "- ")
	only(got, want, "+ ")
	return b.String()
}
