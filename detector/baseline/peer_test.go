package baseline

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
)

// peerSpec returns a registered agent of peer group "ap" declaring tools.
func peerSpec(id string, tools ...string) *models.AgentSpec {
	a := &models.AgentSpec{ID: id, Purpose: "invoices", PeerGroup: "ap", Autonomy: models.AutonomySenior}
	for _, t := range tools {
		a.Tools = append(a.Tools, models.ToolSpec{Name: t})
	}
	return a
}

// warmPeers feeds two peers 150 tool calls each, cycling over tools.
func warmPeers(d *Detector, declared []string, tools ...string) {
	for _, p := range []string{"peer-1", "peer-2"} {
		spec := peerSpec(p, declared...)
		for i := range 150 {
			var c collector
			d.Observe(ev(p, "s-"+p, models.KindToolCall, tools[i%len(tools)], time.Duration(i)*10*time.Second), spec, c.emit)
		}
	}
}

func TestPeerGroupNewTool(t *testing.T) {
	declared := []string{"read", "match", "pay", "export", "rare"}
	tests := []struct {
		name      string
		opts      func(*Options)
		peerTools []string // cycled by the peers
		ownCalls  int      // calls of "read" by the fresh agent first
		ownAge    time.Duration
		tool      string
		want      bool
		wantText  string
	}{
		{name: "unknown to agent and peers, own table cold", peerTools: []string{"read", "match"}, ownCalls: 3, tool: "export", want: true, wantText: "judged against its peer group"},
		{name: "common peer tool, own table cold", peerTools: []string{"read", "match", "pay"}, ownCalls: 3, tool: "pay"},
		{name: "common peer tool, own table warm", peerTools: []string{"read", "match", "pay"}, ownCalls: 25, tool: "pay"},
		{name: "rare peer tool, own table warm", peerTools: append(repeat("read", 99), "rare"), ownCalls: 25, tool: "rare", want: true, wantText: "calls it in"},
		{name: "rare peer tool, own table cold", peerTools: append(repeat("read", 99), "rare"), ownCalls: 3, tool: "rare"},
		{name: "own-mature by operations: own table only", opts: func(o *Options) { o.OwnMatureOps = 3 }, peerTools: []string{"read", "match"}, ownCalls: 3, tool: "export"},
		{name: "own-mature by age: own table only", peerTools: []string{"read", "match", "pay"}, ownCalls: 25, ownAge: 8 * 24 * time.Hour, tool: "pay", want: true},
		{name: "peer groups disabled", opts: func(o *Options) { o.DisablePeerGroups = true }, peerTools: []string{"read", "match"}, ownCalls: 3, tool: "export"},
		{name: "too few peers", opts: func(o *Options) { o.PeerMinPeers = 3 }, peerTools: []string{"read", "match"}, ownCalls: 3, tool: "export"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			if tt.opts != nil {
				tt.opts(&o)
			}
			d := New(o)
			warmPeers(d, declared, tt.peerTools...)
			spec := peerSpec("fresh", declared...)
			var c collector
			at := time.Hour
			for i := range tt.ownCalls {
				d.Observe(ev("fresh", "n1", models.KindToolCall, "read", at+time.Duration(i)*time.Second), spec, c.emit)
			}
			d.Observe(ev("fresh", "n1", models.KindToolCall, tt.tool, at+tt.ownAge+time.Minute), spec, c.emit)
			got := c.kinds()[KindNewTool] == 1
			if got != tt.want {
				t.Fatalf("new_tool reported = %v, want %v (%v)", got, tt.want, c)
			}
			if tt.want {
				f := c[len(c)-1]
				if !strings.Contains(f.Explanation, tt.wantText) {
					t.Errorf("explanation %q lacks %q", f.Explanation, tt.wantText)
				}
				if f.Severity >= models.AlertThreshold {
					t.Errorf("declared tool: severity %d, want below %d", f.Severity, models.AlertThreshold)
				}
			}
		})
	}
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestPeerGroupRate(t *testing.T) {
	tests := []struct {
		name    string
		burst   int
		opts    func(*Options)
		wantMin uint8 // 0: no rate_spike
	}{
		{name: "burst against mature peers", burst: 40, wantMin: models.AlertThreshold},
		{name: "ordinary minute", burst: 8},
		{name: "peer groups disabled", burst: 40, opts: func(o *Options) { o.DisablePeerGroups = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			if tt.opts != nil {
				tt.opts(&o)
			}
			d := New(o)
			for _, p := range []string{"peer-1", "peer-2"} {
				spec := peerSpec(p, "read")
				for i := range 240 { // 6 a minute for 40 minutes
					var c collector
					d.Observe(ev(p, "s", models.KindToolCall, "read", time.Duration(i)*10*time.Second), spec, c.emit)
				}
			}
			spec := peerSpec("fresh", "read")
			var c collector
			for i := range tt.burst {
				d.Observe(ev("fresh", "n1", models.KindToolCall, "read", time.Hour+time.Duration(i)*time.Second), spec, c.emit)
			}
			var top uint8
			for _, f := range c {
				if f.Kind == KindRateSpike {
					top = max(top, f.Severity)
					if !strings.Contains(f.Explanation, "peer group") {
						t.Errorf("explanation %q does not name the peer group", f.Explanation)
					}
				}
			}
			if tt.wantMin == 0 && top > 0 || tt.wantMin > 0 && top < tt.wantMin {
				t.Fatalf("rate_spike severity %d, want ≥ %d (0: none); findings %v", top, tt.wantMin, c)
			}
		})
	}
}

