package containment

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/detector/internal/lru"
	"github.com/tetherhq/tether/models"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func finding(session string, sev uint8, id string) *models.Finding {
	return &models.Finding{ID: id, Time: t0, AgentID: "a", SessionID: session, Detector: "d", Kind: "k", Severity: sev, Explanation: "why"}
}

func TestDecideThresholdsByAutonomy(t *testing.T) {
	tests := []struct {
		name       string
		autonomy   models.Autonomy // of the registered agent; "" = unregistered
		eventLevel models.Autonomy // self-reported on the event
		credential string
		severity   uint8
		want       models.Action // "" = no command
		wantTarget models.Autonomy
	}{
		{"principal below review", models.AutonomyPrincipal, "", "", 49, "", ""},
		{"principal review at 50", models.AutonomyPrincipal, "", "", 50, models.ActionReview, ""},
		{"principal approval at 70, demoted", models.AutonomyPrincipal, "", "", 70, models.ActionRequireApproval, models.AutonomySenior},
		{"principal suspend at 85", models.AutonomyPrincipal, "", "", 85, models.ActionSuspendSession, models.AutonomySenior},
		{"principal revoke at 95 with credential", models.AutonomyPrincipal, "", "cred", 95, models.ActionRevokeCredential, models.AutonomySenior},
		{"principal 95 without credential suspends", models.AutonomyPrincipal, "", "", 95, models.ActionSuspendSession, models.AutonomySenior},
		{"senior review at 45", models.AutonomySenior, "", "", 45, models.ActionReview, ""},
		{"senior 44 nothing", models.AutonomySenior, "", "", 44, "", ""},
		{"junior approval at 60", models.AutonomyJunior, "", "", 60, models.ActionRequireApproval, models.AutonomyIntern},
		{"intern review at 35", models.AutonomyIntern, "", "", 35, models.ActionReview, ""},
		{"intern 34 nothing", models.AutonomyIntern, "", "", 34, "", ""},
		{"intern approval at 55, not demoted below intern", models.AutonomyIntern, "", "", 55, models.ActionRequireApproval, ""},
		{"intern suspend at 70", models.AutonomyIntern, "", "cred", 70, models.ActionSuspendSession, ""},
		{"intern revoke at 80", models.AutonomyIntern, "", "cred", 80, models.ActionRevokeCredential, ""},
		{"unregistered treated as intern", "", "", "", 35, models.ActionReview, ""},
		{"unregistered uses self-reported level", "", models.AutonomyPrincipal, "", 35, "", ""},
		{"manifest overrides self-reported level", models.AutonomyIntern, models.AutonomyPrincipal, "", 35, models.ActionReview, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(DefaultOptions())
			var agent *models.AgentSpec
			if tt.autonomy != "" {
				agent = &models.AgentSpec{ID: "a", Autonomy: tt.autonomy}
			}
			ev := &models.Event{AgentID: "a", SessionID: "s", Autonomy: tt.eventLevel, CredentialID: tt.credential}
			c, ok := p.Decide(finding("s", tt.severity, "f1"), ev, agent)
			if tt.want == "" {
				if ok {
					t.Fatalf("want no command, got %s", c.Action)
				}
				return
			}
			if !ok || c.Action != tt.want {
				t.Fatalf("got %q (ok=%v), want %q", c.Action, ok, tt.want)
			}
			if c.TargetAutonomy != tt.wantTarget {
				t.Errorf("target autonomy %q, want %q", c.TargetAutonomy, tt.wantTarget)
			}
			if (c.Action == models.ActionRevokeCredential) != (c.CredentialID != "") {
				t.Errorf("credential %q on %s", c.CredentialID, c.Action)
			}
			if !c.IssuedAt.Equal(t0) || !c.ExpiresAt.Equal(t0.Add(time.Hour)) {
				t.Errorf("issued %v expires %v, want event time and +1h", c.IssuedAt, c.ExpiresAt)
			}
			if len(c.FindingIDs) != 1 || c.FindingIDs[0] != "f1" || c.Reason == "" {
				t.Errorf("command not explained by its finding: %+v", c)
			}
		})
	}
}

func TestDecideNoRepeatedWeakerCommands(t *testing.T) {
	agent := &models.AgentSpec{ID: "a", Autonomy: models.AutonomyPrincipal}
	ev := &models.Event{AgentID: "a", SessionID: "s"}
	steps := []struct {
		session  string
		severity uint8
		forget   bool // forget the session before this step
		want     models.Action
	}{
		{"s", 50, false, models.ActionReview},
		{"s", 55, false, ""}, // same action again
		{"s", 85, false, models.ActionSuspendSession},
		{"s", 70, false, ""}, // weaker
		{"s", 85, false, ""}, // same
		{"other", 50, false, models.ActionReview},
		{"s", 50, true, models.ActionReview}, // forgotten (session ended)
	}
	p := New(DefaultOptions())
	for i, st := range steps {
		if st.forget {
			p.Forget(st.session)
		}
		c, ok := p.Decide(finding(st.session, st.severity, "f"), ev, agent)
		got := models.Action("")
		if ok {
			got = c.Action
		}
		if got != st.want {
			t.Errorf("step %d (session %s, severity %d): got %q, want %q", i, st.session, st.severity, got, st.want)
		}
	}
}

