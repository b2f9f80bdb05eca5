// Package incident builds the evidence an analyst hands on: one
// self-contained incident timeline (events, findings, commands,
// acknowledgements, human approvals and triage) for a finding or an agent,
// as JSON and as a print-ready HTML page fit for a NIS2 24-hour early
// warning, with an oversight log (triage decisions, demotions and other
// containment) for EU AI Act Article 14; and the AI-agent asset catalogue
// (agents, owners, purposes, autonomy levels, tools and capabilities, toxic
// paths).
//
// An incident of a finding covers the finding's session and the sub-agent
// sessions it spawned; an incident of an agent covers that agent's sessions
// still in the console's memory window, and theirs. Nothing of other
// sessions is included.
package incident

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tetherhq/tether/detector/capability"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/models/triage"
	"github.com/tetherhq/tether/sink/memstore"
)

// Format names the JSON document's version.
const Format = "tether.incident/v1"

// Source is what an incident is built from (sink/memstore.Store).
type Source interface {
	Agent(id string) (memstore.AgentDetail, error)
	Session(id string) (memstore.SessionDetail, error)
	Finding(id string) (memstore.FindingDetail, error)
}

// Scope selects the incident: one of FindingID or AgentID.
type Scope struct {
	FindingID string `json:"finding_id,omitempty"`
	AgentID   string `json:"agent_id,omitempty"`
}

// ErrScope is returned when the scope names neither or both.
var ErrScope = errors.New("incident: give exactly one of a finding id or an agent id")

// Entry is one line of the timeline.
type Entry struct {
	Time      time.Time `json:"time"`
	Step      int       `json:"step"`
	SessionID string    `json:"session_id,omitempty"`
	AgentID   string    `json:"agent_id,omitempty"`
	// Type is event, finding, command, acknowledgement, approval or triage.
	Type     string `json:"type"`
	ID       string `json:"id"`
	Severity uint8  `json:"severity,omitempty"`
	Text     string `json:"text"`
}

// Agent is one agent involved.
type Agent struct {
	ID              string          `json:"agent_id"`
	Owner           string          `json:"owner,omitempty"`
	Purpose         string          `json:"purpose,omitempty"`
	Registered      bool            `json:"registered"`
	Autonomy        models.Autonomy `json:"autonomy,omitempty"`
	CurrentAutonomy models.Autonomy `json:"current_autonomy,omitempty"`
	Containment     string          `json:"containment,omitempty"`
}

// Summary is the incident at a glance (times are event times, in ms).
type Summary struct {
	Sessions     []string  `json:"sessions"`
	Agents       []string  `json:"agents"`
	Principals   []string  `json:"principals,omitempty"`
	FirstEvent   time.Time `json:"first_event,omitzero"`
	FirstHarmful time.Time `json:"first_harmful,omitzero"`
	FirstAlert   time.Time `json:"first_alert,omitzero"`
	FirstCommand time.Time `json:"first_command,omitzero"`
	// MTTDMillis and MTTCMillis run from the first harmful event (the
	// earliest evidence of an alert finding) to the first alert and the
	// first command; -1 when there is none.
	MTTDMillis  int64 `json:"mttd_ms"`
	MTTCMillis  int64 `json:"mttc_ms"`
	MaxSeverity uint8 `json:"max_severity"`
	Events      int   `json:"events"`
	Findings    int   `json:"findings"`
	Alerts      int   `json:"alerts"`
	Commands    int   `json:"commands"`
}

// Incident is the exported document.
type Incident struct {
	Format      string                      `json:"format"`
	GeneratedAt time.Time                   `json:"generated_at"`
	Scope       Scope                       `json:"scope"`
	Summary     Summary                     `json:"summary"`
	Agents      []Agent                     `json:"agents"`
	Timeline    []Entry                     `json:"timeline"`
	Findings    []memstore.TriagedFinding   `json:"findings"`
	Commands    []models.ContainmentCommand `json:"commands"`
	// Acknowledgements by enforcement points and human approvals are not
	// recorded by Tether yet: always empty lists, kept so consumers of the
	// format need not change when they are.
	Acknowledgements []Entry         `json:"acknowledgements"`
	Approvals        []Entry         `json:"approvals"`
	Triage           []triage.Record `json:"triage"`
	Oversight        []Entry         `json:"oversight"`
	Omitted          map[string]int  `json:"omitted,omitempty"`
}

