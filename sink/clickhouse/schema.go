package clickhouse

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Dialect is the flavour of DDL rendered for a server version.
type Dialect int

const (
	// DialectModern is for ClickHouse 20.1 and later: DateTime64(3, 'UTC')
	// timestamps, LowCardinality(String) for low-cardinality columns and TTL
	// retention.
	DialectModern Dialect = iota
	// DialectLegacy is for older servers (Debian bookworm ships 18.16),
	// which lack DateTime64, TTL and a production-ready LowCardinality:
	// timestamps are DateTime('UTC') with whole seconds, strings are String
	// and nothing expires.
	DialectLegacy
)

// String returns "modern" or "legacy".
func (d Dialect) String() string {
	if d == DialectLegacy {
		return "legacy"
	}
	return "modern"
}

// HasTTL reports whether the dialect renders TTL retention clauses.
func (d Dialect) HasTTL() bool { return d == DialectModern }

// DialectFor returns the dialect for a server version: modern from 20.1
// (the first release with DateTime64; TTL arrived in 19.6 and
// LowCardinality became default-enabled in 19.x), legacy before.
func DialectFor(major, minor uint64) Dialect {
	if major > 20 || (major == 20 && minor >= 1) {
		return DialectModern
	}
	return DialectLegacy
}

// Logical column types, rendered per dialect.
const (
	tString  = "String"
	tLowCard = "LowCardinality(String)" // legacy: String
	tTime    = "DateTime64(3, 'UTC')"   // legacy: DateTime('UTC')
	tNTime   = "Nullable(DateTime64(3, 'UTC'))"
	tStrings = "Array(String)"
	tLCs     = "Array(LowCardinality(String))" // legacy: Array(String)
	tFloats  = "Array(Float64)"
	tUInt8   = "UInt8"
	tInt64   = "Int64"
	tFloat64 = "Float64"
)

// Column is one column of a table.
type Column struct {
	// Name is the column name.
	Name string
	// Type is the modern type; Render maps it for the legacy dialect.
	Type string
	// Default, when set, is the DEFAULT expression; such columns are filled
	// by the server and never appear in an INSERT column list.
	Default string
}

// RenderType returns the column's type in dialect d.
func (c Column) RenderType(d Dialect) string {
	if d == DialectModern {
		return c.Type
	}
	r := strings.NewReplacer(
		"LowCardinality(String)", "String",
		"DateTime64(3, 'UTC')", "DateTime('UTC')",
	)
	return r.Replace(c.Type)
}

// Table describes one of Tether's tables.
type Table struct {
	// Name is the table name, unqualified.
	Name string
	// Columns in storage order.
	Columns []Column
	// PartitionBy is the PARTITION BY expression, or "" for none.
	PartitionBy string
	// OrderBy is the sorting key, which ReplacingMergeTree also uses as the
	// de-duplication key.
	OrderBy string
	// TTLColumn is the time column retention counts from.
	TTLColumn string
	// RetentionDays is the TTL; 0 keeps rows forever.
	RetentionDays int
}

// InsertColumns returns the explicit column list every INSERT names: all
// columns except those filled by a DEFAULT.
func (t Table) InsertColumns() []string {
	var cols []string
	for _, c := range t.Columns {
		if c.Default == "" {
			cols = append(cols, c.Name)
		}
	}
	return cols
}

// Schema is the rendered set of tables for one database and dialect.
type Schema struct {
	// Dialect chosen for the server.
	Dialect Dialect
	// Database holding the tables.
	Database string
	// Events, Findings, Commands and Acks describe the tables.
	Events, Findings, Commands, Acks Table
	// Triage holds analysts' triage decisions (triage.go).
	Triage Table
}

// Table names.
const (
	EventsTable   = "events"
	FindingsTable = "findings"
	CommandsTable = "commands"
	AcksTable     = "command_acks"
)

