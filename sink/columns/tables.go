package columns

import (
	"time"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/models/triage"
)

// Table names.
const (
	EventsTable   = "events"
	FindingsTable = "findings"
	CommandsTable = "commands"
	AcksTable     = "command_acks"
	TriageTable   = "triage"
)

// insertedAt is the server-side insertion time of every ClickHouse row.
const insertedAt = "inserted_at"

// Event is an event as stored: its free text (arguments, result, content,
// error) cut to a limit, and whether anything was cut.
type Event struct {
	// E is the event; its text fields are read from the fields below.
	E *models.Event
	// Arguments, Result, Content and Error are E's, cut.
	Arguments, Result, Content, Error string
	// Truncated reports whether any of them was cut.
	Truncated bool
}

// NewEvent prepares e for storage, cutting each free-text field to maxText
// bytes at a UTF-8 boundary (0: no limit).
func NewEvent(e *models.Event, maxText int) Event {
	r := Event{E: e}
	var t [4]bool
	r.Arguments, t[0] = Cut(string(e.Arguments), maxText)
	r.Result, t[1] = Cut(e.Result, maxText)
	r.Content, t[2] = Cut(e.Content, maxText)
	r.Error, t[3] = Cut(e.Error, maxText)
	r.Truncated = t[0] || t[1] || t[2] || t[3]
	return r
}

// str, time, … declare a column of a kind with a typed getter.
func col[T, V any](name string, k Kind, get func(*T) V) Column[T] {
	return Column[T]{Name: name, Kind: k, Value: func(r *T) any { return get(r) }, get: get}
}

func defaulted[T any](name string, k Kind, expr string) Column[T] {
	return Column[T]{Name: name, Kind: k, Default: expr}
}

// Events is the audit trail of every valid event (ClickHouse table events;
// the Parquet events series holds the columns an analyst's questions need).
var Events = Table[Event]{
	Name: EventsTable,
	Columns: []Column[Event]{
		col("event_id", String, func(r *Event) string { return r.E.ID }),
		col("time", Time, func(r *Event) time.Time { return r.E.Time }),
		col("kind", LowCard, func(r *Event) string { return string(r.E.Kind) }),
		col("root_agent_id", LowCard, func(r *Event) string { return r.E.Root() }),
		col("agent_id", LowCard, func(r *Event) string { return r.E.AgentID }),
		col("agent_name", LowCard, func(r *Event) string { return r.E.AgentName }),
		col("agent_version", LowCard, func(r *Event) string { return r.E.AgentVersion }),
		col("session_id", String, func(r *Event) string { return r.E.SessionID }),
		withParquet(col("step", Int64, func(r *Event) int64 { return int64(r.E.Step) }), Int32),
		col("operation", LowCard, func(r *Event) string {
			if r.E.Operation != "" {
				return r.E.Operation
			}
			return r.E.Kind.Operation()
		}),
		col("role", LowCard, func(r *Event) string { return r.E.Role }),
		col("tool_name", LowCard, func(r *Event) string { return r.E.ToolName }),
		col("tool_call_id", String, func(r *Event) string { return r.E.ToolCallID }),
		col("arguments", String, func(r *Event) string { return r.Arguments }),
		col("result", String, func(r *Event) string { return r.Result }),
		col("content", String, func(r *Event) string { return r.Content }),
		col("error", String, func(r *Event) string { return r.Error }),
		col("truncated", UInt8, func(r *Event) uint8 { return b2u(r.Truncated) }),
		col("model", LowCard, func(r *Event) string { return r.E.Model }),
		col("parent_agent_id", LowCard, func(r *Event) string { return r.E.ParentAgentID }),
		col("parent_session_id", String, func(r *Event) string { return r.E.ParentSessionID }),
		col("child_agent_id", LowCard, func(r *Event) string { return r.E.ChildAgentID }),
		col("child_session_id", String, func(r *Event) string { return r.E.ChildSessionID }),
		col("principal", LowCard, func(r *Event) string { return r.E.Principal }),
		col("principal_session_end", NullTime, func(r *Event) *time.Time { return r.E.PrincipalSessionEnd }),
		col("credential_id", String, func(r *Event) string { return r.E.CredentialID }),
		col("credential_expires_at", NullTime, func(r *Event) *time.Time { return r.E.CredentialExpiry }),
		col("autonomy_level", LowCard, func(r *Event) string { return string(r.E.Autonomy) }),
		col("data_classes", LowCards, func(r *Event) []string { return nonNil(r.E.DataClasses) }),
		col("resource", String, func(r *Event) string { return r.E.Resource }),
		col("destination", String, func(r *Event) string { return r.E.Destination }),
		col("bytes", Int64, func(r *Event) int64 { return r.E.Bytes }),
		col("schema_version", UInt8, func(r *Event) uint8 { return uint8(r.E.SchemaVersion) }),
		col("time_ms", UInt16, func(r *Event) uint16 { return Millis(r.E.Time) }),
		defaulted[Event](insertedAt, Seconds, "now()"),
	},
	Parquet: []string{"event_id", "time", "kind", "root_agent_id", "agent_id", "session_id", "step", "role", "tool_name",
		"arguments", "result", "content", "error", "parent_agent_id", "parent_session_id", "child_agent_id", "child_session_id",
		"principal", "autonomy_level", "data_classes", "resource", "destination"},
}

