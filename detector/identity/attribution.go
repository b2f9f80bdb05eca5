package identity

import (
	"fmt"
	"strings"
	"time"

	"github.com/tetherhq/tether/models"
)

// Finding kinds for identity attribution and session-scoped authority.
const (
	// KindSharedCredential: one credential is used by agents of two or more
	// distinct delegation lineages within Options.SharedWindow.
	KindSharedCredential = "shared_credential"
	// KindHumanIdentity: an agent acts under a human's identity.
	KindHumanIdentity = "human_identity"
	// KindMissingIdentity: the agent id is the session id, so the agent has
	// no identity that outlives one run.
	KindMissingIdentity = "missing_identity"
	// KindSessionAge: a session keeps calling tools longer than
	// Options.MaxSessionAge without re-validation.
	KindSessionAge = "session_age_exceeded"
)

// maxCredentialAgents is how many (agent, lineage) members one credential
// remembers; the least recently active member is replaced when it is full.
// Four are enough to establish and explain sharing.
const maxCredentialAgents = 4

// credMember is one agent seen presenting a credential.
type credMember struct {
	agent, lineage string
	last           int64 // event time of its latest use, Unix milliseconds
}

// credState is what is remembered of one credential: 96 bytes with its
// table entry, 48 per member (at most maxCredentialAgents; a slice, since
// most credentials have one), plus the agent and lineage ids it references.
type credState struct {
	members []credMember
	// spawnLineage/spawnAt record the latest agent_spawn under this
	// credential that named no child: the next new agent presenting the
	// credential within DelegationWindow is taken as that spawn's child.
	spawnLineage string
	spawnAt      int64
}

func (c *credState) find(agent string) int {
	for i := range c.members {
		if c.members[i].agent == agent {
			return i
		}
	}
	return -1
}

// prune drops members last active before cutoff (the list is released
// when none is left).
func (c *credState) prune(cutoff int64) {
	j := 0
	for i := range c.members {
		if c.members[i].last >= cutoff {
			c.members[j] = c.members[i]
			j++
		}
	}
	clear(c.members[j:])
	c.members = c.members[:j]
	if j == 0 {
		c.members = nil
	}
}

// add inserts m, replacing the least recently active member when full.
func (c *credState) add(m credMember) {
	if len(c.members) < maxCredentialAgents {
		c.members = append(c.members, m)
		return
	}
	old := 0
	for i := 1; i < len(c.members); i++ {
		if c.members[i].last < c.members[old].last {
			old = i
		}
	}
	c.members[old] = m
}

// sessState is what is remembered of one session for the attribution
// checks: about 100 bytes with its map and list overhead, plus the id.
type sessState struct {
	start   int64 // session_start, first event or last re-validation, Unix ms
	credExp int64 // latest credential expiry seen, Unix ms (0: none)
	bits    uint8 // reported kinds
}

// Bits of sessState.bits.
const (
	reportedHuman uint8 = 1 << iota
	reportedMissing
	reportedAge
)

