// Package memstore is a sink.Writer that keeps a bounded in-memory view of
// what the pipeline produced — per-agent rollups, recent sessions with their
// events and findings, containment commands and triage — for the console.
// It is fed by the same batches as the other sinks, so the console works in
// the demo (no ClickHouse) and in the daemon.
//
// Memory is bounded by Options: at most MaxSessions sessions whose retained
// events take at most MaxEventBytes (approximate: the stored strings plus a
// fixed per-event overhead; argument, result and content text is cut to
// MaxTextBytes), at most MaxEventsPerSession events per session (later ones
// are counted, not kept), MaxFindings findings, MaxCommands commands and
// MaxAgents agents, and the acknowledgements of at most MaxAckedCommands
// commands (at most 16 per command). The least recently active session or
// agent, and the oldest finding, command or acknowledged command, is
// evicted first.
package memstore

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/models/triage"
	"github.com/tetherhq/tether/sink"
)

// Options bounds the store.
type Options struct {
	// MaxSessions is how many sessions are kept (least recently active evicted).
	MaxSessions int
	// MaxEventsPerSession caps the events kept for one session.
	MaxEventsPerSession int
	// MaxEventBytes caps the approximate bytes of all retained events.
	MaxEventBytes int64
	// MaxTextBytes cuts each event's arguments, result and content.
	MaxTextBytes int
	// MaxFindings and MaxCommands cap the findings and commands kept.
	MaxFindings, MaxCommands int
	// MaxAgents caps the agents kept (least recently active evicted).
	MaxAgents int
	// MaxAckedCommands caps the commands whose acknowledgements are kept
	// (the first acknowledged evicted first).
	MaxAckedCommands int
	// Inventory, when set, gives declared purpose, owner and autonomy.
	Inventory *models.Inventory
}

// DefaultOptions keeps about 64 MiB of events in up to 2,000 sessions.
func DefaultOptions() Options {
	return Options{
		MaxSessions:         2000,
		MaxEventsPerSession: 1000,
		MaxEventBytes:       64 << 20,
		MaxTextBytes:        2048,
		MaxFindings:         50000,
		MaxCommands:         20000,
		MaxAgents:           10000,
		MaxAckedCommands:    20000,
	}
}

// ErrNotFound is returned (wrapped with the id) for an id the store does
// not hold (never seen, or evicted).
var ErrNotFound = errors.New("not in the console's memory window")

const (
	eventOverhead   = 380 // struct, slice slot, id set entry, list bookkeeping
	rateBuckets     = 60  // per-minute event counts kept per agent
	recentTools     = 50  // tool calls in an agent's "recent" profile
	maxToolNames    = 64  // distinct tools counted per agent ("(other)" beyond)
	maxAgentRefs    = 200 // findings, sessions, commands listed per agent
	maxChildren     = 64
	maxTriagePerFnd = 32
	maxAcksPerCmd   = 16 // consumers acknowledging one command
)

// Ack is a command's acknowledgement by a consumer as the console shows
// it, with its time-to-contain (event time to acknowledgement, 0 when a
// time is missing).
type Ack struct {
	models.CommandAck
	TimeToContainMillis int64 `json:"time_to_contain_ms"`
}

// EventView is an event as the console shows it (long text cut).
type EventView struct {
	Seq            uint64    `json:"seq"`
	ID             string    `json:"event_id"`
	Kind           string    `json:"kind"`
	Time           time.Time `json:"time"`
	Step           int       `json:"step"`
	AgentID        string    `json:"agent_id"`
	SessionID      string    `json:"session_id"`
	Tool           string    `json:"tool,omitempty"`
	Role           string    `json:"role,omitempty"`
	Arguments      string    `json:"arguments,omitempty"`
	Result         string    `json:"result,omitempty"`
	Content        string    `json:"content,omitempty"`
	Truncated      bool      `json:"truncated,omitempty"`
	Destination    string    `json:"destination,omitempty"`
	Resource       string    `json:"resource,omitempty"`
	DataClasses    []string  `json:"data_classes,omitempty"`
	ChildAgentID   string    `json:"child_agent_id,omitempty"`
	ChildSessionID string    `json:"child_session_id,omitempty"`
	Error          string    `json:"error,omitempty"`
	Autonomy       string    `json:"autonomy,omitempty"`
}