// Build assembles the incident of scope from src at now.
func Build(src Source, scope Scope, now time.Time) (*Incident, error) {
	if (scope.FindingID == "") == (scope.AgentID == "") {
		return nil, ErrScope
	}
	var roots []string
	if scope.FindingID != "" {
		f, err := src.Finding(scope.FindingID)
		if err != nil {
			return nil, err
		}
		roots = []string{f.Finding.SessionID}
	} else {
		a, err := src.Agent(scope.AgentID)
		if err != nil {
			return nil, err
		}
		for _, s := range a.RecentSessions {
			roots = append(roots, s.ID)
		}
	}
	inc := &Incident{Format: Format, GeneratedAt: now.UTC(), Scope: scope, Acknowledgements: []Entry{}, Approvals: []Entry{},
		Triage: []triage.Record{}, Oversight: []Entry{}, Summary: Summary{MTTDMillis: -1, MTTCMillis: -1}}
	seenSession, seenFinding, seenCommand, agents := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	evTime := map[string]time.Time{}
	principals := map[string]bool{}
	// Breadth-first over the sessions and the sub-agent sessions they spawned.
	for len(roots) > 0 {
		sid := roots[0]
		roots = roots[1:]
		if seenSession[sid] {
			continue
		}
		seenSession[sid] = true
		d, err := src.Session(sid)
		if err != nil {
			if errors.Is(err, memstore.ErrNotFound) {
				if inc.Omitted == nil {
					inc.Omitted = map[string]int{}
				}
				inc.Omitted["sessions_not_in_memory"]++
				continue
			}
			return nil, err
		}
		inc.Summary.Sessions = append(inc.Summary.Sessions, sid)
		if d.Principal != "" {
			principals[d.Principal] = true
		}
		for _, e := range d.EventsList {
			agents[e.AgentID] = true
			evTime[e.ID] = e.Time
			inc.Timeline = append(inc.Timeline, Entry{Time: e.Time, Step: e.Step, SessionID: sid, AgentID: e.AgentID, Type: "event", ID: e.ID, Text: eventText(e)})
			if inc.Summary.FirstEvent.IsZero() || e.Time.Before(inc.Summary.FirstEvent) {
				inc.Summary.FirstEvent = e.Time
			}
			if e.ChildSessionID != "" {
				roots = append(roots, e.ChildSessionID)
			}
		}
		inc.Summary.Events += len(d.EventsList)
		if d.DroppedEvents > 0 {
			if inc.Omitted == nil {
				inc.Omitted = map[string]int{}
			}
			inc.Omitted["events_beyond_session_cap"] += d.DroppedEvents
		}
		for _, f := range d.Findings {
			if seenFinding[f.ID] {
				continue
			}
			seenFinding[f.ID] = true
			inc.Findings = append(inc.Findings, f)
			inc.Timeline = append(inc.Timeline, Entry{Time: f.Time, Step: f.Step, SessionID: f.SessionID, AgentID: f.AgentID, Type: "finding", ID: f.ID,
				Severity: f.Severity, Text: fmt.Sprintf("%s/%s: %s", f.Detector, f.Kind, f.Explanation)})
			for _, r := range d.Triage[f.ID] {
				inc.Triage = append(inc.Triage, r)
				e := Entry{Time: r.At, Step: f.Step, SessionID: f.SessionID, AgentID: f.AgentID, Type: "triage", ID: f.ID,
					Text: fmt.Sprintf("%s by %s: %s", r.Status, r.By, r.Comment)}
				inc.Timeline = append(inc.Timeline, e)
				inc.Oversight = append(inc.Oversight, e)
			}
		}
		for _, c := range d.Commands {
			if seenCommand[c.ID] {
				continue
			}
			seenCommand[c.ID] = true
			inc.Commands = append(inc.Commands, c)
			text := fmt.Sprintf("%s (severity %d): %s", c.Action, c.Severity, c.Reason)
			if c.TargetAutonomy != "" {
				text = fmt.Sprintf("%s to %s (severity %d): %s", c.Action, c.TargetAutonomy, c.Severity, c.Reason)
			}
			e := Entry{Time: c.IssuedAt, Step: -1, SessionID: c.SessionID, AgentID: c.AgentID, Type: "command", ID: c.ID, Severity: c.Severity, Text: text}
			inc.Timeline = append(inc.Timeline, e)
			inc.Oversight = append(inc.Oversight, e)
		}
	}
	for id := range agents {
		a, err := src.Agent(id)
		if err != nil {
			inc.Agents = append(inc.Agents, Agent{ID: id})
			continue
		}
		inc.Agents = append(inc.Agents, Agent{ID: id, Owner: a.Owner, Purpose: a.Purpose, Registered: a.Registered, Autonomy: a.Autonomy,
			CurrentAutonomy: a.Current, Containment: a.Containment})
	}
	slices.SortFunc(inc.Agents, func(a, b Agent) int { return cmp.Compare(a.ID, b.ID) })
	order := map[string]int{"event": 0, "finding": 1, "command": 2, "acknowledgement": 3, "approval": 4, "triage": 5}
	sortEntries := func(es []Entry) {
		slices.SortStableFunc(es, func(a, b Entry) int {
			return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.SessionID, b.SessionID), cmp.Compare(a.Step, b.Step), cmp.Compare(order[a.Type], order[b.Type]), cmp.Compare(a.ID, b.ID))
		})
	}
	sortEntries(inc.Timeline)
	sortEntries(inc.Oversight)
	summarise(inc, evTime, principals)
	return inc, nil
}

