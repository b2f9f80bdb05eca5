package models

import (
	"encoding/binary"
	"strconv"
	"time"
)

// CommandVersion is the version of the containment command schema
// (models/schema/command.v1.json) that this package produces and signs.
const CommandVersion = 1

// Action is what a containment consumer is asked to do.
type Action string

// Containment actions, least to most disruptive, then the human clear.
const (
	// ActionReview notifies a human to review the session; nothing is
	// blocked.
	ActionReview Action = "review"
	// ActionRequireApproval gates the agent's next sensitive (sink or
	// destructive) tool call behind human approval.
	ActionRequireApproval Action = "require_approval"
	// ActionThrottle slows the agent down (the consumer decides how much).
	ActionThrottle Action = "throttle"
	// ActionDemote lowers the agent's autonomy to TargetAutonomy (one
	// level, or straight to intern on a critical incident).
	ActionDemote Action = "demote_autonomy"
	// ActionSuspendSession stops the session; the agent may start new ones.
	ActionSuspendSession Action = "suspend_session"
	// ActionRevokeCredential revokes the credential the session acts under.
	ActionRevokeCredential Action = "revoke_credential"
	// ActionHaltAgent stops every session of the agent until a human clear.
	ActionHaltAgent Action = "halt_agent"
	// ActionHaltLineage stops the agent and every sub-agent it spawned,
	// directly or not, until a human clear.
	ActionHaltLineage Action = "halt_lineage"
	// ActionClear is issued by a human: it lifts a halt of the agent (Scope
	// agent) or of its lineage (Scope lineage).
	ActionClear Action = "clear"
)

// Actions lists every known action, in the order above.
var Actions = []Action{ActionReview, ActionRequireApproval, ActionThrottle, ActionDemote, ActionSuspendSession,
	ActionRevokeCredential, ActionHaltAgent, ActionHaltLineage, ActionClear}

// Known reports whether a is one of Actions.
func (a Action) Known() bool {
	for _, k := range Actions {
		if a == k {
			return true
		}
	}
	return false
}

// Scope is what a command applies to.
type Scope string

// Command scopes.
const (
	// ScopeSession: the session SessionID of the agent.
	ScopeSession Scope = "session"
	// ScopeAgent: every session of AgentID.
	ScopeAgent Scope = "agent"
	// ScopeLineage: AgentID and every sub-agent it spawned.
	ScopeLineage Scope = "lineage"
	// ScopeCredential: the credential CredentialID, wherever it is used.
	ScopeCredential Scope = "credential"
)

// ScopeOf is the scope an action applies to (ActionClear: agent; a clear
// of a lineage halt sets ScopeLineage itself).
func ScopeOf(a Action) Scope {
	switch a {
	case ActionReview, ActionRequireApproval, ActionSuspendSession:
		return ScopeSession
	case ActionRevokeCredential:
		return ScopeCredential
	case ActionHaltLineage:
		return ScopeLineage
	}
	return ScopeAgent
}

// ContainmentCommand is published on the control topic, keyed by agent id.
// Its ID is deterministic (content-derived, see SetID) so consumers can
// de-duplicate replays; its Signature (Ed25519 over SigningBytes, which
// include the ID and KeyID) is deterministic too, so a replayed command is
// byte-identical to the original.
type ContainmentCommand struct {
	// Version is CommandVersion.
	Version      int    `json:"v"`
	ID           string `json:"command_id"`
	AgentID      string `json:"agent_id"`
	SessionID    string `json:"session_id,omitempty"`
	CredentialID string `json:"credential_id,omitempty"`
	// RootAgentID is the root of the agent's lineage (the agent itself for
	// a root agent), as Tether tracks it.
	RootAgentID string `json:"root_agent_id,omitempty"`
	Scope       Scope  `json:"scope,omitempty"`
	Action      Action `json:"action"`
	// AutonomyBefore is the agent's level when the command was decided;
	// TargetAutonomy the level it must have afterwards (empty: unchanged).
	AutonomyBefore Autonomy  `json:"autonomy_before,omitempty"`
	TargetAutonomy Autonomy  `json:"target_autonomy,omitempty"`
	Severity       uint8     `json:"severity"`
	Reason         string    `json:"reason"`
	FindingIDs     []string  `json:"finding_ids"`
	IssuedAt       time.Time `json:"issued_at"`
	ExpiresAt      time.Time `json:"expires_at"`
	// KeyID names the Ed25519 key that signed the command.
	KeyID string `json:"key_id,omitempty"`
	// Signature is the base64 (standard, padded) Ed25519 signature of
	// SigningBytes.
	Signature string `json:"signature,omitempty"`
}

// ComputeID returns the command's deterministic id: a StableID of the
// agent, session, action, scope, credential, target autonomy and finding
// ids, in that order. A command without findings (a human clear) adds its
// issue time, so two clears of the same agent are distinct commands.
func (c *ContainmentCommand) ComputeID() string {
	parts := append([]string{c.AgentID, c.SessionID, string(c.Action), string(c.Scope), c.CredentialID, string(c.TargetAutonomy)}, c.FindingIDs...)
	if len(c.FindingIDs) == 0 {
		parts = append(parts, c.IssuedAt.UTC().Format(time.RFC3339Nano))
	}
	return StableID(parts...)
}

// SetID fills the version (when unset), the scope (ScopeOf the action,
// when unset) and the deterministic ID.
func (c *ContainmentCommand) SetID() {
	if c.Version == 0 {
		c.Version = CommandVersion
	}
	if c.Scope == "" {
		c.Scope = ScopeOf(c.Action)
	}
	c.ID = c.ComputeID()
}

// SigningBytes is the message that Signature signs: the ASCII prefix
// "tether.command.v1" followed by every field but the signature, in schema
// order (v, command_id, agent_id, session_id, credential_id, root_agent_id,
// scope, action, autonomy_before, target_autonomy, severity, reason, the
// number of finding ids then each, issued_at, expires_at, key_id), each
// as an unsigned LEB128 length and its UTF-8 bytes; numbers in decimal,
// times in RFC 3339 with nanoseconds in UTC. Consumers in other languages
// rebuild it from the decoded JSON.
func (c *ContainmentCommand) SigningBytes() []byte {
	b := make([]byte, 0, 256+len(c.Reason))
	field := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = append(b, "tether.command.v1"...)
	field(strconv.Itoa(c.Version))
	field(c.ID)
	field(c.AgentID)
	field(c.SessionID)
	field(c.CredentialID)
	field(c.RootAgentID)
	field(string(c.Scope))
	field(string(c.Action))
	field(string(c.AutonomyBefore))
	field(string(c.TargetAutonomy))
	field(strconv.Itoa(int(c.Severity)))
	field(c.Reason)
	field(strconv.Itoa(len(c.FindingIDs)))
	for _, f := range c.FindingIDs {
		field(f)
	}
	field(c.IssuedAt.UTC().Format(time.RFC3339Nano))
	field(c.ExpiresAt.UTC().Format(time.RFC3339Nano))
	field(c.KeyID)
	return b
}