func (e *EventView) size() int64 {
	n := eventOverhead + len(e.ID) + len(e.Kind) + len(e.AgentID) + len(e.SessionID) + len(e.Tool) + len(e.Role) +
		len(e.Arguments) + len(e.Result) + len(e.Content) + len(e.Destination) + len(e.Resource) +
		len(e.ChildAgentID) + len(e.ChildSessionID) + len(e.Error)
	for _, d := range e.DataClasses {
		n += len(d) + 16
	}
	return int64(n)
}

// SessionSummary describes one session without its events.
type SessionSummary struct {
	ID              string    `json:"session_id"`
	AgentID         string    `json:"agent_id"`
	RootAgentID     string    `json:"root_agent_id"`
	ParentSessionID string    `json:"parent_session_id,omitempty"`
	Principal       string    `json:"principal,omitempty"`
	Start           time.Time `json:"start"`
	Last            time.Time `json:"last"`
	Events          int       `json:"events"`
	DroppedEvents   int       `json:"dropped_events,omitempty"`
	Findings        int       `json:"findings"`
	MaxSeverity     uint8     `json:"max_severity"`
	// FirstAlert is the event time of the first finding at or above
	// models.AlertThreshold (zero if none).
	FirstAlert time.Time `json:"first_alert,omitzero"`
	// FirstCommand is when the first containment command for the session
	// was issued (zero if none).
	FirstCommand time.Time `json:"first_command,omitzero"`
	Ended        bool      `json:"ended"`
}

type session struct {
	SessionSummary
	events     []EventView
	eventIDs   map[string]struct{} // of events, for replayed batches
	bytes      int64
	findingIDs []string
	commandIDs []string
	elem       *list.Element
}

// TriagedFinding is a finding with its current triage status.
type TriagedFinding struct {
	models.Finding
	Status triage.Status `json:"status"`
}

// AgentSummary is one agent's line on the fleet overview.
type AgentSummary struct {
	ID          string `json:"agent_id"`
	RootAgentID string `json:"root_agent_id"`
	Parent      string `json:"parent_agent_id,omitempty"`
	Purpose     string `json:"purpose,omitempty"`
	Owner       string `json:"owner,omitempty"`
	Registered  bool   `json:"registered"`
	// Autonomy is the declared (or last observed) level; Current is the
	// level after the demotions the store saw.
	Autonomy models.Autonomy `json:"autonomy,omitempty"`
	Current  models.Autonomy `json:"current_autonomy,omitempty"`
	// Risk is the highest severity among the agent's open findings.
	Risk         uint8     `json:"risk"`
	OpenFindings int       `json:"open_findings"`
	Findings     int       `json:"findings"`
	Events       int64     `json:"events"`
	Sessions     int       `json:"sessions"`
	Containment  string    `json:"containment,omitempty"`
	LastSeen     time.Time `json:"last_seen"`
}

// Share is one tool's share of calls in a profile.
type Share struct {
	Tool     string  `json:"tool"`
	Baseline float64 `json:"baseline"`
	Recent   float64 `json:"recent"`
}

// RatePoint is the number of events in one minute of event time.
type RatePoint struct {
	Minute time.Time `json:"minute"`
	Events int       `json:"events"`
}

// Lineage is a node of an agent's delegation tree.
type Lineage struct {
	AgentID  string    `json:"agent_id"`
	Risk     uint8     `json:"risk"`
	Children []Lineage `json:"children,omitempty"`
}

// AgentDetail is the agent page.
type AgentDetail struct {
	AgentSummary
	Tools   []Share     `json:"tools"`
	Rate    []RatePoint `json:"rate"`
	Lineage Lineage     `json:"lineage"`
	// RecentFindings and RecentSessions are the agent's latest (at most
	// 200 each, newest first) still in memory.
	RecentFindings []TriagedFinding            `json:"recent_findings"`
	RecentSessions []SessionSummary            `json:"recent_sessions"`
	Commands       []models.ContainmentCommand `json:"commands"`
	// Acks are the acknowledgements of Commands and of the human clears of
	// the agent's halts.
	Acks []Ack `json:"acks"`
}

