package detector_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/detector/containment"
	"github.com/tetherhq/tether/detector/session"
	"github.com/tetherhq/tether/models"
)

// scripted emits, for each event, the findings its script lists by event id.
type scripted struct {
	name   string
	script map[string][]models.Finding
}

func (s *scripted) Name() string { return s.name }

func (s *scripted) Observe(ev *models.Event, _ *models.AgentSpec, emit detector.Emit) {
	for _, f := range s.script[ev.ID] {
		emit(f)
	}
}

func TestEngineCompounding(t *testing.T) {
	small := func(kind string, sev uint8) models.Finding {
		return models.Finding{Kind: kind, Severity: sev, Confidence: 1}
	}
	tests := []struct {
		name    string
		a, b    map[string][]models.Finding // scripts of detectors "a" and "b"
		end     string                      // event id that is a session_end
		wantSev []uint8                     // compound severities, in order
		wantCmd int                         // commands issued
	}{
		{"two small kinds compound", map[string][]models.Finding{"e1": {small("x", 40)}}, map[string][]models.Finding{"e2": {small("y", 40)}}, "", []uint8{64}, 1},
		{"one small kind alone", map[string][]models.Finding{"e1": {small("x", 45)}}, nil, "", nil, 0},
		{"same kind twice", map[string][]models.Finding{"e1": {small("x", 40)}, "e2": {small("x", 45)}}, nil, "", nil, 0},
		{"same kind name from two detectors counts twice", map[string][]models.Finding{"e1": {small("x", 40)}}, map[string][]models.Finding{"e2": {small("x", 40)}}, "", []uint8{64}, 1},
		{"one event, two kinds: one compound", map[string][]models.Finding{"e2": {small("x", 40)}}, map[string][]models.Finding{"e2": {small("y", 45), small("z", 30)}}, "", []uint8{77}, 1},
		{"escalates on new evidence only", map[string][]models.Finding{"e1": {small("x", 40)}, "e3": {small("x", 40)}}, map[string][]models.Finding{"e2": {small("y", 40)}, "e4": {small("z", 40)}}, "", []uint8{64, 78}, 2},
		{"session end resets", map[string][]models.Finding{"e1": {small("x", 45)}}, map[string][]models.Finding{"e3": {small("y", 45)}}, "e2", nil, 0},
	}
	start := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := detector.Options{
				Detectors: []detector.Factory{
					func(*models.Inventory) detector.Detector { return &scripted{"a", tt.a} },
					func(*models.Inventory) detector.Detector { return &scripted{"b", tt.b} },
				},
				Session:     session.DefaultOptions(),
				Containment: containment.DefaultOptions(),
			}
			eng := detector.New(opts)
			out := &detector.Output{}
			for i := 1; i <= 4; i++ {
				id := fmt.Sprint("e", i)
				kind := models.KindReasoning
				if id == tt.end {
					kind = models.KindSessionEnd
				}
				eng.Process(&models.Event{SchemaVersion: 1, ID: id, Kind: kind, Time: start.Add(time.Duration(i) * time.Second),
					AgentID: "agent", SessionID: "s", Autonomy: models.AutonomyPrincipal}, out)
			}
			var got []uint8
			for _, f := range out.Findings {
				if f.Kind != session.KindCompound {
					continue
				}
				got = append(got, f.Severity)
				if f.Detector != session.Name || f.AgentID != "agent" || f.SessionID != "s" || f.ID == "" {
					t.Errorf("compound not filled by the engine: %+v", f)
				}
				if len(f.EvidenceIDs) == 0 || !strings.Contains(f.Explanation, "a/x") || !strings.Contains(f.Explanation, "b/") {
					t.Errorf("compound lacks contributions: %v %s", f.EvidenceIDs, f.Explanation)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantSev) {
				t.Errorf("compound severities %v, want %v", got, tt.wantSev)
			}
			if len(out.Commands) != tt.wantCmd {
				t.Errorf("%d commands, want %d: %+v", len(out.Commands), tt.wantCmd, out.Commands)
			}
			for _, c := range out.Commands {
				if !strings.HasPrefix(c.Reason, "session/compound_deviation") {
					t.Errorf("command not from the compound finding: %s", c.Reason)
				}
			}
		})
	}
}
