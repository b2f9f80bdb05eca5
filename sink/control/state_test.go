package control

import (
	"testing"

	"github.com/tetherhq/tether/models"
)

func TestStateApply(t *testing.T) {
	cmd := func(agent string, a models.Action, scope models.Scope) models.ContainmentCommand {
		return models.ContainmentCommand{AgentID: agent, SessionID: "s", CredentialID: "cred-" + agent, Action: a, Scope: scope}
	}
	type check struct {
		agent                     string
		halted, approval, stopped bool
	}
	tests := []struct {
		name   string
		spawn  [][2]string
		cmds   []models.ContainmentCommand
		checks []check
	}{
		{"halt stops only the agent", [][2]string{{"p", "c"}}, []models.ContainmentCommand{cmd("p", models.ActionHaltAgent, models.ScopeAgent)},
			[]check{{"p", true, false, true}, {"c", false, false, false}}},
		{"lineage halt stops every descendant", [][2]string{{"p", "c"}, {"c", "g"}, {"x", "y"}}, []models.ContainmentCommand{cmd("p", models.ActionHaltLineage, models.ScopeLineage)},
			[]check{{"p", true, false, true}, {"c", true, false, true}, {"g", true, false, true}, {"y", false, false, false}}},
		{"agent clear keeps the sub-agents' own halts", [][2]string{{"p", "c"}}, []models.ContainmentCommand{
			cmd("c", models.ActionHaltAgent, models.ScopeAgent), cmd("p", models.ActionHaltLineage, models.ScopeLineage), cmd("p", models.ActionClear, models.ScopeAgent)},
			[]check{{"p", false, false, false}, {"c", true, false, true}}},
		{"lineage clear lifts the subtree", [][2]string{{"p", "c"}}, []models.ContainmentCommand{
			cmd("c", models.ActionHaltAgent, models.ScopeAgent), cmd("p", models.ActionHaltLineage, models.ScopeLineage), cmd("p", models.ActionClear, models.ScopeLineage)},
			[]check{{"p", false, false, false}, {"c", false, false, false}}},
		{"demotion gates sensitive actions", nil, []models.ContainmentCommand{cmd("a", models.ActionDemote, models.ScopeAgent)},
			[]check{{"a", false, true, false}}},
		{"suspension stops the session only", nil, []models.ContainmentCommand{cmd("a", models.ActionSuspendSession, models.ScopeSession)},
			[]check{{"a", false, false, true}}},
		{"a spawn cycle is ignored", [][2]string{{"p", "c"}, {"c", "p"}}, []models.ContainmentCommand{cmd("c", models.ActionHaltLineage, models.ScopeLineage)},
			[]check{{"c", true, false, true}, {"p", false, false, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState()
			for _, sp := range tt.spawn {
				s.Spawned(sp[0], sp[1])
			}
			for _, c := range tt.cmds {
				s.Apply(c)
			}
			for _, c := range tt.checks {
				if got := s.Halted(c.agent); got != c.halted {
					t.Errorf("Halted(%s) = %v, want %v", c.agent, got, c.halted)
				}
				if got := s.NeedsApproval(c.agent); got != c.approval {
					t.Errorf("NeedsApproval(%s) = %v, want %v", c.agent, got, c.approval)
				}
				if got := s.Stopped(c.agent, "s"); got != c.stopped {
					t.Errorf("Stopped(%s, s) = %v, want %v", c.agent, got, c.stopped)
				}
			}
		})
	}
	s := NewState()
	s.Apply(cmd("a", models.ActionRevokeCredential, models.ScopeCredential))
	if !s.Revoked("cred-a") || s.Revoked("cred-b") {
		t.Error("revocation not tracked per credential")
	}
	s.Apply(models.ContainmentCommand{AgentID: "a", Action: models.ActionDemote, TargetAutonomy: models.AutonomyIntern})
	if l, ok := s.Autonomy("a"); !ok || l != models.AutonomyIntern {
		t.Errorf("Autonomy(a) = %s, %v; want intern", l, ok)
	}
}
