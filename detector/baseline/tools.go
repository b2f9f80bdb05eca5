package baseline

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat"

	"github.com/tetherhq/tether/models"
)

// maxToolCalls is where tool counts are halved, so counters never overflow
// and old habits slowly fade.
const maxToolCalls = 1 << 30

// Severities of new_tool by what the manifest says about the tool, plus a
// bonus for a surprising call.
//
// A tool the manifest declares was granted on purpose: its first use is a
// deviation from the agent's own history worth recording (and worth adding
// to other deviations of the same session), but not an alert on its own, so
// declared first uses stay below models.AlertThreshold whatever their
// labels and surprise (at most newToolDeclaredMax). An agent without a
// manifest has nothing vouching for the tool and keeps the higher scale.
const (
	newToolPlain                = 30 // declared, no risky label
	newToolSensitive            = 35 // declared private_data or untrusted_content
	newToolRisky                = 40 // declared destructive or public_sink
	newToolDeclaredBonus        = 5  // surprise bonus cap for declared tools
	newToolDeclaredMax          = models.AlertThreshold - 5
	newToolNoManifest           = 55 // the agent has no manifest (unregistered)
	newToolNoManifestBonus      = 15 // surprise bonus cap without a manifest
	newToolSurpriseOffset       = 3  // nats of surprise below which no bonus is added
	newToolSurprisePointsPerNat = 5
)

// findTool returns the index of name in st.tools, or -1.
func (st *agentState) findTool(name string) int {
	for i := range st.tools {
		if st.tools[i].name == name {
			return i
		}
	}
	return -1
}

// addTool appends name to the tool table, evicting the least used tool
// (the earliest among ties) when the table is full, and returns its index.
func (st *agentState) addTool(name string, limit int) int {
	if len(st.tools) >= limit {
		victim := 0
		for i := 1; i < len(st.tools); i++ {
			if st.tools[i].count < st.tools[victim].count {
				victim = i
			}
		}
		st.toolCalls -= int(st.tools[victim].count)
		st.tools = append(st.tools[:victim], st.tools[victim+1:]...)
	}
	st.tools = append(st.tools, toolStat{name: name})
	return len(st.tools) - 1
}

// surprise returns -log p(tool) in nats under the agent's tool frequencies
// with add-one (Laplace) smoothing over the known tools plus one unseen
// category: p = (count+1) / (calls + tools + 1).
func (st *agentState) surprise(count uint32) float64 {
	return -math.Log((float64(count) + 1) / float64(st.toolCalls+len(st.tools)+1))
}

// entropy returns the Shannon entropy (nats) of the agent's empirical tool
// distribution: the surprise of a typical call, the baseline for surprise.
func (st *agentState) entropy() float64 {
	if st.toolCalls == 0 {
		return 0
	}
	p := make([]float64, len(st.tools))
	for i, t := range st.tools {
		p[i] = float64(t.count) / float64(st.toolCalls)
	}
	return stat.Entropy(p)
}

// observeTool updates the agent's tool table with a tool_call and reports
// tools outside the manifest and, after warm-up, never-seen tools.
func (d *Detector) observeTool(st *agentState, ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
	name := ev.ToolName
	idx := st.findTool(name)
	var spec *models.ToolSpec
	if agent != nil {
		spec = agent.Tool(name)
	}
	isNew := idx < 0
	warm := st.toolCalls >= d.opts.MinToolCalls
	g := st.grp
	// In warm-up with a mature peer group, the group judges too.
	byPeers := g != nil && d.peerToolsMature(g) && !d.ownMature(st, ev.Time)
	report, unknownToPeers := false, false
	if isNew && !(agent != nil && spec == nil) {
		switch {
		case byPeers:
			pc := g.count(name)
			switch {
			case pc == 0:
				// Neither the agent nor any peer has called it.
				report, unknownToPeers = true, true
			case warm:
				// New to the agent: reported unless its peers use it commonly.
				report = float64(pc)/float64(g.toolCalls) < d.opts.PeerCommonShare
			}
		default:
			report = warm
		}
	}
	var newTool *models.Finding
	if report {
		// Judged against the distributions before this call.
		f := d.newToolFinding(st, ev, agent, spec, unknownToPeers)
		d.requestedCap(&f, ev, agent)
		newTool = &f
	}
	if g != nil && !(agent != nil && spec == nil) {
		// A call outside the caller's manifest does not vouch for the tool
		// in its group.
		g.addCall(name, d.opts.MaxToolsPerGroup)
	}
	if isNew {
		idx = st.addTool(name, d.opts.MaxToolsPerAgent)
	}
	t := &st.tools[idx]
	if agent != nil && spec == nil {
		if sh := d.sessionHash(ev.SessionID); t.outsideSession != sh {
			t.outsideSession = sh
			emit(models.Finding{
				Kind:       KindToolOutsideManifest,
				Severity:   d.opts.OutsideManifestSeverity,
				Confidence: 1,
				Explanation: fmt.Sprintf("agent %q (purpose %q, autonomy %s) called tool %q, which its manifest does not declare; the manifest grants %d tool(s). An agent acting beyond its declared capabilities has either been misconfigured or been steered off its task",
					ev.AgentID, agent.Purpose, agent.Autonomy, name, len(agent.Tools)),
				Features: []models.Feature{
					{Name: "declared_tools", Observed: 0, Baseline: float64(len(agent.Tools))},
					{Name: "tool_calls_seen", Observed: float64(t.count), Baseline: float64(st.toolCalls)},
				},
			})
		}
	}
	t.count++
	st.toolCalls++
	if st.toolCalls >= maxToolCalls {
		st.toolCalls = 0
		for i := range st.tools {
			st.tools[i].count /= 2
			st.toolCalls += int(st.tools[i].count)
		}
	}
	if newTool != nil {
		emit(*newTool)
	}
}