// SessionDetail is the session timeline.
type SessionDetail struct {
	SessionSummary
	EventsList []EventView                 `json:"timeline"`
	Findings   []TriagedFinding            `json:"findings"`
	Commands   []models.ContainmentCommand `json:"commands"`
	// Acks are the acknowledgements of Commands.
	Acks     []Ack                      `json:"acks"`
	Triage   map[string][]triage.Record `json:"triage,omitempty"`
	Children []SessionSummary           `json:"children,omitempty"`
}

// FindingDetail is the finding page.
type FindingDetail struct {
	Finding  TriagedFinding              `json:"finding"`
	Evidence []EventView                 `json:"evidence"`
	Missing  []string                    `json:"missing_evidence,omitempty"`
	Commands []models.ContainmentCommand `json:"commands"`
	// Acks are the acknowledgements of Commands.
	Acks    []Ack           `json:"acks"`
	Triage  []triage.Record `json:"triage"`
	Session *SessionSummary `json:"session,omitempty"`
}

type agent struct {
	id, root, parent string
	principal        string
	autonomy         models.Autonomy
	current          models.Autonomy
	events           int64
	lastSeen         time.Time
	toolCounts       map[string]int
	toolTotal        int
	recent           [recentTools]string
	recentN          int
	rate             [rateBuckets]RatePoint
	children         []string
	findingIDs       []string
	findings         int
	sessionIDs       []string
	sessions         int
	commandIDs       []string
	clearIDs         []string // acknowledged human clears of the agent
	containment      string
	elem             *list.Element
}

// Store is the bounded in-memory view. It is safe for concurrent use.
type Store struct {
	opts    Options
	version atomic.Uint64

	mu         sync.RWMutex
	seq        uint64
	agents     map[string]*agent
	agentLRU   *list.List // of agent id, least recently active first
	sessions   map[string]*session
	sessionLRU *list.List
	eventBytes int64
	findings   map[string]*models.Finding
	findOrder  []string
	commands   map[string]*models.ContainmentCommand
	cmdOrder   []string
	byFinding  map[string][]string // finding id → command ids
	triage     map[string][]triage.Record
	acks       map[string][]Ack // command id → its acknowledgements
	ackOrder   []string         // acknowledged command ids, first acknowledged first
	evictions  uint64
}

// New returns an empty store; zero Options fields take their defaults.
func New(opts Options) *Store {
	d := DefaultOptions()
	opts.MaxSessions = cmp.Or(opts.MaxSessions, d.MaxSessions)
	opts.MaxEventsPerSession = cmp.Or(opts.MaxEventsPerSession, d.MaxEventsPerSession)
	opts.MaxEventBytes = cmp.Or(opts.MaxEventBytes, d.MaxEventBytes)
	opts.MaxTextBytes = cmp.Or(opts.MaxTextBytes, d.MaxTextBytes)
	opts.MaxFindings = cmp.Or(opts.MaxFindings, d.MaxFindings)
	opts.MaxCommands = cmp.Or(opts.MaxCommands, d.MaxCommands)
	opts.MaxAgents = cmp.Or(opts.MaxAgents, d.MaxAgents)
	opts.MaxAckedCommands = cmp.Or(opts.MaxAckedCommands, d.MaxAckedCommands)
	return &Store{
		opts: opts, agents: map[string]*agent{}, agentLRU: list.New(),
		sessions: map[string]*session{}, sessionLRU: list.New(),
		findings: map[string]*models.Finding{}, commands: map[string]*models.ContainmentCommand{},
		byFinding: map[string][]string{}, triage: map[string][]triage.Record{}, acks: map[string][]Ack{},
	}
}

// Version changes whenever the store's content changes (for live updates).
func (s *Store) Version() uint64 { return s.version.Load() }

