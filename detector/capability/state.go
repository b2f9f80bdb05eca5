package capability

import (
	"encoding/json"
	"errors"
	"fmt"
)

// errState marks invalid state given to UnmarshalState.
var errState = errors.New("capability: invalid state")

// stateJSON is the serialized Detector: agents from most to least recently
// active (their LRU order).
type stateJSON struct {
	Agents []agentJSON `json:"agents"`
}

type agentJSON struct {
	ID        string   `json:"id"`
	Labels    uint8    `json:"l,omitempty"`
	Reported  uint8    `json:"r,omitempty"`
	Delegates []string `json:"d,omitempty"`
}

// MarshalState encodes the detector's state deterministically as JSON.
func (d *Detector) MarshalState() ([]byte, error) {
	st := stateJSON{Agents: make([]agentJSON, 0, d.agents.Len())}
	for id, a := range d.agents.All() {
		st.Agents = append(st.Agents, agentJSON{id, uint8((*a).labels), uint8((*a).reported), (*a).delegates})
	}
	return json.Marshal(st)
}

// UnmarshalState replaces the detector's state with one encoded by
// MarshalState. It rejects malformed input, duplicate agents,
// more agents than MaxAgents (when set) and more delegates than
// MaxDelegates.
func (d *Detector) UnmarshalState(b []byte) error {
	var st stateJSON
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%w: %w", errState, err)
	}
	if d.opts.MaxAgents > 0 && len(st.Agents) > d.opts.MaxAgents {
		return fmt.Errorf("%w: %d agents exceed MaxAgents %d", errState, len(st.Agents), d.opts.MaxAgents)
	}
	m := d.table(max(d.agents.Max(), len(st.Agents)))
	for _, a := range st.Agents {
		if len(a.Delegates) > d.opts.MaxDelegates {
			return fmt.Errorf("%w: agent %q has %d delegates, MaxDelegates is %d", errState, a.ID, len(a.Delegates), d.opts.MaxDelegates)
		}
		v, ok := m.PushBack(a.ID)
		if !ok {
			return fmt.Errorf("%w: duplicate agent %q", errState, a.ID)
		}
		*v = &agentState{labels: labelSet(a.Labels), reported: pathSet(a.Reported), delegates: a.Delegates}
	}
	m.Adopt(d.agents)
	d.agents = m
	return nil
}
