package session

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/tetherhq/tether/models"
)

func TestNoisyOR(t *testing.T) {
	tests := []struct {
		sev  []uint8
		want float64
	}{
		{nil, 0},
		{[]uint8{40}, 40},
		{[]uint8{40, 40}, 64},
		{[]uint8{30, 45}, 61.5},
		{[]uint8{100, 10}, 100},
		{[]uint8{20, 20, 20}, 48.8},
	}
	for _, tt := range tests {
		if got := NoisyOR(tt.sev); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("NoisyOR(%v) = %v, want %v", tt.sev, got, tt.want)
		}
	}
}

// fin is a finding already filled by the engine.
func fin(session, det, kind string, sev uint8, ev string) models.Finding {
	f := models.Finding{Detector: det, Kind: kind, Severity: sev, SessionID: session, AgentID: "a", EvidenceIDs: []string{ev}}
	f.SetID()
	return f
}

func TestCompound(t *testing.T) {
	type step struct {
		f       models.Finding
		end     bool // End(session) instead of folding
		wantSev uint8
	}
	tests := []struct {
		name  string
		opts  Options
		steps []step
	}{
		{"one small deviation alone: nothing", DefaultOptions(), []step{
			{f: fin("s", "baseline", "new_tool", 45, "e1")}}},
		{"same kind twice: no compounding", DefaultOptions(), []step{
			{f: fin("s", "baseline", "new_tool", 40, "e1")},
			{f: fin("s", "baseline", "new_tool", 45, "e2")}}},
		{"two small kinds cross the threshold", DefaultOptions(), []step{
			{f: fin("s", "baseline", "new_tool", 40, "e1")},
			{f: fin("s", "flow", "bulk", 30, "e2"), wantSev: 58}}},
		{"two kinds below the threshold together: nothing", DefaultOptions(), []step{
			{f: fin("s", "baseline", "new_tool", 20, "e1")},
			{f: fin("s", "flow", "bulk", 20, "e2")}}},
		{"kinds in different sessions do not add", DefaultOptions(), []step{
			{f: fin("s1", "baseline", "new_tool", 45, "e1")},
			{f: fin("s2", "flow", "bulk", 45, "e2")}}},
		{"repeat of a kept kind adds nothing, stronger repeat escalates", DefaultOptions(), []step{
			{f: fin("s", "baseline", "new_tool", 40, "e1")},
			{f: fin("s", "flow", "bulk", 30, "e2"), wantSev: 58},
			{f: fin("s", "flow", "bulk", 30, "e3")},
			{f: fin("s", "flow", "bulk", 45, "e4"), wantSev: 67}}},
		{"combined not above a strong single finding: nothing", DefaultOptions(), []step{
			{f: fin("s", "baseline", "rate_spike", 90, "e1")},
			{f: fin("s", "baseline", "new_tool", 5, "e2")}}},
		{"capped", DefaultOptions(), []step{
			{f: fin("s", "identity", "expired_credential", 75, "e1")},
			{f: fin("s", "identity", "principal_session_ended", 60, "e2"), wantSev: 90}}},
		{"session end forgets", DefaultOptions(), []step{
			{f: fin("s", "baseline", "new_tool", 45, "e1")},
			{f: models.Finding{SessionID: "s"}, end: true},
			{f: fin("s", "flow", "bulk", 45, "e2")}}},
		{"disabled", Options{}, []step{
			{f: fin("s", "baseline", "new_tool", 45, "e1")},
			{f: fin("s", "flow", "bulk", 45, "e2")}}},
		{"least recently active session evicted when full", Options{MinKinds: 2, MaxSessions: 1}, []step{
			{f: fin("s1", "baseline", "new_tool", 45, "e1")},
			{f: fin("s2", "baseline", "new_tool", 45, "e2")},
			{f: fin("s1", "flow", "bulk", 45, "e3")}}},
		{"a recently active session survives a new one (no table clearing)", Options{MinKinds: 2, MaxSessions: 2}, []step{
			{f: fin("s1", "baseline", "new_tool", 45, "e1")},
			{f: fin("s2", "baseline", "new_tool", 45, "e2")},
			{f: fin("s1", "identity", "human_identity", 45, "e3"), wantSev: 70},
			{f: fin("s3", "baseline", "new_tool", 45, "e4")},
			{f: fin("s1", "flow", "bulk", 45, "e5"), wantSev: 83}}},
		{"excluded detector is not compounded", Options{MinKinds: 2, ExcludeDetectors: []string{"posture"}}, []step{
			{f: fin("s", "posture", "toxic_path", 45, "e1")},
			{f: fin("s", "flow", "bulk", 45, "e2")}}},
		{"kind table full: a stronger kind replaces the weakest", Options{MinKinds: 2, MaxKinds: 2}, []step{
			{f: fin("s", "d", "a", 10, "e1")},
			{f: fin("s", "d", "b", 20, "e2")},
			{f: fin("s", "d", "c", 40, "e3"), wantSev: 52}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := New(tt.opts)
			for i, s := range tt.steps {
				if s.end {
					tr.End(s.f.SessionID)
					continue
				}
				tr.Fold(&s.f)
				c, ok := tr.Compound(s.f.SessionID)
				if s.wantSev == 0 {
					if ok {
						t.Fatalf("step %d: unexpected compound %+v", i, c)
					}
					continue
				}
				if !ok || c.Severity != s.wantSev || c.Kind != KindCompound {
					t.Fatalf("step %d: compound = %v %+v, want severity %d", i, ok, c, s.wantSev)
				}
				// The engine folds the emitted compound back in.
				c.Detector, c.SessionID = Name, s.f.SessionID
				tr.Fold(&c)
				if again, ok := tr.Compound(s.f.SessionID); ok {
					t.Fatalf("step %d: compound repeated without new evidence: %+v", i, again)
				}
			}
		})
	}
}

