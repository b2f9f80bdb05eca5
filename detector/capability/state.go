package capability

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// errState marks invalid state given to UnmarshalState.
var errState = errors.New("capability: invalid state")

// stateJSON is the serialized Detector: agents sorted by id.
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
	st := stateJSON{Agents: make([]agentJSON, 0, len(d.agents))}
	for id, a := range d.agents {
		st.Agents = append(st.Agents, agentJSON{id, uint8(a.labels), uint8(a.reported), a.delegates})
	}
	slices.SortFunc(st.Agents, func(a, b agentJSON) int { return strings.Compare(a.ID, b.ID) })
	return json.Marshal(st)
}

// UnmarshalState replaces the detector's state with one encoded by
// MarshalState. It rejects malformed input, unsorted or duplicate agents,
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
	m := make(map[string]*agentState, len(st.Agents))
	for i, a := range st.Agents {
		if i > 0 && st.Agents[i-1].ID >= a.ID {
			return fmt.Errorf("%w: agents not sorted or duplicated at %q", errState, a.ID)
		}
		if len(a.Delegates) > d.opts.MaxDelegates {
			return fmt.Errorf("%w: agent %q has %d delegates, MaxDelegates is %d", errState, a.ID, len(a.Delegates), d.opts.MaxDelegates)
		}
		m[a.ID] = &agentState{labels: labelSet(a.Labels), reported: pathSet(a.Reported), delegates: a.Delegates}
	}
	d.agents = m
	return nil
}