// Write implements sink.Writer. It never fails; a repeated batch (at-least-
// once replay) does not duplicate findings or commands, and events already
// kept for a session (same event id) are not kept twice.
func (s *Store) Write(_ context.Context, b *sink.Batch) error {
	if b.Empty() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range b.Events {
		s.addEvent(ev)
	}
	for i := range b.Findings {
		s.addFinding(b.Findings[i])
	}
	for i := range b.Commands {
		s.addCommand(b.Commands[i])
	}
	s.evict()
	s.version.Add(1)
	return nil
}

func (s *Store) cut(t string) (string, bool) {
	if len(t) <= s.opts.MaxTextBytes {
		return t, false
	}
	n := s.opts.MaxTextBytes
	for n > 0 && t[n]&0xC0 == 0x80 { // do not split a UTF-8 sequence
		n--
	}
	return t[:n], true
}

func (s *Store) touchAgent(id string, at time.Time) *agent {
	a := s.agents[id]
	if a == nil {
		a = &agent{id: id, root: id, toolCounts: map[string]int{}}
		if spec := s.spec(id); spec != nil {
			a.autonomy = spec.Autonomy
		}
		a.elem = s.agentLRU.PushBack(id)
		s.agents[id] = a
	} else {
		s.agentLRU.MoveToBack(a.elem)
	}
	if at.After(a.lastSeen) {
		a.lastSeen = at
	}
	return a
}

// SetInventory replaces the declared inventory (purpose, owner, autonomy)
// the store reports; agents already seen keep their recorded autonomy.
func (s *Store) SetInventory(inv *models.Inventory) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Inventory = inv
	for id, a := range s.agents {
		if spec := s.spec(id); spec != nil && a.autonomy == "" {
			a.autonomy = spec.Autonomy
		}
	}
	s.version.Add(1)
}

// Inventory returns the declared inventory the store reports (nil when none).
func (s *Store) Inventory() *models.Inventory {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.opts.Inventory
}

func (s *Store) spec(id string) *models.AgentSpec {
	if s.opts.Inventory == nil {
		return nil
	}
	return s.opts.Inventory.Agent(id)
}

// touchSession returns session id of agent a, creating it when absent, and
// marks it recently active; t (zero: unknown) widens its time span. Findings and commands create their session
// too: the daemon writes a batch's commands and the findings they name before
// its events (urgent part first), so they can arrive before the session's
// first event and must still be listed on its page.
func (s *Store) touchSession(a *agent, id, root, principal string, t time.Time) *session {
	ss := s.sessions[id]
	if ss == nil {
		ss = &session{SessionSummary: SessionSummary{ID: id, AgentID: a.id, RootAgentID: cmp.Or(root, a.id),
			Principal: principal, Start: t, Last: t}}
		ss.elem = s.sessionLRU.PushBack(id)
		s.sessions[id] = ss
		a.sessions++
		a.sessionIDs = pushCapped(a.sessionIDs, id)
	} else {
		s.sessionLRU.MoveToBack(ss.elem)
	}
	if ss.Principal == "" {
		ss.Principal = principal
	}
	if !t.IsZero() && (ss.Start.IsZero() || t.Before(ss.Start)) {
		ss.Start = t
	}
	if t.After(ss.Last) {
		ss.Last = t
	}
	return ss
}