// NewSchema describes the tables for opts.Database in dialect d.
func NewSchema(opts Options, d Dialect) Schema {
	insertedAt := Column{Name: "inserted_at", Type: "DateTime('UTC')", Default: "now()"}
	s := Schema{
		Dialect:  d,
		Database: opts.Database,
		Events: Table{
			Name: EventsTable,
			Columns: []Column{
				{Name: "event_id", Type: tString},
				{Name: "time", Type: tTime},
				{Name: "kind", Type: tLowCard},
				{Name: "root_agent_id", Type: tLowCard},
				{Name: "agent_id", Type: tLowCard},
				{Name: "agent_name", Type: tLowCard},
				{Name: "agent_version", Type: tLowCard},
				{Name: "session_id", Type: tString},
				{Name: "step", Type: tInt64},
				{Name: "operation", Type: tLowCard},
				{Name: "role", Type: tLowCard},
				{Name: "tool_name", Type: tLowCard},
				{Name: "tool_call_id", Type: tString},
				{Name: "arguments", Type: tString},
				{Name: "result", Type: tString},
				{Name: "content", Type: tString},
				{Name: "error", Type: tString},
				{Name: "truncated", Type: tUInt8},
				{Name: "model", Type: tLowCard},
				{Name: "parent_agent_id", Type: tLowCard},
				{Name: "parent_session_id", Type: tString},
				{Name: "child_agent_id", Type: tLowCard},
				{Name: "child_session_id", Type: tString},
				{Name: "principal", Type: tLowCard},
				{Name: "principal_session_end", Type: tNTime},
				{Name: "credential_id", Type: tString},
				{Name: "credential_expires_at", Type: tNTime},
				{Name: "autonomy_level", Type: tLowCard},
				{Name: "data_classes", Type: tLCs},
				{Name: "resource", Type: tString},
				{Name: "destination", Type: tString},
				{Name: "bytes", Type: tInt64},
				{Name: "schema_version", Type: tUInt8},
				insertedAt,
			},
			PartitionBy: "toYYYYMMDD(time)",
			// event_id last: equal keys mean the same event, which
			// ReplacingMergeTree collapses.
			OrderBy:       "(root_agent_id, agent_id, session_id, time, event_id)",
			TTLColumn:     "time",
			RetentionDays: opts.EventRetentionDays,
		},
		Findings: Table{
			Name: FindingsTable,
			Columns: []Column{
				{Name: "finding_id", Type: tString},
				{Name: "time", Type: tTime},
				{Name: "root_agent_id", Type: tLowCard},
				{Name: "agent_id", Type: tLowCard},
				{Name: "session_id", Type: tString},
				{Name: "principal", Type: tLowCard},
				{Name: "detector", Type: tLowCard},
				{Name: "kind", Type: tLowCard},
				{Name: "severity", Type: tUInt8},
				{Name: "confidence", Type: tFloat64},
				{Name: "explanation", Type: tString},
				{Name: "evidence_event_ids", Type: tStrings},
				{Name: "feature_name", Type: tLCs},
				{Name: "feature_observed", Type: tFloats},
				{Name: "feature_baseline", Type: tFloats},
				{Name: "feature_spread", Type: tFloats},
				{Name: "step", Type: tInt64},
				// detector/rules version stamps (issue 10)
				{Name: "rule_id", Type: tLowCard},
				{Name: "ruleset_version", Type: tLowCard},
				{Name: "exception", Type: tString},
				insertedAt,
			},
			// A finding's time is its triggering event's: a replayed
			// finding lands in the same partition, where it is collapsed.
			PartitionBy:   "toYYYYMM(time)",
			OrderBy:       "finding_id",
			TTLColumn:     "time",
			RetentionDays: opts.RetentionDays,
		},
		Commands: Table{
			Name: CommandsTable,
			Columns: []Column{
				{Name: "command_id", Type: tString},
				{Name: "issued_at", Type: tTime},
				{Name: "expires_at", Type: tTime},
				{Name: "agent_id", Type: tLowCard},
				{Name: "session_id", Type: tString},
				{Name: "credential_id", Type: tString},
				{Name: "action", Type: tLowCard},
				{Name: "target_autonomy", Type: tLowCard},
				{Name: "severity", Type: tUInt8},
				{Name: "reason", Type: tString},
				{Name: "finding_ids", Type: tStrings},
				insertedAt,
			},
			// Unpartitioned: a re-issued command may carry a later
			// issued_at, and ReplacingMergeTree only collapses rows
			// within one partition.
			OrderBy:       "command_id",
			TTLColumn:     "issued_at",
			RetentionDays: opts.RetentionDays,
		},
		Acks: Table{
			Name: AcksTable,
			Columns: []Column{
				{Name: "command_id", Type: tString},
				{Name: "consumer", Type: tLowCard},
				{Name: "status", Type: tLowCard},
				{Name: "agent_id", Type: tLowCard},
				{Name: "action", Type: tLowCard},
				{Name: "reason", Type: tString},
				{Name: "issued_at", Type: tTime},
				{Name: "alerted_at", Type: tTime},
				{Name: "received_at", Type: tTime},
				{Name: "acked_at", Type: tTime},
				// Stages of time-to-contain in milliseconds (models.Stages),
				// exact even where the timestamps are whole seconds.
				{Name: "event_to_finding_ms", Type: tFloat64},
				{Name: "finding_to_command_ms", Type: tFloat64},
				{Name: "command_to_ack_ms", Type: tFloat64},
				{Name: "time_to_contain_ms", Type: tFloat64},
				insertedAt,
			},
			// One row per command, consumer and outcome: a replayed ack
			// collapses; a failed then applied command keeps both.
			OrderBy:       "(command_id, consumer, status)",
			TTLColumn:     "acked_at",
			RetentionDays: opts.RetentionDays,
		},
		Triage: triageTable(),
	}
	addMillis(&s)
	return s
}

