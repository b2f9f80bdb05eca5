package sink

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tetherhq/tether/models"
)

// recorder is a Writer that keeps every part it is given and can fail the
// n-th write.
type recorder struct {
	mu      sync.Mutex
	parts   []Batch
	failAt  int // 1-based write that fails; 0: none
	writes  int
	active  int
	maxSeen int
	gate    chan struct{} // when set, each write waits for a token
}

func (r *recorder) Write(_ context.Context, b *Batch) error {
	r.mu.Lock()
	r.writes++
	n := r.writes
	r.active++
	r.maxSeen = max(r.maxSeen, r.active)
	r.mu.Unlock()
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active--
	if n == r.failAt {
		return fmt.Errorf("part %d: %w", n, ErrUnavailable)
	}
	r.parts = append(r.parts, Batch{Events: b.Events, Findings: b.Findings, Commands: b.Commands})
	return nil
}

func batchOf(events, findings, commands int) *Batch {
	b := &Batch{}
	for i := range events {
		b.Events = append(b.Events, &models.Event{ID: fmt.Sprintf("e%d", i)})
	}
	for i := range findings {
		b.Findings = append(b.Findings, models.Finding{ID: fmt.Sprintf("f%d", i)})
	}
	for i := range commands {
		b.Commands = append(b.Commands, models.ContainmentCommand{ID: fmt.Sprintf("c%d", i)})
	}
	return b
}

func TestSplitParts(t *testing.T) {
	for _, tc := range []struct {
		name                       string
		events, findings, commands int
		rows, workers              int
		wantParts                  int
	}{
		{"empty", 0, 0, 0, 10, 2, 0},
		{"one part", 5, 2, 1, 10, 2, 1},
		{"exact multiple", 20, 0, 0, 10, 2, 2},
		{"remainder", 25, 3, 0, 10, 3, 3},
		{"findings longest", 2, 31, 1, 10, 4, 4},
		{"one worker", 25, 0, 0, 10, 1, 3},
		{"one row per part", 4, 4, 4, 1, 2, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			b := batchOf(tc.events, tc.findings, tc.commands)
			if err := (Split{W: r, Rows: tc.rows, Workers: tc.workers}).Write(context.Background(), b); err != nil {
				t.Fatal(err)
			}
			if len(r.parts) != tc.wantParts {
				t.Fatalf("%d parts, want %d", len(r.parts), tc.wantParts)
			}
			seen := map[string]int{}
			for _, p := range r.parts {
				if len(p.Events) > tc.rows || len(p.Findings) > tc.rows || len(p.Commands) > tc.rows {
					t.Errorf("part with %d/%d/%d rows, limit %d", len(p.Events), len(p.Findings), len(p.Commands), tc.rows)
				}
				for _, e := range p.Events {
					seen[e.ID]++
				}
				for _, f := range p.Findings {
					seen[f.ID]++
				}
				for _, c := range p.Commands {
					seen[c.ID]++
				}
			}
			if len(seen) != tc.events+tc.findings+tc.commands {
				t.Errorf("%d distinct rows written, want %d", len(seen), tc.events+tc.findings+tc.commands)
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("row %s written %d times", id, n)
				}
			}
		})
	}
}

func TestSplitConcurrencyBounded(t *testing.T) {
	r := &recorder{gate: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- (Split{W: r, Rows: 1, Workers: 3}).Write(context.Background(), batchOf(10, 0, 0))
	}()
	for range 10 {
		r.gate <- struct{}{}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.maxSeen > 3 || r.maxSeen < 1 {
		t.Fatalf("%d writes at once, want 1..3", r.maxSeen)
	}
}

func TestSplitError(t *testing.T) {
	r := &recorder{failAt: 2}
	err := (Split{W: r, Rows: 2, Workers: 2}).Write(context.Background(), batchOf(10, 0, 0))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Write returned %v, want the part's ErrUnavailable", err)
	}
}

func TestSplitValidate(t *testing.T) {
	for name, s := range map[string]Split{
		"no writer":  {Rows: 1, Workers: 1},
		"no rows":    {W: &recorder{}, Workers: 1},
		"no workers": {W: &recorder{}, Rows: 1},
	} {
		if err := s.Write(context.Background(), batchOf(1, 0, 0)); !errors.Is(err, ErrSplitOptions) {
			t.Errorf("%s: %v, want ErrSplitOptions", name, err)
		}
	}
}
