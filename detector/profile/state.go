package profile

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/tetherhq/tether/detector/internal/ewstats"
)

// errState marks invalid state given to UnmarshalState.
var errState = errors.New("profile: invalid state")

// stateJSON is the serialized Detector. Agents and sessions are listed from
// most to least recently active, so their LRU eviction order is kept
// exactly; an agent's transition counts are sorted by key and its history
// ring is written slot by slot.
type stateJSON struct {
	Agents   []agentJSON   `json:"agents"`
	Sessions []sessionJSON `json:"sessions"`
}

type agentJSON struct {
	ID        string               `json:"id"`
	Names     []string             `json:"names"`
	Trans     [][2]uint32          `json:"trans,omitempty"` // (from<<8|to, count)
	RowTotal  []uint32             `json:"rows"`
	Completed int                  `json:"completed,omitempty"`
	Surprise  ewstats.Stats        `json:"surprise"`
	Feats     [Dims]ewstats.Stats  `json:"feats"`
	Ring      []float64            `json:"ring,omitempty"`
	RingN     int                  `json:"ringN,omitempty"`
	RingAt    int                  `json:"ringAt,omitempty"`
	Mean      [Dims]float64        `json:"mean"`
	Inv       [Dims * Dims]float64 `json:"inv"`
	InvOK     bool                 `json:"invOK,omitempty"`
}

type rareJSON struct {
	From uint8   `json:"f"`
	To   uint8   `json:"t"`
	P    float64 `json:"p"`
	EvID string  `json:"e,omitempty"`
}

type sessionJSON struct {
	Agent    string      `json:"agent"`
	Session  string      `json:"session"`
	Prev     uint8       `json:"prev,omitempty"`
	Events   int32       `json:"events,omitempty"`
	Calls    int32       `json:"calls,omitempty"`
	Errors   int32       `json:"errors,omitempty"`
	Reason   int32       `json:"reason,omitempty"`
	NTrans   int32       `json:"nTrans,omitempty"`
	Bytes    int64       `json:"bytes,omitempty"`
	ToolMask uint64      `json:"mask,omitempty"`
	SumSurp  float64     `json:"sumSurp,omitempty"`
	MaxSurp  float64     `json:"maxSurp,omitempty"`
	Rare     [3]rareJSON `json:"rare"`
	LastID   string      `json:"last,omitempty"`
	// Stale marks a session whose agent was evicted (and possibly tracked
	// afresh) since the session's tool-state indexes were recorded.
	Stale bool `json:"stale,omitempty"`
}

// MarshalState encodes the detector's state deterministically as JSON.
func (d *Detector) MarshalState() ([]byte, error) {
	st := stateJSON{Agents: make([]agentJSON, 0, d.agents.Len()), Sessions: make([]sessionJSON, 0, d.sessions.Len())}
	for id, ap := range d.agents.All() {
		a := *ap
		aj := agentJSON{ID: id, Names: a.names, RowTotal: a.rowTotal, Completed: a.completed, Surprise: a.surprise, Feats: a.feats,
			RingN: a.ringN, RingAt: a.ringAt}
		if a.ring != nil {
			// the encoding has the full ring, rows not yet filled zero
			aj.Ring = make([]float64, d.opts.History*Dims)
			copy(aj.Ring, a.ring)
		}
		if a.cov != nil {
			aj.Mean, aj.Inv, aj.InvOK = a.cov.mean, a.cov.inv, a.cov.invOK
		}
		for _, t := range a.trans { // sorted by key
			aj.Trans = append(aj.Trans, [2]uint32{uint32(t.key), t.n})
		}
		st.Agents = append(st.Agents, aj)
	}
	for _, s := range d.sessions.All() {
		sj := sessionJSON{Agent: s.key.agent, Session: s.key.session, Prev: s.prev, Events: s.events, Calls: s.calls, Errors: s.errors,
			Reason: s.reason, NTrans: s.nTrans, Bytes: s.bytes, ToolMask: s.toolMask, SumSurp: s.sumSurp, MaxSurp: s.maxSurp, LastID: s.lastID,
			Stale: s.owner != nil && s.owner != d.agentOf(s.key.agent)}
		for i, r := range s.rare {
			sj.Rare[i] = rareJSON{r.from, r.to, r.p, r.evID}
		}
		st.Sessions = append(st.Sessions, sj)
	}
	return json.Marshal(st)
}

