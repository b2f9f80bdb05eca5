package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/columns"
)

// Write inserts the batch's events, findings and commands, one native batch
// insert per non-empty table (the findings and commands of a batch without
// events at once, on two connections), and returns nil only when the server has
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
	if len(b.Events) == 0 && len(b.Findings) > 0 && len(b.Commands) > 0 {
		// The shape of containment's urgent write (commands and the
		// findings they name, a few rows): both inserts at once, on two
		// pooled connections, so a command waits for one round trip.
		var ferr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			ferr = w.insert(ctx, w.schema.Findings, len(b.Findings), func(i int) []any { return FindingRow(&b.Findings[i]) })
		}()
		cerr := w.insert(ctx, w.schema.Commands, len(b.Commands), func(i int) []any { return CommandRow(&b.Commands[i]) })
		<-done
		return errors.Join(ferr, cerr)
	}
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

// Row returns the values of r's insert columns of table ct, in order, as
// the server takes them (times in UTC, the zero time as the epoch).
func Row[T any](ct columns.Table[T], r *T) []any {
	out := make([]any, 0, len(ct.Columns))
	for i := range ct.Columns {
		c := &ct.Columns[i]
		if !c.Inserted() {
			continue
		}
		// The common getters are called directly, the rest through Value.
		switch get := c.Getter().(type) {
		case func(*T) string:
			out = append(out, get(r))
		case func(*T) time.Time:
			out = append(out, ts(get(r)))
		case func(*T) *time.Time:
			out = append(out, nts(get(r)))
		case func(*T) uint8:
			out = append(out, get(r))
		default:
			out = append(out, c.Value(r))
		}
	}
	return out
}

// EventRow maps an event to the values of the events table's insert
// columns, in order. Free-text fields longer than maxText bytes are cut
// and flagged in the truncated column; maxText 0 means no limit.
func EventRow(e *models.Event, maxText int) []any {
	r := columns.NewEvent(e, maxText)
	return Row(columns.Events, &r)
}

// FindingRow maps a finding to the values of the findings table's insert
// columns, in order.
func FindingRow(f *models.Finding) []any { return Row(columns.Findings, f) }

// CommandRow maps a containment command to the values of the commands
// table's insert columns, in order. A zero ExpiresAt is stored as the epoch.
func CommandRow(c *models.ContainmentCommand) []any { return Row(columns.Commands, c) }

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
func AckRow(a *models.CommandAck) []any { return Row(columns.Acks, a) }
