package clickhouse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

func TestDialectFor(t *testing.T) {
	tests := []struct {
		major, minor uint64
		want         Dialect
	}{
		{1, 1, DialectLegacy},
		{18, 16, DialectLegacy},
		{19, 17, DialectLegacy},
		{20, 1, DialectModern},
		{20, 3, DialectModern},
		{23, 8, DialectModern},
		{25, 10, DialectModern},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d.%d", tt.major, tt.minor), func(t *testing.T) {
			if got := DialectFor(tt.major, tt.minor); got != tt.want {
				t.Errorf("DialectFor(%d, %d) = %v, want %v", tt.major, tt.minor, got, tt.want)
			}
		})
	}
}

func TestCreateTable(t *testing.T) {
	opts := DefaultOptions()
	opts.Database = "tdb"
	opts.RetentionDays = 200
	opts.EventRetentionDays = 14
	noTTL := opts
	noTTL.RetentionDays, noTTL.EventRetentionDays = 0, 0

	tests := []struct {
		name    string
		schema  Schema
		table   func(Schema) Table
		want    []string // substrings that must appear
		notWant []string // substrings that must not
	}{
		{
			name: "modern findings", schema: NewSchema(opts, DialectModern), table: func(s Schema) Table { return s.Findings },
			want: []string{
				"CREATE TABLE IF NOT EXISTS tdb.findings\n",
				"finding_id String,", "time DateTime64(3, 'UTC'),", "agent_id LowCardinality(String),",
				"severity UInt8,", "confidence Float64,", "evidence_event_ids Array(String),",
				"feature_name Array(LowCardinality(String)),", "feature_observed Array(Float64),",
				"feature_baseline Array(Float64),", "feature_spread Array(Float64),",
				"inserted_at DateTime('UTC') DEFAULT now()\n",
				"ENGINE = ReplacingMergeTree\n", "PARTITION BY toYYYYMM(time)\n", "ORDER BY finding_id",
				"TTL toDateTime(time) + INTERVAL 200 DAY",
			},
		},
		{
			name: "legacy findings", schema: NewSchema(opts, DialectLegacy), table: func(s Schema) Table { return s.Findings },
			want: []string{
				"time DateTime('UTC'),", "agent_id String,", "feature_name Array(String),",
				"ENGINE = ReplacingMergeTree\n", "ORDER BY finding_id",
			},
			notWant: []string{"DateTime64", "LowCardinality", "TTL"},
		},
		{
			name: "modern events", schema: NewSchema(opts, DialectModern), table: func(s Schema) Table { return s.Events },
			want: []string{
				"CREATE TABLE IF NOT EXISTS tdb.events\n", "kind LowCardinality(String),",
				"principal_session_end Nullable(DateTime64(3, 'UTC')),", "data_classes Array(LowCardinality(String)),",
				"PARTITION BY toYYYYMMDD(time)\n", "ORDER BY (root_agent_id, agent_id, session_id, time, event_id)",
				"TTL toDateTime(time) + INTERVAL 14 DAY",
			},
		},
		{
			name: "legacy events", schema: NewSchema(opts, DialectLegacy), table: func(s Schema) Table { return s.Events },
			want: []string{
				"principal_session_end Nullable(DateTime('UTC')),", "data_classes Array(String),",
				"ORDER BY (root_agent_id, agent_id, session_id, time, event_id)",
			},
			notWant: []string{"DateTime64", "LowCardinality", "TTL"},
		},
		{
			name: "modern commands", schema: NewSchema(opts, DialectModern), table: func(s Schema) Table { return s.Commands },
			want: []string{
				"CREATE TABLE IF NOT EXISTS tdb.commands\n", "issued_at DateTime64(3, 'UTC'),", "action LowCardinality(String),",
				"finding_ids Array(String),", "ORDER BY command_id", "TTL toDateTime(issued_at) + INTERVAL 200 DAY",
			},
			notWant: []string{"PARTITION BY"},
		},
		{
			name: "modern without retention", schema: NewSchema(noTTL, DialectModern), table: func(s Schema) Table { return s.Events },
			want:    []string{"DateTime64(3, 'UTC')"},
			notWant: []string{"TTL"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ddl := tt.schema.CreateTable(tt.table(tt.schema))
			for _, w := range tt.want {
				if !strings.Contains(ddl, w) {
					t.Errorf("DDL lacks %q:\n%s", w, ddl)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(ddl, w) {
					t.Errorf("DDL contains %q:\n%s", w, ddl)
				}
			}
		})
	}
}

func TestStatements(t *testing.T) {
	s := NewSchema(DefaultOptions(), DialectLegacy)
	stmts := s.Statements()
	if want := 1 + len(s.Tables()) + len(s.Views()); len(stmts) != want {
		t.Fatalf("got %d statements, want %d", len(stmts), want)
	}
	if stmts[0] != "CREATE DATABASE IF NOT EXISTS tether" {
		t.Errorf("first statement %q", stmts[0])
	}
	for i, tbl := range []string{"events", "findings", "commands", "command_acks", "triage"} {
		if !strings.HasPrefix(stmts[i+1], "CREATE TABLE IF NOT EXISTS tether."+tbl+"\n") {
			t.Errorf("statement %d does not create %s: %q", i+1, tbl, stmts[i+1])
		}
	}
	for i, v := range []string{"VIEW IF NOT EXISTS tether.session_detection", "MATERIALIZED VIEW IF NOT EXISTS tether.agent_daily", "MATERIALIZED VIEW IF NOT EXISTS tether.agent_daily_events"} {
		j := 1 + len(s.Tables()) + i
		if !strings.HasPrefix(stmts[j], "CREATE "+v+" AS") && !strings.HasPrefix(stmts[j], "CREATE "+v+"\n") {
			t.Errorf("statement %d does not create the view %s: %q", j, v, stmts[j])
		}
	}
}

func TestInsertQuery(t *testing.T) {
	s := NewSchema(DefaultOptions(), DialectModern)
	tests := []struct {
		table Table
		want  string
	}{
		{s.Commands, "INSERT INTO tether.commands (command_id, issued_at, expires_at, agent_id, session_id, credential_id, action, target_autonomy, severity, reason, finding_ids, issued_at_ms, version, root_agent_id, scope, autonomy_before, key_id, signature)"},
		{s.Acks, "INSERT INTO tether.command_acks (command_id, consumer, status, agent_id, action, reason, issued_at, alerted_at, received_at, acked_at, event_to_finding_ms, finding_to_command_ms, command_to_ack_ms, time_to_contain_ms)"},
		{s.Findings, "INSERT INTO tether.findings (finding_id, time, root_agent_id, agent_id, session_id, principal, detector, kind, severity, confidence, explanation, evidence_event_ids, feature_name, feature_observed, feature_baseline, feature_spread, step, rule_id, ruleset_version, exception, time_ms, subject)"},
	}
	for _, tt := range tests {
		t.Run(tt.table.Name, func(t *testing.T) {
			if got := s.InsertQuery(tt.table); got != tt.want {
				t.Errorf("InsertQuery =\n%s\nwant\n%s", got, tt.want)
			}
			if strings.Contains(s.InsertQuery(tt.table), "inserted_at") {
				t.Error("insert names the DEFAULT column inserted_at")
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Options)
		ok   bool
	}{
		{"defaults", func(*Options) {}, true},
		{"empty addr", func(o *Options) { o.Addr = "" }, false},
		{"addr without port", func(o *Options) { o.Addr = "localhost" }, false},
		{"injected database", func(o *Options) { o.Database = "x; DROP TABLE y" }, false},
		{"dotted database", func(o *Options) { o.Database = "a.b" }, false},
		{"negative retention", func(o *Options) { o.RetentionDays = -1 }, false},
		{"no retention", func(o *Options) { o.RetentionDays, o.EventRetentionDays = 0, 0 }, true},
		{"negative timeout", func(o *Options) { o.DialTimeout = -time.Second }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			tt.mod(&o)
			err := o.validate()
			if tt.ok && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("error %v does not wrap ErrInvalidOptions", err)
			}
		})
	}
}

func TestOpenInvalidOptions(t *testing.T) {
	o := DefaultOptions()
	o.Database = "bad-name"
	w, err := Open(context.Background(), o, zerolog.Nop())
	if !errors.Is(err, ErrInvalidOptions) || w != nil {
		t.Fatalf("Open = %v, %v; want ErrInvalidOptions", w, err)
	}
}

func TestMaxText(t *testing.T) {
	tests := []struct{ set, want int }{{0, DefaultMaxTextBytes}, {-1, 0}, {100, 100}}
	for _, tt := range tests {
		o := Options{MaxTextBytes: tt.set}
		if got := o.maxText(); got != tt.want {
			t.Errorf("MaxTextBytes %d: maxText() = %d, want %d", tt.set, got, tt.want)
		}
	}
}

// sample returns a batch touching every field, with deterministic ids.
func sample(now time.Time) *sink.Batch {
	end := now.Add(time.Hour)
	exp := now.Add(24 * time.Hour)
	ev := []*models.Event{
		{
			SchemaVersion: 1, ID: "ev-1", Kind: models.KindToolCall, Time: now,
			AgentID: "agent-b", AgentName: "Billing bot", AgentVersion: "2.1", SessionID: "sess-1",
			ToolName: "http.post", ToolCallID: "call-1", Arguments: json.RawMessage(`{"url":"https://x.example","body":"` + strings.Repeat("A", 100) + `"}`),
			Model: "gpt-x", RootAgentID: "agent-a", ParentAgentID: "agent-a", ParentSessionID: "sess-0",
			Principal: "alice", PrincipalSessionEnd: &end, CredentialID: "cred-9", CredentialExpiry: &exp,
			Autonomy: models.AutonomyJunior, Step: 7, Role: models.RoleAssistant, Content: "sending",
			DataClasses: []string{"pii", "finance"}, Resource: "invoices", Destination: "x.example", Error: "", Bytes: 4242,
		},
		{
			SchemaVersion: 1, ID: "ev-2", Kind: models.KindMessage, Time: now.Add(time.Second),
			AgentID: "agent-a", SessionID: "sess-0", Content: "hi",
		},
	}
	f := models.Finding{
		Time: now, AgentID: "agent-b", RootAgentID: "agent-a", SessionID: "sess-1", Principal: "alice",
		Detector: "egress", Kind: "new_destination", Severity: 72, Confidence: 0.875,
		Explanation: "first post to x.example", EvidenceIDs: []string{"ev-1", "ev-2"},
		Features: []models.Feature{{Name: "bytes_out", Observed: 4242, Baseline: 100, Spread: 20}, {Name: "new_dest", Observed: 1}},
		Step:     7,
	}
	f.SetID()
	c := models.ContainmentCommand{
		AgentID: "agent-b", SessionID: "sess-1", CredentialID: "cred-9", Action: models.ActionDemote,
		TargetAutonomy: models.AutonomyIntern, Severity: 72, Reason: "egress anomaly",
		FindingIDs: []string{f.ID}, IssuedAt: now, ExpiresAt: exp,
	}
	c.SetID()
	return &sink.Batch{Events: ev, Findings: []models.Finding{f}, Commands: []models.ContainmentCommand{c}}
}

func TestRowsMatchInsertColumns(t *testing.T) {
	b := sample(time.Date(2025, 3, 4, 5, 6, 7, 890e6, time.UTC))
	for _, d := range []Dialect{DialectModern, DialectLegacy} {
		s := NewSchema(DefaultOptions(), d)
		tests := []struct {
			table Table
			row   []any
		}{
			{s.Events, EventRow(b.Events[0], 0)},
			{s.Events, EventRow(b.Events[1], 10)},
			{s.Findings, FindingRow(&b.Findings[0])},
			{s.Commands, CommandRow(&b.Commands[0])},
		}
		for _, tt := range tests {
			if got, want := len(tt.row), len(tt.table.InsertColumns()); got != want {
				t.Errorf("%s/%s: row has %d values for %d insert columns", d, tt.table.Name, got, want)
			}
		}
	}
}

// byName zips a table's insert columns with a row.
func byName(t *testing.T, table Table, row []any) map[string]any {
	t.Helper()
	cols := table.InsertColumns()
	if len(cols) != len(row) {
		t.Fatalf("%s: %d columns, %d values", table.Name, len(cols), len(row))
	}
	m := make(map[string]any, len(cols))
	for i, c := range cols {
		m[c] = row[i]
	}
	return m
}

func TestEventRow(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))
	b := sample(now)
	s := NewSchema(DefaultOptions(), DialectModern)
	full := byName(t, s.Events, EventRow(b.Events[0], 0))
	cut := byName(t, s.Events, EventRow(b.Events[0], 16))
	bare := byName(t, s.Events, EventRow(b.Events[1], 16))

	tests := []struct {
		name      string
		row       map[string]any
		col       string
		want      any
		wantEqual func(any) bool
	}{
		{name: "id", row: full, col: "event_id", want: "ev-1"},
		{name: "time in UTC", row: full, col: "time", want: now.UTC()},
		{name: "root", row: full, col: "root_agent_id", want: "agent-a"},
		{name: "root defaults to agent", row: bare, col: "root_agent_id", want: "agent-a"},
		{name: "operation derived", row: full, col: "operation", want: "execute_tool"},
		{name: "operation derived for message", row: bare, col: "operation", want: "chat"},
		{name: "step", row: full, col: "step", want: int64(7)},
		{name: "bytes", row: full, col: "bytes", want: int64(4242)},
		{name: "autonomy", row: full, col: "autonomy_level", want: "junior"},
		{name: "arguments untouched", row: full, col: "arguments", want: string(b.Events[0].Arguments)},
		{name: "not truncated", row: full, col: "truncated", want: uint8(0)},
		{name: "arguments cut", row: cut, col: "arguments", want: `{"url":"https://`},
		{name: "truncated flag", row: cut, col: "truncated", want: uint8(1)},
		{name: "short content kept", row: cut, col: "content", want: "sending"},
		{name: "nil data classes", row: bare, col: "data_classes", want: []string{}},
		{name: "nil principal end", row: bare, col: "principal_session_end", want: (*time.Time)(nil)},
		{name: "schema version", row: full, col: "schema_version", want: uint8(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.row[tt.col]; fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tt.want) {
				t.Errorf("%s = %#v, want %#v", tt.col, got, tt.want)
			}
		})
	}
	end, ok := full["principal_session_end"].(*time.Time)
	if !ok || end == nil || !end.Equal(now.Add(time.Hour)) {
		t.Errorf("principal_session_end = %v, want %v", full["principal_session_end"], now.Add(time.Hour))
	}
}

