// Package triage is the analysts' verdict on a finding: a status, a
// comment, who set it and when. Records are append-only (the latest one per
// finding is its current status); the console, `tether triage set` and the
// ClickHouse `triage` table all carry the same Record.
package triage

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Status is a finding's triage state.
type Status string

// Triage statuses. A finding without a record is StatusNew.
const (
	StatusNew           Status = "new"
	StatusAcknowledged  Status = "acknowledged"
	StatusFalsePositive Status = "false_positive"
	StatusAcceptedRisk  Status = "accepted_risk"
	StatusResolved      Status = "resolved"
	maxCommentBytes            = 4096
	maxByBytes                 = 256
	maxFindingIDBytes          = 256
)

// Statuses lists every valid status, in workflow order.
var Statuses = []Status{StatusNew, StatusAcknowledged, StatusFalsePositive, StatusAcceptedRisk, StatusResolved}

// Open reports whether a finding in status s still needs attention (new or
// acknowledged).
func (s Status) Open() bool { return s == StatusNew || s == StatusAcknowledged || s == "" }

// ErrInvalid is wrapped by every validation error of a Record.
var ErrInvalid = errors.New("invalid triage record")

// ParseStatus parses a status name.
func ParseStatus(s string) (Status, error) {
	for _, v := range Statuses {
		if string(v) == s {
			return v, nil
		}
	}
	return "", fmt.Errorf("%w: status %q (want one of new, acknowledged, false_positive, accepted_risk, resolved)", ErrInvalid, clip(s))
}

// Record is one triage decision about one finding.
type Record struct {
	FindingID string    `json:"finding_id"`
	Status    Status    `json:"status"`
	Comment   string    `json:"comment,omitempty"`
	By        string    `json:"by"`
	At        time.Time `json:"at"`
}

// Validate checks r: a finding id, a known status, who set it (required:
// the record is an audit trail), bounded UTF-8 text and a time.
func (r *Record) Validate() error {
	switch {
	case r.FindingID == "" || len(r.FindingID) > maxFindingIDBytes || strings.ContainsAny(r.FindingID, "\x00\n\r"):
		return fmt.Errorf("%w: finding id %q", ErrInvalid, clip(r.FindingID))
	case strings.TrimSpace(r.By) == "" || len(r.By) > maxByBytes || !utf8.ValidString(r.By):
		return fmt.Errorf("%w: finding %s: who set it (by) is required, at most %d bytes of UTF-8", ErrInvalid, r.FindingID, maxByBytes)
	case len(r.Comment) > maxCommentBytes || !utf8.ValidString(r.Comment):
		return fmt.Errorf("%w: finding %s: comment must be UTF-8 of at most %d bytes", ErrInvalid, r.FindingID, maxCommentBytes)
	case r.At.IsZero():
		return fmt.Errorf("%w: finding %s: time is required", ErrInvalid, r.FindingID)
	}
	if _, err := ParseStatus(string(r.Status)); err != nil {
		return fmt.Errorf("finding %s: %w", r.FindingID, err)
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
