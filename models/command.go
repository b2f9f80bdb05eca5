package models

import "time"

// Action is what a containment consumer is asked to do.
type Action string

// Containment actions, least to most disruptive.
const (
	// ActionReview asks a human to review the session; nothing is blocked.
	ActionReview Action = "review"
	// ActionRequireApproval gates the agent's further sink or destructive tool
	// calls behind human approval.
	ActionRequireApproval Action = "require_approval"
	// ActionDemote lowers the agent's autonomy level by one (TargetAutonomy).
	ActionDemote Action = "demote_autonomy"
	// ActionSuspendSession stops the session; the agent may start new ones.
	ActionSuspendSession Action = "suspend_session"
	// ActionRevokeCredential revokes the credential the session acts under.
	ActionRevokeCredential Action = "revoke_credential"
)

// ContainmentCommand is published on the control topic, keyed by agent id.
// Its ID is deterministic so consumers can de-duplicate replays.
type ContainmentCommand struct {
	ID             string    `json:"command_id"`
	AgentID        string    `json:"agent_id"`
	SessionID      string    `json:"session_id,omitempty"`
	CredentialID   string    `json:"credential_id,omitempty"`
	Action         Action    `json:"action"`
	TargetAutonomy Autonomy  `json:"target_autonomy,omitempty"`
	Severity       uint8     `json:"severity"`
	Reason         string    `json:"reason"`
	FindingIDs     []string  `json:"finding_ids"`
	IssuedAt       time.Time `json:"issued_at"`
	ExpiresAt      time.Time `json:"expires_at"`
}

// SetID fills c.ID from the command's target, action and findings.
func (c *ContainmentCommand) SetID() {
	parts := append([]string{c.AgentID, c.SessionID, string(c.Action)}, c.FindingIDs...)
	c.ID = StableID(parts...)
}
