// Package custom evaluates operators' CEL rules (detector/rules Custom) on
// every event: the condition sees the event, the agent's inventory entry
// and a small view of the session's state (tools called so far, counts)
// and of the lineage's (the same, over every session of the event's root
// agent: a delegation tree), so a sequence "A then B within N steps or T
// seconds" can span a parent and its sub-agents. A threshold rule
// (rules.Threshold) counts the events matching its condition in a window
// of one session, agent or lineage (time and/or steps) and fires when the
// count is reached; its windows are LRU-bounded and checkpointed.
// The rules come from the ruleset holder on every event, so a reload adds,
// changes or removes rules without touching the session state kept here.
package custom

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/tetherhq/tether/detector/internal/lru"
	"github.com/tetherhq/tether/detector/rules"
	"github.com/tetherhq/tether/models"
)

// Name is the detector's name.
const Name = rules.CustomDetector

// maxTools bounds the distinct tools remembered per session.
const maxTools = 64

// Options configures the detector.
type Options struct {
	// MaxSessions bounds the session table (LRU). Every table's bytes are
	// accounted to the memory budget (SetMeter), which evicts the least
	// recently active entries when it is exceeded; the Max… options are
	// optional ceilings below it (0: none).
	MaxSessions int

	// MaxLineages bounds the lineage table (LRU, keyed by root agent id).
	MaxLineages int

	// MaxAgents bounds the per-agent event counters (LRU): the steps of
	// threshold windows per agent.
	MaxAgents int

	// MaxWindows bounds the threshold windows (LRU, one per threshold
	// rule and session, agent or lineage with a match in it).
	MaxWindows int
}

// DefaultOptions returns the production options: no ceilings, the memory
// budget alone bounds the tables.
func DefaultOptions() Options {
	return Options{}
}

// sessionState is the state of one scope: a session, or a lineage (all
// sessions of one root agent).
type sessionState struct {
	Tools []string `json:"tools,omitempty"`
	// Steps and Times are, per entry of Tools, the step and event time
	// (Unix seconds) of the tool's latest call: sequence conditions
	// ("A then B within N steps or T seconds"). A lineage's step is its
	// call ordinal (1 for its first tool call): event steps count per
	// session, so they do not order calls of different sessions.
	Steps []int64   `json:"steps,omitempty"`
	Times []float64 `json:"times,omitempty"`
	// Counts is, per entry of Tools, how often it was called (thresholds).
	Counts  []int64 `json:"counts,omitempty"`
	Calls   int64   `json:"calls,omitempty"`
	Results int64   `json:"results,omitempty"`
	Events  int64   `json:"events,omitempty"`
}

// window holds a threshold rule's recent matches in one scope: their event
// times (Unix seconds) and their ordinals among the scope's events.
type window struct {
	Times []float64 `json:"times"`
	Ords  []int64   `json:"ords"`
}

// add records a match at (at, ord) and reports whether th.Count matches
// now lie in the window; if so the window is emptied.
func (w *window) add(th *rules.Threshold, at float64, ord int64) bool {
	keep := 0
	for i := range w.Times {
		if th.Within > 0 && at-w.Times[i] > th.Within.Seconds() {
			continue
		}
		if th.Steps > 0 && ord-w.Ords[i] >= th.Steps {
			continue
		}
		w.Times[keep], w.Ords[keep] = w.Times[i], w.Ords[i]
		keep++
	}
	w.Times, w.Ords = w.Times[:keep], w.Ords[:keep]
	if n := len(w.Times) - (th.Count - 1); n > 0 { // a reload lowered the count
		w.Times, w.Ords = w.Times[n:], w.Ords[n:]
	}
	w.Times, w.Ords = append(w.Times, at), append(w.Ords, ord)
	if len(w.Times) < th.Count {
		return false
	}
	w.Times, w.Ords = w.Times[:0], w.Ords[:0]
	return true
}

// Detector evaluates the custom rules. Not safe for concurrent use (one
// engine's goroutine drives it).
type Detector struct {
	opts      Options
	rules     *rules.Holder
	sessions  *lru.LRU[sessionState]
	lineages  *lru.LRU[sessionState]
	agents    *lru.LRU[int64] // events per agent (threshold steps)
	windows   *lru.LRU[window]
	evictions *atomic.Uint64
	// Errors counts evaluation errors (a condition reading a missing key
	// of event.args, say): the rule does not match, the count shows it.
	errors atomic.Uint64
}