// observeAttribution runs the attribution checks (shared credential, human
// identity, missing identity) and the session-age check.
func (d *Detector) observeAttribution(ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
	if ev.CredentialID != "" && d.opts.SharedWindow > 0 {
		d.observeCredential(ev, emit)
	}
	if ev.Kind == models.KindSessionEnd {
		d.sess.Delete(ev.SessionID)
		return
	}
	now := ev.Time.UnixMilli()
	exp := int64(0)
	if ev.CredentialExpiry != nil && !ev.CredentialExpiry.IsZero() {
		exp = ev.CredentialExpiry.UnixMilli()
	}
	s, created := d.sess.Put(ev.SessionID)
	switch {
	case created, ev.Kind == models.KindSessionStart:
		// A (new) session_start is re-validation: the runtime started the
		// session again under whatever grant it now holds.
		s.start = now
		if exp != 0 {
			s.credExp = exp
		}
	case exp != 0 && s.credExp == 0:
		s.credExp = exp // first sight of the expiry: not a refresh
	case exp > s.credExp:
		s.start, s.credExp = now, exp // a refreshed credential re-validates
	}

	if s.bits&reportedHuman == 0 {
		if why, conf := humanIdentity(ev, agent); why != "" {
			s.bits |= reportedHuman
			emit(models.Finding{
				Kind:       KindHumanIdentity,
				Severity:   d.opts.HumanSeverity,
				Confidence: conf,
				Explanation: fmt.Sprintf("agent %q acts under a human's identity (%s event %s, principal %q, credential %q): %s; its actions are logged as the human's own, so agent and human cannot be told apart in audit",
					ev.AgentID, ev.Kind, ev.ID, ev.Principal, ev.CredentialID, why),
			})
		}
	}
	if s.bits&reportedMissing == 0 && ev.AgentID == ev.SessionID {
		s.bits |= reportedMissing
		emit(models.Finding{
			Kind:       KindMissingIdentity,
			Severity:   d.opts.MissingSeverity,
			Confidence: 0.8,
			Explanation: fmt.Sprintf("agent id %q is the session id (%s event %s, principal %q): the agent has no identity that outlives this run, so its actions cannot be attributed to a registered, accountable agent or compared with its history",
				ev.AgentID, ev.Kind, ev.ID, ev.Principal),
		})
	}
	if ev.Kind == models.KindToolCall && d.opts.MaxSessionAge > 0 && s.bits&reportedAge == 0 {
		if age := time.Duration(now-s.start) * time.Millisecond; age > d.opts.MaxSessionAge {
			s.bits |= reportedAge
			emit(models.Finding{
				Kind:       KindSessionAge,
				Severity:   d.opts.SessionAgeSeverity,
				Confidence: 1,
				Explanation: fmt.Sprintf("session %q of agent %q is still calling tools (%q, event %s at %s) %s after it started or was last re-validated at %s, beyond the %s session limit, with neither a new session_start nor a refreshed credential: a session-scoped grant is being used as persistent authority (principal %q)",
					ev.SessionID, ev.AgentID, ev.ToolName, ev.ID, stamp(ev.Time), roundGap(age), stamp(time.UnixMilli(s.start)), d.opts.MaxSessionAge, ev.Principal),
				Features: []models.Feature{{Name: "session_age_seconds", Observed: age.Seconds(), Baseline: d.opts.MaxSessionAge.Seconds()}},
			})
		}
	}
}

// humanIdentity explains why ev shows an agent acting under a human's
// identity, with a confidence, or returns "".
func humanIdentity(ev *models.Event, agent *models.AgentSpec) (string, float64) {
	if p := ev.Principal; p != "" {
		if strings.EqualFold(ev.AgentID, p) {
			return "the agent id is the identity of the principal who authorised it", 1
		}
		if strings.EqualFold(ev.CredentialID, p) {
			return "the credential it presents is the principal's own identity", 1
		}
	}
	if looksLikeEmail(ev.AgentID) {
		if agent != nil {
			return "the agent id has the shape of a human account (an email address), yet the inventory registers it as an agent", 0.9
		}
		if ev.Kind == models.KindToolCall {
			return fmt.Sprintf("the agent id has the shape of a human account (an email address), yet it calls tool %q as an agent", ev.ToolName), 0.8
		}
	}
	return "", 0
}

// looksLikeEmail reports whether s has the shape of an email address: one
// "@", a non-empty local part, a dotted domain, and no spaces, slashes or
// colons (which URIs and SPIFFE-style workload ids contain).
func looksLikeEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || strings.Count(s, "@") != 1 || strings.ContainsAny(s, " \t/:") {
		return false
	}
	dom := s[at+1:]
	dot := strings.LastIndexByte(dom, '.')
	return dot > 0 && dot < len(dom)-1
}

