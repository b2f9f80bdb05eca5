package containment

import (
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
)

func TestEscalateHaltsAgentOrLineage(t *testing.T) {
	tests := []struct {
		name     string
		autonomy models.Autonomy
		spawned  bool
		severity uint8
		want     models.Action // "" = none
	}{
		{"principal below halt", models.AutonomyPrincipal, false, 94, ""},
		{"principal halts at 95", models.AutonomyPrincipal, false, 95, models.ActionHaltAgent},
		{"intern halts at 80", models.AutonomyIntern, false, 80, models.ActionHaltAgent},
		{"intern 79 not halted", models.AutonomyIntern, false, 79, ""},
		{"agent with sub-agents: lineage", models.AutonomySenior, true, 95, models.ActionHaltLineage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(DefaultOptions())
			agent := &models.AgentSpec{ID: "a", Autonomy: tt.autonomy}
			if tt.spawned {
				p.Observe(&models.Event{Kind: models.KindAgentSpawn, AgentID: "a", ChildAgentID: "a-sub"})
			}
			f := finding("s", tt.severity, "f1")
			f.RootAgentID = "a"
			c, ok := p.Escalate(f, &models.Event{AgentID: "a", SessionID: "s"}, agent)
			if tt.want == "" {
				if ok {
					t.Fatalf("want no halt, got %+v", c)
				}
				return
			}
			if !ok || c.Action != tt.want {
				t.Fatalf("got %v %+v, want %s", ok, c, tt.want)
			}
			if c.TargetAutonomy != models.AutonomyIntern || c.AutonomyBefore != tt.autonomy || c.Scope != models.ScopeOf(tt.want) || c.RootAgentID != "a" || c.ID != c.ComputeID() {
				t.Fatalf("command %+v: want demotion to intern from %s, scope %s, root a, content id", c, tt.autonomy, models.ScopeOf(tt.want))
			}
			// Once per agent.
			if c2, ok := p.Escalate(finding("s2", 99, "f2"), &models.Event{AgentID: "a", SessionID: "s2"}, agent); ok {
				t.Fatalf("second halt issued: %+v", c2)
			}
		})
	}
}

func TestLineageRateLimit(t *testing.T) {
	o := DefaultOptions()
	o.AgentBurst, o.FleetBurst = 0, 0
	o.LineageBurst, o.LineagePerMinute = 3, 1
	p := New(o)
	issued := 0
	for i := range 10 { // ten sub-agents of one root, one session each
		f := finding("s"+string(rune('0'+i)), 60, "f")
		f.AgentID, f.RootAgentID = "sub"+string(rune('0'+i)), "root"
		if _, ok := p.Decide(f, &models.Event{AgentID: f.AgentID, SessionID: f.SessionID}, nil); ok {
			issued++
		}
	}
	if issued != 3 || p.Held() != 7 {
		t.Fatalf("issued %d, held %d; want 3 and 7 (lineage burst 3)", issued, p.Held())
	}
	// Another lineage is not affected.
	f := finding("other", 60, "f")
	f.RootAgentID = "root2"
	if _, ok := p.Decide(f, &models.Event{AgentID: "a", SessionID: "other"}, nil); !ok {
		t.Fatal("another lineage was held back")
	}
}

func TestBreakerTripsAndStaysTripped(t *testing.T) {
	o := DefaultOptions()
	o.AgentBurst = 0
	o.FleetBurst, o.FleetPerMinute, o.FleetReserve = 5, 5, 0
	o.BreakerHeld = 20
	br := NewBreaker()
	o.Breaker = br
	p := New(o)
	ev := func(s string) *models.Event { return &models.Event{AgentID: "a", SessionID: s} }
	issued := 0
	var tripped []models.Finding
	for i := range 100 {
		s := "s" + time.Duration(i).String()
		f := finding(s, 60, "f"+s)
		if _, ok := p.Decide(f, ev(s), nil); ok {
			issued++
		}
		if bf, ok := p.BreakerFinding(); ok {
			tripped = append(tripped, bf)
		}
	}
	if issued != 5 || !br.Tripped() || len(tripped) != 1 || tripped[0].Kind != KindBreakerTripped || tripped[0].Severity != models.SeverityCritical {
		t.Fatalf("issued %d, tripped %v, breaker findings %+v; want 5 issued and one critical breaker finding", issued, br.Tripped(), tripped)
	}
	// Tokens come back an hour later, but the breaker stays tripped.
	late := finding("late", 99, "late")
	late.Time = t0.Add(time.Hour)
	if c, ok := p.Decide(late, ev("late"), nil); ok {
		t.Fatalf("command %s issued while the breaker is tripped", c.Action)
	}
	if !br.Clear() || br.Tripped() {
		t.Fatal("Clear did not close the breaker")
	}
	late2 := finding("late2", 99, "late2")
	late2.Time = t0.Add(time.Hour)
	if _, ok := p.Decide(late2, ev("late2"), nil); !ok {
		t.Fatal("no command after the breaker was cleared")
	}
}

