package containment

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tetherhq/tether/models"
)

// errState marks invalid state given to UnmarshalState.
var errState = errors.New("containment: invalid state")

// stateJSON is the serialized Policy: the strongest action rank issued per
// session and the per-agent buckets, each from most to least recently
// active (their LRU order), the fleet bucket, the pending summary of
// held-back commands and the time of the last summary.
type stateJSON struct {
	Issued []issuedJSON `json:"issued"`
	Agents []bucketJSON `json:"agents,omitempty"`
	Fleet  bucketJSON   `json:"fleet"`
	Held   *heldJSON    `json:"held,omitempty"`
	// SummaryAt is the event time of the last summary (unix ns).
	SummaryAt int64 `json:"summaryAt,omitempty"`
}

type issuedJSON struct {
	Session string `json:"s"`
	Rank    int    `json:"r"`
}

type bucketJSON struct {
	Agent   string  `json:"a,omitempty"`
	Tokens  float64 `json:"t"`
	Last    int64   `json:"l"`
	Strikes int     `json:"k,omitempty"`
}

type heldJSON struct {
	Start    int64         `json:"start"`
	Count    int           `json:"n"`
	Agents   []string      `json:"agents"`
	Sessions []string      `json:"sessions"`
	Events   []string      `json:"events"`
	Strong   models.Action `json:"strong"`
}

// MarshalState encodes the policy's state deterministically (JSON).
func (p *Policy) MarshalState() ([]byte, error) {
	st := stateJSON{Issued: make([]issuedJSON, 0, p.issued.Len()), Fleet: bucketJSON{Tokens: p.fleet.tokens, Last: p.fleet.last},
		SummaryAt: p.summaryAt}
	for s, r := range p.issued.All() {
		st.Issued = append(st.Issued, issuedJSON{s, *r})
	}
	for a, b := range p.agents.All() {
		st.Agents = append(st.Agents, bucketJSON{a, b.tokens, b.last, b.strikes})
	}
	if w := p.window; w.count > 0 {
		st.Held = &heldJSON{w.start, w.count, w.agents, w.sessions, w.events, w.strong}
	}
	return json.Marshal(st)
}

// UnmarshalState replaces the policy's state with one encoded by
// MarshalState. It rejects malformed input, duplicate sessions or agents,
// unknown ranks or actions, inconsistent summaries and more entries than
// MaxSessions and MaxAgents.
func (p *Policy) UnmarshalState(b []byte) error {
	var st stateJSON
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%w: %w", errState, err)
	}
	if p.opts.MaxSessions > 0 && len(st.Issued) > p.opts.MaxSessions {
		return fmt.Errorf("%w: %d sessions exceed MaxSessions %d", errState, len(st.Issued), p.opts.MaxSessions)
	}
	if p.opts.MaxAgents > 0 && len(st.Agents) > p.opts.MaxAgents {
		return fmt.Errorf("%w: %d agents exceed MaxAgents %d", errState, len(st.Agents), p.opts.MaxAgents)
	}
	issued, agents := p.tables(max(p.issued.Max(), len(st.Issued)), max(p.agents.Max(), len(st.Agents)))
	for _, is := range st.Issued {
		if is.Rank < 1 || is.Rank > maxRank {
			return fmt.Errorf("%w: session %q has rank %d", errState, is.Session, is.Rank)
		}
		v, ok := issued.PushBack(is.Session)
		if !ok {
			return fmt.Errorf("%w: duplicate session %q", errState, is.Session)
		}
		*v = is.Rank
	}
	for _, a := range st.Agents {
		v, ok := agents.PushBack(a.Agent)
		if !ok {
			return fmt.Errorf("%w: duplicate agent %q", errState, a.Agent)
		}
		if a.Strikes < 0 {
			return fmt.Errorf("%w: agent %q has %d strikes", errState, a.Agent, a.Strikes)
		}
		*v = bucket{a.Tokens, a.Last, a.Strikes}
	}
	var w heldWindow
	if h := st.Held; h != nil {
		_, known := rank[h.Strong]
		n := len(h.Agents)
		if h.Count < 1 || n < 1 || n > maxHeldSample || n > h.Count || len(h.Sessions) != n || !known ||
			len(h.Events) < n || len(h.Events) > min(h.Count, maxHeldSample) {
			return fmt.Errorf("%w: inconsistent held-back summary", errState)
		}
		w = heldWindow{h.Start, h.Count, h.Agents, h.Sessions, h.Events, h.Strong}
	}
	issued.Adopt(p.issued)
	agents.Adopt(p.agents)
	p.issued, p.agents, p.fleet, p.window, p.summaryAt = issued, agents, bucket{tokens: st.Fleet.Tokens, last: st.Fleet.Last}, w, st.SummaryAt
	return nil
}