func (s *Store) addEvent(ev *models.Event) {
	s.seq++
	a := s.touchAgent(ev.AgentID, ev.Time)
	a.events++
	a.root = ev.Root()
	if ev.ParentAgentID != "" {
		a.parent = ev.ParentAgentID
	}
	if ev.Principal != "" {
		a.principal = ev.Principal
	}
	if ev.Autonomy != "" && a.autonomy == "" {
		a.autonomy = ev.Autonomy
	}
	min := ev.Time.UTC().Truncate(time.Minute)
	slot := &a.rate[(min.Unix()/60)%rateBuckets]
	if !slot.Minute.Equal(min) {
		if min.Before(slot.Minute) { // older than the window
			slot = nil
		} else {
			*slot = RatePoint{Minute: min}
		}
	}
	if slot != nil {
		slot.Events++
	}
	if ev.Kind == models.KindToolCall && ev.ToolName != "" {
		name := ev.ToolName
		if _, ok := a.toolCounts[name]; !ok && len(a.toolCounts) >= maxToolNames {
			name = "(other)"
		}
		a.toolCounts[name]++
		a.toolTotal++
		a.recent[a.recentN%recentTools] = name
		a.recentN++
	}
	if ev.Kind == models.KindAgentSpawn && ev.ChildAgentID != "" && !slices.Contains(a.children, ev.ChildAgentID) && len(a.children) < maxChildren {
		a.children = append(a.children, ev.ChildAgentID)
	}

	ss := s.touchSession(a, ev.SessionID, ev.Root(), ev.Principal, ev.Time)
	if ss.ParentSessionID == "" {
		ss.ParentSessionID = ev.ParentSessionID
	}
	if ev.Kind == models.KindSessionEnd {
		ss.Ended = true
	}
	if _, dup := ss.eventIDs[ev.ID]; dup { // replayed batch
		return
	}
	if len(ss.events) >= s.opts.MaxEventsPerSession {
		ss.DroppedEvents++
		return
	}
	v := EventView{Seq: s.seq, ID: ev.ID, Kind: string(ev.Kind), Time: ev.Time, Step: ev.Step, AgentID: ev.AgentID,
		SessionID: ev.SessionID, Tool: ev.ToolName, Role: ev.Role, Destination: ev.Destination, Resource: ev.Resource,
		DataClasses: slices.Clone(ev.DataClasses), ChildAgentID: ev.ChildAgentID, ChildSessionID: ev.ChildSessionID,
		Error: ev.Error, Autonomy: string(ev.Autonomy)}
	var t1, t2, t3 bool
	v.Arguments, t1 = s.cut(string(ev.Arguments))
	v.Result, t2 = s.cut(ev.Result)
	v.Content, t3 = s.cut(ev.Content)
	v.Truncated = t1 || t2 || t3
	ss.events = append(ss.events, v)
	if ss.eventIDs == nil {
		ss.eventIDs = map[string]struct{}{}
	}
	ss.eventIDs[v.ID] = struct{}{}
	ss.Events = len(ss.events)
	sz := v.size()
	ss.bytes += sz
	s.eventBytes += sz
}

func pushCapped(ids []string, id string) []string {
	if len(ids) >= maxAgentRefs {
		ids = slices.Delete(ids, 0, len(ids)-maxAgentRefs+1)
	}
	return append(ids, id)
}

func (s *Store) addFinding(f models.Finding) {
	if _, ok := s.findings[f.ID]; ok {
		return
	}
	f.EvidenceIDs = slices.Clone(f.EvidenceIDs)
	f.Features = slices.Clone(f.Features)
	s.findings[f.ID] = &f
	s.findOrder = append(s.findOrder, f.ID)
	a := s.touchAgent(f.AgentID, f.Time)
	a.findings++
	a.findingIDs = pushCapped(a.findingIDs, f.ID)
	if f.RootAgentID != "" && f.RootAgentID != f.AgentID {
		a.root = f.RootAgentID
	}
	if f.SessionID != "" {
		ss := s.touchSession(a, f.SessionID, f.RootAgentID, f.Principal, f.Time)
		ss.findingIDs = append(ss.findingIDs, f.ID)
		ss.Findings++
		ss.MaxSeverity = max(ss.MaxSeverity, f.Severity)
		if f.Severity >= models.AlertThreshold && (ss.FirstAlert.IsZero() || f.Time.Before(ss.FirstAlert)) {
			ss.FirstAlert = f.Time
		}
	}
}

func (s *Store) addCommand(c models.ContainmentCommand) {
	if _, ok := s.commands[c.ID]; ok {
		return
	}
	c.FindingIDs = slices.Clone(c.FindingIDs)
	s.commands[c.ID] = &c
	s.cmdOrder = append(s.cmdOrder, c.ID)
	for _, fid := range c.FindingIDs {
		s.byFinding[fid] = append(s.byFinding[fid], c.ID)
	}
	a := s.touchAgent(c.AgentID, c.IssuedAt)
	a.commandIDs = pushCapped(a.commandIDs, c.ID)
	a.containment = string(c.Action)
	if c.Action == models.ActionDemote && c.TargetAutonomy != "" {
		a.current = c.TargetAutonomy
	}
	if c.SessionID != "" {
		ss := s.touchSession(a, c.SessionID, c.RootAgentID, "", time.Time{}) // issued at wall time, not event time
		ss.commandIDs = append(ss.commandIDs, c.ID)
		if ss.FirstCommand.IsZero() || c.IssuedAt.Before(ss.FirstCommand) {
			ss.FirstCommand = c.IssuedAt
		}
	}
}

