package incident

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/models/triage"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/memstore"
)

var t0 = time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)

// fixture: agent a, session s1 (spawning sub-agent a.w in s1-w) with an
// alert 1.5 s after its first evidence event and a command; session s2 of
// the same agent and session b1 of agent b, each with a finding.
func fixture(t *testing.T) (*memstore.Store, models.Finding) {
	t.Helper()
	inv, err := models.ParseInventory(strings.NewReader(`agents:
  - id: a
    owner: ops@x
    purpose: support
    autonomy: senior
    tools:
      - {name: web.get, labels: [untrusted_content]}
      - {name: crm.read, labels: [private_data]}
      - {name: mail.send, labels: [public_sink]}
`))
	if err != nil {
		t.Fatal(err)
	}
	o := memstore.DefaultOptions()
	o.Inventory = inv
	s := memstore.New(o)
	ev := func(id, agent, session string, step int, ms int, kind models.Kind) *models.Event {
		return &models.Event{ID: id, Kind: kind, Time: t0.Add(time.Duration(ms) * time.Millisecond), AgentID: agent, SessionID: session, Step: step}
	}
	spawn := ev("e3", "a", "s1", 3, 900, models.KindAgentSpawn)
	spawn.ChildAgentID, spawn.ChildSessionID = "a.w", "s1-w"
	events := []*models.Event{ev("e1", "a", "s1", 1, 0, models.KindToolResult), ev("e2", "a", "s1", 2, 1500, models.KindToolCall), spawn,
		ev("w1", "a.w", "s1-w", 4, 1000, models.KindToolCall), ev("x1", "a", "s2", 1, 5000, models.KindToolCall), ev("y1", "b", "b1", 1, 6000, models.KindToolCall)}
	fnd := func(agent, session string, step int, ms int, sev uint8, evidence ...string) models.Finding {
		f := models.Finding{Time: t0.Add(time.Duration(ms) * time.Millisecond), AgentID: agent, RootAgentID: "a", SessionID: session, Detector: "flow",
			Kind: "untrusted_to_sink", Severity: sev, Step: step, EvidenceIDs: evidence, Explanation: "<script>alert(1)</script>"}
		f.SetID()
		return f
	}
	top := fnd("a", "s1", 2, 1500, 90, "e1", "e2")
	findings := []models.Finding{top, fnd("a.w", "s1-w", 4, 1000, 40, "w1"), fnd("a", "s2", 1, 5000, 60, "x1"), fnd("b", "b1", 1, 6000, 70, "y1")}
	cmd := models.ContainmentCommand{AgentID: "a", SessionID: "s1", Action: models.ActionSuspendSession, Severity: 90, FindingIDs: []string{top.ID}, IssuedAt: top.Time.Add(20 * time.Millisecond)}
	cmd.SetID()
	other := models.ContainmentCommand{AgentID: "b", SessionID: "b1", Action: models.ActionReview, FindingIDs: []string{findings[3].ID}, IssuedAt: t0.Add(7 * time.Second)}
	other.SetID()
	if err := s.Write(context.Background(), &sink.Batch{Events: events, Findings: findings, Commands: []models.ContainmentCommand{cmd, other}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetTriage(context.Background(), triage.Record{FindingID: top.ID, Status: triage.StatusAcknowledged, By: "ana", At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	return s, top
}

func TestBuild(t *testing.T) {
	s, top := fixture(t)
	tests := []struct {
		name                       string
		scope                      Scope
		sessions                   string
		findings, commands, triage int
		mttd, mttc                 int64
	}{
		{"finding: its session and the sub-agent's", Scope{FindingID: top.ID}, "[s1 s1-w]", 2, 1, 1, 1500, 1520},
		{"agent: its sessions in memory", Scope{AgentID: "a"}, "[s2 s1 s1-w]", 3, 1, 1, 1500, 1520},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inc, err := Build(s, tt.scope, t0.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			sum := inc.Summary
			if got := strings.Join(sum.Sessions, " "); "["+got+"]" != tt.sessions || len(inc.Findings) != tt.findings || len(inc.Commands) != tt.commands || len(inc.Triage) != tt.triage {
				t.Errorf("sessions %v, %d findings, %d commands, %d triage; want %s, %d, %d, %d", sum.Sessions, len(inc.Findings), len(inc.Commands), len(inc.Triage), tt.sessions, tt.findings, tt.commands, tt.triage)
			}
			if sum.MTTDMillis != tt.mttd || sum.MTTCMillis != tt.mttc {
				t.Errorf("MTTD %d ms, MTTC %d ms; want %d, %d", sum.MTTDMillis, sum.MTTCMillis, tt.mttd, tt.mttc)
			}
			for _, e := range inc.Timeline {
				if e.SessionID == "b1" || e.AgentID == "b" {
					t.Errorf("timeline has %s %s of another agent's session", e.Type, e.ID)
				}
			}
			var html strings.Builder
			if err := inc.WriteHTML(&html); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(html.String(), "<script>") || !strings.Contains(html.String(), "&lt;script&gt;") {
				t.Error("the HTML page does not escape finding text")
			}
		})
	}
	if _, err := Build(s, Scope{}, t0); !errors.Is(err, ErrScope) {
		t.Errorf("empty scope: %v", err)
	}
	if _, err := Build(s, Scope{FindingID: "nope"}, t0); !errors.Is(err, memstore.ErrNotFound) {
		t.Errorf("unknown finding: %v", err)
	}
}

func TestCatalogue(t *testing.T) {
	s, _ := fixture(t)
	c := NewCatalogue(s.Inventory(), t0)
	if len(c.Agents) != 1 || len(c.Agents[0].Capabilities) != 3 || len(c.Agents[0].ToxicPaths) != 2 || c.Agents[0].ToxicPaths[0].Designed {
		t.Errorf("catalogue %+v, want agent a with 3 capabilities and 2 emergent toxic paths", c.Agents)
	}
	if empty := NewCatalogue(nil, t0); empty.Agents == nil {
		t.Error("no inventory: agents must be an empty list")
	}
}
