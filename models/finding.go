package models

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Severity bands on the shared 0–100 scale.
const (
	SeverityInfo     = 10
	SeverityLow      = 30
	SeverityMedium   = 50
	SeverityHigh     = 70
	SeverityCritical = 90
)

// AlertThreshold is the single, documented severity at or above which a
// session counts as alerted (used by evaluation and the default containment
// policy). It is not tuned per dataset.
const AlertThreshold = 50

// Feature is one observed-versus-baseline value behind a finding.
type Feature struct {
	Name     string  `json:"name"`
	Observed float64 `json:"observed"`
	Baseline float64 `json:"baseline"`
	// Spread is the baseline's standard deviation (or 0 when not applicable).
	Spread float64 `json:"spread,omitempty"`
}

// Finding is one detector's judgement about an agent's behaviour. Its ID is
// derived from its content so that replaying the same events yields the same
// ID (at-least-once delivery without duplicate rows).
type Finding struct {
	ID          string    `json:"finding_id"`
	Time        time.Time `json:"time"` // event time of the triggering event
	AgentID     string    `json:"agent_id"`
	RootAgentID string    `json:"root_agent_id"`
	SessionID   string    `json:"session_id"`
	Principal   string    `json:"principal,omitempty"`
	Detector    string    `json:"detector"`
	Kind        string    `json:"kind"`
	// Severity is 0–100 on the shared scale.
	Severity uint8 `json:"severity"`
	// Confidence is 0–1.
	Confidence  float64   `json:"confidence"`
	Explanation string    `json:"explanation"`
	EvidenceIDs []string  `json:"evidence_event_ids"`
	Features    []Feature `json:"features,omitempty"`
	// Step is the session step of the triggering event.
	Step int `json:"step"`
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
// session and evidence events. Call it after EvidenceIDs is final.
func (f *Finding) SetID() {
	parts := append([]string{f.Detector, f.Kind, f.AgentID, f.SessionID}, f.EvidenceIDs...)
	f.ID = StableID(parts...)
}