func TestDecideDeterministicIDs(t *testing.T) {
	ev := &models.Event{AgentID: "a", SessionID: "s", CredentialID: "c"}
	decide := func(sev uint8, fid string) string {
		c, ok := New(DefaultOptions()).Decide(finding("s", sev, fid), ev, nil)
		if !ok {
			t.Fatalf("no command at severity %d", sev)
		}
		return c.ID
	}
	a, b := decide(90, "f1"), decide(90, "f1")
	if a == "" || a != b {
		t.Errorf("replay ids differ: %q vs %q", a, b)
	}
	tests := []struct {
		name string
		id   string
	}{
		{"other finding", decide(90, "f2")},
		{"other action", decide(40, "f1")},
	}
	for _, tt := range tests {
		if tt.id == a {
			t.Errorf("%s: id %q collides", tt.name, tt.id)
		}
	}
}

func TestDecideDisabledThresholdsAndMemoryBound(t *testing.T) {
	opts := DefaultOptions()
	opts.ReviewAt = 0
	opts.MaxSessions = 2
	p := New(opts)
	ev := &models.Event{AgentID: "a"}
	agent := &models.AgentSpec{ID: "a", Autonomy: models.AutonomyPrincipal}
	if c, ok := p.Decide(finding("s", 60, "f"), ev, agent); ok {
		t.Errorf("review disabled, got %s", c.Action)
	}
	for _, s := range []string{"s1", "s2", "s3"} {
		if _, ok := p.Decide(finding(s, 75, "f"), ev, agent); !ok {
			t.Fatalf("session %s: no command", s)
		}
	}
	if p.issued.Len() > opts.MaxSessions || p.Evictions() != 1 {
		t.Errorf("remembers %d sessions (bound %d), %d evicted (want 1)", p.issued.Len(), opts.MaxSessions, p.Evictions())
	}
	// The most recently commanded sessions are kept, not cleared: s2 and s3
	// are not re-commanded for the same action.
	for _, s := range []string{"s2", "s3"} {
		if c, ok := p.Decide(finding(s, 75, "f"), ev, agent); ok {
			t.Errorf("session %s re-commanded %s after the table filled", s, c.Action)
		}
	}
}

func TestRateLimits(t *testing.T) {
	opts := DefaultOptions()
	opts.AgentBurst, opts.AgentPerMinute = 2, 1
	opts.FleetBurst, opts.FleetPerMinute = 3, 6
	type step struct {
		agent, session string
		at             time.Duration // after t0
		want           bool          // a command is issued
		held           uint64        // Held() after the step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"per agent: burst, then refill in event time", []step{
			{"a", "s1", 0, true, 0},
			{"a", "s2", 0, true, 0},
			{"a", "s3", 0, false, 1},                // agent bucket empty
			{"a", "s3", 30 * time.Second, false, 2}, // half a token
			{"a", "s3", time.Minute, true, 2},       // held command issued on a later finding
			{"a", "s3", time.Minute, false, 2},      // already commanded: not held, not issued
		}},
		{"fleet-wide across agents", []step{
			{"a", "s1", 0, true, 0},
			{"b", "s2", 0, true, 0},
			{"c", "s3", 0, true, 0},
			{"d", "s4", 0, false, 1}, // fleet bucket empty, d's own is full
			{"d", "s4", 10 * time.Second, true, 1},
		}},
		{"a held command takes no token", []step{
			{"a", "s1", 0, true, 0},
			{"a", "s2", 0, true, 0},
			{"a", "s3", 0, false, 1},
			{"b", "s4", 0, true, 1}, // the fleet still has its third token
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New(opts)
			for i, st := range tt.steps {
				f := finding(st.session, 60, "f"+st.session)
				f.AgentID, f.Time = st.agent, t0.Add(st.at)
				ev := &models.Event{AgentID: st.agent, SessionID: st.session}
				_, ok := p.Decide(f, ev, nil)
				if ok != st.want || p.Held() != st.held {
					t.Fatalf("step %d: issued %v held %d, want %v %d", i, ok, p.Held(), st.want, st.held)
				}
			}
		})
	}
}

