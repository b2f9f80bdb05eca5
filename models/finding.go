package models

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Feature is one observed-versus-baseline value behind a finding.
type Feature struct {
	Name     string  `json:"name"`
	Observed float64 `json:"observed"`
	Baseline float64 `json:"baseline"`
	// Spread is the baseline's standard deviation (or 0 when not applicable).
	Spread float64 `json:"spread,omitempty"`
}

// Finding is one detector's judgement about an agent's behaviour. Its ID is
// derived from its identity (see SetID) so that replaying the same events
// yields the same ID (at-least-once delivery without duplicate rows) while
// two distinct findings never share one.
type Finding struct {
	ID          string    `json:"finding_id"`
	Time        time.Time `json:"time"` // event time of the triggering event
	AgentID     string    `json:"agent_id"`
	RootAgentID string    `json:"root_agent_id"`
	SessionID   string    `json:"session_id"`
	Principal   string    `json:"principal,omitempty"`
	Detector    string    `json:"detector"`
	Kind        string    `json:"kind"`
	// Subject tells apart findings of one kind that one detector can raise
	// on the same evidence: the toxic path (capability toxic_path), the
	// data class (semantic data_class_outside_manifest), the contributing
	// deviations (session compound_deviation). Detectors set it; it is
	// empty for kinds raised at most once per evidence set.
	Subject string `json:"subject,omitempty"`
	// Severity is 0–100 on the shared scale.
	Severity uint8 `json:"severity"`
	// Confidence is 0–1.
	Confidence  float64   `json:"confidence"`
	Explanation string    `json:"explanation"`
	EvidenceIDs []string  `json:"evidence_event_ids"`
	Features    []Feature `json:"features,omitempty"`
	// Step is the session step of the triggering event.
	Step int `json:"step"`
	// RuleID names the ruleset entry that governs the finding (detector/rules:
	// "TTH-<detector>-<kind>" for built-in kinds, the operator's id for a
	// custom rule). RulesetVersion is the version of the ruleset loaded
	// when the finding was raised, so a retune is visible in every query.
	RuleID         string `json:"rule_id,omitempty"`
	RulesetVersion string `json:"ruleset_version,omitempty"`
	// Exception is the id of the exception that suppressed the finding, or
	// empty. A suppressed finding is still recorded but is neither
	// compounded nor turned into a containment command.
	Exception string `json:"exception,omitempty"`
}

// StableID hashes its parts into a 32-hex-digit identifier. Parts are
// separated so that ("ab","c") and ("a","bc") differ.
func StableID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// SetID fills f.ID from the finding's identity: detector, kind, agent,
// session, subject and evidence events, in that order. Everything else a
// finding carries (severity, confidence, explanation, features, time,
// step) is a function of these for a given detector configuration, so
// distinct findings get distinct ids and a replay of the same events gets
// the same ids; free text is deliberately not hashed, so rewording an
// explanation does not change ids. Call it after EvidenceIDs and Subject
// are final.
func (f *Finding) SetID() {
	parts := make([]string, 0, 5+len(f.EvidenceIDs))
	parts = append(parts, f.Detector, f.Kind, f.AgentID, f.SessionID, f.Subject)
	f.ID = StableID(append(parts, f.EvidenceIDs...)...)
}