func TestFindingAndCommandRows(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	b := sample(now)
	s := NewSchema(DefaultOptions(), DialectLegacy)
	f := byName(t, s.Findings, FindingRow(&b.Findings[0]))
	c := byName(t, s.Commands, CommandRow(&b.Commands[0]))
	noExpiry := b.Commands[0]
	noExpiry.ExpiresAt = time.Time{}
	c0 := byName(t, s.Commands, CommandRow(&noExpiry))
	noRoot := b.Findings[0]
	noRoot.RootAgentID, noRoot.Features, noRoot.EvidenceIDs = "", nil, nil
	f0 := byName(t, s.Findings, FindingRow(&noRoot))

	tests := []struct {
		name string
		row  map[string]any
		col  string
		want any
	}{
		{"finding id", f, "finding_id", b.Findings[0].ID},
		{"severity", f, "severity", uint8(72)},
		{"confidence", f, "confidence", 0.875},
		{"evidence", f, "evidence_event_ids", []string{"ev-1", "ev-2"}},
		{"feature names", f, "feature_name", []string{"bytes_out", "new_dest"}},
		{"feature observed", f, "feature_observed", []float64{4242, 1}},
		{"feature baseline", f, "feature_baseline", []float64{100, 0}},
		{"feature spread", f, "feature_spread", []float64{20, 0}},
		{"finding step", f, "step", int64(7)},
		{"root defaults to agent", f0, "root_agent_id", "agent-b"},
		{"no features", f0, "feature_name", []string{}},
		{"no evidence", f0, "evidence_event_ids", []string{}},
		{"command id", c, "command_id", b.Commands[0].ID},
		{"action", c, "action", "demote_autonomy"},
		{"target", c, "target_autonomy", "intern"},
		{"finding ids", c, "finding_ids", []string{b.Findings[0].ID}},
		{"expires", c, "expires_at", now.Add(24 * time.Hour)},
		{"zero expiry is epoch", c0, "expires_at", time.Unix(0, 0).UTC()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.row[tt.col]; fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", tt.want) {
				t.Errorf("%s = %#v, want %#v", tt.col, got, tt.want)
			}
		})
	}
}

