package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tetherhq/tether/detector/custom"
	"github.com/tetherhq/tether/detector/rules"
	"github.com/tetherhq/tether/models"
)

// TestRulesCollector: the per-exception suppression counts reach the
// metrics.
func TestRulesCollector(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ops.yaml")
	body := "exceptions:\n  - {id: EXC-1, rule: TTH-risk-new_egress, fields: {agent_id: a}, comment: test}\n"
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		f := models.Finding{Detector: "risk", Kind: "new_egress", AgentID: "a"}
		rs.Apply(&f)
	}
	c := newRulesCollector(rules.NewHolder(rs))
	want := `# HELP tether_exception_suppressed_total Findings suppressed by each exception of the running ruleset (recorded with its id, never dropped).
# TYPE tether_exception_suppressed_total counter
tether_exception_suppressed_total{exception="EXC-1",rule="TTH-risk-new_egress"} 3
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "tether_exception_suppressed_total"); err != nil {
		t.Error(err)
	}
}

// TestCustomRuleErrorsMetric: a custom rule whose condition fails to
// evaluate (a key missing from the call's arguments) is counted per rule;
// a rule that evaluates cleanly exports 0.
func TestCustomRuleErrorsMetric(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ops.yaml")
	body := `rules:
  - {id: OPS-amount, severity: 50, condition: 'event.tool == "transfer" && event.args.amount > 1000.0'}
  - {id: OPS-shell, severity: 50, condition: 'event.tool == "shell"'}
`
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	h := rules.NewHolder(rs)
	d := custom.New(custom.DefaultOptions(), h)
	for _, args := range []string{`{"to":"x"}`, `{"amount":5}`, `{"iban":"y"}`} {
		d.Observe(&models.Event{Kind: models.KindToolCall, AgentID: "a", SessionID: "s", ToolName: "transfer", Arguments: json.RawMessage(args)},
			nil, func(models.Finding) {})
	}
	want := `# HELP tether_custom_rule_errors_total Evaluations of each custom (CEL) rule of the running ruleset that failed (a missing key, a type error); the rule did not match.
# TYPE tether_custom_rule_errors_total counter
tether_custom_rule_errors_total{rule="OPS-amount"} 2
tether_custom_rule_errors_total{rule="OPS-shell"} 0
`
	if err := testutil.CollectAndCompare(newRulesCollector(h), strings.NewReader(want), "tether_custom_rule_errors_total"); err != nil {
		t.Error(err)
	}
}

// TestRulesCheck: check reports each file and fails on an invalid one.
func TestRulesCheck(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.yaml"), filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(good, []byte("overrides:\n  - {rule: TTH-risk-new_egress, severity: 20}\n"), 0o600)
	_ = os.WriteFile(bad, []byte("overrides:\n  - {rule: TTH-nope}\n"), 0o600)
	var out strings.Builder
	if err := rulesCheck(&out, []string{good}); err != nil || !strings.Contains(out.String(), "OK     "+good) {
		t.Errorf("good: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := rulesCheck(&out, []string{good, bad}); err == nil || !strings.Contains(out.String(), bad+":2:12: override of unknown rule") {
		t.Errorf("bad: %v\n%s", err, out.String())
	}
}