func TestCompoundFindingContent(t *testing.T) {
	tr := New(DefaultOptions())
	a := fin("s", "baseline", "new_tool", 40, "e1")
	b := fin("s", "identity", "principal_session_ended", 45, "e2")
	b.EvidenceIDs = append(b.EvidenceIDs, "e1") // shared evidence is listed once
	tr.Fold(&a)
	tr.Fold(&b)
	c, ok := tr.Compound("s")
	if !ok {
		t.Fatal("no compound")
	}
	if !slices.Equal(c.EvidenceIDs, []string{"e1", "e2"}) {
		t.Errorf("evidence %v, want [e1 e2]", c.EvidenceIDs)
	}
	for _, want := range []string{"baseline/new_tool 40", "identity/principal_session_ended 45", a.ID, b.ID, "severity 67", "alone is 45"} {
		if !strings.Contains(c.Explanation, want) {
			t.Errorf("explanation lacks %q: %s", want, c.Explanation)
		}
	}
	if c.Confidence != 0.5 {
		t.Errorf("confidence %v, want 0.5 for two kinds", c.Confidence)
	}
	last := c.Features[len(c.Features)-1]
	if last.Name != "combined_severity" || last.Observed != 67 || last.Baseline != 45 {
		t.Errorf("features %+v", c.Features)
	}
}

func TestTrackerBounded(t *testing.T) {
	tr := New(Options{MinKinds: 2, MaxSessions: 100, MaxKinds: 4})
	for i := 0; i < 1000; i++ {
		for k := 0; k < 10; k++ {
			f := fin(fmt.Sprint("s", i), "d", fmt.Sprint("k", k), uint8(k), "e")
			tr.Fold(&f)
		}
		if tr.Tracked() > 100 {
			t.Fatalf("tracked %d sessions, cap 100", tr.Tracked())
		}
	}
	if tr.Evictions() != 900 {
		t.Fatalf("%d sessions evicted, want 900", tr.Evictions())
	}
	for _, st := range tr.sessions.All() {
		if len(st.kinds) > 4 {
			t.Fatalf("%d kinds kept, cap 4", len(st.kinds))
		}
	}
	var nilTracker *Tracker
	f := fin("s", "d", "k", 50, "e")
	if nilTracker.Fold(&f) || nilTracker.Tracked() != 0 {
		t.Error("nil tracker must do nothing")
	}
	nilTracker.End("s")
}

// TestCompoundSubjectSeparatesIDs: two compounds of one session can share
// their evidence union (a stronger finding of a kind replaces a weaker one
// and its event is already in the union) while combining different
// findings; the subject (the
// contributing finding ids) gives them different ids.
func TestCompoundSubjectSeparatesIDs(t *testing.T) {
	tr := New(DefaultOptions())
	var got []models.Finding
	flow := models.Finding{Detector: "flow", Kind: "untrusted_to_sink", Severity: 40, SessionID: "s", AgentID: "a", EvidenceIDs: []string{"e1", "e2"}}
	flow.SetID()
	for _, f := range []models.Finding{
		flow,
		fin("s", "baseline", "new_tool", 40, "e1"),
		fin("s", "baseline", "new_tool", 60, "e2"), // replaces the first; e2 is already in the union
	} {
		tr.Fold(&f)
		if c, ok := tr.Compound("s"); ok {
			c.Detector, c.AgentID, c.SessionID = Name, "a", "s"
			c.SetID()
			tr.Fold(&c)
			got = append(got, c)
		}
	}
	if len(got) != 2 {
		t.Fatalf("%d compounds, want 2", len(got))
	}
	if !slices.Equal(got[0].EvidenceIDs, got[1].EvidenceIDs) || got[0].Severity == got[1].Severity {
		t.Fatalf("test premise: evidence %v and %v should match, severities %d and %d differ", got[0].EvidenceIDs, got[1].EvidenceIDs, got[0].Severity, got[1].Severity)
	}
	if got[0].Subject == got[1].Subject || got[0].ID == got[1].ID {
		t.Fatalf("distinct compounds share subject %q / id %s", got[0].Subject, got[0].ID)
	}
}
