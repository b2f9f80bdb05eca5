package clickhouse

import (
	"context"
	"fmt"
	"strings"

	"github.com/tetherhq/tether/sink/columns"
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

// chTypes are the modern ClickHouse types of the column kinds; RenderType
// maps them for the legacy dialect.
var chTypes = map[columns.Kind]string{
	columns.String:   "String",
	columns.LowCard:  "LowCardinality(String)",
	columns.Time:     "DateTime64(3, 'UTC')",
	columns.NullTime: "Nullable(DateTime64(3, 'UTC'))",
	columns.Strings:  "Array(String)",
	columns.LowCards: "Array(LowCardinality(String))",
	columns.Floats:   "Array(Float64)",
	columns.UInt8:    "UInt8",
	columns.UInt16:   "UInt16",
	columns.UInt64:   "UInt64",
	columns.Int32:    "Int32",
	columns.Int64:    "Int64",
	columns.Float64:  "Float64",
	columns.Seconds:  "DateTime('UTC')",
}

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
	EventsTable   = columns.EventsTable
	FindingsTable = columns.FindingsTable
	CommandsTable = columns.CommandsTable
	AcksTable     = columns.AcksTable
)

// tableOf renders a column table's ClickHouse columns; the storage layout
// (partitioning, sorting key, retention) is the caller's.
func tableOf[T any](ct columns.Table[T]) Table {
	t := Table{Name: ct.Name}
	for _, c := range ct.Columns {
		if c.InClickHouse() {
			t.Columns = append(t.Columns, Column{Name: c.Name, Type: chTypes[c.Kind], Default: c.Default})
		}
	}
	return t
}

// NewSchema describes the tables for opts.Database in dialect d: the
// columns come from package columns, the layout is set here.
func NewSchema(opts Options, d Dialect) Schema {
	s := Schema{
		Dialect:  d,
		Database: opts.Database,
		Events:   tableOf(columns.Events),
		Findings: tableOf(columns.Findings),
		Commands: tableOf(columns.Commands),
		Acks:     tableOf(columns.Acks),
		Triage:   tableOf(columns.Triage),
	}
	s.Events.PartitionBy = "toYYYYMMDD(time)"
	// event_id last: equal keys mean the same event, which
	// ReplacingMergeTree collapses.
	s.Events.OrderBy = "(root_agent_id, agent_id, session_id, time, event_id)"
	s.Events.TTLColumn, s.Events.RetentionDays = "time", opts.EventRetentionDays

	// A finding's time is its triggering event's: a replayed finding lands
	// in the same partition, where it is collapsed.
	s.Findings.PartitionBy = "toYYYYMM(time)"
	s.Findings.OrderBy = "finding_id"
	s.Findings.TTLColumn, s.Findings.RetentionDays = "time", opts.RetentionDays

	// Unpartitioned: a re-issued command may carry a later issued_at, and
	// ReplacingMergeTree only collapses rows within one partition.
	s.Commands.OrderBy = "command_id"
	s.Commands.TTLColumn, s.Commands.RetentionDays = "issued_at", opts.RetentionDays

	// One row per command, consumer and outcome: a replayed ack collapses;
	// a failed then applied command keeps both.
	s.Acks.OrderBy = "(command_id, consumer, status)"
	s.Acks.TTLColumn, s.Acks.RetentionDays = "acked_at", opts.RetentionDays

	// Every triage decision is its own row; a retried insert of the same
	// decision collapses.
	s.Triage.OrderBy = "(finding_id, at_ms, set_by, status)"
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

// AddColumn renders the ALTER TABLE statement adding column c to t, for a
// table created by an earlier build.
func (s Schema) AddColumn(t Table, c Column) string {
	stmt := fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", s.Qualified(t.Name), c.Name, c.RenderType(s.Dialect))
	if c.Default != "" {
		stmt += " DEFAULT " + c.Default
	}
	return stmt
}

// migrate applies the schema and adds to tables created by an earlier
// build the columns this build writes (ALTER TABLE … ADD COLUMN: existing
// rows read the column's default, an empty string, zero or epoch).
func (w *Writer) migrate(ctx context.Context) error {
	stmts := w.schema.Statements()
	views := w.schema.Views() // last: created once the tables they read are complete
	exec := func(stmts ...string) error {
		for _, stmt := range stmts {
			if err := w.conn.Exec(ctx, stmt); err != nil {
				first, _, _ := strings.Cut(stmt, "\n")
				return fmt.Errorf("%w: %s on %s: %w", ErrSchema, first, w.opts.Addr, classify(err))
			}
		}
		return nil
	}
	if err := exec(stmts[:len(stmts)-len(views)]...); err != nil {
		return err
	}
	for _, t := range w.schema.Tables() {
		have, err := w.columns(ctx, t.Name)
		if err != nil {
			return fmt.Errorf("%w: columns of %s on %s: %w", ErrSchema, w.schema.Qualified(t.Name), w.opts.Addr, classify(err))
		}
		for _, c := range t.Columns {
			if have[c.Name] {
				continue
			}
			if err := exec(w.schema.AddColumn(t, c)); err != nil {
				// Another daemon may have added it meanwhile.
				if again, qerr := w.columns(ctx, t.Name); qerr != nil || !again[c.Name] {
					return err
				}
				continue
			}
			w.log.Info().Str("table", w.schema.Qualified(t.Name)).Str("column", c.Name).Msg("column added to a table of an earlier version")
		}
	}
	return exec(views...)
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