// newToolFinding builds the new_tool finding for a first call of ev's tool,
// from the tool table before the call is counted.
//
// With a mature peer group the surprise uses the peer shares as a prior
// (priorSurprise) and the typical surprise is the group's entropy while the
// agent's own table is still warming up. unknownToPeers: no peer has called
// the tool and the finding is the peer group's judgement.
func (d *Detector) newToolFinding(st *agentState, ev *models.Event, agent *models.AgentSpec, spec *models.ToolSpec, unknownToPeers bool) models.Finding {
	s := st.surprise(0)
	h := st.entropy()
	peer := ""
	peerShare := 0.0
	if g := st.grp; g != nil && d.peerToolsMature(g) {
		s = d.priorSurprise(st, g, ev.ToolName, 0)
		if st.toolCalls < d.opts.MinToolCalls {
			h = g.entropy()
		}
		peerShare = float64(g.count(ev.ToolName)) / float64(g.toolCalls)
		if unknownToPeers {
			peer = fmt.Sprintf("; judged against its peer group %q (%d other agents, %d tool calls) because its own baseline is in warm-up: no peer has called it either",
				g.name, g.members-1, g.toolCalls)
		} else {
			peer = fmt.Sprintf("; its peer group %q calls it in %.1f%% of %d tool calls", g.name, 100*peerShare, g.toolCalls)
		}
	}
	base, bonusCap, why := newToolPlain, newToolDeclaredBonus, "declared in its manifest"
	switch {
	case agent == nil:
		base, bonusCap, why = newToolNoManifest, newToolNoManifestBonus, "the agent has no manifest"
	case spec.Has(models.LabelDestructive) || spec.Has(models.LabelPublicSink):
		base, why = newToolRisky, fmt.Sprintf("declared with labels %v", spec.Labels)
	case spec.Has(models.LabelPrivateData) || spec.Has(models.LabelUntrustedContent):
		base, why = newToolSensitive, fmt.Sprintf("declared with labels %v", spec.Labels)
	}
	bonus := min(max((s-newToolSurpriseOffset)*newToolSurprisePointsPerNat, 0), float64(bonusCap))
	sev := uint8(math.Round(float64(base) + bonus))
	if agent != nil {
		// Declared: a deviation to record, never an alert on its own.
		sev = min(sev, newToolDeclaredMax)
		why += "; declared tools are not alerted on their own"
	}
	return models.Finding{
		Kind:       KindNewTool,
		Severity:   sev,
		Confidence: 1 - math.Exp(-s), // 1 - p(tool)
		Explanation: fmt.Sprintf("agent %q called tool %q for the first time after %d tool calls over %d distinct tools (%s); surprise −log p = %.2f nats against a typical %.2f%s",
			ev.AgentID, ev.ToolName, st.toolCalls, len(st.tools), why, s, h, peer),
		Features: []models.Feature{
			{Name: "tool_surprise_nats", Observed: s, Baseline: h},
			{Name: "tool_calls", Observed: float64(st.toolCalls), Baseline: float64(d.opts.MinToolCalls)},
			{Name: "distinct_tools", Observed: float64(len(st.tools))},
			{Name: "peer_tool_share", Observed: peerShare},
		},
	}
}