// observeCredential maintains the credential's members and reports a new
// agent whose lineage differs from another member's within SharedWindow.
func (d *Detector) observeCredential(ev *models.Event, emit func(models.Finding)) {
	now := ev.Time.UnixMilli()
	c, _ := d.creds.Put(ev.CredentialID)
	c.prune(now - d.opts.SharedWindow.Milliseconds())
	if i := c.find(ev.AgentID); i >= 0 {
		c.members[i].last = max(c.members[i].last, now)
		d.noteSpawn(c, ev, c.members[i].lineage, now)
		return
	}
	lineage := d.lineage(c, ev, now)
	others := 0
	for i := range c.members {
		if c.members[i].lineage != lineage {
			others++
		}
	}
	var list string
	if others > 0 {
		parts := make([]string, 0, others)
		for i := range c.members {
			if m := c.members[i]; m.lineage != lineage {
				parts = append(parts, fmt.Sprintf("%q (lineage %q, last at %s)", m.agent, m.lineage, stamp(time.UnixMilli(m.last))))
			}
		}
		list = strings.Join(parts, ", ")
	}
	lineages := 1
	for i := range c.members {
		first := c.members[i].lineage != lineage
		for j := 0; j < i && first; j++ {
			first = c.members[j].lineage != c.members[i].lineage
		}
		if first {
			lineages++
		}
	}
	c.add(credMember{agent: ev.AgentID, lineage: lineage, last: now})
	d.noteSpawn(c, ev, lineage, now)
	if others == 0 {
		return
	}
	emit(models.Finding{
		Kind:       KindSharedCredential,
		Severity:   d.opts.SharedSeverity,
		Confidence: 1,
		Explanation: fmt.Sprintf("credential %q is presented by agent %q (lineage %q, %s event %s) and, within the last %s, by %s, which are not in its delegation lineage: the credential does not identify one agent, so \"who are you?\" has no answer and actions cannot be attributed (principal %q)",
			ev.CredentialID, ev.AgentID, lineage, ev.Kind, ev.ID, d.opts.SharedWindow, list, ev.Principal),
		Features: []models.Feature{{Name: "lineages_sharing_credential", Observed: float64(lineages), Baseline: 1}},
	})
}

// lineage returns the delegation lineage a new member of c belongs to: its
// parent's lineage (or declared root) for a sub-agent, the lineage of a
// recent anonymous agent_spawn under the same credential, or itself.
func (d *Detector) lineage(c *credState, ev *models.Event, now int64) string {
	if ev.ParentAgentID != "" {
		if i := c.find(ev.ParentAgentID); i >= 0 {
			return c.members[i].lineage
		}
		if ev.RootAgentID != "" {
			return ev.RootAgentID
		}
		return ev.ParentAgentID
	}
	if ev.RootAgentID != "" && ev.RootAgentID != ev.AgentID {
		if i := c.find(ev.RootAgentID); i >= 0 {
			return c.members[i].lineage
		}
		return ev.RootAgentID
	}
	if c.spawnLineage != "" && now >= c.spawnAt && now-c.spawnAt <= d.opts.DelegationWindow.Milliseconds() {
		l := c.spawnLineage
		c.spawnLineage = "" // one anonymous spawn delegates to one agent
		return l
	}
	return ev.AgentID
}

// noteSpawn records the delegation an agent_spawn under the credential
// makes: a named child joins the spawner's lineage at once; an unnamed one
// is remembered for DelegationWindow.
func (d *Detector) noteSpawn(c *credState, ev *models.Event, lineage string, now int64) {
	if ev.Kind != models.KindAgentSpawn {
		return
	}
	if ev.ChildAgentID == "" {
		c.spawnLineage, c.spawnAt = lineage, now
		return
	}
	if c.find(ev.ChildAgentID) < 0 {
		c.add(credMember{agent: ev.ChildAgentID, lineage: lineage, last: now})
	}
}
