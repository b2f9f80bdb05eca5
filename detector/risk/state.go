package risk

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tetherhq/tether/detector/internal/lru"
)

// errState marks invalid state given to UnmarshalState.
var errState = errors.New("risk: invalid state")

// stateVersion is the version of the encoding written by MarshalState.
const stateVersion = 1

// stateJSON is the serialized Detector. The LRU-bounded tables are listed
// from most to least recently used, so eviction order is preserved; hash
// sets keep their insertion order (their eviction order). The cache of
// labels inferred from calls is derived data and is not saved.
type stateJSON struct {
	Version int         `json:"v"`
	Agents  []agentJSON `json:"agents"`
	Peers   []peerJSON  `json:"peers"`
}

type agentJSON struct {
	ID string `json:"id"`
	agentState
}

type peerJSON struct {
	Group string `json:"g"`
	peerState
}

// MarshalState encodes the detector's state deterministically as JSON.
func (d *Detector) MarshalState() ([]byte, error) {
	st := stateJSON{Version: stateVersion, Agents: make([]agentJSON, 0, d.agents.Len()), Peers: make([]peerJSON, 0, d.peers.Len())}
	for id, a := range d.agents.All() {
		st.Agents = append(st.Agents, agentJSON{ID: id, agentState: *a})
	}
	for g, p := range d.peers.All() {
		st.Peers = append(st.Peers, peerJSON{Group: g, peerState: *p})
	}
	return json.Marshal(st)
}

// UnmarshalState replaces the detector's state with one encoded by
// MarshalState. It rejects malformed input, duplicates and sizes beyond
// the configured caps.
func (d *Detector) UnmarshalState(b []byte) error {
	var st stateJSON
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%w: %w", errState, err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("%w: version %d, want %d", errState, st.Version, stateVersion)
	}
	if d.opts.MaxAgents > 0 && len(st.Agents) > d.opts.MaxAgents || d.opts.MaxPeerGroups > 0 && len(st.Peers) > d.opts.MaxPeerGroups {
		return fmt.Errorf("%w: %d agents / %d peer groups exceed MaxAgents %d / MaxPeerGroups %d", errState, len(st.Agents), len(st.Peers), d.opts.MaxAgents, d.opts.MaxPeerGroups)
	}
	agents := lru.New[agentState](d.opts.MaxAgents)
	for i := len(st.Agents) - 1; i >= 0; i-- {
		a := &st.Agents[i]
		if err := d.checkSets(a.ID, len(a.Recipients), len(a.Egress), 1, a.Tools); err != nil {
			return err
		}
		v, created := agents.Put(a.ID)
		if !created {
			return fmt.Errorf("%w: duplicate agent %q", errState, a.ID)
		}
		*v = a.agentState
	}
	peers := lru.New[peerState](d.opts.MaxPeerGroups)
	for i := len(st.Peers) - 1; i >= 0; i-- {
		p := &st.Peers[i]
		if err := d.checkSets(p.Group, len(p.Recipients), len(p.Egress), 4, p.Tools); err != nil {
			return err
		}
		v, created := peers.Put(p.Group)
		if !created {
			return fmt.Errorf("%w: duplicate peer group %q", errState, p.Group)
		}
		*v = p.peerState
	}
	agents.Adopt(d.agents)
	peers.Adopt(d.peers)
	d.agents, d.peers = agents, peers
	return nil
}

func (d *Detector) checkSets(id string, recipients, egress, mult int, tools []toolShape) error {
	if recipients > mult*d.opts.MaxDestinations || egress > mult*d.opts.MaxDestinations {
		return fmt.Errorf("%w: %q holds %d recipients / %d destinations, cap %d", errState, id, recipients, egress, mult*d.opts.MaxDestinations)
	}
	if len(tools) > d.opts.MaxTools {
		return fmt.Errorf("%w: %q holds %d tools, cap %d", errState, id, len(tools), d.opts.MaxTools)
	}
	seen := make(map[string]bool, len(tools))
	for _, t := range tools {
		if seen[t.Tool] {
			return fmt.Errorf("%w: %q lists tool %q twice", errState, id, t.Tool)
		}
		seen[t.Tool] = true
		if len(t.Sigs) > d.opts.MaxShapes || len(t.Classes) > d.opts.MaxShapes {
			return fmt.Errorf("%w: %q tool %q holds more than %d shapes", errState, id, t.Tool, d.opts.MaxShapes)
		}
	}
	return nil
}