func summarise(inc *Incident, evTime map[string]time.Time, principals map[string]bool) {
	s := &inc.Summary
	agents := map[string]bool{}
	for _, f := range inc.Findings {
		agents[f.AgentID] = true
		s.MaxSeverity = max(s.MaxSeverity, f.Severity)
		if f.Severity < models.AlertThreshold {
			continue
		}
		s.Alerts++
		if s.FirstAlert.IsZero() || f.Time.Before(s.FirstAlert) {
			s.FirstAlert = f.Time
		}
		for _, id := range f.EvidenceIDs {
			if t, ok := evTime[id]; ok && (s.FirstHarmful.IsZero() || t.Before(s.FirstHarmful)) {
				s.FirstHarmful = t
			}
		}
	}
	for _, c := range inc.Commands {
		if s.FirstCommand.IsZero() || c.IssuedAt.Before(s.FirstCommand) {
			s.FirstCommand = c.IssuedAt
		}
	}
	if !s.FirstHarmful.IsZero() && !s.FirstAlert.IsZero() {
		s.MTTDMillis = s.FirstAlert.Sub(s.FirstHarmful).Milliseconds()
	}
	if !s.FirstHarmful.IsZero() && !s.FirstCommand.IsZero() {
		s.MTTCMillis = s.FirstCommand.Sub(s.FirstHarmful).Milliseconds()
	}
	for _, e := range inc.Timeline {
		agents[e.AgentID] = true
	}
	delete(agents, "")
	s.Agents = sortedKeys(agents)
	s.Principals = sortedKeys(principals)
	s.Findings, s.Commands = len(inc.Findings), len(inc.Commands)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func eventText(e memstore.EventView) string {
	switch models.Kind(e.Kind) {
	case models.KindToolCall:
		t := "call " + e.Tool + " " + e.Arguments
		if e.Destination != "" {
			t += " → " + e.Destination
		}
		return t
	case models.KindToolResult:
		if e.Error != "" {
			return "result of " + e.Tool + " (error " + e.Error + "): " + e.Result
		}
		return "result of " + e.Tool + ": " + e.Result
	case models.KindAgentSpawn:
		return "spawns " + e.ChildAgentID + " (session " + e.ChildSessionID + ")"
	}
	if e.Content != "" {
		return e.Kind + " (" + e.Role + "): " + e.Content
	}
	return e.Kind
}

// AssetEntry is one agent of the AI-agent asset catalogue.
type AssetEntry struct {
	models.AgentSpec
	// Capabilities is the union of the tools' labels.
	Capabilities []models.Label `json:"capabilities"`
	// ToxicPaths are the paths its own tools make possible.
	ToxicPaths []capability.ToxicPath `json:"toxic_paths"`
}

// Catalogue is `tether export inventory`: every declared agent with its
// capabilities and toxic paths.
type Catalogue struct {
	Format      string       `json:"format"`
	GeneratedAt time.Time    `json:"generated_at"`
	Agents      []AssetEntry `json:"agents"`
}

// NewCatalogue builds the asset catalogue of inv.
func NewCatalogue(inv *models.Inventory, now time.Time) Catalogue {
	c := Catalogue{Format: "tether.inventory/v1", GeneratedAt: now.UTC(), Agents: []AssetEntry{}}
	if inv == nil {
		return c
	}
	for _, a := range inv.Agents {
		e := AssetEntry{AgentSpec: a, Capabilities: []models.Label{}, ToxicPaths: capability.ToxicPaths(&a)}
		for _, t := range a.Tools {
			for _, l := range t.Labels {
				if !slices.Contains(e.Capabilities, l) {
					e.Capabilities = append(e.Capabilities, l)
				}
			}
		}
		slices.Sort(e.Capabilities)
		if e.ToxicPaths == nil {
			e.ToxicPaths = []capability.ToxicPath{}
		}
		c.Agents = append(c.Agents, e)
	}
	return c
}