// Findings holds every finding (ClickHouse table findings, Parquet findings
// series).
var Findings = Table[models.Finding]{
	Name: FindingsTable,
	Columns: []Column[models.Finding]{
		col("finding_id", String, func(f *models.Finding) string { return f.ID }),
		col("time", Time, func(f *models.Finding) time.Time { return f.Time }),
		col("root_agent_id", LowCard, func(f *models.Finding) string {
			if f.RootAgentID == "" {
				return f.AgentID
			}
			return f.RootAgentID
		}),
		col("agent_id", LowCard, func(f *models.Finding) string { return f.AgentID }),
		col("session_id", String, func(f *models.Finding) string { return f.SessionID }),
		col("principal", LowCard, func(f *models.Finding) string { return f.Principal }),
		col("detector", LowCard, func(f *models.Finding) string { return f.Detector }),
		col("kind", LowCard, func(f *models.Finding) string { return f.Kind }),
		col("severity", UInt8, func(f *models.Finding) uint8 { return f.Severity }),
		col("confidence", Float64, func(f *models.Finding) float64 { return f.Confidence }),
		col("explanation", String, func(f *models.Finding) string { return f.Explanation }),
		col("evidence_event_ids", Strings, func(f *models.Finding) []string { return nonNil(f.EvidenceIDs) }),
		col("feature_name", LowCards, func(f *models.Finding) []string {
			return features(f, func(x models.Feature) string { return x.Name })
		}),
		col("feature_observed", Floats, func(f *models.Finding) []float64 {
			return features(f, func(x models.Feature) float64 { return x.Observed })
		}),
		col("feature_baseline", Floats, func(f *models.Finding) []float64 {
			return features(f, func(x models.Feature) float64 { return x.Baseline })
		}),
		col("feature_spread", Floats, func(f *models.Finding) []float64 {
			return features(f, func(x models.Feature) float64 { return x.Spread })
		}),
		withParquet(col("step", Int64, func(f *models.Finding) int64 { return int64(f.Step) }), Int32),
		col("rule_id", LowCard, func(f *models.Finding) string { return f.RuleID }),
		col("ruleset_version", LowCard, func(f *models.Finding) string { return f.RulesetVersion }),
		col("exception", String, func(f *models.Finding) string { return f.Exception }),
		col("time_ms", UInt16, func(f *models.Finding) uint16 { return Millis(f.Time) }),
		col("subject", String, func(f *models.Finding) string { return f.Subject }),
		parquetOnly(col("features", Features, func(f *models.Finding) []models.Feature { return nonNil(f.Features) })),
		defaulted[models.Finding](insertedAt, Seconds, "now()"),
	},
	Parquet: []string{"finding_id", "time", "agent_id", "root_agent_id", "session_id", "principal", "detector", "kind",
		"severity", "confidence", "explanation", "evidence_event_ids", "features", "step", "rule_id", "ruleset_version",
		"exception", "subject"},
}