// evict enforces the bounds; the caller holds mu.
func (s *Store) evict() {
	for (len(s.sessions) > s.opts.MaxSessions || s.eventBytes > s.opts.MaxEventBytes) && s.sessionLRU.Len() > 0 {
		id := s.sessionLRU.Remove(s.sessionLRU.Front()).(string)
		s.eventBytes -= s.sessions[id].bytes
		delete(s.sessions, id)
		s.evictions++
	}
	for len(s.agents) > s.opts.MaxAgents && s.agentLRU.Len() > 0 {
		id := s.agentLRU.Remove(s.agentLRU.Front()).(string)
		delete(s.agents, id)
		s.evictions++
	}
	if n := len(s.findOrder) - s.opts.MaxFindings; n > 0 {
		for _, id := range s.findOrder[:n] {
			delete(s.findings, id)
			delete(s.triage, id)
			delete(s.byFinding, id)
		}
		s.findOrder = slices.Delete(s.findOrder, 0, n)
		s.evictions += uint64(n)
	}
	if n := len(s.ackOrder) - s.opts.MaxAckedCommands; n > 0 {
		for _, id := range s.ackOrder[:n] {
			delete(s.acks, id)
		}
		s.ackOrder = slices.Delete(s.ackOrder, 0, n)
		s.evictions += uint64(n)
	}
	if n := len(s.cmdOrder) - s.opts.MaxCommands; n > 0 {
		for _, id := range s.cmdOrder[:n] {
			delete(s.commands, id)
		}
		s.cmdOrder = slices.Delete(s.cmdOrder, 0, n)
		s.evictions += uint64(n)
	}
}

// Stats is the store's size, for the console's footer and tests.
type Stats struct {
	Agents     int   `json:"agents"`
	Sessions   int   `json:"sessions"`
	EventBytes int64 `json:"event_bytes"`
	Findings   int   `json:"findings"`
	Commands   int   `json:"commands"`
	// AckedCommands is how many commands have acknowledgements kept.
	AckedCommands int    `json:"acked_commands"`
	Evictions     uint64 `json:"evictions"`
	Version       uint64 `json:"version"`
}

// Stats returns the store's current size.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Stats{Agents: len(s.agents), Sessions: len(s.sessions), EventBytes: s.eventBytes,
		Findings: len(s.findings), Commands: len(s.commands), AckedCommands: len(s.acks), Evictions: s.evictions, Version: s.Version()}
}

// SetTriage records an analyst's triage decision (the console's write path
// in memory; the daemon also writes it to ClickHouse).
func (s *Store) SetTriage(_ context.Context, r triage.Record) error {
	if err := r.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.findings[r.FindingID]; !ok {
		return fmt.Errorf("finding %s: %w", r.FindingID, ErrNotFound)
	}
	h := append(s.triage[r.FindingID], r)
	if len(h) > maxTriagePerFnd {
		h = slices.Delete(h, 0, len(h)-maxTriagePerFnd)
	}
	s.triage[r.FindingID] = h
	s.version.Add(1)
	return nil
}

// status is the current triage status of a finding; the caller holds mu.
func (s *Store) status(id string) triage.Status {
	if h := s.triage[id]; len(h) > 0 {
		return h[len(h)-1].Status
	}
	return triage.StatusNew
}