// Tables returns the tables in creation order.
func (s Schema) Tables() []Table { return []Table{s.Events, s.Findings, s.Commands, s.Acks, s.Triage} }

// Qualified returns database.table.
func (s Schema) Qualified(table string) string { return s.Database + "." + table }

// CreateDatabase renders the CREATE DATABASE statement.
func (s Schema) CreateDatabase() string {
	return "CREATE DATABASE IF NOT EXISTS " + s.Database
}

// CreateTable renders t's CREATE TABLE IF NOT EXISTS statement.
func (s Schema) CreateTable(t Table) string {
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS %s\n(\n", s.Qualified(t.Name))
	for i, c := range t.Columns {
		fmt.Fprintf(&b, "    %s %s", c.Name, c.RenderType(s.Dialect))
		if c.Default != "" {
			fmt.Fprintf(&b, " DEFAULT %s", c.Default)
		}
		if i < len(t.Columns)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(")\nENGINE = ReplacingMergeTree\n")
	if t.PartitionBy != "" {
		fmt.Fprintf(&b, "PARTITION BY %s\n", t.PartitionBy)
	}
	fmt.Fprintf(&b, "ORDER BY %s", t.OrderBy)
	if s.Dialect.HasTTL() && t.RetentionDays > 0 {
		fmt.Fprintf(&b, "\nTTL toDateTime(%s) + INTERVAL %d DAY", t.TTLColumn, t.RetentionDays)
	}
	return b.String()
}

// Statements returns the migration, in order: the database, then each
// table. Every statement is idempotent.
func (s Schema) Statements() []string {
	stmts := []string{s.CreateDatabase()}
	for _, t := range s.Tables() {
		stmts = append(stmts, s.CreateTable(t))
	}
	return append(stmts, s.Views()...)
}

// InsertQuery renders the INSERT with t's explicit column list.
func (s Schema) InsertQuery(t Table) string {
	return fmt.Sprintf("INSERT INTO %s (%s)", s.Qualified(t.Name), strings.Join(t.InsertColumns(), ", "))
}

// migrate applies the schema and checks that tables created by an earlier
// build have every column this build writes.
func (w *Writer) migrate(ctx context.Context) error {
	stmts := w.schema.Statements()
	views := w.schema.Views() // last: created once the tables they read are checked
	exec := func(stmts []string) error {
		for _, stmt := range stmts {
			if err := w.conn.Exec(ctx, stmt); err != nil {
				first, _, _ := strings.Cut(stmt, "\n")
				return fmt.Errorf("%w: %s on %s: %w", ErrSchema, first, w.opts.Addr, classify(err))
			}
		}
		return nil
	}
	if err := exec(stmts[:len(stmts)-len(views)]); err != nil {
		return err
	}
	for _, t := range w.schema.Tables() {
		have, err := w.columns(ctx, t.Name)
		if err != nil {
			return fmt.Errorf("%w: columns of %s on %s: %w", ErrSchema, w.schema.Qualified(t.Name), w.opts.Addr, classify(err))
		}
		var missing []string
		for _, c := range t.Columns {
			if !have[c.Name] {
				missing = append(missing, c.Name)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return fmt.Errorf("%w: table %s on %s exists without columns %s (created by another version; migrate or drop it)",
				ErrSchema, w.schema.Qualified(t.Name), w.opts.Addr, strings.Join(missing, ", "))
		}
	}
	return exec(views)
}

func (w *Writer) columns(ctx context.Context, table string) (map[string]bool, error) {
	rows, err := w.conn.Query(ctx, "SELECT name FROM system.columns WHERE database = ? AND table = ?", w.schema.Database, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		have[name] = true
	}
	return have, rows.Err()
}
