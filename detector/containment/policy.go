// Package containment turns findings into containment commands for
// automated consumers, following the Agentic Trust Framework's progressive
// autonomy: the less autonomy an agent was granted, the sooner it is
// stopped; every command is explained by the findings behind it.
//
// Kill switch: a finding at or above HaltAt (lowered per autonomy level like
// the other thresholds), or the HaltAfter-th suspension or revocation of
// the same agent, also halts the agent until a human clear — or its
// whole lineage (halt_lineage) when the agent has spawned sub-agents — and
// demotes it straight to intern (Escalate).
//
// Storm protection: commands are rate-limited by three token buckets in
// event time, one per agent, one per lineage (root agent) and one for the
// whole fleet of the engine (one partition). A command a bucket cannot pay
// for is held back: it is
// not published, the session is not marked as commanded (a later finding
// of the session may still issue it once tokens are back), it is counted
// (Policy.Held, metric tether_containment_commands_held_total) and every
// SummaryWindow of held-back commands is summarised in one
// containment_rate_limited finding (HeldSummary) with the count, the agents
// and the strongest action held. Nothing is dropped silently. When
// BreakerHeld commands are held back within one SummaryWindow the circuit
// breaker (Breaker, shared by the engines of a process) trips: one
// containment_breaker_tripped finding is raised and no automated command is
// issued (all are held back and summarised) until a human clears it.
//
// Memory: the strongest action issued per session and the per-agent
// buckets are LRU tables whose bytes the memory budget accounts (SetMeter;
// the least recent evicted when it is exceeded, counted); MaxSessions and
// MaxAgents are optional ceilings.
package containment

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetherhq/tether/detector/internal/lru"
	"github.com/tetherhq/tether/models"
)

// Name is the detector name recorded on the policy's own findings
// (containment_rate_limited) and in eviction counts.
const Name = "containment"

// KindRateLimited is the kind of the finding that summarises held-back
// commands.
const KindRateLimited = "containment_rate_limited"

// KindBreakerTripped is the kind of the finding raised when the circuit
// breaker trips.
const KindBreakerTripped = "containment_breaker_tripped"

// Rule issues Action for findings of Kind (detector/kind, or a kind of any
// detector) at or above MinSeverity, for agents at one of the Autonomy
// levels (empty: any). Halts (halt_agent, halt_lineage) come through
// Escalate, the other actions through Decide; clear is not allowed.
type Rule struct {
	Kind        string            `yaml:"kind"`
	MinSeverity uint8             `yaml:"min_severity"`
	Autonomy    []models.Autonomy `yaml:"autonomy"`
	Action      models.Action     `yaml:"action"`
}

// matches reports whether r applies to f raised by an agent at level.
func (r *Rule) matches(f *models.Finding, level models.Autonomy) bool {
	if f.Severity < r.MinSeverity || (r.Kind != f.Kind && r.Kind != f.Detector+"/"+f.Kind) {
		return false
	}
	return len(r.Autonomy) == 0 || slices.Contains(r.Autonomy, level)
}

// Validate checks the rules: a known action other than clear, a kind.
func (o *Options) Validate() error {
	for i, r := range o.Rules {
		if r.Kind == "" || !r.Action.Known() || r.Action == models.ActionClear || r.MinSeverity > 100 {
			return fmt.Errorf("containment rule %d (%+v): want a kind, min_severity 0..100 and an action other than clear", i, r)
		}
		for _, a := range r.Autonomy {
			if a.Rank() == 0 {
				return fmt.Errorf("containment rule %d: unknown autonomy level %q", i, a)
			}
		}
	}
	return nil
}

// Live holds options replaced at run time (hot reload). Safe for
// concurrent use.
type Live struct{ p atomic.Pointer[Options] }

// Store makes o the options of every Policy built with this Live.
func (l *Live) Store(o Options) { l.p.Store(&o) }

// Load returns the stored options, or nil.
func (l *Live) Load() *Options { return l.p.Load() }

// cur returns the options in force: the Live ones when set.
func (p *Policy) cur() *Options {
	if p.opts.Live != nil {
		if o := p.opts.Live.Load(); o != nil {
			return o
		}
	}
	return &p.opts
}

