// Package identity answers the Agentic Trust Framework's first question,
// "Who are you?", from the event stream:
//
//   - unregistered_agent: an agent acts without being registered in the
//     inventory (once per agent while it is remembered). A flood is
//     aggregated: at most BurstIndividual new unregistered agents per
//     BurstWindow of event time are reported one by one; the further ones
//     of that window are counted and reported together in one
//     unregistered_agent_burst finding (count, first agents, their first
//     events as evidence) at the first event after the window, never
//     dropped. Windows only move forward: a late event counts in the
//     current window;
//   - expired_credential: an agent acts after the credential it presents
//     (tether.credential.expires_at) has expired;
//   - principal_session_ended: an agent acts after the session of the human
//     who authorised it (tether.principal.session_end) has ended.
//
// The last two are the Zero Trust failure "time-bound access becomes
// persistent authority": an agent that outlives the grant it was given.
// Each is reported once per agent session, and once more if, under the same
// lapsed grant, the session goes on to call a tool its manifest labels
// public_sink or destructive (a stronger finding).
//
// Identity attribution and session-scoped authority:
//
//   - shared_credential (60): one credential (tether.credential.id) is
//     presented by agents of two or more distinct delegation lineages within
//     SharedWindow (24 h). A sub-agent that inherits its parent's credential
//     (tether.parent_agent.id set, a root agent id other than its own, named
//     as child_agent of an agent_spawn under the credential, or first seen
//     within DelegationWindow of an unnamed agent_spawn under it) belongs to
//     its parent's lineage and does not count. Reported once per joining
//     agent while it stays in the window.
//   - human_identity (45): an agent acts under a human's identity: its id or
//     its credential id equals the principal, or its id is an email address
//     while the inventory registers it as an agent or it calls a tool. Once
//     per session.
//   - missing_identity (30, informational): the agent id equals the session
//     id, i.e. the runtime mints a per-run name instead of giving the agent a
//     persistent identity. Once per session.
//   - session_age_exceeded (50): a session still calls tools more than
//     MaxSessionAge (8 h) after its session_start (or first event) without
//     re-validation; a repeated session_start, or a credential expiry later
//     than the one seen before, re-validates. Once per session.
//
// Memory: every table is an LRU whose bytes the memory budget accounts
// (SetMeter; least recently active evicted when it is exceeded, counted in
// Evictions), with its Max… option as an optional ceiling: unregistered
// agents (MaxTracked), lapsed-grant sessions (MaxSessions; dropped at
// session_end), attribution sessions (MaxSessions; dropped at
// session_end) and credentials (MaxCredentials; each remembers at most 4
// agents, whose id strings it shares with the events). An evicted agent or
// session may be reported again. All times are event times.
package identity

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetherhq/tether/detector/internal/lru"
	"github.com/tetherhq/tether/models"
)

// Name is the detector name recorded on findings.
const Name = "identity"

// Finding kinds.
const (
	// KindUnregistered: the agent is not in the inventory.
	KindUnregistered = "unregistered_agent"
	// KindExpiredCredential: the event happened after the credential's expiry.
	KindExpiredCredential = "expired_credential"
	// KindPrincipalSessionEnded: the event happened after the authorising
	// human's session ended.
	KindPrincipalSessionEnded = "principal_session_ended"
	// KindUnregisteredBurst: more new unregistered agents in one
	// BurstWindow than BurstIndividual; one finding counts the rest.
	KindUnregisteredBurst = "unregistered_agent_burst"
)

// Options configures the identity detector.
type Options struct {
	// MaxTracked bounds the set of unregistered agents remembered, so a flood
	// of random agent ids cannot grow memory without limit. When full, the
	// least recently active agent is forgotten (and reported again if it
	// returns).
	MaxTracked int
	// MaxSessions bounds the sessions remembered as already reported for a
	// lapsed credential or principal session, and the attribution
	// sessions. Entries are dropped at session_end; when full, the least
	// recently active is forgotten.
	MaxSessions int
	// BurstWindow and BurstIndividual aggregate floods of unregistered
	// agents: at most BurstIndividual new ones per BurstWindow (event time,
	// aligned windows) are reported individually, the rest of the window
	// in one unregistered_agent_burst finding. BurstIndividual < 0
	// disables aggregation.
	BurstWindow     time.Duration
	BurstIndividual int
	// ExpiredSeverity is the severity of expired_credential; a tool call to
	// a public_sink or destructive tool under an expired credential gets
	// ExpiredRiskySeverity.
	ExpiredSeverity, ExpiredRiskySeverity uint8
	// PrincipalEndedSeverity is the severity of principal_session_ended; a
	// tool call to a public_sink or destructive tool after the principal
	// left gets PrincipalEndedRiskySeverity.
	PrincipalEndedSeverity, PrincipalEndedRiskySeverity uint8

	// MaxCredentials bounds the credentials remembered for
	// shared_credential (least recently used evicted).
	MaxCredentials int
	// SharedWindow is how long (event time) an agent's use of a credential
	// is remembered; negative disables shared_credential.
	SharedWindow time.Duration
	// DelegationWindow is how soon after an agent_spawn that names no child
	// a new agent presenting the spawner's credential is taken as the child.
	DelegationWindow time.Duration
	// MaxSessionAge is how long a session may keep calling tools without
	// re-validation; negative disables session_age_exceeded.
	MaxSessionAge time.Duration
	// SharedSeverity, HumanSeverity, MissingSeverity and SessionAgeSeverity
	// are the severities of shared_credential, human_identity,
	// missing_identity and session_age_exceeded.
	SharedSeverity, HumanSeverity, MissingSeverity, SessionAgeSeverity uint8
}

