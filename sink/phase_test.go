package sink

import (
	"context"
	"testing"
)

// countWriter counts its writes.
type countWriter struct{ n int }

func (c *countWriter) Write(context.Context, *Batch) error { c.n++; return nil }

// TestInRole: a store skips the publishers' phase, a publisher the stores'
// phase, and both take PhaseAll writes and writes without a phase.
func TestInRole(t *testing.T) {
	tests := []struct {
		role  Role
		ctx   context.Context
		write bool
	}{
		{Store, context.Background(), true},
		{Store, WithPhase(context.Background(), PhaseAll), true},
		{Store, WithPhase(context.Background(), PhasePublish), false},
		{Store, WithPhase(context.Background(), PhaseStore), true},
		{Publish, context.Background(), true},
		{Publish, WithPhase(context.Background(), PhasePublish), true},
		{Publish, WithPhase(context.Background(), PhaseStore), false},
	}
	for i, tc := range tests {
		var w countWriter
		if err := (InRole{W: &w, Role: tc.role}).Write(tc.ctx, &Batch{}); err != nil {
			t.Fatal(err)
		}
		if got := w.n == 1; got != tc.write {
			t.Errorf("case %d: role %d, phase %d: wrote %v, want %v", i, tc.role, PhaseOf(tc.ctx), got, tc.write)
		}
	}
}