func (s *Store) summary(a *agent) AgentSummary {
	sum := AgentSummary{ID: a.id, RootAgentID: a.root, Parent: a.parent, Autonomy: a.autonomy, Current: cmp.Or(a.current, a.autonomy),
		Findings: a.findings, Events: a.events, Sessions: a.sessions, Containment: a.containment, LastSeen: a.lastSeen}
	if spec := s.spec(a.id); spec != nil {
		sum.Purpose, sum.Owner, sum.Registered = spec.Purpose, spec.Owner, true
	}
	for _, fid := range a.findingIDs {
		if f := s.findings[fid]; f != nil && s.status(fid).Open() {
			sum.OpenFindings++
			sum.Risk = max(sum.Risk, f.Severity)
		}
	}
	return sum
}

// Agents returns every agent kept, riskiest first (then most open
// findings, then id).
func (s *Store) Agents() []AgentSummary {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]AgentSummary, 0, len(s.agents))
	for _, a := range s.agents {
		out = append(out, s.summary(a))
	}
	slices.SortFunc(out, func(x, y AgentSummary) int {
		return cmp.Or(cmp.Compare(y.Risk, x.Risk), cmp.Compare(y.OpenFindings, x.OpenFindings), cmp.Compare(x.ID, y.ID))
	})
	return out
}

func (s *Store) triaged(id string) (TriagedFinding, bool) {
	f := s.findings[id]
	if f == nil {
		return TriagedFinding{}, false
	}
	return TriagedFinding{Finding: *f, Status: s.status(id)}, true
}

func (s *Store) lineage(id string, depth int) Lineage {
	n := Lineage{AgentID: id}
	a := s.agents[id]
	if a == nil {
		return n
	}
	n.Risk = s.summary(a).Risk
	if depth >= 8 {
		return n
	}
	for _, c := range a.children {
		n.Children = append(n.Children, s.lineage(c, depth+1))
	}
	return n
}

// Agent returns the agent page of id.
func (s *Store) Agent(id string) (AgentDetail, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.agents[id]
	if a == nil {
		return AgentDetail{}, fmt.Errorf("agent %s: %w", id, ErrNotFound)
	}
	d := AgentDetail{AgentSummary: s.summary(a)}
	recent := map[string]int{}
	n := min(a.recentN, recentTools)
	for i := range n {
		recent[a.recent[i]]++
	}
	for tool, c := range a.toolCounts {
		d.Tools = append(d.Tools, Share{Tool: tool, Baseline: float64(c) / float64(max(a.toolTotal, 1)), Recent: float64(recent[tool]) / float64(max(n, 1))})
	}
	slices.SortFunc(d.Tools, func(x, y Share) int { return cmp.Or(cmp.Compare(y.Baseline, x.Baseline), cmp.Compare(x.Tool, y.Tool)) })
	for _, p := range a.rate {
		if !p.Minute.IsZero() {
			d.Rate = append(d.Rate, p)
		}
	}
	slices.SortFunc(d.Rate, func(x, y RatePoint) int { return x.Minute.Compare(y.Minute) })
	d.Lineage = s.lineage(a.root, 0)
	for _, fid := range slices.Backward(a.findingIDs) {
		if f, ok := s.triaged(fid); ok {
			d.RecentFindings = append(d.RecentFindings, f)
		}
	}
	for _, sid := range slices.Backward(a.sessionIDs) {
		if ss := s.sessions[sid]; ss != nil {
			d.RecentSessions = append(d.RecentSessions, ss.SessionSummary)
		}
	}
	for _, cid := range a.commandIDs {
		if c := s.commands[cid]; c != nil {
			d.Commands = append(d.Commands, *c)
		}
	}
	d.Acks = s.acksOf(a.commandIDs, a.clearIDs)
	return d, nil
}

