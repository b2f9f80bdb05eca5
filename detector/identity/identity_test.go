package identity

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tetherhq/tether/models"
)

func TestObserve(t *testing.T) {
	registered := &models.AgentSpec{ID: "known"}
	type step struct {
		agent string
		reg   bool
	}
	tests := []struct {
		name       string
		maxTracked int
		steps      []step
		want       []string // agents reported, in order
	}{
		{"registered agent never reported", 10, []step{{"known", true}, {"known", true}}, nil},
		{"unregistered reported once", 10, []step{{"x", false}, {"x", false}, {"x", false}}, []string{"x"}},
		{"each unregistered agent once", 10, []step{{"x", false}, {"y", false}, {"x", false}, {"known", true}}, []string{"x", "y"}},
		{"full tracking set is cleared and agents re-reported", 2, []step{{"x", false}, {"y", false}, {"z", false}, {"x", false}}, []string{"x", "y", "z", "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(Options{MaxTracked: tt.maxTracked})
			var got []models.Finding
			for i, s := range tt.steps {
				var spec *models.AgentSpec
				if s.reg {
					spec = registered
				}
				ev := &models.Event{ID: fmt.Sprint("e", i), Kind: models.KindReasoning, AgentID: s.agent, SessionID: "s", Principal: "alice"}
				d.Observe(ev, spec, func(f models.Finding) { f.AgentID = s.agent; got = append(got, f) })
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d findings, want %d (%v)", len(got), len(tt.want), tt.want)
			}
			for i, f := range got {
				if f.AgentID != tt.want[i] || f.Kind != KindUnregistered || f.Severity != models.SeverityMedium || f.Confidence != 1 {
					t.Errorf("finding %d = %+v, want unregistered_agent for %s", i, f, tt.want[i])
				}
				if !strings.Contains(f.Explanation, tt.want[i]) || !strings.Contains(f.Explanation, "alice") {
					t.Errorf("explanation lacks agent or principal: %s", f.Explanation)
				}
			}
		})
	}
}

func TestName(t *testing.T) {
	if got := New(DefaultOptions()).Name(); got != Name {
		t.Errorf("Name() = %q, want %q", got, Name)
	}
}
