package models

import "testing"

// TestFindingSetID: the id covers every identity part (detector, kind,
// agent, session, subject, evidence) and nothing else, and is stable.
func TestFindingSetID(t *testing.T) {
	base := Finding{Detector: "capability", Kind: "toxic_path", AgentID: "a", SessionID: "s",
		Subject: "private_data->public_sink", EvidenceIDs: []string{"e1", "e2"}}
	base.SetID()
	// Pinned: ids must not change between releases, or replays across an
	// upgrade stop collapsing in ClickHouse and SIEMs. The value is the first
	// 16 bytes of SHA-256 over the NUL-terminated parts, computed outside Go.
	if want := "fadd5e7cf1aa5f6aaab29bc682998c33"; base.ID != want {
		t.Errorf("id = %s, want %s", base.ID, want)
	}
	tests := []struct {
		name   string
		change func(*Finding)
		same   bool
	}{
		{"detector", func(f *Finding) { f.Detector = "flow" }, false},
		{"kind", func(f *Finding) { f.Kind = "other" }, false},
		{"agent", func(f *Finding) { f.AgentID = "b" }, false},
		{"session", func(f *Finding) { f.SessionID = "s2" }, false},
		{"subject", func(f *Finding) { f.Subject = "untrusted_content->destructive" }, false},
		{"no subject", func(f *Finding) { f.Subject = "" }, false},
		{"evidence", func(f *Finding) { f.EvidenceIDs = []string{"e1"} }, false},
		{"evidence order", func(f *Finding) { f.EvidenceIDs = []string{"e2", "e1"} }, false},
		{"subject moved into evidence", func(f *Finding) {
			f.EvidenceIDs = append([]string{f.Subject}, f.EvidenceIDs...)
			f.Subject = ""
		}, false},
		{"severity", func(f *Finding) { f.Severity = 90 }, true},
		{"explanation", func(f *Finding) { f.Explanation = "reworded" }, true},
		{"features", func(f *Finding) { f.Features = []Feature{{Name: "x", Observed: 1}} }, true},
		{"old id", func(f *Finding) { f.ID = "stale" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := base
			f.EvidenceIDs = append([]string(nil), base.EvidenceIDs...)
			tt.change(&f)
			f.SetID()
			if (f.ID == base.ID) != tt.same {
				t.Errorf("id %s vs %s: same = %v, want %v", f.ID, base.ID, f.ID == base.ID, tt.same)
			}
		})
	}
}
