package clickhouse

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// Write inserts the batch's events, findings and commands, one native batch
// insert per non-empty table, and returns nil only when the server has
// acknowledged all of them (the rows are written to parts). On error the
// caller retries the whole batch: rows that landed the first time are
// collapsed with their repeats by ReplacingMergeTree (query with FINAL).
// Errors from an unreachable or overloaded server wrap sink.ErrUnavailable;
// a refused batch wraps ErrRejected.
func (w *Writer) Write(ctx context.Context, b *sink.Batch) error {
	if b == nil || b.Empty() {
		return nil
	}
	if w.isClosed() {
		return fmt.Errorf("clickhouse %s: %w", w.opts.Addr, ErrClosed)
	}
	maxText := w.opts.maxText()
	if err := w.insert(ctx, w.schema.Events, len(b.Events), func(i int) []any { return EventRow(b.Events[i], maxText) }); err != nil {
		return err
	}
	if err := w.insert(ctx, w.schema.Findings, len(b.Findings), func(i int) []any { return FindingRow(&b.Findings[i]) }); err != nil {
		return err
	}
	return w.insert(ctx, w.schema.Commands, len(b.Commands), func(i int) []any { return CommandRow(&b.Commands[i]) })
}

// insert sends n rows produced by row to table t in one batch.
func (w *Writer) insert(ctx context.Context, t Table, n int, row func(int) []any) error {
	if n == 0 {
		return nil
	}
	table := w.schema.Qualified(t.Name)
	batch, err := w.conn.PrepareBatch(ctx, w.schema.InsertQuery(t))
	if err != nil {
		return fmt.Errorf("clickhouse %s: prepare insert into %s: %w", w.opts.Addr, table, classify(err))
	}
	for i := 0; i < n; i++ {
		if err := batch.Append(row(i)...); err != nil {
			_ = batch.Abort()
			return fmt.Errorf("clickhouse %s: append row %d of %d to %s: %w", w.opts.Addr, i+1, n, table, classify(err))
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("clickhouse %s: insert %d rows into %s: %w", w.opts.Addr, n, table, classify(err))
	}
	w.log.Debug().Str("table", table).Int("rows", n).Msg("inserted")
	return nil
}

// epoch stands for an unset time: DateTime cannot hold Go's zero time.
var epoch = time.Unix(0, 0).UTC()

// ts maps a time to a storable UTC value; the zero time becomes the epoch.
func ts(t time.Time) time.Time {
	if t.IsZero() || t.Before(epoch) {
		return epoch
	}
	return t.UTC()
}

// nts maps an optional time to a Nullable column value.
func nts(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

// truncate cuts s to at most limit bytes at a UTF-8 boundary; limit 0 means
// no limit. It reports whether s was cut.
func truncate(s string, limit int) (string, bool) {
	if limit <= 0 || len(s) <= limit {
		return s, false
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], true
}

// nonNil returns s, or an empty slice for nil (Array columns want a value).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// EventRow maps an event to the values of the events table's insert
// columns, in order. Free-text fields longer than maxText bytes are cut
// and flagged in the truncated column; maxText 0 means no limit.
func EventRow(e *models.Event, maxText int) []any {
	args, t1 := truncate(string(e.Arguments), maxText)
	result, t2 := truncate(e.Result, maxText)
	content, t3 := truncate(e.Content, maxText)
	errText, t4 := truncate(e.Error, maxText)
	var truncated uint8
	if t1 || t2 || t3 || t4 {
		truncated = 1
	}
	op := e.Operation
	if op == "" {
		op = e.Kind.Operation()
	}
	return []any{
		e.ID,
		ts(e.Time),
		string(e.Kind),
		e.Root(),
		e.AgentID,
		e.AgentName,
		e.AgentVersion,
		e.SessionID,
		int64(e.Step),
		op,
		e.Role,
		e.ToolName,
		e.ToolCallID,
		args,
		result,
		content,
		errText,
		truncated,
		e.Model,
		e.ParentAgentID,
		e.ParentSessionID,
		e.ChildAgentID,
		e.ChildSessionID,
		e.Principal,
		nts(e.PrincipalSessionEnd),
		e.CredentialID,
		nts(e.CredentialExpiry),
		string(e.Autonomy),
		nonNil(e.DataClasses),
		e.Resource,
		e.Destination,
		e.Bytes,
		uint8(e.SchemaVersion),
		millis(e.Time),
	}
}

// FindingRow maps a finding to the values of the findings table's insert
// columns, in order. Features become four parallel arrays.
func FindingRow(f *models.Finding) []any {
	names := make([]string, len(f.Features))
	observed := make([]float64, len(f.Features))
	baseline := make([]float64, len(f.Features))
	spread := make([]float64, len(f.Features))
	for i, ft := range f.Features {
		names[i], observed[i], baseline[i], spread[i] = ft.Name, ft.Observed, ft.Baseline, ft.Spread
	}
	root := f.RootAgentID
	if root == "" {
		root = f.AgentID
	}
	return []any{
		f.ID,
		ts(f.Time),
		root,
		f.AgentID,
		f.SessionID,
		f.Principal,
		f.Detector,
		f.Kind,
		f.Severity,
		f.Confidence,
		f.Explanation,
		nonNil(f.EvidenceIDs),
		names,
		observed,
		baseline,
		spread,
		int64(f.Step),
		f.RuleID,
		f.RulesetVersion,
		f.Exception,
		millis(f.Time),
	}
}

// CommandRow maps a containment command to the values of the commands
// table's insert columns, in order. A zero ExpiresAt is stored as the epoch.
func CommandRow(c *models.ContainmentCommand) []any {
	return []any{
		c.ID,
		ts(c.IssuedAt),
		ts(c.ExpiresAt),
		c.AgentID,
		c.SessionID,
		c.CredentialID,
		string(c.Action),
		string(c.TargetAutonomy),
		c.Severity,
		c.Reason,
		nonNil(c.FindingIDs),
		millis(c.IssuedAt),
	}
}

// WriteAcks inserts command acknowledgements into the command_acks table
// with their time-to-contain stages. Errors are classified as for Write.
func (w *Writer) WriteAcks(ctx context.Context, acks []models.CommandAck) error {
	if w.isClosed() {
		return fmt.Errorf("clickhouse %s: %w", w.opts.Addr, ErrClosed)
	}
	return w.insert(ctx, w.schema.Acks, len(acks), func(i int) []any { return AckRow(&acks[i]) })
}

// AckRow maps an acknowledgement to the values of the command_acks table's
// insert columns, in order.
func AckRow(a *models.CommandAck) []any {
	st := a.Stages()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return []any{
		a.CommandID,
		a.Consumer,
		string(a.Status),
		a.AgentID,
		string(a.Action),
		a.Reason,
		ts(a.IssuedAt),
		ts(a.AlertedAt),
		ts(a.ReceivedAt),
		ts(a.AckedAt),
		ms(st.EventToFinding),
		ms(st.FindingToCommand),
		ms(st.CommandToAck),
		ms(st.TimeToContain),
	}
}
