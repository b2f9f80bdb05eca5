package baseline

import (
	"math"
	"time"

	"gonum.org/v1/gonum/stat"

	"github.com/tetherhq/tether/models"
)

// Cold start: the Agentic Trust Framework judges an agent on its own
// baseline only once it has enough history (by default 7 days or 1,000
// operations: Options.OwnMatureAge, Options.OwnMatureOps). Until then the
// agent is in warm-up and is judged against its peer group
// (models.AgentSpec.PeerGroup, which defaults to the declared purpose):
// agents declared for the same job share a tool-usage table and a rate
// baseline of events per active window, fed by every member's events.
//
//   - new_tool: a tool that neither the agent nor any peer has called is
//     new as soon as the peer group is mature, even before the agent's own
//     tool table has warmed up (Options.MinToolCalls). A tool its peers use
//     commonly (peer share ≥ Options.PeerCommonShare) is not new for an
//     agent in warm-up, whatever its own table says. The surprise of a call
//     mixes the agent's frequencies with the peer frequencies as a prior:
//     p = (own + α·peer_share) / (n + α), α = Options.PeerPrior.
//   - rate_spike: while the agent's own rate baseline is younger than
//     Options.MatureWindows, a window is also judged against the peer
//     group's per-agent window rate (see peerSpike).
//
// The own-baseline thresholds (MinToolCalls = 20 tool calls, MinWindows = 8
// windows) stay far below the ATF thresholds on purpose: they are when the
// agent's own table says something at all, and an agent without a mature
// peer group (unregistered, alone in its group, or in a group that is
// itself young) has nothing else to be judged against. Judging nobody for
// 7 days would leave every new agent unwatched; judging it on its own from
// 20 calls alone would flag every tool its peers use routinely. The ATF
// thresholds decide when the peer group stops vouching for (and judging)
// the agent.
//
// State is bounded: at most Options.MaxPeerGroups groups (least recently
// active evicted first) of at most Options.MaxToolsPerGroup tools (least
// used evicted first); an evicted group warms up again.

// peerGroup is the shared baseline of the agents of one peer group.
type peerGroup struct {
	name    string
	evicted bool

	members    int     // tracked agents currently in the group
	rate       EWStats // events per completed active window, any member
	baseEvents int     // events in the folded windows
	toolCalls  int
	tools      []toolStat
}

// findTool returns the index of name in g.tools, or -1.
func (g *peerGroup) findTool(name string) int {
	name = truncate(name) // tools are stored clipped
	for i := range g.tools {
		if g.tools[i].name == name {
			return i
		}
	}
	return -1
}

// count returns how many calls of name the group has seen.
func (g *peerGroup) count(name string) uint32 {
	if i := g.findTool(name); i >= 0 {
		return g.tools[i].count
	}
	return 0
}

// share returns the Laplace-smoothed share of name among the group's
// calls: (count+1) / (calls + tools + 1), never 0.
func (g *peerGroup) share(name string) float64 {
	return (float64(g.count(name)) + 1) / float64(g.toolCalls+len(g.tools)+1)
}

// entropy returns the Shannon entropy (nats) of the group's tool
// distribution.
func (g *peerGroup) entropy() float64 {
	if g.toolCalls == 0 {
		return 0
	}
	p := make([]float64, len(g.tools))
	for i, t := range g.tools {
		p[i] = float64(t.count) / float64(g.toolCalls)
	}
	return stat.Entropy(p)
}

// addCall counts one call of name, evicting the least used tool when the
// table is full.
func (g *peerGroup) addCall(name string, limit int) {
	i := g.findTool(name)
	if i < 0 {
		if len(g.tools) >= limit {
			victim := 0
			for j := 1; j < len(g.tools); j++ {
				if g.tools[j].count < g.tools[victim].count {
					victim = j
				}
			}
			g.toolCalls -= int(g.tools[victim].count)
			g.tools = append(g.tools[:victim], g.tools[victim+1:]...)
		}
		g.tools = append(g.tools, toolStat{name: clip(name)})
		i = len(g.tools) - 1
	}
	g.tools[i].count++
	g.toolCalls++
	if g.toolCalls >= maxToolCalls {
		g.toolCalls = 0
		for j := range g.tools {
			g.tools[j].count /= 2
			g.toolCalls += int(g.tools[j].count)
		}
	}
}

// peerGroupName returns the agent's peer group, or "" (unregistered agents
// have none).
func peerGroupName(agent *models.AgentSpec) string {
	if agent == nil {
		return ""
	}
	if agent.PeerGroup != "" {
		return agent.PeerGroup
	}
	return agent.Purpose
}

// joinGroup attaches st to the agent's peer group (creating it, and
// evicting the least recently active group when full), moves the group to
// the LRU head and returns it; nil when the agent has no group or peer
// baselines are disabled.
func (d *Detector) joinGroup(st *agentState, agent *models.AgentSpec) *peerGroup {
	name := truncate(peerGroupName(agent)) // groups are stored clipped
	if name == "" || d.opts.DisablePeerGroups {
		d.leaveGroup(st)
		return nil
	}
	gp, created := d.groups.Put(name)
	if created {
		*gp = &peerGroup{name: clip(name)}
	}
	g := *gp
	if st.grp != g {
		d.leaveGroup(st)
		st.grp = g
		g.members++
	}
	return g
}

// leaveGroup detaches st from its peer group.
func (d *Detector) leaveGroup(st *agentState) {
	if st.grp != nil && !st.grp.evicted {
		st.grp.members--
	}
	st.grp = nil
}

// ownMature reports whether the agent has left warm-up: its current
// baseline has lasted OwnMatureAge of event time or holds OwnMatureOps
// events.
func (d *Detector) ownMature(st *agentState, now time.Time) bool {
	if d.opts.OwnMatureOps > 0 && st.ops >= d.opts.OwnMatureOps {
		return true
	}
	return d.opts.OwnMatureAge > 0 && now.UnixNano()-st.firstNs >= int64(d.opts.OwnMatureAge)
}

// peersMature reports whether g has enough members other than the judged
// agent.
func (d *Detector) peersMature(g *peerGroup) bool {
	return g != nil && g.members-1 >= d.opts.PeerMinPeers
}

// peerToolsMature reports whether g's tool table may judge a member.
func (d *Detector) peerToolsMature(g *peerGroup) bool {
	return d.peersMature(g) && g.toolCalls >= d.opts.PeerMinToolCalls
}

// peerRateMature reports whether g's rate baseline may judge a member.
func (d *Detector) peerRateMature(g *peerGroup) bool {
	return d.peersMature(g) && int(g.rate.N) >= d.opts.PeerMinWindows && g.baseEvents >= d.opts.MinEvents
}

// priorSurprise returns −log p of a call of a tool the agent has called
// count times, with the peer share as a prior of weight α:
// p = (count + α·peer_share) / (calls + α).
func (d *Detector) priorSurprise(st *agentState, g *peerGroup, name string, count uint32) float64 {
	a := d.opts.PeerPrior
	p := (float64(count) + a*g.share(name)) / (float64(st.toolCalls) + a)
	return -math.Log(p)
}
