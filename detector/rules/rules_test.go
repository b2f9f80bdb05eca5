package rules

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ops.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefault(t *testing.T) {
	r := Default()
	if r.ID == "" || r.Version == "" || r.Date == "" {
		t.Fatalf("default ruleset without id/version/date: %q %q %q", r.ID, r.Version, r.Date)
	}
	if len(r.Rules()) < 40 {
		t.Errorf("%d rules, want one per finding kind (>= 40)", len(r.Rules()))
	}
	for _, name := range []string{"semantic.public_sink_verbs", "semantic.destructive_verbs"} {
		if len(r.List(name)) == 0 {
			t.Errorf("list %s empty", name)
		}
	}
	for _, rule := range r.Rules() {
		if rule.ID != DefaultID(rule.Detector, rule.Kind) || !rule.Enabled || rule.HasSeverity || rule.HasConfidence {
			t.Errorf("default rule %+v: want id TTH-<detector>-<kind>, enabled, no overrides", rule)
		}
	}
}

func TestApply(t *testing.T) {
	f := write(t, `version: ops-1
lists:
  - list: semantic.public_sink_verbs
    items: [dispatch]
overrides:
  - rule: TTH-risk-new_egress
    severity: 12
    confidence: 0.5
  - rule: TTH-baseline-model_change
    enabled: false
exceptions:
  - id: EXC-1
    rule: TTH-risk-new_egress
    fields: {agent_id: [billing-bot, ledger-bot]}
    expires: 2027-01-01T00:00:00Z
    comment: partner endpoint
  - id: EXC-2
    kind: flow/instructed_call
    fields: {session_id: s-9}
    comment: red-team exercise
`)
	r, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Version, Default().Version+"+") || !strings.HasSuffix(r.Version, "+ops-1") {
		t.Errorf("version %q: want default+hash+ops-1", r.Version)
	}
	if l := r.List("semantic.public_sink_verbs"); l[len(l)-1] != "dispatch" || len(Default().List("semantic.public_sink_verbs")) != len(l)-1 {
		t.Errorf("append did not append (or changed the default): %v", l)
	}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name                string
		f                   models.Finding
		keep                bool
		wantSev             uint8
		wantRule, wantExcep string
	}{
		{"override", models.Finding{Detector: "risk", Kind: "new_egress", AgentID: "x", Severity: 35, Time: at}, true, 12, "TTH-risk-new_egress", ""},
		{"exception", models.Finding{Detector: "risk", Kind: "new_egress", AgentID: "ledger-bot", Severity: 35, Time: at}, true, 12, "TTH-risk-new_egress", "EXC-1"},
		{"expired", models.Finding{Detector: "risk", Kind: "new_egress", AgentID: "ledger-bot", Severity: 35, Time: at.AddDate(1, 0, 0)}, true, 12, "TTH-risk-new_egress", ""},
		{"disabled", models.Finding{Detector: "baseline", Kind: "model_change", Severity: 10, Time: at}, false, 10, "", ""},
		{"untouched", models.Finding{Detector: "flow", Kind: "instructed_call", Severity: 70, Time: at}, true, 70, "TTH-flow-instructed_call", ""},
		{"exception by kind", models.Finding{Detector: "flow", Kind: "instructed_call", SessionID: "s-9", Severity: 70, Time: at}, true, 70, "TTH-flow-instructed_call", "EXC-2"},
		{"unknown kind", models.Finding{Detector: "x", Kind: "y", Severity: 70, Time: at}, true, 70, "TTH-x-y", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.f
			keep := r.Apply(&f)
			if keep != tt.keep || f.Severity != tt.wantSev || f.RuleID != tt.wantRule || f.Exception != tt.wantExcep {
				t.Errorf("keep %v sev %d rule %q exc %q, want %v %d %q %q", keep, f.Severity, f.RuleID, f.Exception, tt.keep, tt.wantSev, tt.wantRule, tt.wantExcep)
			}
			if keep && f.RulesetVersion != r.Version {
				t.Errorf("version %q, want %q", f.RulesetVersion, r.Version)
			}
		})
	}
	if h := r.Exceptions()[0].Hits(); h != 1 {
		t.Errorf("exception hits %d, want 1", h)
	}
	if Default().Rule("TTH-baseline-model_change").Enabled != true {
		t.Error("an override changed the shared default ruleset")
	}
}

