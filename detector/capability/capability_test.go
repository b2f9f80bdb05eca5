package capability

import (
	"strings"
	"testing"

	"github.com/tetherhq/tether/models"
)

func agent(id string, flows []string, tools ...models.ToolSpec) models.AgentSpec {
	return models.AgentSpec{ID: id, Owner: "o", Purpose: "p", Tools: tools, DesignedFlows: flows}
}

func tool(name string, labels ...models.Label) models.ToolSpec {
	return models.ToolSpec{Name: name, Labels: labels}
}

func TestObserve(t *testing.T) {
	inv := &models.Inventory{Agents: []models.AgentSpec{
		agent("trifecta", nil, tool("in", models.LabelUntrustedContent), tool("db", models.LabelPrivateData), tool("out", models.LabelPublicSink)),
		agent("designed", []string{PathPrivateToSink, flowUntrustedToSink},
			tool("in", models.LabelUntrustedContent), tool("db", models.LabelPrivateData), tool("out", models.LabelPublicSink)),
		agent("reader", nil, tool("db", models.LabelPrivateData)),
		agent("fetcher", nil, tool("web", models.LabelUntrustedContent)),
		agent("sender", nil, tool("out", models.LabelPublicSink)),
		agent("deleter", nil, tool("rm", models.LabelDestructive)),
	}}
	if err := inv.Index(); err != nil {
		t.Fatal(err)
	}
	type step struct {
		agent, child string
		want         []uint8 // severities emitted, in order
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"trifecta once per agent", []step{{"trifecta", "", []uint8{20, 15}}, {"trifecta", "", nil}}},
		{"designed by both pairwise flows", []step{{"designed", "", []uint8{5, 5}}}},
		{"no path: nothing", []step{{"reader", "", nil}, {"sender", "", nil}}},
		{"delegation adds a path once", []step{
			{"reader", "", nil}, {"reader", "sender", []uint8{15}}, {"reader", "sender", nil}}},
		{"delegation chain", []step{
			{"fetcher", "deleter", []uint8{15}}, {"reader", "fetcher", []uint8{15}}, {"reader", "sender", []uint8{20, 15}}}},
		{"unregistered child ignored", []step{{"reader", "ghost", nil}}},
		{"unregistered agent ignored", []step{{"ghost", "", nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(inv, DefaultOptions())
			for i, s := range tt.steps {
				ev := &models.Event{Kind: models.KindSessionStart, AgentID: s.agent}
				if s.child != "" {
					ev.Kind, ev.ChildAgentID = models.KindAgentSpawn, s.child
				}
				var got []uint8
				d.Observe(ev, inv.Agent(s.agent), func(f models.Finding) {
					if f.Kind != KindToxicPath || f.Severity >= models.AlertThreshold || !strings.Contains(f.Explanation, "->") {
						t.Errorf("step %d: bad finding %+v", i, f)
					}
					got = append(got, f.Severity)
				})
				if len(got) != len(s.want) {
					t.Fatalf("step %d: severities %v, want %v", i, got, s.want)
				}
				for j := range got {
					if got[j] != s.want[j] {
						t.Fatalf("step %d: severities %v, want %v", i, got, s.want)
					}
				}
			}
		})
	}
}

func TestExplanationNamesHops(t *testing.T) {
	inv := &models.Inventory{Agents: []models.AgentSpec{
		agent("p", nil, tool("db", models.LabelPrivateData)),
		agent("c", nil, tool("post", models.LabelPublicSink)),
	}}
	if err := inv.Index(); err != nil {
		t.Fatal(err)
	}
	d := New(inv, DefaultOptions())
	var expl string
	d.Observe(&models.Event{Kind: models.KindAgentSpawn, AgentID: "p", ChildAgentID: "c"}, inv.Agent("p"), func(f models.Finding) { expl = f.Explanation })
	for _, want := range []string{"emergent", PathPrivateToSink, "private_data via db", "public_sink via c/post"} {
		if !strings.Contains(expl, want) {
			t.Errorf("explanation %q lacks %q", expl, want)
		}
	}
}

func TestBounded(t *testing.T) {
	inv := &models.Inventory{}
	for _, id := range []string{"a", "b", "c"} {
		inv.Agents = append(inv.Agents, agent(id, nil, tool("db", models.LabelPrivateData)))
	}
	if err := inv.Index(); err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.MaxAgents = 2
	d := New(inv, opts)
	for _, id := range []string{"a", "b", "c"} {
		d.Observe(&models.Event{Kind: models.KindSessionStart, AgentID: id}, inv.Agent(id), func(models.Finding) {})
		if d.Tracked() > opts.MaxAgents {
			t.Fatalf("tracked %d agents, max %d", d.Tracked(), opts.MaxAgents)
		}
	}
	if d.Evictions() != 1 || d.agents.Peek("a") != nil || d.agents.Peek("c") == nil {
		t.Fatalf("%d evictions; want 1, of the least recently active agent a", d.Evictions())
	}
}
