// Package sink holds the destinations of Tether's output: ClickHouse for
// analysts (sink/clickhouse), Parquet files for the embedded default
// (sink/parquet) and the Kafka control topic for containment consumers
// (sink/control). Each implements Write for a Batch; Multi fans a batch out.
package sink

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetherhq/tether/models"
)

// Batch is everything one processing round produced. Sinks must not retain
// or modify the slices or the events after Write returns.
type Batch struct {
	// Events are the valid events the round consumed (for the audit table).
	Events []*models.Event
	// Findings raised by the detectors, with deterministic IDs.
	Findings []models.Finding
	// Commands decided by the containment policy, with deterministic IDs.
	Commands []models.ContainmentCommand
}

// Empty reports whether the batch carries nothing.
func (b *Batch) Empty() bool {
	return len(b.Events) == 0 && len(b.Findings) == 0 && len(b.Commands) == 0
}

// Writer durably stores a batch. Write returns nil only when the batch is
// durable; on error the caller retries the whole batch, so a Writer must be
// idempotent for a repeated batch (deterministic IDs make that possible).
type Writer interface {
	Write(ctx context.Context, b *Batch) error
}

// ErrUnavailable is wrapped by sinks when their backend cannot be reached.
var ErrUnavailable = errors.New("sink unavailable")

// Multi writes a batch to each writer in order and stops at the first error.
type Multi []Writer

// Write implements Writer.
func (m Multi) Write(ctx context.Context, b *Batch) error {
	for i, w := range m {
		if err := w.Write(ctx, b); err != nil {
			return fmt.Errorf("sink %d of %d: %w", i+1, len(m), err)
		}
	}
	return nil
}

// Closer is implemented by sinks that hold connections or files.
type Closer interface{ Close() error }

// CloseAll closes every writer in m that implements Closer and joins errors.
func (m Multi) CloseAll() error {
	var errs []error
	for _, w := range m {
		if c, ok := w.(Closer); ok {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
