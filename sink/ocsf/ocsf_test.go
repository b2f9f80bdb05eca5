package ocsf

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/models"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// finding returns a fully populated finding with a deterministic id.
func finding(agent string, sev uint8) models.Finding {
	f := models.Finding{
		Time:        time.Date(2026, 2, 2, 10, 0, 0, 123_000_000, time.UTC),
		AgentID:     agent,
		RootAgentID: "root-1",
		SessionID:   "sess-7",
		Principal:   "alice@example.com",
		Detector:    "flow",
		Kind:        "instructed_call",
		Severity:    sev,
		Confidence:  0.82,
		Explanation: "tool call send_email carries a value delivered with instruction cues in a tool result",
		EvidenceIDs: []string{"ev-1", "ev-2"},
		Features:    []models.Feature{{Name: "cue_score", Observed: 3, Baseline: 0.5, Spread: 0.25}},
		Step:        12,
	}
	f.SetID()
	return f
}

func TestSeverityID(t *testing.T) {
	tests := []struct {
		sev    uint8
		wantID int
		want   string
	}{
		{0, SeverityInformational, "Informational"},
		{10, SeverityInformational, "Informational"},
		{29, SeverityInformational, "Informational"},
		{30, SeverityLow, "Low"},
		{49, SeverityLow, "Low"},
		{50, SeverityMedium, "Medium"},
		{69, SeverityMedium, "Medium"},
		{70, SeverityHigh, "High"},
		{89, SeverityHigh, "High"},
		{90, SeverityCritical, "Critical"},
		{100, SeverityCritical, "Critical"},
		{255, SeverityCritical, "Critical"},
	}
	for _, tt := range tests {
		id, name := SeverityID(tt.sev)
		if id != tt.wantID || name != tt.want {
			t.Errorf("SeverityID(%d) = %d %q, want %d %q", tt.sev, id, name, tt.wantID, tt.want)
		}
		d := Map(finding("a", tt.sev), Options{})
		if d.RiskLevelID != tt.wantID-1 {
			t.Errorf("Map severity %d: risk_level_id %d, want %d", tt.sev, d.RiskLevelID, tt.wantID-1)
		}
		if wantPrio := max(tt.wantID-1, 1); d.PriorityID != wantPrio {
			t.Errorf("Map severity %d: priority_id %d, want %d", tt.sev, d.PriorityID, wantPrio)
		}
		if d.SeverityID != tt.wantID || d.RiskScore != int(tt.sev) || d.Unmapped.Tether.Severity != int(tt.sev) {
			t.Errorf("Map severity %d: severity_id %d risk_score %d unmapped %d", tt.sev, d.SeverityID, d.RiskScore, d.Unmapped.Tether.Severity)
		}
		if wantAlert := tt.sev >= models.AlertThreshold; d.IsAlert != wantAlert {
			t.Errorf("Map severity %d: is_alert %v, want %v", tt.sev, d.IsAlert, wantAlert)
		}
	}
}

func TestConfidenceScore(t *testing.T) {
	tests := []struct {
		c         float64
		score, id int
	}{
		{0, 0, 1}, {0.399, 40, 1}, {0.4, 40, 2}, {0.5, 50, 2}, {0.7, 70, 3}, {0.82, 82, 3}, {1, 100, 3},
		{-0.5, 0, 1}, {1.7, 100, 3}, {math.NaN(), 0, 1}, {math.Inf(1), 100, 3},
	}
	for _, tt := range tests {
		score, id, _ := ConfidenceScore(tt.c)
		if score != tt.score || id != tt.id {
			t.Errorf("ConfidenceScore(%v) = %d, %d; want %d, %d", tt.c, score, id, tt.score, tt.id)
		}
	}
}

// TestMapRequired checks the OCSF required and the brief's attributes are
// present (and non-null) in the encoded JSON for full and minimal findings.
func TestMapRequired(t *testing.T) {
	minimal := models.Finding{Time: time.Unix(1, 0), AgentID: "a", Detector: "d", Kind: "k", Severity: 5}
	noID := finding("agent-x", 60)
	wantID := noID.ID
	noID.ID = ""
	tests := []struct {
		name   string
		f      models.Finding
		wantID string
	}{
		{"full", finding("agent-1", 75), finding("agent-1", 75).ID},
		{"minimal", minimal, func() string { f := minimal; f.SetID(); return f.ID }()},
		{"id filled", noID, wantID},
	}
	required := []string{
		"activity_id", "category_uid", "class_uid", "type_uid", "time", "severity_id",
		"status_id", "confidence_score", "message", "finding_info", "actor", "metadata", "unmapped",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Marshal(tt.f, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range required {
				if v, ok := m[k]; !ok || v == nil {
					t.Errorf("attribute %q missing or null in %s", k, b)
				}
			}
			if m["class_uid"] != float64(2004) || m["category_uid"] != float64(2) || m["type_uid"] != float64(200401) || m["activity_id"] != float64(1) {
				t.Errorf("class ids: %s", b)
			}
			fi := m["finding_info"].(map[string]any)
			if fi["uid"] != tt.wantID || fi["title"] == "" {
				t.Errorf("finding_info uid %v title %v, want uid %s", fi["uid"], fi["title"], tt.wantID)
			}
			an := fi["analytic"].(map[string]any)
			if an["type_id"] == nil || an["name"] != tt.f.Detector {
				t.Errorf("analytic %v", an)
			}
			md := m["metadata"].(map[string]any)
			if md["version"] != SchemaVersion || md["product"].(map[string]any)["name"] != "Tether" || md["uid"] != tt.wantID {
				t.Errorf("metadata %v", md)
			}
			if m["time"] != float64(tt.f.Time.UnixMilli()) {
				t.Errorf("time %v, want %d", m["time"], tt.f.Time.UnixMilli())
			}
			actor := m["actor"].(map[string]any)
			if actor["app_uid"] != tt.f.AgentID {
				t.Errorf("actor %v", actor)
			}
			ev, _ := m["evidences"].([]any)
			rel, _ := fi["related_events"].([]any)
			if len(ev) != len(tt.f.EvidenceIDs) || len(rel) != len(tt.f.EvidenceIDs) {
				t.Errorf("evidences %d, related_events %d, want %d", len(ev), len(rel), len(tt.f.EvidenceIDs))
			}
		})
	}
}