// TestLoadErrors: every invalid file is rejected with file:line:col.
func TestLoadErrors(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"unknown key", "overides: []\n", ":1:1: unknown key \"overides\""},
		{"unknown rule", "overrides:\n  - rule: TTH-nope\n    enabled: false\n", ":2:11: override of unknown rule \"TTH-nope\""},
		{"bad severity", "overrides:\n  - rule: TTH-risk-new_egress\n    severity: 300\n", ":3:15: severity: expected an integer 0-100"},
		{"bad bool", "overrides:\n  - rule: TTH-risk-new_egress\n    enabled: maybe\n", ":3:14: enabled: expected true or false"},
		{"unknown list", "lists:\n  - list: nope\n    items: [a]\n", ":2:11: unknown list \"nope\""},
		{"exception field", "exceptions:\n  - id: E\n    rule: TTH-risk-new_egress\n    comment: c\n    fields: {tool: x}\n", ":5:14: unknown key \"tool\""},
		{"exception comment", "exceptions:\n  - id: E\n    rule: TTH-risk-new_egress\n", ":2:5: exception E: a comment is required"},
		{"exception expiry", "exceptions:\n  - id: E\n    rule: TTH-risk-new_egress\n    comment: c\n    expires: tomorrow\n", ":5:14: expires: expected an RFC 3339 time"},
		{"exception kind", "exceptions:\n  - {id: E, kind: flow/nope, comment: c}\n", ":2:19: exception: no rule for kind \"flow/nope\""},
		{"unknown pattern list", "patterns:\n  - list: nope\n    items: []\n", ":2:11: unknown pattern list \"nope\""},
		{"bad pattern expr", "patterns:\n  - list: risk.command_patterns\n    items:\n      - {id: x, keywords: [a], expr: '(a'}\n", ":4:38: expr: error parsing regexp"},
		{"pattern keyword case", "patterns:\n  - list: risk.command_patterns\n    items:\n      - {id: x, keywords: [A], expr: a}\n", ":4:28: keywords: \"A\" is not lower case"},
		{"pattern duplicate id", "patterns:\n  - list: risk.command_patterns\n    items:\n      - {id: cmd.sudo, keywords: [a], expr: a}\n", ":4:9: risk.command_patterns: duplicate pattern id \"cmd.sudo\""},
		{"pattern without expr", "patterns:\n  - list: risk.path_patterns\n    items:\n      - {id: x, keywords: [a]}\n", ":4:9: pattern: id, keywords and expr are required"},
		{"syntax", "version: a\n  b: c\n", ":2: yaml syntax: mapping values are not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, tt.body)
			_, err := Load(p)
			if !errors.Is(err, ErrRuleset) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("Load = %v, want ErrRuleset naming %s and %q", err, p, tt.want)
			}
		})
	}
}

func BenchmarkApply(b *testing.B) {
	r := Default()
	f := models.Finding{Detector: "flow", Kind: "untrusted_to_sink", Severity: 70}
	b.ReportAllocs()
	for b.Loop() {
		g := f
		r.Apply(&g)
	}
}

// FuzzLoad: no input panics the loader; it accepts or returns ErrRuleset.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("overrides:\n  - rule: TTH-risk-new_egress\n    severity: 3\n"))
	f.Add([]byte("exceptions:\n  - id: E\n    rule: TTH-risk-new_egress\n    comment: c\n    fields: {agent_id: a}\n"))
	f.Add([]byte("lists:\n  - list: semantic.destructive_verbs\n    items: [x]\n    replace: true\n"))
	f.Add([]byte("patterns:\n  - list: risk.command_patterns\n    items:\n      - {id: x, severity: 5, why: w, keywords: [a], expr: a, unless: b}\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.yaml")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); err != nil && !errors.Is(err, ErrRuleset) {
			t.Fatalf("error %v does not wrap ErrRuleset", err)
		}
	})
}