func TestRulesAndLive(t *testing.T) {
	o := DefaultOptions()
	o.Live = new(Live)
	p := New(o)
	f := finding("s", 60, "f1")
	f.Detector, f.Kind = "flow", "exfiltration"
	junior := &models.AgentSpec{ID: "a", Autonomy: models.AutonomyJunior}
	ev := &models.Event{AgentID: "a", SessionID: "s"}
	if c, ok := p.Decide(f, ev, junior); !ok || c.Action != models.ActionRequireApproval {
		t.Fatalf("thresholds only: %v %s, want require_approval", ok, c.Action)
	}
	if _, ok := p.Escalate(f, ev, junior); ok {
		t.Fatal("halt without a rule")
	}
	// Hot reload: exfiltration by a junior halts it; a rule for seniors
	// does not apply.
	live := DefaultOptions()
	live.Rules = []Rule{
		{Kind: "flow/exfiltration", MinSeverity: 60, Autonomy: []models.Autonomy{models.AutonomyJunior}, Action: models.ActionHaltAgent},
		{Kind: "exfiltration", MinSeverity: 10, Autonomy: []models.Autonomy{models.AutonomySenior}, Action: models.ActionSuspendSession},
	}
	if err := live.Validate(); err != nil {
		t.Fatal(err)
	}
	o.Live.Store(live)
	f2 := finding("s2", 60, "f2")
	f2.Detector, f2.Kind = "flow", "exfiltration"
	ev2 := &models.Event{AgentID: "a", SessionID: "s2"}
	if c, ok := p.Decide(f2, ev2, junior); !ok || c.Action != models.ActionRequireApproval {
		t.Fatalf("senior rule applied to a junior: %v %s", ok, c.Action)
	}
	if c, ok := p.Escalate(f2, ev2, junior); !ok || c.Action != models.ActionHaltAgent {
		t.Fatalf("rule halt: %v %+v", ok, c)
	}
	bad := DefaultOptions()
	bad.Rules = []Rule{{Kind: "x", Action: models.ActionClear}}
	if bad.Validate() == nil {
		t.Fatal("a clear rule validated")
	}
}

func TestRepeatedSuspensionsHalt(t *testing.T) {
	p := New(DefaultOptions())
	principal := &models.AgentSpec{ID: "a", Autonomy: models.AutonomyPrincipal}
	var halts []models.ContainmentCommand
	for i, s := range []string{"s1", "s2", "s3"} {
		f := finding(s, 86, "f"+s) // suspends a principal, below its halt (95)
		f.Time = t0.Add(time.Duration(i) * time.Minute)
		ev := &models.Event{AgentID: "a", SessionID: s}
		if c, ok := p.Decide(f, ev, principal); !ok || c.Action != models.ActionSuspendSession {
			t.Fatalf("session %s: %v %s, want suspend_session", s, ok, c.Action)
		}
		if c, ok := p.Escalate(f, ev, principal); ok {
			halts = append(halts, c)
		}
	}
	if len(halts) != 1 || halts[0].Action != models.ActionHaltAgent || halts[0].FindingIDs[0] != "fs2" {
		t.Fatalf("halts %+v: want one halt_agent at the second suspension", halts)
	}
	// The strikes survive a checkpoint.
	b, err := p.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	q := New(DefaultOptions())
	if err := q.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	if got := q.agents.Peek("a"); got == nil || got.strikes != 3 {
		t.Fatalf("restored strikes %+v, want 3", got)
	}
}

func TestSpawnAfterHaltHaltsLineage(t *testing.T) {
	p := New(DefaultOptions())
	agent := &models.AgentSpec{ID: "a", Autonomy: models.AutonomyIntern}
	f := finding("s", 99, "f1")
	if c, ok := p.Escalate(f, &models.Event{AgentID: "a", SessionID: "s"}, agent); !ok || c.Action != models.ActionHaltAgent {
		t.Fatalf("%v %+v, want halt_agent", ok, c)
	}
	spawn := &models.Event{Kind: models.KindAgentSpawn, AgentID: "a", ChildAgentID: "a-sub", Time: t0.Add(time.Second)}
	c, ok := p.Observe(spawn)
	if !ok || c.Action != models.ActionHaltLineage || c.Scope != models.ScopeLineage || c.ID != c.ComputeID() || c.TargetAutonomy != models.AutonomyIntern {
		t.Fatalf("%v %+v, want a lineage halt", ok, c)
	}
	if c2, ok := p.Observe(spawn); ok {
		t.Fatalf("second lineage halt %+v", c2)
	}
	if _, ok := p.Observe(&models.Event{Kind: models.KindAgentSpawn, AgentID: "b", ChildAgentID: "b-sub"}); ok {
		t.Fatal("a spawn by an agent that is not halted halted its lineage")
	}
}
