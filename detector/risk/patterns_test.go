package risk

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherhq/tether/detector/rules"
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

// TestOperatorPatterns: a pattern an operator appends to a risk list
// fires; the default tables still do; a replaced-empty list is rejected.
func TestOperatorPatterns(t *testing.T) {
	rs := loadRules(t, `patterns:
  - list: risk.command_patterns
    items:
      - {id: acme.vault_seal, severity: 80, why: seals the secrets vault, keywords: [vault], expr: '(?i)\bvault\s+operator\s+seal\b'}
`)
	p, err := NewPatterns(rs)
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.Patterns = p
	cases := []struct {
		name, cmd string
		d         *Detector
		want      string // pattern id in the explanation; "" = no dangerous_command
	}{
		{"appended pattern", "vault operator seal", New(opts), "acme.vault_seal"},
		{"default table kept", "rm -rf / --no-preserve-root", New(opts), "cmd.rm_root"},
		{"default ruleset lacks it", "vault operator seal", New(DefaultOptions()), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := find(observe(c.d, callEvent("a1", "s1", "terminal", map[string]any{"cmd": c.cmd}, 1), nil), KindDangerousCommand)
			switch {
			case c.want == "" && f != nil:
				t.Errorf("unexpected finding: %s", f.Explanation)
			case c.want != "" && f == nil:
				t.Fatalf("no %s", KindDangerousCommand)
			case c.want != "" && !strings.Contains(f.Explanation, c.want):
				t.Errorf("explanation %q does not name %s", f.Explanation, c.want)
			}
		})
	}
	empty := loadRules(t, "patterns:\n  - {list: risk.safety_patterns, replace: true, items: []}\n")
	if _, err := NewPatterns(empty); !errors.Is(err, ErrPatterns) {
		t.Errorf("empty list: %v, want ErrPatterns", err)
	}
}