// New returns a detector reading its rules from h.
func New(opts Options, h *rules.Holder) *Detector {
	d := &Detector{opts: opts, rules: h, evictions: new(atomic.Uint64)}
	d.reset()
	return d
}

// Name returns "custom".
func (d *Detector) Name() string { return Name }

func (d *Detector) reset() {
	d.sessions = lru.New[sessionState](d.opts.MaxSessions)
	d.sessions.CountInto(d.evictions)
	d.lineages = lru.New[sessionState](d.opts.MaxLineages)
	d.lineages.CountInto(d.evictions)
	d.agents = lru.New[int64](d.opts.MaxAgents)
	d.agents.CountInto(d.evictions)
	d.windows = lru.New[window](d.opts.MaxWindows)
	d.windows.CountInto(d.evictions)
}

// SetMeter implements detector.Bounded: a session or lineage is its id and
// tool lists, an agent counter its id, a window its id and match lists.
func (d *Detector) SetMeter(m *lru.Meter) {
	d.sessions.Metered(m, Name+"/sessions", scopeBytes)
	d.lineages.Metered(m, Name+"/lineages", scopeBytes)
	d.agents.Metered(m, Name+"/agents", func(id string, _ *int64) int { return lru.String(id) })
	d.windows.Metered(m, Name+"/windows", func(id string, w *window) int {
		return lru.String(id) + lru.Slice(w.Times) + lru.Slice(w.Ords)
	})
}

func scopeBytes(id string, s *sessionState) int {
	n := lru.String(id) + lru.Slice(s.Tools) + lru.Slice(s.Steps) + lru.Slice(s.Times) + lru.Slice(s.Counts)
	for _, t := range s.Tools {
		n += lru.String(t)
	}
	return n
}

// Evictions counts sessions, lineages, agents and threshold windows
// evicted from the bounded tables.
func (d *Detector) Evictions() uint64 { return d.evictions.Load() }

// EvalErrors counts rule evaluations that failed (and did not match).
func (d *Detector) EvalErrors() uint64 { return d.errors.Load() }

// Observe evaluates every enabled custom rule on ev, then records ev in
// the session's state.
func (d *Detector) Observe(ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
	cs := d.rules.Load().Custom()
	if len(cs) == 0 && d.sessions.Len() == 0 {
		return // no custom rules were ever seen: keep no state
	}
	st, _ := d.sessions.Put(ev.SessionID)
	ln, _ := d.lineages.Put(ev.Root())
	ag, _ := d.agents.Put(ev.AgentID)
	if len(cs) > 0 {
		vars := map[string]any{"event": eventVars(ev), "agent": agentVars(agent), "session": sessionVars(st)}
		if slices.ContainsFunc(cs, func(c *rules.Custom) bool { return c.Lineage }) {
			vars["lineage"] = sessionVars(ln)
		}
		for _, c := range cs {
			out, _, err := c.Program.Eval(vars)
			if err != nil {
				d.errors.Add(1)
				c.CountError()
				continue
			}
			b, ok := out.Value().(bool)
			if !ok || !b {
				continue
			}
			expl := c.Description
			if th := c.Threshold; th != nil {
				scope, key, ord := th.Per, "", int64(0)
				switch th.Per {
				case rules.PerAgent:
					key, ord = ev.AgentID, *ag+1
				case rules.PerLineage:
					key, ord = ev.Root(), ln.Events+1
				default:
					key, ord = ev.SessionID, st.Events+1
				}
				w, _ := d.windows.Put(windowKey(c.Rule.ID, scope, key))
				if !w.add(th, float64(ev.Time.UnixNano())/1e9, ord) {
					continue
				}
				expl = fmt.Sprintf("%s (%d matching events in %s %s%s)", expl, th.Count, scope, key, windowText(th))
			}
			emit(models.Finding{Kind: c.Rule.Kind, Severity: c.Rule.Severity, Confidence: c.Rule.Confidence,
				Explanation: expl})
		}
	}
	record(st, ev, int64(ev.Step))
	record(ln, ev, ln.Calls+1)
	*ag++
	if ev.Kind == models.KindSessionEnd {
		d.sessions.Delete(ev.SessionID) // a lineage outlives its sessions (LRU-bounded)
		for _, c := range cs {
			if c.Threshold != nil && c.Threshold.Per == rules.PerSession {
				d.windows.Delete(windowKey(c.Rule.ID, rules.PerSession, ev.SessionID))
			}
		}
	}
}