func TestMapDeterministic(t *testing.T) {
	f := finding("agent-1", 80)
	a, err := Marshal(f, Options{ProductVersion: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		b, err := Marshal(f, Options{ProductVersion: "v1"})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("non-deterministic:\n%s\n%s", a, b)
		}
	}
	if f2 := finding("agent-1", 80); f2.ID != f.ID {
		t.Fatalf("finding id not deterministic")
	}
}

// TestMapSubject: two findings of one kind on the same evidence, told
// apart by their subject, get distinct uids and carry the subject.
func TestMapSubject(t *testing.T) {
	a, b := finding("agent-1", 20), finding("agent-1", 15)
	a.Subject, b.Subject = "untrusted_content->private_data->public_sink", "private_data->public_sink"
	a.ID, b.ID = "", ""
	da, db := Map(a, Options{}), Map(b, Options{})
	if da.FindingInfo.UID == db.FindingInfo.UID {
		t.Fatalf("distinct findings share uid %s", da.FindingInfo.UID)
	}
	if da.Unmapped.Tether.Subject != a.Subject || db.Unmapped.Tether.Subject != b.Subject {
		t.Fatalf("subjects %q, %q", da.Unmapped.Tether.Subject, db.Unmapped.Tether.Subject)
	}
}

func TestNonFinite(t *testing.T) {
	f := finding("agent-1", 40)
	f.Confidence = math.NaN()
	f.Features = []models.Feature{{Name: "x", Observed: math.Inf(1), Baseline: math.Inf(-1), Spread: math.NaN()}}
	b, err := Marshal(f, Options{})
	if err != nil {
		t.Fatalf("Marshal with non-finite values: %v", err)
	}
	if !json.Valid(b) || !bytes.Contains(b, []byte(`"observed":"+Inf"`)) || !bytes.Contains(b, []byte(`"confidence_score":0`)) {
		t.Fatalf("unexpected encoding: %s", b)
	}
}

// TestGolden pins the encoding of one finding; run with -update to rewrite.
func TestGolden(t *testing.T) {
	d := Map(finding("agent-1", 75), Options{ProductVersion: "0.9.0", LogName: DefaultTopic})
	got, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	testenv.Golden(t, filepath.Join("testdata", "detection_finding.golden.json"), got, *update)
}

// TestMapRuleStamps: the rule id and ruleset version reach
// finding_info.analytic, and an exception turns the status to Suppressed
// and the alert off.
func TestMapRuleStamps(t *testing.T) {
	tests := []struct {
		name                 string
		ruleID, version, exc string
		wantUID, wantName    string
		wantStatus           int
		wantAlert            bool
	}{
		{name: "no rule", wantUID: "flow", wantName: "flow", wantStatus: StatusNew, wantAlert: true},
		{name: "rule", ruleID: "TTH-flow-instructed_call", version: "2026.12.1",
			wantUID: "TTH-flow-instructed_call", wantName: "flow/instructed_call", wantStatus: StatusNew, wantAlert: true},
		{name: "suppressed", ruleID: "TTH-flow-instructed_call", version: "2026.12.1", exc: "EXC-1",
			wantUID: "TTH-flow-instructed_call", wantName: "flow/instructed_call", wantStatus: StatusSuppressed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := finding("agent-1", 80)
			f.RuleID, f.RulesetVersion, f.Exception = tt.ruleID, tt.version, tt.exc
			d := Map(f, DefaultOptions())
			a := d.FindingInfo.Analytic
			if a.UID != tt.wantUID || a.Name != tt.wantName || a.Version != tt.version {
				t.Errorf("analytic = %+v, want uid %q name %q version %q", a, tt.wantUID, tt.wantName, tt.version)
			}
			if d.StatusID != tt.wantStatus || d.IsAlert != tt.wantAlert {
				t.Errorf("status %d alert %v, want %d %v", d.StatusID, d.IsAlert, tt.wantStatus, tt.wantAlert)
			}
		})
	}
}
