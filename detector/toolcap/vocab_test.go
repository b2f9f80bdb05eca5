package toolcap

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tetherhq/tether/detector/rules"
	"github.com/tetherhq/tether/models"
)

func loadRules(t *testing.T, body string) *rules.Ruleset {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ops.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestVocabularyAppend: an operator's append to a toolcap list labels a
// tool the default vocabulary does not; Use(nil) restores the default.
func TestVocabularyAppend(t *testing.T) {
	t.Cleanup(func() { _ = Use(nil) })
	cases := []struct {
		name, list, word string
		spec             models.ToolSpec
		obs              Observed
		label            models.Label
	}{
		{"sink verb", "toolcap.sink_verbs", "telegraph", models.ToolSpec{Name: "telegraph_team"}, Observed{}, models.LabelPublicSink},
		{"destroy verb", "toolcap.destroy_verbs", "obliterate", models.ToolSpec{Name: "obliterate_records"}, Observed{}, models.LabelDestructive},
		{"command argument", "toolcap.arg_command", "incantation", models.ToolSpec{Name: "do_it"}, Observed{ArgNames: []string{"incantation"}}, models.LabelExecution},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := Use(nil); err != nil {
				t.Fatal(err)
			}
			if got := Infer(&c.spec, c.obs).Labels; slices.Contains(got, c.label) {
				t.Fatalf("default vocabulary already labels %s %v", c.spec.Name, got)
			}
			rs := loadRules(t, "lists:\n  - list: "+c.list+"\n    items: ["+c.word+"]\n")
			if !slices.Contains(rs.List(c.list), c.word) || len(rs.List(c.list)) < 2 {
				t.Fatalf("append did not extend %s: %v", c.list, rs.List(c.list))
			}
			if err := Use(rs); err != nil {
				t.Fatal(err)
			}
			if got := Infer(&c.spec, c.obs).Labels; !slices.Contains(got, c.label) {
				t.Errorf("with %s appended to %s: labels %v, want %s", c.word, c.list, got, c.label)
			}
		})
	}
}

// TestVocabularyEmptyList: a list replaced by nothing is rejected and the
// current vocabulary is kept.
func TestVocabularyEmptyList(t *testing.T) {
	t.Cleanup(func() { _ = Use(nil) })
	rs := loadRules(t, "lists:\n  - list: toolcap.sink_verbs\n    replace: true\n    items: []\n")
	if err := Use(rs); !errors.Is(err, ErrVocabulary) {
		t.Fatalf("Use with an empty list: %v, want ErrVocabulary", err)
	}
	if got := Infer(&models.ToolSpec{Name: "send_email"}, Observed{}).Labels; !slices.Contains(got, models.LabelPublicSink) {
		t.Errorf("send_email labels %v after a rejected vocabulary", got)
	}
}