// windowKey names a threshold window: rule id, scope and scope key.
func windowKey(rule, scope, key string) string { return rule + "\x00" + scope + "\x00" + key }

func windowText(th *rules.Threshold) string {
	var s string
	if th.Within > 0 {
		s += " within " + th.Within.String()
	}
	if th.Steps > 0 {
		s += fmt.Sprintf(" within %d events", th.Steps)
	}
	return s
}

// record adds ev to a scope's state; step is the call's step in the scope.
func record(st *sessionState, ev *models.Event, step int64) {
	st.Events++
	switch ev.Kind {
	case models.KindToolCall:
		st.Calls++
		at := float64(ev.Time.UnixNano()) / 1e9
		if i := slices.Index(st.Tools, ev.ToolName); i >= 0 {
			st.Steps[i], st.Times[i] = step, at
			st.Counts[i]++
		} else if ev.ToolName != "" && len(st.Tools) < maxTools {
			st.Tools = append(st.Tools, ev.ToolName)
			st.Steps = append(st.Steps, step)
			st.Times = append(st.Times, at)
			st.Counts = append(st.Counts, 1)
		}
	case models.KindToolResult:
		st.Results++
	}
}

func eventVars(ev *models.Event) map[string]any {
	var args any = map[string]any{}
	if len(ev.Arguments) > 0 {
		var a any
		if json.Unmarshal(ev.Arguments, &a) == nil {
			args = a
		}
	}
	classes := ev.DataClasses
	if classes == nil {
		classes = []string{}
	}
	return map[string]any{
		"kind": string(ev.Kind), "agent_id": ev.AgentID, "root_agent_id": ev.Root(), "session_id": ev.SessionID,
		"step": int64(ev.Step), "tool": ev.ToolName, "args": args, "result": ev.Result, "content": ev.Content,
		"role": ev.Role, "principal": ev.Principal, "autonomy": string(ev.Autonomy), "destination": ev.Destination,
		"resource": ev.Resource, "data_classes": classes, "bytes": ev.Bytes, "model": ev.Model,
		"time": float64(ev.Time.UnixNano()) / 1e9,
	}
}

func agentVars(a *models.AgentSpec) map[string]any {
	if a == nil {
		return map[string]any{"registered": false, "id": "", "purpose": "", "owner": "", "autonomy": "", "tools": []string{}}
	}
	tools := make([]string, len(a.Tools))
	for i, t := range a.Tools {
		tools[i] = t.Name
	}
	return map[string]any{"registered": true, "id": a.ID, "purpose": a.Purpose, "owner": a.Owner, "autonomy": string(a.Autonomy), "tools": tools}
}

func sessionVars(st *sessionState) map[string]any {
	tools := st.Tools
	if tools == nil {
		tools = []string{}
	}
	step := make(map[string]int64, len(st.Tools))
	at := make(map[string]float64, len(st.Tools))
	count := make(map[string]int64, len(st.Tools))
	for i, t := range st.Tools {
		step[t], at[t], count[t] = st.Steps[i], st.Times[i], st.Counts[i]
	}
	return map[string]any{"tools": tools, "tool_step": step, "tool_time": at, "tool_calls": count,
		"calls": st.Calls, "results": st.Results, "events": st.Events}
}

// errState marks invalid input to UnmarshalState.
var errState = errors.New("custom: invalid state")

type stateJSON struct {
	// Sessions from most to least recently active (LRU order).
	Sessions []sessionJSON `json:"sessions"`
	// Lineages likewise, by root agent id (absent in older snapshots).
	Lineages []sessionJSON `json:"lineages,omitempty"`
	// Agents are the per-agent event counters, Windows the threshold
	// windows (rule id, scope and key joined by NUL), both in LRU order
	// (absent in older snapshots).
	Agents  []agentJSON  `json:"agents,omitempty"`
	Windows []windowJSON `json:"windows,omitempty"`
}

