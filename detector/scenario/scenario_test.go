package scenario

import (
	"testing"

	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/detector/capability"
	"github.com/tetherhq/tether/models"
)

// TestScenarioHarness checks that the harness itself fails unmet expectations.
func TestScenarioHarness(t *testing.T) {
	one, sev := 1, uint8(60)
	out := &detector.Output{
		Findings: []models.Finding{
			{Detector: "baseline", Kind: "new_tool", AgentID: "a", SessionID: "s1", Severity: 55},
			{Detector: capability.Name, Kind: capability.KindToxicPath, AgentID: "a", SessionID: "s1", Severity: 20},
		},
		Commands: []models.ContainmentCommand{{Action: models.ActionReview, AgentID: "a", SessionID: "s1"}},
	}
	tests := []struct {
		name     string
		sc       Scenario
		wantErrs int
	}{
		{"match", Scenario{Expect: []Expectation{{Detector: "baseline", Kind: "new_tool", Agent: "a", Count: &one}}}, 0},
		{"missing", Scenario{Expect: []Expectation{{Kind: "rate_spike"}}}, 1},
		{"severity filter", Scenario{Expect: []Expectation{{Kind: "new_tool", MinSeverity: &sev}}}, 1},
		{"none violated", Scenario{Expect: []Expectation{{Agent: "a", None: true}}}, 1},
		{"none held", Scenario{Expect: []Expectation{{Agent: "b", None: true}}}, 0},
		{"posture matched by detector name", Scenario{Expect: []Expectation{{Detector: capability.Name, Count: &one}}}, 0},
		{"posture not matched without detector name", Scenario{Expect: []Expectation{{Kind: capability.KindToxicPath}}}, 1},
		{"command match", Scenario{Commands: []Expectation{{Action: models.ActionReview, Agent: "a"}}}, 0},
		{"command missing", Scenario{Commands: []Expectation{{Action: models.ActionSuspendSession}}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if errs := tt.sc.Check(out); len(errs) != tt.wantErrs {
				t.Errorf("got %d errors %v, want %d", len(errs), errs, tt.wantErrs)
			}
		})
	}
}