// DefaultOptions returns the production settings: 100 000 unregistered
// agents and sessions tracked; an expired credential at 60 (75 for a
// risky tool call), a departed principal at 50 (60 for a risky tool call).
// Unregistered agents: 20 per minute individually (an ordinary roll-out
// of new agents), beyond that one burst finding per minute, at the same
// severity as an unregistered agent (50): the count, not the agents, is
// what an analyst acts on.
//
// Attribution (set once, not tuned on any dataset): 50 000 credentials over
// a 24 h window (a working day plus overnight batch runs), 5 min for an
// unnamed spawn's child to appear. A shared credential is 60: alone it
// warrants review, since no action under it can be attributed, but it says
// nothing about the session's behaviour, so it stays below approval (70).
// Human identity is 45: common in early deployments (an agent running on
// its user's token), so alone it does not alert, but with any other
// deviation of 30 or more the session compounds past the threshold.
// Missing identity is 30 (low band): a hygiene signal that only counts
// alongside others. Session age is 8 h (a working day) and 50: a session
// outliving a working day unvalidated is persistent authority, worth a
// review on its own.
func DefaultOptions() Options {
	return Options{
		MaxTracked:                  0,
		MaxSessions:                 0,
		BurstWindow:                 time.Minute,
		BurstIndividual:             20,
		ExpiredSeverity:             60,
		ExpiredRiskySeverity:        75,
		PrincipalEndedSeverity:      models.SeverityMedium,
		PrincipalEndedRiskySeverity: 60,
		MaxCredentials:              0,
		SharedWindow:                24 * time.Hour,
		DelegationWindow:            5 * time.Minute,
		MaxSessionAge:               8 * time.Hour,
		SharedSeverity:              60,
		HumanSeverity:               45,
		MissingSeverity:             models.SeverityLow,
		SessionAgeSeverity:          models.SeverityMedium,
	}
}

// Bits of a session's reported set.
const (
	reportedExpired uint8 = 1 << iota
	reportedExpiredRisky
	reportedPrincipal
	reportedPrincipalRisky
)

// maxBurstSample bounds the agents a burst finding names.
const maxBurstSample = 8

// burst is the current BurstWindow's count of new unregistered agents.
type burst struct {
	window     int64 // index of the window (event time / BurstWindow)
	individual int   // reported individually in the window
	held       int   // counted for the burst finding
	agents     []string
	sessions   []string
	events     []string
	principal  string // of the first held agent
	root       string // of the first held agent
}

// Detector reports unregistered agents and agents acting on lapsed grants.
type Detector struct {
	opts      Options
	seen      *lru.LRU[struct{}]
	reported  *lru.LRU[uint8] // session -> reported bits
	sess      *lru.LRU[sessState]
	creds     *lru.LRU[credState]
	burst     burst
	evictions *atomic.Uint64
}

// New returns a Detector. Zero limits, windows and severities fall back to
// defaults.
func New(opts Options) *Detector {
	def := DefaultOptions()
	fill := func(v *uint8, d uint8) {
		if *v == 0 {
			*v = d
		}
	}
	fill(&opts.SharedSeverity, def.SharedSeverity)
	fill(&opts.HumanSeverity, def.HumanSeverity)
	fill(&opts.MissingSeverity, def.MissingSeverity)
	fill(&opts.SessionAgeSeverity, def.SessionAgeSeverity)
	if opts.SharedWindow == 0 {
		opts.SharedWindow = def.SharedWindow
	}
	if opts.DelegationWindow <= 0 {
		opts.DelegationWindow = def.DelegationWindow
	}
	if opts.MaxSessionAge == 0 {
		opts.MaxSessionAge = def.MaxSessionAge
	}
	if opts.ExpiredSeverity == 0 {
		opts.ExpiredSeverity = def.ExpiredSeverity
	}
	if opts.ExpiredRiskySeverity == 0 {
		opts.ExpiredRiskySeverity = def.ExpiredRiskySeverity
	}
	if opts.PrincipalEndedSeverity == 0 {
		opts.PrincipalEndedSeverity = def.PrincipalEndedSeverity
	}
	if opts.PrincipalEndedRiskySeverity == 0 {
		opts.PrincipalEndedRiskySeverity = def.PrincipalEndedRiskySeverity
	}
	if opts.BurstWindow <= 0 {
		opts.BurstWindow = def.BurstWindow
	}
	if opts.BurstIndividual == 0 {
		opts.BurstIndividual = def.BurstIndividual
	}
	d := &Detector{opts: opts, evictions: new(atomic.Uint64)}
	d.seen, d.reported, d.sess, d.creds = d.tables(opts.MaxTracked, opts.MaxSessions, opts.MaxSessions, opts.MaxCredentials)
	return d
}

