package baseline

import (
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
)

// segment is a run of tool calls reporting one model and agent version.
type segment struct {
	model, version string
	calls          int
}

func TestModelChange(t *testing.T) {
	tests := []struct {
		name      string
		segments  []segment
		want      int    // model_change findings
		wantText  string // in the last finding's explanation
		discarded int    // discarded_baseline_events of the last finding
		toolCalls int    // tool calls in the baseline at the end
	}{
		{"same model throughout", []segment{{"m1", "v1", 60}}, 0, "", 0, 60},
		{"model change after warm-up", []segment{{"m1", "v1", 30}, {"m2", "v1", 5}}, 1, "model m1 → m2", 30, 5},
		{"version change after warm-up", []segment{{"m1", "v1", 30}, {"m1", "v2", 5}}, 1, "agent version v1 → v2", 30, 5},
		{"both change", []segment{{"m1", "v1", 30}, {"m2", "v2", 1}}, 1, "model m1 → m2 and agent version v1 → v2", 30, 1},
		{"model joins the profile during warm-up", []segment{{"m1", "", 5}, {"m2", "", 40}}, 0, "", 0, 45},
		{"switching between profile models is no change", []segment{{"m1", "", 5}, {"m2", "", 5}, {"m1", "", 30}, {"m2", "", 10}, {"m1", "", 10}}, 0, "", 0, 60},
		{"version change during warm-up restarts silently", []segment{{"m1", "v1", 10}, {"m1", "v2", 15}}, 0, "", 0, 15},
		{"empty values are ignored", []segment{{"m1", "v1", 30}, {"", "", 10}, {"m1", "", 5}, {"", "v1", 5}}, 0, "", 0, 50},
		{"first model after warm-up joins", []segment{{"", "", 30}, {"m1", "", 5}}, 0, "", 0, 35},
		{"two changes", []segment{{"m1", "", 30}, {"m2", "", 25}, {"m3", "", 2}}, 2, "model m2 → m3", 25, 2},
		{"change back to an old model after re-baselining", []segment{{"m1", "", 30}, {"m2", "", 25}, {"m1", "", 2}}, 2, "model m2 → m1", 25, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(DefaultOptions())
			var c collector
			at := time.Duration(0)
			for _, s := range tt.segments {
				for i := 0; i < s.calls; i++ {
					e := ev("a", "s1", models.KindToolCall, "read", at)
					e.Model, e.AgentVersion = s.model, s.version
					d.Observe(e, nil, c.emit)
					at += time.Second
				}
			}
			var got []models.Finding
			for _, f := range c {
				if f.Kind == KindModelChange {
					got = append(got, f)
				}
			}
			if len(got) != tt.want {
				t.Fatalf("model_change findings = %d, want %d: %+v", len(got), tt.want, c)
			}
			if st := *d.agents.Peek("a"); st.toolCalls != tt.toolCalls {
				t.Errorf("tool calls in baseline = %d, want %d", st.toolCalls, tt.toolCalls)
			}
			if tt.want == 0 {
				return
			}
			f := got[len(got)-1]
			if f.Severity != 10 || f.Confidence != 1 {
				t.Errorf("severity %d confidence %v, want 10 and 1", f.Severity, f.Confidence)
			}
			if !strings.Contains(f.Explanation, tt.wantText) {
				t.Errorf("explanation %q lacks %q", f.Explanation, tt.wantText)
			}
			if f.Features[0].Name != "discarded_baseline_events" || int(f.Features[0].Observed) != tt.discarded {
				t.Errorf("features %+v, want discarded_baseline_events = %d", f.Features, tt.discarded)
			}
		})
	}
}

// TestModelChangeRestartsWarmUp checks that the discarded baselines warm up
// again: a tool first called right after a model change is not new_tool,
// and a burst right after it is not a rate_spike.
func TestModelChangeRestartsWarmUp(t *testing.T) {
	tests := []struct {
		name    string
		disable bool
		want    map[string]int
	}{
		{"re-baselined", false, map[string]int{KindModelChange: 1}},
		{"disabled", true, map[string]int{KindNewTool: 1, KindRateSpike: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.DisableModelChange = tt.disable
			d := New(opts)
			var c collector
			// 40 minutes at 10 tool calls a minute on m1.
			at := time.Duration(0)
			for i := 0; i < 400; i++ {
				e := ev("a", "s1", models.KindToolCall, "read", at)
				e.Model = "m1"
				d.Observe(e, nil, c.emit)
				at += 6 * time.Second
			}
			// m2 arrives with a new tool and a burst of 200 calls in a minute.
			for i := 0; i < 200; i++ {
				tool := "read"
				if i == 0 {
					tool = "write"
				}
				e := ev("a", "s1", models.KindToolCall, tool, at)
				e.Model = "m2"
				d.Observe(e, nil, c.emit)
				at += 250 * time.Millisecond
			}
			got := c.kinds()
			if got[KindRateSpike] > 0 {
				got[KindRateSpike] = 1 // escalations
			}
			for _, k := range []string{KindModelChange, KindNewTool, KindRateSpike} {
				if got[k] != tt.want[k] {
					t.Errorf("%s = %d, want %d (all: %v)", k, got[k], tt.want[k], got)
				}
			}
		})
	}
}