// Commands holds every containment command (ClickHouse table commands,
// Parquet commands series), with its signed envelope.
var Commands = Table[models.ContainmentCommand]{
	Name: CommandsTable,
	Columns: []Column[models.ContainmentCommand]{
		col("command_id", String, func(c *models.ContainmentCommand) string { return c.ID }),
		col("issued_at", Time, func(c *models.ContainmentCommand) time.Time { return c.IssuedAt }),
		col("expires_at", Time, func(c *models.ContainmentCommand) time.Time { return c.ExpiresAt }),
		col("agent_id", LowCard, func(c *models.ContainmentCommand) string { return c.AgentID }),
		col("session_id", String, func(c *models.ContainmentCommand) string { return c.SessionID }),
		col("credential_id", String, func(c *models.ContainmentCommand) string { return c.CredentialID }),
		col("action", LowCard, func(c *models.ContainmentCommand) string { return string(c.Action) }),
		col("target_autonomy", LowCard, func(c *models.ContainmentCommand) string { return string(c.TargetAutonomy) }),
		col("severity", UInt8, func(c *models.ContainmentCommand) uint8 { return c.Severity }),
		col("reason", String, func(c *models.ContainmentCommand) string { return c.Reason }),
		col("finding_ids", Strings, func(c *models.ContainmentCommand) []string { return nonNil(c.FindingIDs) }),
		col("issued_at_ms", UInt16, func(c *models.ContainmentCommand) uint16 { return Millis(c.IssuedAt) }),
		// The rest of the signed envelope (models.ContainmentCommand.SigningBytes):
		// with these a stored command can be verified against the key.
		col("version", UInt8, func(c *models.ContainmentCommand) uint8 { return uint8(c.Version) }),
		col("root_agent_id", LowCard, func(c *models.ContainmentCommand) string { return c.RootAgentID }),
		col("scope", LowCard, func(c *models.ContainmentCommand) string { return string(c.Scope) }),
		col("autonomy_before", LowCard, func(c *models.ContainmentCommand) string { return string(c.AutonomyBefore) }),
		col("key_id", LowCard, func(c *models.ContainmentCommand) string { return c.KeyID }),
		col("signature", String, func(c *models.ContainmentCommand) string { return c.Signature }),
		defaulted[models.ContainmentCommand](insertedAt, Seconds, "now()"),
	},
	Parquet: []string{"command_id", "agent_id", "session_id", "credential_id", "action", "target_autonomy", "severity",
		"reason", "finding_ids", "issued_at", "expires_at",
		"version", "root_agent_id", "scope", "autonomy_before", "key_id", "signature"},
}

// Acks holds containment consumers' acknowledgements with their stages of
// time-to-contain in milliseconds (models.Stages), exact even where the
// timestamps are whole seconds (ClickHouse table command_acks).
var Acks = Table[models.CommandAck]{
	Name: AcksTable,
	Columns: []Column[models.CommandAck]{
		col("command_id", String, func(a *models.CommandAck) string { return a.CommandID }),
		col("consumer", LowCard, func(a *models.CommandAck) string { return a.Consumer }),
		col("status", LowCard, func(a *models.CommandAck) string { return string(a.Status) }),
		col("agent_id", LowCard, func(a *models.CommandAck) string { return a.AgentID }),
		col("action", LowCard, func(a *models.CommandAck) string { return string(a.Action) }),
		col("reason", String, func(a *models.CommandAck) string { return a.Reason }),
		col("issued_at", Time, func(a *models.CommandAck) time.Time { return a.IssuedAt }),
		col("alerted_at", Time, func(a *models.CommandAck) time.Time { return a.AlertedAt }),
		col("received_at", Time, func(a *models.CommandAck) time.Time { return a.ReceivedAt }),
		col("acked_at", Time, func(a *models.CommandAck) time.Time { return a.AckedAt }),
		col("event_to_finding_ms", Float64, func(a *models.CommandAck) float64 { return ms(a.Stages().EventToFinding) }),
		col("finding_to_command_ms", Float64, func(a *models.CommandAck) float64 { return ms(a.Stages().FindingToCommand) }),
		col("command_to_ack_ms", Float64, func(a *models.CommandAck) float64 { return ms(a.Stages().CommandToAck) }),
		col("time_to_contain_ms", Float64, func(a *models.CommandAck) float64 { return ms(a.Stages().TimeToContain) }),
		defaulted[models.CommandAck](insertedAt, Seconds, "now()"),
	},
}

// Triage holds analysts' triage decisions (package triage): an append-only
// audit, one row per decision; a finding's current status is the row with
// the greatest at_ms. at_ms is the decision time in Unix milliseconds, so
// the order is exact on servers without DateTime64 (ClickHouse table
// triage).
var Triage = Table[triage.Record]{
	Name: TriageTable,
	Columns: []Column[triage.Record]{
		col("finding_id", String, func(r *triage.Record) string { return r.FindingID }),
		col("status", LowCard, func(r *triage.Record) string { return string(r.Status) }),
		col("comment", String, func(r *triage.Record) string { return r.Comment }),
		col("set_by", String, func(r *triage.Record) string { return r.By }),
		col("at", Time, func(r *triage.Record) time.Time { return r.At }),
		col("at_ms", UInt64, func(r *triage.Record) uint64 { return uint64(r.At.UnixMilli()) }),
		defaulted[triage.Record](insertedAt, Seconds, "now()"),
	},
}

func withParquet[T any](c Column[T], k Kind) Column[T] {
	c.ParquetKind = k
	return c
}

func parquetOnly[T any](c Column[T]) Column[T] {
	c.ParquetOnly = true
	return c
}

func features[V any](f *models.Finding, get func(models.Feature) V) []V {
	out := make([]V, len(f.Features))
	for i, x := range f.Features {
		out[i] = get(x)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