// tables returns empty tables of the given caps, counting their evictions.
func (d *Detector) tables(seen, reported, sess, creds int) (*lru.LRU[struct{}], *lru.LRU[uint8], *lru.LRU[sessState], *lru.LRU[credState]) {
	a, b, c, e := lru.New[struct{}](seen), lru.New[uint8](reported), lru.New[sessState](sess), lru.New[credState](creds)
	a.CountInto(d.evictions)
	b.CountInto(d.evictions)
	c.CountInto(d.evictions)
	e.CountInto(d.evictions)
	return a, b, c, e
}

// SetMeter implements detector.Bounded. Each entry is its id beyond the
// node, a credential also its member list (whose ids are shared with the
// events).
func (d *Detector) SetMeter(m *lru.Meter) {
	d.seen.Metered(m, Name+"/unregistered", func(id string, _ *struct{}) int { return lru.String(id) })
	d.reported.Metered(m, Name+"/lapsed", func(id string, _ *uint8) int { return lru.String(id) })
	d.sess.Metered(m, Name+"/sessions", func(id string, _ *sessState) int { return lru.String(id) })
	d.creds.Metered(m, Name+"/credentials", func(id string, c *credState) int { return lru.String(id) + lru.Slice(c.members) })
}

// Evictions implements detector.Bounded.
func (d *Detector) Evictions() uint64 { return d.evictions.Load() }

// Name implements detector.Detector.
func (d *Detector) Name() string { return Name }

// TrackedSessions returns the number of sessions remembered as reported.
func (d *Detector) TrackedSessions() int { return d.reported.Len() }

// TrackedAttribution returns the number of sessions and credentials held
// by the attribution checks.
func (d *Detector) TrackedAttribution() (sessions, credentials int) {
	return d.sess.Len(), d.creds.Len()
}

// Observe implements detector.Detector.
func (d *Detector) Observe(ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
	// Burst windows only move forward: an event of an earlier window (out
	// of order) counts in the current one, so interleaved times cannot
	// split a burst into many findings.
	if w := d.window(ev); w > d.burst.window {
		if d.burst.held > 0 {
			d.flushBurst(emit)
		}
		d.burst.window, d.burst.individual = w, 0
	}
	if agent == nil {
		d.observeUnregistered(ev, emit)
	}
	d.observeLapsed(ev, agent, emit)
	d.observeAttribution(ev, agent, emit)
	if ev.Kind == models.KindSessionEnd {
		d.reported.Delete(ev.SessionID)
	}
}

func (d *Detector) observeUnregistered(ev *models.Event, emit func(models.Finding)) {
	if _, created := d.seen.Put(ev.AgentID); !created {
		return
	}
	if d.opts.BurstIndividual > 0 {
		b := &d.burst
		if b.individual >= d.opts.BurstIndividual {
			if b.held == 0 {
				b.principal, b.root = ev.Principal, ev.Root()
			}
			b.held++
			if len(b.agents) < maxBurstSample {
				b.agents = append(b.agents, ev.AgentID)
				b.sessions = append(b.sessions, ev.SessionID)
				b.events = append(b.events, ev.ID)
			}
			return
		}
		b.individual++
	}
	emit(models.Finding{
		Kind:       KindUnregistered,
		Severity:   models.SeverityMedium,
		Confidence: 1,
		Explanation: fmt.Sprintf("agent %q is not in the inventory: it has no declared owner, purpose or capability manifest (first seen on %s event %s, principal %q)",
			ev.AgentID, ev.Kind, ev.ID, ev.Principal),
	})
}

// window returns the index of ev's BurstWindow.
func (d *Detector) window(ev *models.Event) int64 {
	return ev.Time.UnixNano() / int64(d.opts.BurstWindow)
}