func TestPeerGroupBounds(t *testing.T) {
	o := DefaultOptions()
	o.MaxPeerGroups, o.MaxToolsPerGroup, o.MaxAgents = 4, 8, 6
	d := New(o)
	var c collector
	for i := range 50 {
		a := &models.AgentSpec{ID: fmt.Sprintf("a%d", i), PeerGroup: fmt.Sprintf("g%d", i%10)}
		for j := range 20 {
			d.Observe(ev(a.ID, "s", models.KindToolCall, fmt.Sprintf("t%d", j), time.Duration(i*20+j)*time.Second), a, c.emit)
		}
	}
	if d.Groups() > o.MaxPeerGroups {
		t.Errorf("%d groups tracked, cap %d", d.Groups(), o.MaxPeerGroups)
	}
	members := 0
	for _, gp := range d.groups.All() {
		g := *gp
		if len(g.tools) > o.MaxToolsPerGroup {
			t.Errorf("group %s holds %d tools, cap %d", g.name, len(g.tools), o.MaxToolsPerGroup)
		}
		if g.members < 0 {
			t.Errorf("group %s has %d members", g.name, g.members)
		}
		members += g.members
	}
	if members > d.Tracked() {
		t.Errorf("%d group members but %d tracked agents", members, d.Tracked())
	}
	// An unregistered agent has no peer group.
	d.Observe(ev("stray", "s", models.KindToolCall, "x", time.Hour), nil, c.emit)
	if st := *d.agents.Peek("stray"); st.grp != nil {
		t.Errorf("unregistered agent joined group %q", st.grp.name)
	}
}

// TestPeerGroupLongNames: a group or tool name longer than the stored limit
// is found again under its clipped key instead of creating a new group or
// tool entry on every event.
func TestPeerGroupLongNames(t *testing.T) {
	d := New(DefaultOptions())
	long := strings.Repeat("g", 3*maxProfileString)
	tool := strings.Repeat("t", 3*maxProfileString)
	for i := range 5 {
		agent := &models.AgentSpec{ID: fmt.Sprintf("a%d", i), PeerGroup: long}
		st := &agentState{}
		g := d.joinGroup(st, agent)
		g.addCall(tool, 256)
	}
	if d.groups.Len() != 1 {
		t.Fatalf("%d peer groups for one long name, want 1", d.groups.Len())
	}
	for _, gp := range d.groups.All() {
		g := *gp
		if len(g.tools) != 1 || g.count(tool) != 5 || g.members != 5 {
			t.Fatalf("group has %d tools, count %d, members %d; want 1 tool counted 5 times by 5 members", len(g.tools), g.count(tool), g.members)
		}
	}
}