// UnmarshalState replaces the detector's state with one encoded by
// MarshalState. It rejects malformed input, duplicates, tool-state indexes
// out of range, history rings of another size and tables beyond MaxAgents,
// MaxSessions and MaxToolsPerAgent.
func (d *Detector) UnmarshalState(b []byte) error {
	var st stateJSON
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%w: %w", errState, err)
	}
	if d.opts.MaxAgents > 0 && len(st.Agents) > d.opts.MaxAgents {
		return fmt.Errorf("%w: %d agents exceed MaxAgents %d", errState, len(st.Agents), d.opts.MaxAgents)
	}
	if d.opts.MaxSessions > 0 && len(st.Sessions) > d.opts.MaxSessions {
		return fmt.Errorf("%w: %d sessions exceed MaxSessions %d", errState, len(st.Sessions), d.opts.MaxSessions)
	}
	agents, sessions := d.tables(max(d.agents.Max(), len(st.Agents)), max(d.sessions.Max(), len(st.Sessions)))
	for _, aj := range st.Agents {
		n := len(aj.Names)
		switch {
		case n < 1 || n > d.opts.MaxToolsPerAgent || aj.Names[0] != "START":
			return fmt.Errorf("%w: agent %q has %d tool states (at most %d, START first)", errState, aj.ID, n, d.opts.MaxToolsPerAgent)
		case len(aj.RowTotal) != n:
			return fmt.Errorf("%w: agent %q has %d row totals for %d states", errState, aj.ID, len(aj.RowTotal), n)
		case aj.Ring != nil && len(aj.Ring) != d.opts.History*Dims, aj.Ring == nil && (aj.RingN != 0 || aj.RingAt != 0):
			return fmt.Errorf("%w: agent %q has a history ring of %d values, want %d", errState, aj.ID, len(aj.Ring), d.opts.History*Dims)
		case aj.RingN < 0 || aj.RingN > d.opts.History || aj.RingAt < 0 || aj.RingAt >= d.opts.History:
			return fmt.Errorf("%w: agent %q history ring at %d with %d rows", errState, aj.ID, aj.RingAt, aj.RingN)
		}
		a := &agentState{names: aj.Names, trans: make([]transCount, len(aj.Trans)),
			rowTotal: aj.RowTotal, completed: aj.Completed, surprise: aj.Surprise, feats: aj.Feats, ringN: aj.RingN, ringAt: aj.RingAt}
		if aj.Ring != nil {
			// a ring still filling keeps only its filled rows (the rest
			// are zero: encoded rows beyond them are rejected)
			rows := d.opts.History
			if aj.RingN < d.opts.History {
				rows = aj.RingN
				if aj.RingAt != aj.RingN || slices.ContainsFunc(aj.Ring[rows*Dims:], func(v float64) bool { return v != 0 }) {
					return fmt.Errorf("%w: agent %q history ring at %d with %d rows has values beyond them", errState, aj.ID, aj.RingAt, aj.RingN)
				}
			}
			a.ring = slices.Clip(aj.Ring[:rows*Dims])
		}
		if aj.InvOK || aj.Mean != ([Dims]float64{}) || aj.Inv != ([Dims * Dims]float64{}) {
			a.cov = &covState{mean: aj.Mean, inv: aj.Inv, invOK: aj.InvOK}
		}
		for i, name := range aj.Names[1:] {
			if slices.Contains(aj.Names[1:i+1], name) {
				return fmt.Errorf("%w: agent %q lists tool %q twice", errState, aj.ID, name)
			}
		}
		for i, t := range aj.Trans {
			if i > 0 && t[0] <= aj.Trans[i-1][0] || t[0]>>8 >= uint32(n) || t[0]&0xff >= uint32(n) {
				return fmt.Errorf("%w: agent %q transition key %d out of order or range", errState, aj.ID, t[0])
			}
			a.trans[i] = transCount{key: uint16(t[0]), n: t[1]}
		}
		ap, ok := agents.PushBack(aj.ID)
		if !ok {
			return fmt.Errorf("%w: duplicate agent %q", errState, aj.ID)
		}
		*ap = a
	}
	for _, sj := range st.Sessions {
		k := sessKey{sj.Agent, sj.Session}
		// A current session's states index its agent's table; a stale one's
		// are reset on its next event.
		var a *agentState
		if ap := agents.Peek(sj.Agent); ap != nil {
			a = *ap
		}
		owner := evictedOwner
		if !sj.Stale {
			if a == nil {
				return fmt.Errorf("%w: session %q of %q has no agent state", errState, sj.Session, sj.Agent)
			}
			ok := int(sj.Prev) < len(a.names)
			for _, r := range sj.Rare {
				ok = ok && int(r.From) < len(a.names) && int(r.To) < len(a.names)
			}
			if !ok {
				return fmt.Errorf("%w: session %q of %q refers to a tool state out of range", errState, sj.Session, sj.Agent)
			}
			owner = a
		}
		s, ok := sessions.PushBack(k)
		if !ok {
			return fmt.Errorf("%w: duplicate session %q of %q", errState, sj.Session, sj.Agent)
		}
		*s = sessState{key: k, prev: sj.Prev, events: sj.Events, calls: sj.Calls, errors: sj.Errors, reason: sj.Reason, nTrans: sj.NTrans,
			bytes: sj.Bytes, toolMask: sj.ToolMask, sumSurp: sj.SumSurp, maxSurp: sj.MaxSurp, lastID: sj.LastID, owner: owner}
		for i, r := range sj.Rare {
			s.rare[i] = rareTransition{from: r.From, to: r.To, p: r.P, evID: r.EvID}
		}
	}
	// Sessions first: their owners are resolved against the full agent
	// table above.
	sessions.Adopt(d.sessions)
	agents.Adopt(d.agents)
	d.agents, d.sessions = agents, sessions
	return nil
}

// agentOf returns the tracked state of agent id without touching its
// recency, or nil.
func (d *Detector) agentOf(id string) *agentState {
	if a := d.agents.Peek(id); a != nil {
		return *a
	}
	return nil
}