// Breaker is the containment circuit breaker shared by the engines of one
// process. Safe for concurrent use.
type Breaker struct {
	tripped atomic.Bool
	trips   atomic.Uint64
	at      atomic.Int64 // unix ns (event time) of the last trip
}

// NewBreaker returns a closed (not tripped) breaker.
func NewBreaker() *Breaker { return &Breaker{} }

// Tripped reports whether the breaker is tripped.
func (b *Breaker) Tripped() bool { return b.tripped.Load() }

// Trips returns how often the breaker tripped.
func (b *Breaker) Trips() uint64 { return b.trips.Load() }

// TrippedAt returns the event time of the last trip (zero if never).
func (b *Breaker) TrippedAt() time.Time {
	if n := b.at.Load(); n != 0 {
		return time.Unix(0, n).UTC()
	}
	return time.Time{}
}

// Clear closes the breaker again (a human decision); it reports whether it
// was tripped.
func (b *Breaker) Clear() bool { return b.tripped.Swap(false) }

// trip trips the breaker; it reports whether this call tripped it.
func (b *Breaker) trip(now int64) bool {
	if b.tripped.CompareAndSwap(false, true) {
		b.trips.Add(1)
		b.at.Store(now)
		return true
	}
	return false
}

// Options sets the severity at which each action is issued. A threshold of
// 0 disables that action. Thresholds are lowered by AutonomyDiscount per
// level below principal, so an intern is contained sooner than a principal.
type Options struct {
	ReviewAt          uint8
	RequireApprovalAt uint8
	SuspendAt         uint8
	RevokeAt          uint8
	// AutonomyDiscount lowers the thresholds per level below principal.
	AutonomyDiscount uint8
	// TTL is how long a command stays in force (ExpiresAt = IssuedAt + TTL).
	TTL time.Duration
	// MaxSessions bounds the per-session memory of issued actions (least
	// recently commanded evicted).
	MaxSessions int

	// AgentBurst commands may be issued for one agent at once; its bucket
	// refills at AgentPerMinute commands per minute of event time.
	// AgentBurst 0 disables the per-agent limit.
	AgentBurst     int
	AgentPerMinute float64
	// FleetBurst and FleetPerMinute are the same for all agents of the
	// engine together; FleetBurst 0 disables the fleet limit.
	FleetBurst     int
	FleetPerMinute float64
	// FleetReserve fleet tokens are kept for actions stronger than review:
	// a storm of reviews cannot hold back an approval, suspension or
	// revocation.
	FleetReserve int
	// LineageBurst and LineagePerMinute are the same for all agents of
	// one lineage (root agent) together; LineageBurst 0 disables it.
	LineageBurst     int
	LineagePerMinute float64
	// HaltAt is the severity at which the agent is also halted (its
	// lineage when it spawned sub-agents) and demoted to intern; 0
	// disables halts. Lowered by AutonomyDiscount like the others.
	HaltAt uint8
	// HaltAfter suspensions or revocations of one agent (while the policy
	// remembers the agent) halt it like a critical incident: it keeps
	// misbehaving in new sessions. 0 disables it.
	HaltAfter int
	// BreakerHeld held-back commands within one SummaryWindow trip the
	// circuit breaker; 0 disables it.
	BreakerHeld int
	// Rules add actions for particular finding kinds, severities and
	// autonomy levels on top of the thresholds; the strongest action due
	// wins.
	Rules []Rule
	// Breaker is the circuit breaker, shared by the engines of a process;
	// nil gives each Policy its own.
	Breaker *Breaker
	// Live, when set and holding options, replaces the thresholds, rules,
	// rate limits, TTL and BreakerHeld of these Options at every decision
	// (hot reload; the table sizes, SummaryWindow and Breaker stay).
	Live *Live
	// MaxAgents bounds the per-agent and per-lineage buckets (least
	// recently active evicted: an evicted agent starts again with a full
	// bucket).
	MaxAgents int
	// SummaryWindow is the event time over which held-back commands are
	// summarised in one containment_rate_limited finding.
	SummaryWindow time.Duration
	// RateLimitedSeverity is the severity of containment_rate_limited.
	RateLimitedSeverity uint8
	// EvidenceKinds ("detector/kind") are findings about what the agent
	// was exposed to, not about what it did (an attempted injection the
	// agent has not acted on): the severity thresholds and the kill switch
	// never command on them, whatever their severity; an explicit Rule
	// naming the kind still does (the operator's choice). Fixed at New,
	// like the table sizes: Live options do not replace it.
	EvidenceKinds []string
}

