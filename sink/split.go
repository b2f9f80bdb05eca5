package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrSplitOptions: a Split's Rows or Workers is out of range.
var ErrSplitOptions = errors.New("invalid split options")

// Split writes a batch to W in parts of at most Rows rows per table
// (events, findings and commands are cut independently), up to Workers
// parts at once. It suits a store that takes concurrent writes and prefers
// inserts of a given size, such as ClickHouse (one native insert per table
// and part, each on its own pooled connection). W must be safe for
// concurrent use and idempotent for a repeated batch, as every Writer is;
// Split returns nil only when every part is durable, and on error the
// caller retries the whole batch. Do not wrap a chain whose order matters
// (a store before the control publisher) in one Split: wrap the store.
type Split struct {
	// W receives the parts.
	W Writer
	// Rows is the most rows of one table in one part (> 0).
	Rows int
	// Workers is how many parts are written at once (> 0).
	Workers int
}

// Validate reports a Rows or Workers below 1.
func (s Split) Validate() error {
	if s.W == nil || s.Rows < 1 || s.Workers < 1 {
		return fmt.Errorf("%w: rows %d, workers %d (both want ≥ 1), writer set %v", ErrSplitOptions, s.Rows, s.Workers, s.W != nil)
	}
	return nil
}

// Write implements Writer.
func (s Split) Write(ctx context.Context, b *Batch) error {
	if err := s.Validate(); err != nil {
		return err
	}
	parts := s.parts(b)
	if len(parts) <= 1 || s.Workers == 1 {
		for i := range parts {
			if err := s.W.Write(ctx, &parts[i]); err != nil {
				return err
			}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan *Batch)
	)
	for range min(s.Workers, len(parts)) {
		wg.Go(func() {
			for p := range next {
				if err := s.W.Write(ctx, p); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					cancel() // the caller retries the whole batch
				}
			}
		})
	}
feed:
	for i := range parts {
		select {
		case next <- &parts[i]:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	return ctx.Err()
}

// parts cuts b into batches of at most s.Rows rows per table. The parts
// share b's backing arrays.
func (s Split) parts(b *Batch) []Batch {
	n := max(len(b.Events), len(b.Findings), len(b.Commands))
	if n == 0 {
		return nil
	}
	out := make([]Batch, 0, (n+s.Rows-1)/s.Rows)
	for lo := 0; lo < n; lo += s.Rows {
		hi := lo + s.Rows
		out = append(out, Batch{Events: window(b.Events, lo, hi), Findings: window(b.Findings, lo, hi), Commands: window(b.Commands, lo, hi)})
	}
	return out
}

// window returns s[lo:hi] clipped to s, or nil when empty.
func window[T any](s []T, lo, hi int) []T {
	lo, hi = min(lo, len(s)), min(hi, len(s))
	if lo == hi {
		return nil
	}
	return s[lo:hi:hi]
}