// Session returns the timeline of session id: its events in step order
// (then event time, then arrival), its findings and commands.
func (s *Store) Session(id string) (SessionDetail, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ss := s.sessions[id]
	if ss == nil {
		return SessionDetail{}, fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	d := SessionDetail{SessionSummary: ss.SessionSummary, EventsList: slices.Clone(ss.events), Triage: map[string][]triage.Record{}}
	slices.SortStableFunc(d.EventsList, func(x, y EventView) int {
		return cmp.Or(cmp.Compare(x.Step, y.Step), x.Time.Compare(y.Time), cmp.Compare(x.Seq, y.Seq))
	})
	for _, fid := range ss.findingIDs {
		if f, ok := s.triaged(fid); ok {
			d.Findings = append(d.Findings, f)
			if h := s.triage[fid]; len(h) > 0 {
				d.Triage[fid] = slices.Clone(h)
			}
		}
	}
	slices.SortStableFunc(d.Findings, func(x, y TriagedFinding) int { return cmp.Compare(x.Step, y.Step) })
	for _, cid := range ss.commandIDs {
		if c := s.commands[cid]; c != nil {
			d.Commands = append(d.Commands, *c)
		}
	}
	d.Acks = s.acksOf(ss.commandIDs)
	for _, ev := range ss.events {
		if ev.ChildSessionID != "" {
			if c := s.sessions[ev.ChildSessionID]; c != nil {
				d.Children = append(d.Children, c.SessionSummary)
			}
		}
	}
	return d, nil
}

// Finding returns the finding page of id: the finding, the events behind
// it (those still in memory), the commands it caused and its triage.
func (s *Store) Finding(id string) (FindingDetail, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, ok := s.triaged(id)
	if !ok {
		return FindingDetail{}, fmt.Errorf("finding %s: %w", id, ErrNotFound)
	}
	d := FindingDetail{Finding: f, Triage: slices.Clone(s.triage[id])}
	byID := map[string]*EventView{}
	// Evidence may span sessions (taint crosses agent_spawn): look in the
	// finding's session first, then its parent and children.
	look := []string{f.SessionID}
	if ss := s.sessions[f.SessionID]; ss != nil {
		sum := ss.SessionSummary
		d.Session = &sum
		look = append(look, ss.ParentSessionID)
		for _, ev := range ss.events {
			if ev.ChildSessionID != "" {
				look = append(look, ev.ChildSessionID)
			}
		}
	}
	for _, sid := range look {
		if ss := s.sessions[sid]; ss != nil {
			for i := range ss.events {
				byID[ss.events[i].ID] = &ss.events[i]
			}
		}
	}
	for _, eid := range f.EvidenceIDs {
		if ev := byID[eid]; ev != nil {
			d.Evidence = append(d.Evidence, *ev)
		} else {
			d.Missing = append(d.Missing, eid)
		}
	}
	for _, cid := range s.byFinding[id] {
		if c := s.commands[cid]; c != nil {
			d.Commands = append(d.Commands, *c)
		}
	}
	d.Acks = s.acksOf(s.byFinding[id])
	return d, nil
}

// WriteAcks records consumers' acknowledgements of commands (it implements
// the ack recorder's store, like the ClickHouse writer). It never fails; a
// repeated acknowledgement (same command, consumer, status and time) is
// kept once. An acknowledged human clear is listed on its agent's page.
func (s *Store) WriteAcks(_ context.Context, acks []models.CommandAck) error {
	if len(acks) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range acks {
		h, known := s.acks[a.CommandID]
		if slices.ContainsFunc(h, func(x Ack) bool {
			return x.Consumer == a.Consumer && x.Status == a.Status && x.AckedAt.Equal(a.AckedAt)
		}) || len(h) >= maxAcksPerCmd {
			continue
		}
		s.acks[a.CommandID] = append(h, Ack{CommandAck: a, TimeToContainMillis: a.Stages().TimeToContain.Milliseconds()})
		if !known {
			s.ackOrder = append(s.ackOrder, a.CommandID)
		}
		if a.Action == models.ActionClear && a.Status == models.AckApplied {
			if ag := s.agents[a.AgentID]; ag != nil && !slices.Contains(ag.clearIDs, a.CommandID) {
				ag.clearIDs = pushCapped(ag.clearIDs, a.CommandID)
			}
		}
	}
	s.evict()
	s.version.Add(1)
	return nil
}

// acksOf returns the acknowledgements of the commands ids, in order of
// acknowledgement time; the caller holds mu.
func (s *Store) acksOf(ids ...[]string) []Ack {
	out := []Ack{}
	for _, l := range ids {
		for _, id := range l {
			out = append(out, s.acks[id]...)
		}
	}
	slices.SortStableFunc(out, func(x, y Ack) int { return x.AckedAt.Compare(y.AckedAt) })
	return out
}
