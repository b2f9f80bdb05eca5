package baseline

import (
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
)

// requestedTools is a RequestOracle that asks for a fixed set of tools.
type requestedTools map[string]bool

func (r requestedTools) Requested(ev *models.Event) bool { return r[ev.ToolName] }

func TestNewToolRequested(t *testing.T) {
	inv := &models.Inventory{Agents: []models.AgentSpec{{ID: "reg", Owner: "o", Purpose: "p", Autonomy: "junior", Tools: []models.ToolSpec{
		{Name: "read"}, {Name: "reserve", Labels: []models.Label{models.LabelDestructive}},
	}}}}
	if err := inv.Index(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		agent          string
		tool           string
		oracle         RequestOracle
		minSev, maxSev uint8
	}{
		{"requested declared tool: info band", "reg", "reserve", requestedTools{"reserve": true}, 20, 20},
		{"not requested: a deviation", "reg", "reserve", requestedTools{}, 40, 44},
		{"no oracle linked", "reg", "reserve", nil, 40, 44},
		{"unregistered agent: nothing vouches for the tool", "anon", "reserve", requestedTools{"reserve": true}, 55, 70},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(DefaultOptions())
			if tt.oracle != nil {
				d.SetRequestOracle(tt.oracle)
			}
			spec := inv.Agent(tt.agent)
			var c collector
			for i := range 25 {
				d.Observe(ev(tt.agent, "s1", models.KindToolCall, "read", time.Duration(i)*time.Second), spec, c.emit)
			}
			c = c[:0]
			d.Observe(ev(tt.agent, "s1", models.KindToolCall, tt.tool, 25*time.Second), spec, c.emit)
			if len(c) != 1 || c[0].Kind != KindNewTool {
				t.Fatalf("want one new_tool, got %+v", c)
			}
			if c[0].Severity < tt.minSev || c[0].Severity > tt.maxSev {
				t.Errorf("severity %d outside [%d, %d]: %s", c[0].Severity, tt.minSev, tt.maxSev, c[0].Explanation)
			}
		})
	}
}
