// Package containment turns findings into containment commands for
// automated consumers, following the Agentic Trust Framework's progressive
// autonomy: the less autonomy an agent was granted, the sooner it is
// stopped; every command is explained by the findings behind it.
package containment

import (
	"fmt"
	"time"

	"github.com/tetherhq/tether/models"
)

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
	// MaxSessions bounds the per-session memory of issued actions.
	MaxSessions int
}

// DefaultOptions returns the documented default policy: review at the alert
// threshold (50), approval gating at 70, session suspension at 85 and
// credential revocation at 95, each 5 points lower per autonomy level below
// principal; commands expire after one hour.
func DefaultOptions() Options {
	return Options{
		ReviewAt:          models.AlertThreshold,
		RequireApprovalAt: 70,
		SuspendAt:         85,
		RevokeAt:          95,
		AutonomyDiscount:  5,
		TTL:               time.Hour,
		MaxSessions:       100_000,
	}
}

// Policy decides commands. It remembers the strongest action issued per
// session so a session is not re-commanded for the same or a weaker action.
// Not safe for concurrent use.
type Policy struct {
	opts   Options
	issued map[string]int // session -> rank of strongest action issued
}

// New returns a Policy.
func New(opts Options) *Policy { return &Policy{opts: opts, issued: make(map[string]int)} }

var rank = map[models.Action]int{
	models.ActionReview:           1,
	models.ActionRequireApproval:  2,
	models.ActionDemote:           2,
	models.ActionSuspendSession:   3,
	models.ActionRevokeCredential: 4,
}

// Decide returns the command for finding f raised on event ev by agent
// (nil when unregistered), if any is due.
func (p *Policy) Decide(f *models.Finding, ev *models.Event, agent *models.AgentSpec) (models.ContainmentCommand, bool) {
	level := ev.Autonomy
	if agent != nil && agent.Autonomy != "" {
		level = agent.Autonomy
	}
	if level == "" {
		level = models.AutonomyIntern // unknown agents get the least trust
	}
	discount := int(p.opts.AutonomyDiscount) * (models.AutonomyPrincipal.Rank() - level.Rank())
	at := func(th uint8) bool { return th > 0 && int(f.Severity) >= int(th)-discount }

	var action models.Action
	switch {
	case at(p.opts.RevokeAt) && ev.CredentialID != "":
		action = models.ActionRevokeCredential
	case at(p.opts.SuspendAt) || at(p.opts.RevokeAt):
		action = models.ActionSuspendSession
	case at(p.opts.RequireApprovalAt):
		action = models.ActionRequireApproval
	case at(p.opts.ReviewAt):
		action = models.ActionReview
	default:
		return models.ContainmentCommand{}, false
	}
	if rank[action] <= p.issued[f.SessionID] {
		return models.ContainmentCommand{}, false
	}
	if len(p.issued) >= p.opts.MaxSessions {
		clear(p.issued)
	}
	p.issued[f.SessionID] = rank[action]
	c := models.ContainmentCommand{
		AgentID:    f.AgentID,
		SessionID:  f.SessionID,
		Action:     action,
		Severity:   f.Severity,
		Reason:     fmt.Sprintf("%s/%s severity %d at autonomy %s: %s", f.Detector, f.Kind, f.Severity, level, f.Explanation),
		FindingIDs: []string{f.ID},
		IssuedAt:   f.Time,
		ExpiresAt:  f.Time.Add(p.opts.TTL),
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

// Forget drops the memory of a session (called when it ends).
func (p *Policy) Forget(session string) { delete(p.issued, session) }
