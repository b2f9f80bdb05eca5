package baseline

import (
	"encoding/json"
	"errors"
	"fmt"
)

// errState marks invalid state given to UnmarshalState.
var errState = errors.New("baseline: invalid state")

// keyedHash is a 64-bit FNV-1a hash of s keyed by seed, with a final
// avalanche (the MurmurHash3 finalizer). It replaces hash/maphash because a
// maphash.Seed cannot be serialized: the detector's seed is part of its
// state, so a restored detector hashes session ids and destinations exactly
// as the original did. It is not cryptographic; the random per-detector
// seed keeps collisions from being precomputed offline.
func keyedHash(seed uint64, s string) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := 0; i < 8; i++ {
		h = (h ^ (seed >> (8 * i) & 0xff)) * prime
	}
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * prime
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// stateJSON is the serialized Detector. Agents and peer groups are listed
// from most to least recently active, so their LRU eviction order is kept
// exactly; tools, models and destination hashes keep their slice order.
// An agent names its peer group; a group already evicted while the agent
// still pointed at it is written as no group (the detector treats the two
// alike: such an agent rejoins by name on its next event).
type stateJSON struct {
	Seed   uint64      `json:"seed"`
	Agents []agentJSON `json:"agents"`
	Groups []groupJSON `json:"groups"`
}

type agentJSON struct {
	ID         string     `json:"id"`
	Rate       EWStats    `json:"rate"`
	Win        int64      `json:"win,omitempty"`
	WinCount   int        `json:"wc,omitempty"`
	WinSev     uint8      `json:"ws,omitempty"`
	BaseEvents int        `json:"be,omitempty"`
	Started    bool       `json:"st,omitempty"`
	ToolCalls  int        `json:"tc,omitempty"`
	Tools      []toolJSON `json:"tools,omitempty"`
	Models     []string   `json:"models,omitempty"`
	Version    string     `json:"ver,omitempty"`
	Dests      []uint64   `json:"dests,omitempty"`
	DestNext   int        `json:"dn,omitempty"`
	Group      string     `json:"grp,omitempty"`
	Ops        int        `json:"ops,omitempty"`
	FirstNs    int64      `json:"first,omitempty"`
}

type toolJSON struct {
	Name           string `json:"n"`
	Count          uint32 `json:"c"`
	OutsideSession uint64 `json:"o,omitempty"`
}

type groupJSON struct {
	Name       string     `json:"name"`
	Members    int        `json:"members"`
	Rate       EWStats    `json:"rate"`
	BaseEvents int        `json:"be,omitempty"`
	ToolCalls  int        `json:"tc,omitempty"`
	Tools      []toolJSON `json:"tools,omitempty"`
}

func toolsJSON(ts []toolStat) []toolJSON {
	var out []toolJSON
	for _, t := range ts {
		out = append(out, toolJSON{t.name, t.count, t.outsideSession})
	}
	return out
}

func toolsState(ts []toolJSON, limit int, what string) ([]toolStat, error) {
	if len(ts) > limit {
		return nil, fmt.Errorf("%w: %s has %d tools, at most %d", errState, what, len(ts), limit)
	}
	var out []toolStat
	for i, t := range ts {
		for _, u := range ts[:i] {
			if u.Name == t.Name {
				return nil, fmt.Errorf("%w: %s lists tool %q twice", errState, what, t.Name)
			}
		}
		out = append(out, toolStat{name: t.Name, count: t.Count, outsideSession: t.OutsideSession})
	}
	return out, nil
}

// MarshalState encodes the detector's state deterministically as JSON.
func (d *Detector) MarshalState() ([]byte, error) {
	st := stateJSON{Seed: d.seed, Agents: make([]agentJSON, 0, d.agents.Len()), Groups: make([]groupJSON, 0, d.groups.Len())}
	for id, ap := range d.agents.All() {
		a := *ap
		aj := agentJSON{ID: id, Rate: a.rate, Win: a.win, WinCount: a.winCount, WinSev: a.winSev, BaseEvents: a.baseEvents,
			Started: a.started, ToolCalls: a.toolCalls, Tools: toolsJSON(a.tools), Models: a.prof.models, Version: a.prof.version,
			Dests: a.dests.hashes, DestNext: a.dests.next, Ops: a.ops, FirstNs: a.firstNs}
		if a.grp != nil && !a.grp.evicted {
			aj.Group = a.grp.name
		}
		st.Agents = append(st.Agents, aj)
	}
	for _, gp := range d.groups.All() {
		g := *gp
		st.Groups = append(st.Groups, groupJSON{Name: g.name, Members: g.members, Rate: g.rate, BaseEvents: g.baseEvents,
			ToolCalls: g.toolCalls, Tools: toolsJSON(g.tools)})
	}
	return json.Marshal(st)
}

