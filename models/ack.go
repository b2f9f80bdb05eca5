package models

import "time"

// AckStatus is the outcome a containment consumer reports for a command.
type AckStatus string

// Acknowledgement outcomes.
const (
	// AckApplied: the consumer applied the command.
	AckApplied AckStatus = "applied"
	// AckRefused: the consumer refused the command (invalid, forged,
	// expired, replayed, or its handler declined it); Reason says why.
	AckRefused AckStatus = "refused"
	// AckFailed: applying the command failed; the consumer retries and
	// acknowledges again when it succeeds.
	AckFailed AckStatus = "failed"
)

// CommandAck is published by a containment consumer on the ack topic, keyed
// by agent id, for every command it applied, refused or failed to apply.
type CommandAck struct {
	// CommandID is the acknowledged command's id (as received: a refused
	// forgery carries whatever id it claimed).
	CommandID string    `json:"command_id"`
	AgentID   string    `json:"agent_id"`
	Action    Action    `json:"action"`
	Status    AckStatus `json:"status"`
	// Reason says why a command was refused or failed (a refusal reason
	// such as "bad_signature", or the handler's error).
	Reason string `json:"reason,omitempty"`
	// Consumer names the acknowledging consumer (its group).
	Consumer string `json:"consumer"`
	// IssuedAt is the command's issue time (the finding's event time);
	// AlertedAt when Tether started publishing it (its findings were
	// durable; the tether-alerted-at header); PublishedAt the control
	// record's timestamp; ReceivedAt when the consumer read it; AckedAt
	// when it finished with it.
	IssuedAt    time.Time `json:"issued_at"`
	AlertedAt   time.Time `json:"alerted_at,omitzero"`
	PublishedAt time.Time `json:"published_at"`
	ReceivedAt  time.Time `json:"received_at"`
	AckedAt     time.Time `json:"acked_at"`
}

// Stages of time-to-contain, from one acknowledgement. Times come from
// three clocks (the agent's event time, Tether's, the consumer's), so
// skew between hosts shows up in the stages; a stage with a missing time
// is 0.
type Stages struct {
	// EventToFinding: event time to the finding being durable and
	// alerted (AlertedAt: Tether starts publishing the command only after
	// the analysts' stores and the SIEM topic took the finding).
	EventToFinding time.Duration
	// FindingToCommand: alert to the command reaching the consumer.
	FindingToCommand time.Duration
	// CommandToAck: the consumer receiving the command to acknowledging it
	// (verification and the handler).
	CommandToAck time.Duration
	// TimeToContain: event time to acknowledgement.
	TimeToContain time.Duration
}

// Stages returns the stages of a's command.
func (a *CommandAck) Stages() Stages {
	d := func(from, to time.Time) time.Duration {
		if from.IsZero() || to.IsZero() {
			return 0
		}
		return to.Sub(from)
	}
	return Stages{
		EventToFinding:   d(a.IssuedAt, a.AlertedAt),
		FindingToCommand: d(a.AlertedAt, a.ReceivedAt),
		CommandToAck:     d(a.ReceivedAt, a.AckedAt),
		TimeToContain:    d(a.IssuedAt, a.AckedAt),
	}
}