// DefaultOptions returns the documented default policy: review at the alert
// threshold (50), approval gating at 70, session suspension at 85 and
// credential revocation at 95, each 5 points lower per autonomy level below
// principal; commands expire after one hour.
//
// Rate limits (set once, not tuned on any data set): an agent may receive
// 10 commands at once and 2 per minute sustained (one agent's sessions
// escalating through review, approval, suspension and revocation fit in the
// burst); the fleet of one engine 200 at once and 200 per minute (an
// incident touching many agents at once still gets 200 commands out
// immediately; a storm of thousands per minute is summarised instead), of
// which reviews may not take the last 50; a lineage (a root agent and its
// sub-agents) 20 at once and 5 per minute. 1,000 commands held back within
// a minute trip the circuit breaker. Halts at 95 (80 for an intern), or
// at the second suspension or revocation of the same agent. One
// containment_rate_limited finding per minute, at the alert threshold (50):
// a throttled containment is itself something an analyst must see.
func DefaultOptions() Options {
	return Options{
		ReviewAt:            models.AlertThreshold,
		RequireApprovalAt:   70,
		SuspendAt:           85,
		RevokeAt:            95,
		AutonomyDiscount:    5,
		TTL:                 time.Hour,
		MaxSessions:         0,
		AgentBurst:          10,
		AgentPerMinute:      2,
		FleetBurst:          200,
		FleetPerMinute:      200,
		FleetReserve:        50,
		LineageBurst:        20,
		LineagePerMinute:    5,
		HaltAt:              95,
		HaltAfter:           2,
		BreakerHeld:         1000,
		MaxAgents:           0,
		SummaryWindow:       time.Minute,
		RateLimitedSeverity: models.AlertThreshold,
	}
}

// bucket is a token bucket in event time.
type bucket struct {
	tokens float64
	last   int64 // unix ns of the last refill; 0: full, never used
	// strikes counts the suspensions and revocations issued for the agent
	// (agent buckets only): HaltAfter of them halt it.
	strikes int
}