// UnmarshalState replaces the detector's state with one encoded by
// MarshalState. It rejects malformed input, duplicates, unknown peer
// groups and sizes beyond the configured caps (MaxAgents,
// MaxToolsPerAgent, MaxDestinationsPerAgent, MaxPeerGroups,
// MaxToolsPerGroup, four models per agent).
func (d *Detector) UnmarshalState(b []byte) error {
	var st stateJSON
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%w: %w", errState, err)
	}
	if d.opts.MaxAgents > 0 && len(st.Agents) > d.opts.MaxAgents {
		return fmt.Errorf("%w: %d agents exceed MaxAgents %d", errState, len(st.Agents), d.opts.MaxAgents)
	}
	if d.opts.MaxPeerGroups > 0 && len(st.Groups) > d.opts.MaxPeerGroups {
		return fmt.Errorf("%w: %d peer groups exceed MaxPeerGroups %d", errState, len(st.Groups), d.opts.MaxPeerGroups)
	}
	agents, groups := d.tables(max(d.agents.Max(), len(st.Agents)), max(d.groups.Max(), len(st.Groups)))
	for _, gj := range st.Groups {
		tools, err := toolsState(gj.Tools, d.opts.MaxToolsPerGroup, "peer group "+gj.Name)
		if err != nil {
			return err
		}
		gp, ok := groups.PushBack(gj.Name) // the list is newest first
		if !ok {
			return fmt.Errorf("%w: duplicate peer group %q", errState, gj.Name)
		}
		*gp = &peerGroup{name: gj.Name, members: gj.Members, rate: gj.Rate, baseEvents: gj.BaseEvents, toolCalls: gj.ToolCalls, tools: tools}
	}
	for _, aj := range st.Agents {
		tools, err := toolsState(aj.Tools, d.opts.MaxToolsPerAgent, "agent "+aj.ID)
		if err != nil {
			return err
		}
		lim := d.opts.MaxDestinationsPerAgent
		switch {
		case len(aj.Models) > maxProfileModels:
			return fmt.Errorf("%w: agent %q has %d models, at most %d", errState, aj.ID, len(aj.Models), maxProfileModels)
		case len(aj.Dests) > lim:
			return fmt.Errorf("%w: agent %q has %d destinations, at most %d", errState, aj.ID, len(aj.Dests), lim)
		case aj.DestNext < 0 || aj.DestNext >= lim || (aj.DestNext != 0 && len(aj.Dests) < lim):
			return fmt.Errorf("%w: agent %q has destination ring position %d", errState, aj.ID, aj.DestNext)
		}
		a := &agentState{rate: aj.Rate, win: aj.Win, winCount: aj.WinCount, winSev: aj.WinSev, baseEvents: aj.BaseEvents,
			started: aj.Started, toolCalls: aj.ToolCalls, tools: tools, prof: profile{models: aj.Models, version: aj.Version},
			dests: destSketch{hashes: aj.Dests, next: aj.DestNext}, ops: aj.Ops, firstNs: aj.FirstNs}
		if aj.Group != "" {
			g := groups.Peek(aj.Group)
			if g == nil {
				return fmt.Errorf("%w: agent %q is in unknown peer group %q", errState, aj.ID, aj.Group)
			}
			a.grp = *g
		}
		ap, ok := agents.PushBack(aj.ID)
		if !ok {
			return fmt.Errorf("%w: duplicate agent %q", errState, aj.ID)
		}
		*ap = a
	}
	agents.Adopt(d.agents)
	groups.Adopt(d.groups)
	d.seed, d.agents, d.groups = st.Seed, agents, groups
	return nil
}
