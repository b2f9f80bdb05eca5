package clickhouse

import (
	"context"
	"fmt"

	"github.com/tetherhq/tether/models/triage"
	"github.com/tetherhq/tether/sink/columns"
)

// TriageTable holds analysts' triage decisions (package triage): an
// append-only audit, one row per decision; a finding's current status is
// the row with the greatest at_ms (argMax(status, at_ms)). at_ms is the
// decision time in Unix milliseconds, so the order is exact on servers
// without DateTime64 (the legacy `at` column holds whole seconds).
const TriageTable = columns.TriageTable

// TriageRow is the row of r in the triage table, in InsertColumns order.
func TriageRow(r *triage.Record) []any {
	return Row(columns.Triage, r)
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