func TestAckRowStages(t *testing.T) {
	at := time.Date(2026, 2, 2, 10, 0, 0, 0, time.UTC)
	a := models.CommandAck{CommandID: "c", Consumer: "g", Status: models.AckApplied, AgentID: "a", Action: models.ActionHaltAgent,
		IssuedAt: at, AlertedAt: at.Add(20 * time.Millisecond), ReceivedAt: at.Add(35 * time.Millisecond), AckedAt: at.Add(36500 * time.Microsecond)}
	row := AckRow(&a)
	s := NewSchema(DefaultOptions(), DialectModern)
	if len(row) != len(s.Acks.InsertColumns()) {
		t.Fatalf("row has %d values for %d columns", len(row), len(s.Acks.InsertColumns()))
	}
	want := []float64{20, 15, 1.5, 36.5}
	if got := row[len(row)-4:]; got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("stages %v ms, want %v", got, want)
	}
}

func TestBandCounts(t *testing.T) {
	// The query the autonomy report ran before the bands were generated.
	want := "countIf(severity < 30), countIf(severity >= 30 AND severity < 50), countIf(severity >= 50 AND severity < 70), countIf(severity >= 70 AND severity < 90), countIf(severity >= 90)"
	if got := BandCounts("severity"); got != want {
		t.Errorf("BandCounts =\n%s\nwant\n%s", got, want)
	}
}
