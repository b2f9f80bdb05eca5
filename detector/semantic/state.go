package semantic

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// errState marks invalid state given to UnmarshalState.
var errState = errors.New("semantic: invalid state")

// stateJSON is the serialized Detector: the vectoriser's learned document
// frequencies, the agent cache (it is state, not just a cache: building an
// entry teaches the vectoriser the purpose text) and the sessions, both
// from most to least recently active (their LRU order).
type stateJSON struct {
	Docs     uint32        `json:"docs"`
	DF       []uint32      `json:"df"`
	Agents   []agentJSON   `json:"agents"`
	Sessions []sessionJSON `json:"sessions"`
}

// vectorJSON is a Vector as parallel arrays of buckets and term frequencies.
type vectorJSON struct {
	B []uint32  `json:"b,omitempty"`
	T []float32 `json:"t,omitempty"`
}

type agentJSON struct {
	ID           string     `json:"id"`
	Purpose      string     `json:"p"`
	Vec          vectorJSON `json:"v"`
	Sink         bool       `json:"sink,omitempty"`
	Destr        bool       `json:"destr,omitempty"`
	Classes      []string   `json:"classes,omitempty"`
	AnyDeclClass bool       `json:"any,omitempty"`
}

type sessionJSON struct {
	ID             string     `json:"id"`
	Request        vectorJSON `json:"req"`
	HasRequest     bool       `json:"hasReq,omitempty"`
	Calls          int        `json:"calls,omitempty"`
	SumReq         float64    `json:"sumReq,omitempty"`
	MinReq         float64    `json:"minReq"`
	Reasoning      int        `json:"reasoning,omitempty"`
	SumReasonPurp  float64    `json:"sumReasonPurp,omitempty"`
	Unknown        int        `json:"unknown,omitempty"`
	UnknownEmitted bool       `json:"unknownEmitted,omitempty"`
	Reported       []string   `json:"reported,omitempty"`
}

func vecJSON(v Vector) vectorJSON {
	var out vectorJSON
	for _, t := range v {
		out.B = append(out.B, t.Bucket)
		out.T = append(out.T, t.TF)
	}
	return out
}

func (d *Detector) vecState(v vectorJSON, what string) (Vector, error) {
	if len(v.B) != len(v.T) || len(v.B) > d.z.maxTerm {
		return nil, fmt.Errorf("%w: %s vector has %d buckets and %d frequencies (at most %d terms)", errState, what, len(v.B), len(v.T), d.z.maxTerm)
	}
	var out Vector
	for i, b := range v.B {
		if b > d.z.mask || (i > 0 && b <= v.B[i-1]) {
			return nil, fmt.Errorf("%w: %s vector bucket %d out of range or order", errState, what, b)
		}
		out = append(out, Term{Bucket: b, TF: v.T[i]})
	}
	return out, nil
}

func sortedKeys(m map[string]struct{}) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func keySet(keys []string, what string) (map[string]struct{}, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	m := make(map[string]struct{}, len(keys))
	for i, k := range keys {
		if i > 0 && keys[i-1] >= k {
			return nil, fmt.Errorf("%w: %s not sorted or duplicated at %q", errState, what, k)
		}
		m[k] = struct{}{}
	}
	return m, nil
}

// MarshalState encodes the detector's state deterministically as JSON.
func (d *Detector) MarshalState() ([]byte, error) {
	st := stateJSON{Docs: d.z.docs, DF: d.z.df, Agents: make([]agentJSON, 0, d.agents.Len()),
		Sessions: make([]sessionJSON, 0, d.sessions.Len())}
	for id, a := range d.agents.All() {
		st.Agents = append(st.Agents, agentJSON{ID: id, Purpose: a.purpose, Vec: vecJSON(a.vec), Sink: a.sink, Destr: a.destr,
			Classes: a.classes, AnyDeclClass: a.anyDeclClass})
	}
	for id, s := range d.sessions.All() {
		st.Sessions = append(st.Sessions, sessionJSON{ID: id, Request: vecJSON(s.request), HasRequest: s.hasRequest, Calls: s.calls,
			SumReq: s.sumReq, MinReq: s.minReq, Reasoning: s.reasoning, SumReasonPurp: s.sumReasonPurp, Unknown: s.unknown,
			UnknownEmitted: s.unknownEmitted, Reported: sortedKeys(s.reported)})
	}
	return json.Marshal(st)
}

// UnmarshalState replaces the detector's state with one encoded by
// MarshalState. It rejects malformed input, duplicate entries, unsorted
// sets,
// a document-frequency table of another dimension, vectors with buckets
// out of range or more than MaxTerms terms, and tables beyond MaxAgents,
// MaxSessions and MaxReported.
func (d *Detector) UnmarshalState(b []byte) error {
	var st stateJSON
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%w: %w", errState, err)
	}
	switch {
	case len(st.DF) != len(d.z.df):
		return fmt.Errorf("%w: %d document frequencies, want %d", errState, len(st.DF), len(d.z.df))
	case d.opts.MaxAgents > 0 && len(st.Agents) > d.opts.MaxAgents:
		return fmt.Errorf("%w: %d agents exceed MaxAgents %d", errState, len(st.Agents), d.opts.MaxAgents)
	case d.opts.MaxSessions > 0 && len(st.Sessions) > d.opts.MaxSessions:
		return fmt.Errorf("%w: %d sessions exceed MaxSessions %d", errState, len(st.Sessions), d.opts.MaxSessions)
	}
	agents, sessions := d.tables(max(d.agents.Max(), len(st.Agents)), max(d.sessions.Max(), len(st.Sessions)))
	for _, a := range st.Agents {
		vec, err := d.vecState(a.Vec, "agent "+a.ID)
		if err != nil {
			return err
		}
		vec = d.purposeVector(a.Purpose, vec) // shared by the agents of a purpose
		if _, err := keySet(a.Classes, "data classes of "+a.ID); err != nil {
			return err
		}
		classes := slices.Clip(a.Classes)
		if len(classes) == 0 {
			classes = nil
		}
		v, ok := agents.PushBack(a.ID)
		if !ok {
			return fmt.Errorf("%w: duplicate agent %q", errState, a.ID)
		}
		*v = agentState{purpose: a.Purpose, vec: vec, sink: a.Sink, destr: a.Destr, classes: classes, anyDeclClass: a.AnyDeclClass}
	}
	for _, s := range st.Sessions {
		if len(s.Reported) > d.opts.MaxReported {
			return fmt.Errorf("%w: session %q reported %d, MaxReported is %d", errState, s.ID, len(s.Reported), d.opts.MaxReported)
		}
		req, err := d.vecState(s.Request, "session "+s.ID)
		if err != nil {
			return err
		}
		rep, err := keySet(s.Reported, "reported of "+s.ID)
		if err != nil {
			return err
		}
		v, ok := sessions.PushBack(s.ID)
		if !ok {
			return fmt.Errorf("%w: duplicate session %q", errState, s.ID)
		}
		*v = sessionState{request: req, hasRequest: s.HasRequest, calls: s.Calls, sumReq: s.SumReq, minReq: s.MinReq,
			reasoning: s.Reasoning, sumReasonPurp: s.SumReasonPurp, unknown: s.Unknown, unknownEmitted: s.UnknownEmitted, reported: rep}
	}
	agents.Adopt(d.agents)
	sessions.Adopt(d.sessions)
	d.z.restore(st.DF, st.Docs)
	d.agents, d.sessions = agents, sessions
	return nil
}
