package clickhouse

import (
	"context"
	"fmt"

	"github.com/tetherhq/tether/models/triage"
)

// TriageTable holds analysts' triage decisions (package triage): an
// append-only audit, one row per decision; a finding's current status is
// the row with the greatest at_ms (argMax(status, at_ms)). at_ms is the
// decision time in Unix milliseconds, so the order is exact on servers
// without DateTime64 (the legacy `at` column holds whole seconds).
const TriageTable = "triage"

func triageTable() Table {
	return Table{
		Name: TriageTable,
		Columns: []Column{
			{Name: "finding_id", Type: tString},
			{Name: "status", Type: tLowCard},
			{Name: "comment", Type: tString},
			{Name: "set_by", Type: tString},
			{Name: "at", Type: tTime},
			{Name: "at_ms", Type: "UInt64"},
			{Name: "inserted_at", Type: "DateTime('UTC')", Default: "now()"},
		},
		// Every decision is its own row; a retried insert of the same
		// decision collapses.
		OrderBy: "(finding_id, at_ms, set_by, status)",
	}
}

// TriageRow is the row of r in the triage table, in InsertColumns order.
func TriageRow(r *triage.Record) []any {
	return []any{r.FindingID, string(r.Status), r.Comment, r.By, ts(r.At), uint64(r.At.UnixMilli())}
}

// SetTriage validates r and inserts it into the triage table.
func (w *Writer) SetTriage(ctx context.Context, r triage.Record) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if w.isClosed() {
		return fmt.Errorf("clickhouse %s: %w", w.opts.Addr, ErrClosed)
	}
	return w.insert(ctx, w.schema.Triage, 1, func(int) []any { return TriageRow(&r) })
}
