// Package identity answers the Agentic Trust Framework's first question,
// "Who are you?", from the event stream:
//
//   - unregistered_agent: an agent acts without being registered in the
//     inventory (once per agent per tracking window);
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
// Memory: unregistered agents (MaxTracked ids) and lapsed-grant sessions
// (MaxSessions, one byte each plus the id) are cleared when full; the
// attribution state is LRU-bounded: at most MaxSessions sessions of about
// 100 bytes plus the session id (dropped at session_end), and at most
// MaxCredentials credentials of about 260 bytes plus the credential id
// (each remembers at most 4 agents, whose id strings it shares with the
// events). All times are event times.
package identity

import (
	"fmt"
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
)

// Options configures the identity detector.
type Options struct {
	// MaxTracked bounds the set of unregistered agents remembered, so a flood
	// of random agent ids cannot grow memory without limit. When full, the set
	// is cleared and agents are reported again.
	MaxTracked int
	// MaxSessions bounds the sessions remembered as already reported for a
	// lapsed credential or principal session. Entries are dropped at
	// session_end; when full, the set is cleared (sessions may be reported
	// again).
	MaxSessions int
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
		MaxTracked:                  100_000,
		MaxSessions:                 100_000,
		ExpiredSeverity:             60,
		ExpiredRiskySeverity:        75,
		PrincipalEndedSeverity:      models.SeverityMedium,
		PrincipalEndedRiskySeverity: 60,
		MaxCredentials:              50_000,
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

// Detector reports unregistered agents and agents acting on lapsed grants.
type Detector struct {
	opts     Options
	seen     map[string]struct{}
	reported map[string]uint8 // session -> reported bits
	sess     *lru.LRU[sessState]
	creds    *lru.LRU[credState]
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
	if opts.MaxCredentials <= 0 {
		opts.MaxCredentials = def.MaxCredentials
	}
	if opts.SharedWindow == 0 {
		opts.SharedWindow = def.SharedWindow
	}
	if opts.DelegationWindow <= 0 {
		opts.DelegationWindow = def.DelegationWindow
	}
	if opts.MaxSessionAge == 0 {
		opts.MaxSessionAge = def.MaxSessionAge
	}
	if opts.MaxTracked <= 0 {
		opts.MaxTracked = def.MaxTracked
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = def.MaxSessions
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
	return &Detector{opts: opts, seen: make(map[string]struct{}), reported: make(map[string]uint8),
		sess: lru.New[sessState](opts.MaxSessions), creds: lru.New[credState](opts.MaxCredentials)}
}

// Name implements detector.Detector.
func (d *Detector) Name() string { return Name }

// TrackedSessions returns the number of sessions remembered as reported.
func (d *Detector) TrackedSessions() int { return len(d.reported) }

// TrackedAttribution returns the number of sessions and credentials held
// by the attribution checks.
func (d *Detector) TrackedAttribution() (sessions, credentials int) {
	return d.sess.Len(), d.creds.Len()
}

// Observe implements detector.Detector.
func (d *Detector) Observe(ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
	if agent == nil {
		d.observeUnregistered(ev, emit)
	}
	d.observeLapsed(ev, agent, emit)
	d.observeAttribution(ev, agent, emit)
	if ev.Kind == models.KindSessionEnd {
		delete(d.reported, ev.SessionID)
	}
}

func (d *Detector) observeUnregistered(ev *models.Event, emit func(models.Finding)) {
	if _, ok := d.seen[ev.AgentID]; ok {
		return
	}
	if len(d.seen) >= d.opts.MaxTracked {
		clear(d.seen)
	}
	d.seen[ev.AgentID] = struct{}{}
	emit(models.Finding{
		Kind:       KindUnregistered,
		Severity:   models.SeverityMedium,
		Confidence: 1,
		Explanation: fmt.Sprintf("agent %q is not in the inventory: it has no declared owner, purpose or capability manifest (first seen on %s event %s, principal %q)",
			ev.AgentID, ev.Kind, ev.ID, ev.Principal),
	})
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
	bits, known := d.reported[ev.SessionID]
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
	if !known && len(d.reported) >= d.opts.MaxSessions {
		clear(d.reported)
		bits = 0
	}
	d.reported[ev.SessionID] = bits | add
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
