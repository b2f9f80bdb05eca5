package containment

import (
	"testing"

	"github.com/tetherhq/tether/models"
)

// TestEvidenceKindsNeverCommand checks that a finding of one of the
// EvidenceKinds (an attempt the agent has not acted on) issues no command
// through the thresholds or the kill switch, whatever its severity and the
// agent's autonomy, that an explicit rule naming the kind still does, and
// that other kinds of the same detector are contained as before.
func TestEvidenceKindsNeverCommand(t *testing.T) {
	tests := []struct {
		name     string
		kind     string
		severity uint8
		autonomy models.Autonomy
		rule     bool
		want     models.Action // "" = no command
	}{
		{"an attempt at 46, intern: no review", "attempt", 46, models.AutonomyIntern, false, ""},
		{"an attempt at 99, intern: no command, no halt", "attempt", 99, models.AutonomyIntern, false, ""},
		{"an attempt at 60, principal: no review", "attempt", 60, models.AutonomyPrincipal, false, ""},
		{"the operator's rule naming the kind commands", "attempt", 46, models.AutonomyIntern, true, models.ActionRequireApproval},
		{"another kind of the detector at 46, intern: review", "call", 46, models.AutonomyIntern, false, models.ActionReview},
		{"another kind at 99, intern: halted", "call", 99, models.AutonomyIntern, false, models.ActionHaltAgent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			o.HaltAt = 95
			o.EvidenceKinds = []string{"d/attempt"}
			if tt.rule {
				o.Rules = []Rule{{Kind: "d/attempt", MinSeverity: 40, Action: models.ActionRequireApproval}}
			}
			p := New(o)
			agent := &models.AgentSpec{ID: "a", Autonomy: tt.autonomy}
			ev := &models.Event{AgentID: "a", SessionID: "s", CredentialID: "cred"}
			f := finding("s", tt.severity, "f1")
			f.Kind = tt.kind
			var got models.Action
			if c, ok := p.Escalate(f, ev, agent); ok {
				got = c.Action
			} else if c, ok := p.Decide(f, ev, agent); ok {
				got = c.Action
			}
			if got != tt.want {
				t.Fatalf("command %q, want %q", got, tt.want)
			}
		})
	}
}

// TestEvidenceKindsNotReplacedByLive checks that hot-reloaded options do
// not turn evidence into commands: EvidenceKinds are fixed at New.
func TestEvidenceKindsNotReplacedByLive(t *testing.T) {
	o := DefaultOptions()
	o.EvidenceKinds = []string{"d/attempt"}
	o.Live = new(Live)
	o.Live.Store(DefaultOptions()) // no EvidenceKinds
	p := New(o)
	f := finding("s", 60, "f1")
	f.Kind = "attempt"
	if c, ok := p.Decide(f, &models.Event{AgentID: "a", SessionID: "s"}, nil); ok {
		t.Fatalf("evidence commanded %s after a reload", c.Action)
	}
}