func TestHeldSummary(t *testing.T) {
	opts := DefaultOptions()
	opts.AgentBurst, opts.FleetBurst, opts.FleetPerMinute = 0, 1, 1
	p := New(opts)
	for i := range 20 {
		f := finding(fmt.Sprint("s", i), 90, fmt.Sprint("f", i))
		f.AgentID, f.EvidenceIDs = fmt.Sprint("agent-", i), []string{fmt.Sprint("ev-", i)}
		p.Decide(f, &models.Event{AgentID: f.AgentID, SessionID: f.SessionID, CredentialID: "c"}, nil)
	}
	if p.Held() != 19 {
		t.Fatalf("held %d, want 19", p.Held())
	}
	if _, ok := p.HeldSummary(t0.Add(59 * time.Second)); ok {
		t.Fatal("summary before the window closed")
	}
	snap, err := p.MarshalState() // a pending summary survives a checkpoint
	if err != nil {
		t.Fatal(err)
	}
	r := New(opts)
	if err := r.UnmarshalState(snap); err != nil {
		t.Fatal(err)
	}
	for _, q := range []*Policy{p, r} {
		f, ok := q.HeldSummary(t0.Add(time.Minute))
		if !ok || f.Kind != KindRateLimited || f.Features[0].Observed != 19 || f.AgentID != "agent-1" || f.SessionID != "s1" ||
			len(f.EvidenceIDs) != maxHeldSample || f.EvidenceIDs[0] != "ev-1" || !strings.Contains(f.Explanation, "revoke_credential") {
			t.Fatalf("summary %v %+v", ok, f)
		}
		if _, again := q.HeldSummary(t0.Add(2 * time.Minute)); again {
			t.Fatal("summary emitted twice")
		}
		if c, ok := q.Decide(&f, &models.Event{}, nil); ok {
			t.Fatalf("policy commanded on its own finding: %+v", c)
		}
	}
}

func TestMemoryBudgetEvictsLeastRecent(t *testing.T) {
	decide := func(limit int64) (*Policy, *lru.Meter) {
		p := New(DefaultOptions())
		m := lru.NewMeter(limit, nil)
		p.SetMeter(m)
		for i := range 100 {
			f := finding(fmt.Sprint("s", i), 60, "f")
			f.AgentID = fmt.Sprint("a", i)
			p.Decide(f, &models.Event{}, nil)
			m.Settle()
		}
		return p, m
	}
	all, m := decide(0)
	if all.issued.Len() != 100 || all.Evictions() != 0 || m.Bytes() != all.issued.Bytes()+all.agents.Bytes() || m.Bytes() == 0 {
		t.Fatalf("without a limit: %d sessions, %d evictions, %d bytes", all.issued.Len(), all.Evictions(), m.Bytes())
	}
	p, lm := decide(m.Bytes() / 10)
	if n := p.issued.Len(); n == 0 || n > 10 || p.issued.Peek("s99") == nil || p.issued.Peek("s0") != nil || lm.Bytes() > m.Bytes()/10 {
		t.Fatalf("kept %d sessions (%d bytes), want the ≤ 10 most recent", n, lm.Bytes())
	}
	if p.Evictions() == 0 {
		t.Fatal("evictions not counted")
	}
}

func TestFleetReserveKeptForStrongerActions(t *testing.T) {
	opts := DefaultOptions()
	opts.AgentBurst, opts.FleetBurst, opts.FleetPerMinute, opts.FleetReserve = 0, 5, 1, 2
	p := New(opts)
	principal := &models.AgentSpec{ID: "a", Autonomy: models.AutonomyPrincipal}
	decide := func(session string, sev uint8) bool {
		_, ok := p.Decide(finding(session, sev, "f"+session), &models.Event{AgentID: "a", SessionID: session, CredentialID: "c"}, principal)
		return ok
	}
	var reviews int
	for i := range 10 {
		if decide(fmt.Sprint("r", i), 50) {
			reviews++
		}
	}
	if reviews != 3 || p.Held() != 7 {
		t.Fatalf("%d reviews issued, %d held; want 3 (5 − reserve 2), 7", reviews, p.Held())
	}
	if !decide("x1", 95) || !decide("x2", 85) || decide("x3", 70) {
		t.Fatal("the reserve did not admit exactly two stronger actions")
	}
}

func TestHeldSummaryOutOfOrderTimes(t *testing.T) {
	opts := DefaultOptions()
	opts.AgentBurst, opts.FleetBurst, opts.FleetPerMinute, opts.FleetReserve = 0, 1, 0.001, 0
	p := New(opts)
	summaries := 0
	for i := range 50 {
		// Commands alternate between two minutes of event time, as
		// interleaved partitions of a producer may deliver them.
		at := t0.Add(time.Duration(i%2) * 2 * time.Minute)
		f := finding(fmt.Sprint("s", i), 90, "f")
		f.Time = at
		p.Decide(f, &models.Event{AgentID: "a", SessionID: f.SessionID}, nil)
		if _, ok := p.HeldSummary(at); ok {
			summaries++
		}
	}
	if p.Held() != 49 || summaries > 2 {
		t.Fatalf("%d held in %d summaries; want 49 in at most 2", p.Held(), summaries)
	}
}