// flushBurst emits the unregistered_agent_burst finding of the held agents
// of the last window, attributed to the first of them, and resets the
// count.
func (d *Detector) flushBurst(emit func(models.Finding)) {
	b := &d.burst
	start := time.Unix(0, b.window*int64(d.opts.BurstWindow)).UTC()
	emit(models.Finding{
		Kind:        KindUnregisteredBurst,
		Severity:    models.SeverityMedium,
		Confidence:  1,
		AgentID:     b.agents[0],
		SessionID:   b.sessions[0],
		RootAgentID: b.root,
		Principal:   b.principal,
		Explanation: fmt.Sprintf("%d further agents not in the inventory first acted in the %s from %s, after %d reported individually (at most %d per window): a burst of unknown identities; first of them: %s",
			b.held, d.opts.BurstWindow, stamp(start), d.opts.BurstIndividual, d.opts.BurstIndividual, strings.Join(b.agents, ", ")),
		EvidenceIDs: append([]string(nil), b.events...),
		Features:    []models.Feature{{Name: "unregistered_agents_in_window", Observed: float64(b.held + d.opts.BurstIndividual), Baseline: float64(d.opts.BurstIndividual)}},
	})
	b.held, b.agents, b.sessions, b.events, b.principal, b.root = 0, nil, nil, nil, "", ""
}

// riskyCall describes ev when it is a tool call to a tool the agent's
// manifest labels public_sink or destructive, and returns "" otherwise.
func riskyCall(ev *models.Event, agent *models.AgentSpec) string {
	if ev.Kind != models.KindToolCall || agent == nil {
		return ""
	}
	spec := agent.Tool(ev.ToolName)
	if spec == nil || !(spec.Has(models.LabelPublicSink) || spec.Has(models.LabelDestructive)) {
		return ""
	}
	return fmt.Sprintf("; the event is a call of tool %q, labelled %v", ev.ToolName, spec.Labels)
}

// observeLapsed reports events that happen after the credential expired or
// after the principal's session ended.
func (d *Detector) observeLapsed(ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
	expired := ev.CredentialExpiry != nil && !ev.CredentialExpiry.IsZero() && ev.Time.After(*ev.CredentialExpiry)
	departed := ev.PrincipalSessionEnd != nil && !ev.PrincipalSessionEnd.IsZero() && ev.Time.After(*ev.PrincipalSessionEnd)
	if !expired && !departed {
		return
	}
	risky := riskyCall(ev, agent)
	var bits uint8
	if b := d.reported.Peek(ev.SessionID); b != nil {
		bits = *b
	}
	var add uint8
	if expired {
		bit, sev := reportedExpired, d.opts.ExpiredSeverity
		if risky != "" {
			bit, sev = reportedExpiredRisky, d.opts.ExpiredRiskySeverity
		}
		if bits&bit == 0 { // a risky call is reported even after a plain report
			add |= bit | reportedExpired
			gap := ev.Time.Sub(*ev.CredentialExpiry)
			emit(models.Finding{
				Kind:       KindExpiredCredential,
				Severity:   sev,
				Confidence: 1,
				Explanation: fmt.Sprintf("agent %q acted (%s event %s at %s) under credential %q, which expired at %s, %s earlier; a time-bound grant is being used as persistent authority (principal %q)%s",
					ev.AgentID, ev.Kind, ev.ID, stamp(ev.Time), ev.CredentialID, stamp(*ev.CredentialExpiry), roundGap(gap), ev.Principal, risky),
				Features: []models.Feature{{Name: "seconds_past_credential_expiry", Observed: gap.Seconds(), Baseline: 0}},
			})
		}
	}
	if departed {
		bit, sev := reportedPrincipal, d.opts.PrincipalEndedSeverity
		if risky != "" {
			bit, sev = reportedPrincipalRisky, d.opts.PrincipalEndedRiskySeverity
		}
		if bits&bit == 0 {
			add |= bit | reportedPrincipal
			gap := ev.Time.Sub(*ev.PrincipalSessionEnd)
			emit(models.Finding{
				Kind:       KindPrincipalSessionEnded,
				Severity:   sev,
				Confidence: 1,
				Explanation: fmt.Sprintf("agent %q acted (%s event %s at %s) on behalf of %q, whose session ended at %s, %s earlier; nobody who authorised it is present any more%s",
					ev.AgentID, ev.Kind, ev.ID, stamp(ev.Time), ev.Principal, stamp(*ev.PrincipalSessionEnd), roundGap(gap), risky),
				Features: []models.Feature{{Name: "seconds_past_principal_session_end", Observed: gap.Seconds(), Baseline: 0}},
			})
		}
	}
	if add == 0 || ev.Kind == models.KindSessionEnd {
		return
	}
	b, _ := d.reported.Put(ev.SessionID)
	*b = bits | add
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// roundGap renders a gap at a readable precision.
func roundGap(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.String()
}