type agentJSON struct {
	ID     string `json:"id"`
	Events int64  `json:"events"`
}

type windowJSON struct {
	ID string `json:"id"`
	window
}

type sessionJSON struct {
	ID string `json:"id"`
	sessionState
}

// MarshalState encodes the session table deterministically (LRU order).
func (d *Detector) MarshalState() ([]byte, error) {
	s := stateJSON{Sessions: []sessionJSON{}}
	for id, st := range d.sessions.All() {
		s.Sessions = append(s.Sessions, sessionJSON{ID: id, sessionState: *st})
	}
	for id, st := range d.lineages.All() {
		s.Lineages = append(s.Lineages, sessionJSON{ID: id, sessionState: *st})
	}
	for id, n := range d.agents.All() {
		s.Agents = append(s.Agents, agentJSON{ID: id, Events: *n})
	}
	for id, w := range d.windows.All() {
		if len(w.Times) > 0 { // emptied by a finding: nothing to keep
			s.Windows = append(s.Windows, windowJSON{ID: id, window: *w})
		}
	}
	return json.Marshal(s)
}

// OptionalState marks the state as optional in engine snapshots: a
// snapshot taken before the detector existed restores it empty.
func (d *Detector) OptionalState() {}

// UnmarshalState replaces the session and lineage tables.
func (d *Detector) UnmarshalState(b []byte) (err error) {
	sessions, lineages, agents, windows := d.sessions, d.lineages, d.agents, d.windows
	d.reset()
	defer func() { // the rebuilt tables take the old ones' place in the budget
		d.sessions.Adopt(sessions)
		d.lineages.Adopt(lineages)
		d.agents.Adopt(agents)
		d.windows.Adopt(windows)
	}()
	var s stateJSON
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: %w", errState, err)
	}
	if s.Sessions == nil {
		return fmt.Errorf("%w: no session table", errState)
	}
	if err := restore(d.sessions, s.Sessions, "session", d.opts.MaxSessions); err != nil {
		return err
	}
	if err := restore(d.lineages, s.Lineages, "lineage", d.opts.MaxLineages); err != nil {
		return err
	}
	if over(len(s.Agents), d.opts.MaxAgents) || over(len(s.Windows), d.opts.MaxWindows) {
		return fmt.Errorf("%w: %d agents (cap %d), %d windows (cap %d)", errState, len(s.Agents), d.opts.MaxAgents, len(s.Windows), d.opts.MaxWindows)
	}
	for _, a := range s.Agents {
		n, ok := d.agents.PushBack(a.ID)
		if !ok || a.Events < 0 {
			return fmt.Errorf("%w: agent %q listed twice or with %d events", errState, a.ID, a.Events)
		}
		*n = a.Events
	}
	for _, x := range s.Windows {
		if len(x.Times) != len(x.Ords) || len(x.Times) > rules.MaxThresholdCount {
			return fmt.Errorf("%w: window %q holds %d times and %d steps (cap %d)", errState, x.ID, len(x.Times), len(x.Ords), rules.MaxThresholdCount)
		}
		w, ok := d.windows.PushBack(x.ID)
		if !ok {
			return fmt.Errorf("%w: window %q listed twice", errState, x.ID)
		}
		*w = x.window
	}
	return nil
}

// over reports whether n entries exceed a table's ceiling (≤ 0: none).
func over(n, limit int) bool { return limit > 0 && n > limit }

func restore(t *lru.LRU[sessionState], xs []sessionJSON, what string, limit int) error {
	if over(len(xs), limit) {
		return fmt.Errorf("%w: %d %ss, cap %d", errState, len(xs), what, limit)
	}
	for _, x := range xs {
		if len(x.Tools) > maxTools || len(x.Steps) != len(x.Tools) || len(x.Times) != len(x.Tools) || len(x.Counts) != len(x.Tools) {
			return fmt.Errorf("%w: %s %q lists %d tools (cap %d), %d steps, %d times, %d counts",
				errState, what, x.ID, len(x.Tools), maxTools, len(x.Steps), len(x.Times), len(x.Counts))
		}
		st, ok := t.PushBack(x.ID)
		if !ok {
			return fmt.Errorf("%w: %s %q listed twice", errState, what, x.ID)
		}
		*st = x.sessionState
	}
	return nil
}