// take refills b to now and takes one token if there is one.
func (b *bucket) take(now int64, burst int, perMinute float64) bool {
	if b.last == 0 {
		b.tokens, b.last = float64(burst), now
	} else if now > b.last {
		b.tokens = min(float64(burst), b.tokens+float64(now-b.last)/float64(time.Minute)*perMinute)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// maxHeldSample bounds the agents and finding ids named by one summary.
const maxHeldSample = 8

// heldWindow accumulates the commands held back in one SummaryWindow.
type heldWindow struct {
	start    int64 // unix ns of the first held command; 0: none pending
	count    int
	agents   []string // first distinct agents held (at most maxHeldSample)
	sessions []string // the session of each one's first held command
	events   []string // an evidence event of each of the first held commands
	strong   models.Action
}

// Policy decides commands. It remembers the strongest action issued per
// session so a session is not re-commanded for the same or a weaker action.
// Not safe for concurrent use, except Held and Evictions.
type Policy struct {
	opts   Options
	issued *lru.LRU[int]    // session -> rank of strongest action issued
	agents *lru.LRU[bucket] // agent -> command bucket
	fleet  bucket
	window heldWindow
	// summaryAt is the event time of the last summary (unix ns): a window
	// never starts before it, so out-of-order times cannot turn every held
	// command into a summary of its own.
	summaryAt int64

	held      *atomic.Uint64
	evictions *atomic.Uint64
	breaker   *Breaker
	// tripPending: this policy tripped the breaker and has not yet
	// reported it (BreakerFinding).
	tripPending bool
}

// New returns a Policy. Zero caps and windows fall back to the defaults.
func New(opts Options) *Policy {
	def := DefaultOptions()
	if opts.SummaryWindow <= 0 {
		opts.SummaryWindow = def.SummaryWindow
	}
	if opts.RateLimitedSeverity == 0 {
		opts.RateLimitedSeverity = def.RateLimitedSeverity
	}
	p := &Policy{opts: opts, held: new(atomic.Uint64), evictions: new(atomic.Uint64), breaker: opts.Breaker}
	if p.breaker == nil {
		p.breaker = NewBreaker()
	}
	p.issued, p.agents = p.tables(opts.MaxSessions, opts.MaxAgents)
	return p
}

func (p *Policy) tables(sessions, agents int) (*lru.LRU[int], *lru.LRU[bucket]) {
	is, ag := lru.New[int](sessions), lru.New[bucket](agents)
	is.CountInto(p.evictions)
	ag.CountInto(p.evictions)
	return is, ag
}

// SetMeter accounts the session and agent tables' bytes to m (the memory
// budget, which evicts the least recently active entries when exceeded).
func (p *Policy) SetMeter(m *lru.Meter) {
	p.issued.Metered(m, Name+"/sessions", func(id string, _ *int) int { return lru.String(id) })
	p.agents.Metered(m, Name+"/agents", func(id string, _ *bucket) int { return lru.String(id) })
}

// Evictions returns the session and agent entries evicted so far. Safe
// for concurrent use.
func (p *Policy) Evictions() uint64 { return p.evictions.Load() }

// Held returns the commands held back by the rate limits so far. Safe for
// concurrent use.
func (p *Policy) Held() uint64 { return p.held.Load() }

var rank = map[models.Action]int{
	models.ActionReview:           1,
	models.ActionRequireApproval:  2,
	models.ActionThrottle:         2,
	models.ActionDemote:           2,
	models.ActionSuspendSession:   3,
	models.ActionRevokeCredential: 4,
	models.ActionHaltAgent:        5,
	models.ActionHaltLineage:      6,
}

// maxRank is the rank of the strongest action.
const maxRank = 6

// Key prefixes in the issued and agents tables: ids never contain NUL, so
// they cannot collide with a session or agent id.
const (
	haltKey    = "\x00halt:"    // issued: agent -> rank of the halt issued
	spawnKey   = "\x00spawn:"   // issued: agent -> 1 when it spawned sub-agents
	lineageKey = "\x00lineage:" // agents: root agent -> lineage bucket
)

// Observe records what the policy needs from every event: which agents
// spawned sub-agents (a halt of such an agent halts its lineage). An agent
// halted alone that still spawns a sub-agent — the spawn raced the halt —
// gets its lineage halted: Observe returns that command (severity
// critical, no findings: its id includes the event time), once per agent.
func (p *Policy) Observe(ev *models.Event) (models.ContainmentCommand, bool) {
	if ev.Kind != models.KindAgentSpawn {
		return models.ContainmentCommand{}, false
	}
	v, _ := p.issued.Put(spawnKey + ev.AgentID)
	*v = 1
	r := p.issued.Peek(haltKey + ev.AgentID)
	if r == nil || *r != rank[models.ActionHaltAgent] {
		return models.ContainmentCommand{}, false
	}
	*r = rank[models.ActionHaltLineage]
	c := models.ContainmentCommand{
		AgentID:        ev.AgentID,
		RootAgentID:    ev.Root(),
		Action:         models.ActionHaltLineage,
		TargetAutonomy: models.AutonomyIntern,
		Severity:       models.SeverityCritical,
		Reason:         fmt.Sprintf("agent %s spawned sub-agent %s after it was halted: its lineage is halted", ev.AgentID, ev.ChildAgentID),
		FindingIDs:     []string{},
		IssuedAt:       ev.Time,
		ExpiresAt:      ev.Time.Add(p.cur().TTL),
	}
	c.SetID()
	return c, true
}

// level is the autonomy level the policy judges agent at.
func level(ev *models.Event, agent *models.AgentSpec) models.Autonomy {
	l := ev.Autonomy
	if agent != nil && agent.Autonomy != "" {
		l = agent.Autonomy
	}
	if l == "" {
		l = models.AutonomyIntern // unknown agents get the least trust
	}
	return l
}

// Escalate returns the kill-switch command for finding f, if one is due:
// at HaltAt (less the autonomy discount) the agent is halted — its lineage
// when it spawned sub-agents — and demoted straight to intern, once per
// agent (while the policy remembers it). The rate limits and the breaker
// apply as to Decide.
func (p *Policy) Escalate(f *models.Finding, ev *models.Event, agent *models.AgentSpec) (models.ContainmentCommand, bool) {
	if f.Detector == Name {
		return models.ContainmentCommand{}, false
	}
	lvl := level(ev, agent)
	discount := int(p.cur().AutonomyDiscount) * (models.AutonomyPrincipal.Rank() - lvl.Rank())
	evidence := p.evidence(f)
	due := !evidence && p.cur().HaltAt > 0 && int(f.Severity) >= int(p.cur().HaltAt)-discount
	why := fmt.Sprintf("critical incident: %s/%s severity %d at autonomy %s", f.Detector, f.Kind, f.Severity, lvl)
	if b := p.agents.Peek(f.AgentID); !due && !evidence && b != nil && p.cur().HaltAfter > 0 && b.strikes >= p.cur().HaltAfter {
		due = true
		why = fmt.Sprintf("repeated incidents: %d suspensions or revocations, the last for %s/%s severity %d at autonomy %s", b.strikes, f.Detector, f.Kind, f.Severity, lvl)
	}
	for i := range p.cur().Rules {
		r := &p.cur().Rules[i]
		if (r.Action == models.ActionHaltAgent || r.Action == models.ActionHaltLineage) && r.matches(f, lvl) {
			due = true
		}
	}
	if !due {
		return models.ContainmentCommand{}, false
	}
	action := models.ActionHaltAgent
	if p.issued.Peek(spawnKey+f.AgentID) != nil {
		action = models.ActionHaltLineage
	}
	if r := p.issued.Peek(haltKey + f.AgentID); r != nil && rank[action] <= *r {
		return models.ContainmentCommand{}, false
	}
	if !p.allow(f, action, true) {
		return models.ContainmentCommand{}, false
	}
	r, _ := p.issued.Put(haltKey + f.AgentID)
	*r = rank[action]
	c := models.ContainmentCommand{
		AgentID:        f.AgentID,
		RootAgentID:    f.RootAgentID,
		Action:         action,
		AutonomyBefore: lvl,
		TargetAutonomy: models.AutonomyIntern,
		Severity:       f.Severity,
		Reason:         why + ": " + f.Explanation,
		FindingIDs:     []string{f.ID},
		IssuedAt:       f.Time,
		ExpiresAt:      f.Time.Add(p.cur().TTL),
	}
	if c.RootAgentID == "" {
		c.RootAgentID = ev.Root()
	}
	c.SetID()
	return c, true
}

// evidence reports whether f is of one of the EvidenceKinds given to New.
func (p *Policy) evidence(f *models.Finding) bool {
	for _, k := range p.opts.EvidenceKinds {
		if len(k) == len(f.Detector)+1+len(f.Kind) && k[len(f.Detector)] == '/' &&
			strings.HasPrefix(k, f.Detector) && strings.HasSuffix(k, f.Kind) {
			return true
		}
	}
	return false
}

// Decide returns the command for finding f raised on event ev by agent
// (nil when unregistered), if any is due and the rate limits allow it. A
// due command the limits do not allow is held back (see the package doc).
func (p *Policy) Decide(f *models.Finding, ev *models.Event, agent *models.AgentSpec) (models.ContainmentCommand, bool) {
	if f.Detector == Name {
		return models.ContainmentCommand{}, false
	}
	level := level(ev, agent)
	discount := int(p.cur().AutonomyDiscount) * (models.AutonomyPrincipal.Rank() - level.Rank())
	evidence := p.evidence(f)
	at := func(th uint8) bool { return !evidence && th > 0 && int(f.Severity) >= int(th)-discount }

	var action models.Action
	switch {
	case at(p.cur().RevokeAt) && ev.CredentialID != "":
		action = models.ActionRevokeCredential
	case at(p.cur().SuspendAt) || at(p.cur().RevokeAt):
		action = models.ActionSuspendSession
	case at(p.cur().RequireApprovalAt):
		action = models.ActionRequireApproval
	case at(p.cur().ReviewAt):
		action = models.ActionReview
	}
	for i := range p.cur().Rules {
		r := &p.cur().Rules[i]
		if r.Action == models.ActionHaltAgent || r.Action == models.ActionHaltLineage || !r.matches(f, level) {
			continue
		}
		if r.Action == models.ActionRevokeCredential && ev.CredentialID == "" {
			continue
		}
		if rank[r.Action] > rank[action] {
			action = r.Action
		}
	}
	if action == "" {
		return models.ContainmentCommand{}, false
	}
	if r := p.issued.Peek(f.SessionID); r != nil && rank[action] <= *r {
		return models.ContainmentCommand{}, false
	}
	if !p.allow(f, action, rank[action] > rank[models.ActionReview]) {
		return models.ContainmentCommand{}, false
	}
	r, _ := p.issued.Put(f.SessionID)
	*r = rank[action]
	if action == models.ActionSuspendSession || action == models.ActionRevokeCredential {
		b, _ := p.agents.Put(f.AgentID)
		b.strikes++
	}
	c := models.ContainmentCommand{
		AgentID:        f.AgentID,
		SessionID:      f.SessionID,
		RootAgentID:    f.RootAgentID,
		Action:         action,
		AutonomyBefore: level,
		Severity:       f.Severity,
		Reason:         fmt.Sprintf("%s/%s severity %d at autonomy %s: %s", f.Detector, f.Kind, f.Severity, level, f.Explanation),
		FindingIDs:     []string{f.ID},
		IssuedAt:       f.Time,
		ExpiresAt:      f.Time.Add(p.cur().TTL),
	}
	if c.RootAgentID == "" {
		c.RootAgentID = ev.Root()
	}
	if action == models.ActionRevokeCredential {
		c.CredentialID = ev.CredentialID
	}
	if rank[action] >= rank[models.ActionRequireApproval] && level.Rank() > models.AutonomyIntern.Rank() {
		c.TargetAutonomy = level.Demoted()
	}
	c.SetID()
	return c, true
}

// allow takes a token from the agent's and the fleet's buckets, or holds
// the command back (counted and added to the pending summary). A token is
// only taken when both buckets have one; a review also leaves FleetReserve
// fleet tokens for stronger actions.
func (p *Policy) allow(f *models.Finding, action models.Action, strong bool) bool {
	now := f.Time.UnixNano()
	agentOK, lineageOK, fleetOK := true, true, true
	var b, lb *bucket
	if p.cur().AgentBurst > 0 {
		b, _ = p.agents.Put(f.AgentID)
		agentOK = b.peek(now, p.cur().AgentBurst, p.cur().AgentPerMinute, 1)
	}
	if root := f.RootAgentID; p.cur().LineageBurst > 0 && root != "" {
		lb, _ = p.agents.Put(lineageKey + root)
		lineageOK = lb.peek(now, p.cur().LineageBurst, p.cur().LineagePerMinute, 1)
	}
	if p.cur().FleetBurst > 0 {
		need := 1.0
		if !strong {
			need += float64(max(p.cur().FleetReserve, 0))
		}
		fleetOK = p.fleet.peek(now, p.cur().FleetBurst, p.cur().FleetPerMinute, need)
	}
	if agentOK && lineageOK && fleetOK && !p.breaker.Tripped() {
		if b != nil {
			b.take(now, p.cur().AgentBurst, p.cur().AgentPerMinute)
		}
		if lb != nil {
			lb.take(now, p.cur().LineageBurst, p.cur().LineagePerMinute)
		}
		if p.cur().FleetBurst > 0 {
			p.fleet.take(now, p.cur().FleetBurst, p.cur().FleetPerMinute)
		}
		return true
	}
	p.held.Add(1)
	w := &p.window
	if w.count == 0 {
		w.start = max(now, p.summaryAt)
	}
	w.count++
	if len(w.events) < maxHeldSample {
		ev := f.ID
		if len(f.EvidenceIDs) > 0 {
			ev = f.EvidenceIDs[0]
		}
		w.events = append(w.events, ev)
	}
	if len(w.agents) < maxHeldSample && !slices.Contains(w.agents, f.AgentID) {
		w.agents = append(w.agents, f.AgentID)
		w.sessions = append(w.sessions, f.SessionID)
	}
	if rank[action] > rank[w.strong] {
		w.strong = action
	}
	if p.cur().BreakerHeld > 0 && w.count >= p.cur().BreakerHeld && p.breaker.trip(now) {
		p.tripPending = true
	}
	return false
}

// BreakerFinding returns the containment_breaker_tripped finding once,
// after this policy tripped the breaker; the caller fills the rest
// (detector Name, time, ID). The policy never commands on it.
func (p *Policy) BreakerFinding() (models.Finding, bool) {
	if !p.tripPending {
		return models.Finding{}, false
	}
	p.tripPending = false
	w := &p.window
	f := models.Finding{
		Kind:       KindBreakerTripped,
		Severity:   models.SeverityCritical,
		Confidence: 1,
		Explanation: fmt.Sprintf("containment circuit breaker tripped: %d commands were held back by the rate limits within %s (breaker at %d). No automated containment command is issued until a human clears the breaker (POST /containment/breaker/clear on the daemon's HTTP address); held-back commands keep being counted and summarised",
			w.count, p.opts.SummaryWindow, p.cur().BreakerHeld),
		Features: []models.Feature{{Name: "commands_held", Observed: float64(w.count), Baseline: float64(p.cur().BreakerHeld)}},
	}
	if len(w.agents) > 0 {
		f.AgentID, f.SessionID = w.agents[0], w.sessions[0]
		f.EvidenceIDs = append([]string(nil), w.events...)
	}
	return f, true
}

// peek reports whether b, refilled to now, holds at least need tokens.
func (b *bucket) peek(now int64, burst int, perMinute, need float64) bool {
	if b.last == 0 {
		return float64(burst) >= need
	}
	t := b.tokens
	if now > b.last {
		t = min(float64(burst), t+float64(now-b.last)/float64(time.Minute)*perMinute)
	}
	return t >= need
}

// HeldSummary returns the containment_rate_limited finding of the commands
// held back in the pending window once SummaryWindow of event time has
// passed since its first held command (now is the current event's time).
// The finding names the first held agent and session, carries the count,
// the strongest action held and an evidence event of each of the first
// held findings;
// the caller fills the rest (detector Name, time, ID). The policy never
// commands on it.
func (p *Policy) HeldSummary(now time.Time) (models.Finding, bool) {
	w := &p.window
	if w.count == 0 || now.UnixNano()-w.start < int64(p.opts.SummaryWindow) {
		return models.Finding{}, false
	}
	f := models.Finding{
		Kind:       KindRateLimited,
		Severity:   p.opts.RateLimitedSeverity,
		Confidence: 1,
		AgentID:    w.agents[0],
		SessionID:  w.sessions[0],
		Explanation: fmt.Sprintf("%d containment commands (strongest %s) were held back by the rate limits (per agent %d at once, %g/min; per lineage %d at once, %g/min; fleet %d at once, %g/min, %d kept for actions stronger than review) or the tripped circuit breaker in the %s from %s; first agents held: %s. Their findings stand; a later finding of each session issues the command once the limits allow",
			w.count, w.strong, p.cur().AgentBurst, p.cur().AgentPerMinute, p.cur().LineageBurst, p.cur().LineagePerMinute, p.cur().FleetBurst, p.cur().FleetPerMinute, p.cur().FleetReserve,
			p.opts.SummaryWindow, time.Unix(0, w.start).UTC().Format(time.RFC3339), strings.Join(w.agents, ", ")),
		EvidenceIDs: append([]string(nil), w.events...),
		Features:    []models.Feature{{Name: "commands_held", Observed: float64(w.count), Baseline: 0}},
	}
	*w = heldWindow{}
	p.summaryAt = max(now.UnixNano(), p.summaryAt)
	return f, true
}

// Forget drops the memory of a session (called when it ends).
func (p *Policy) Forget(session string) { p.issued.Delete(session) }
