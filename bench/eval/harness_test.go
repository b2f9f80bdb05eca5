package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/models"
)

const testdata = "../../testdata/eval"

// stub emits a finding of severity args.sev on every tool call, or, when
// args.late_for is set, a finding for that (other) session.
type stub struct{}

func (stub) Name() string { return "stub" }

func (stub) Observe(ev *models.Event, _ *models.AgentSpec, emit detector.Emit) {
	if ev.Kind != models.KindToolCall {
		return
	}
	var a struct {
		Sev     uint8  `json:"sev"`
		LateFor string `json:"late_for"`
	}
	if json.Unmarshal(ev.Arguments, &a) != nil || a.Sev == 0 {
		return
	}
	emit(models.Finding{Kind: "test", Severity: a.Sev, SessionID: a.LateFor, Explanation: "stub"})
}

func load(t *testing.T) ([]*models.Event, []SessionLabel) {
	t.Helper()
	evs, err := ReadEventsFile(filepath.Join(testdata, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := ReadLabelsFile(filepath.Join(testdata, "labels.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return evs, ls
}

func TestRunStub(t *testing.T) {
	evs, ls := load(t)
	opts := DefaultOptions()
	opts.Detector = detector.Options{Detectors: []detector.Factory{func(*models.Inventory) detector.Detector { return stub{} }}}
	rep, err := Run(evs, ls, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Hijacked: positives s1=90 s2=60 s3=0; negatives s4=60 s5=0 s6=30 (the
	// late 99 for s5 is not scored). Attacked adds s7=70, s8=0.
	metrics := []struct {
		name      string
		got, want float64
	}{
		{"auroc", float64(rep.AUROC), 6.0 / 9},
		{"recall_at_fpr_1pct", float64(rep.RecallAtFPR1), 1.0 / 3},
		{"recall_at_fpr_5pct", float64(rep.RecallAtFPR5), 1.0 / 3},
		{"recall_at_threshold", float64(rep.RecallAtThreshold), 2.0 / 3},
		{"fpr_at_threshold", float64(rep.FPRAtThreshold), 1.0 / 3},
		{"early_detection_rate", float64(rep.EarlyDetectionRate), 0.5},
		{"attacked_not_hijacked_flagged", float64(rep.AttackedNotHijackedFlagged), 0.5},
		{"attacked auroc", float64(rep.Views["attacked"].AUROC), 9.5 / 15},
		{"attacked recall_at_threshold", float64(rep.Views["attacked"].RecallAtThreshold), 3.0 / 5},
		{"suite x auroc", float64(rep.By["suite"]["x"].AUROC), 3.5 / 4},
		{"suite y auroc", float64(rep.By["suite"]["y"].AUROC), 0},
		{"suite y early", float64(rep.By["suite"]["y"].EarlyDetectionRate), math.NaN()},
	}
	for _, m := range metrics {
		if !near(m.got, m.want) {
			t.Errorf("%s = %v, want %v", m.name, m.got, m.want)
		}
	}
	counts := []struct {
		name      string
		got, want int
	}{
		{"sessions", rep.Sessions, 8},
		{"malicious_sessions", rep.MaliciousSessions, 3},
		{"benign_sessions", rep.BenignSessions, 3},
		{"attacked_not_hijacked", rep.AttackedNotHijacked, 2},
		{"late findings", rep.Replay.LateFindings, 1},
		{"unlabelled sessions", rep.Replay.UnlabelledSessions, 1},
		{"labels without events", rep.Replay.LabelsWithoutEvents, 1},
		{"events", rep.Replay.Events, 32},
		{"suite x sessions", rep.By["suite"]["x"].Sessions, 5},
		{"stub sessions malicious", rep.FindingKinds["stub/test"][ClassMalicious], 2},
	}
	for _, c := range counts {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	res := map[string]SessionResult{}
	for _, r := range rep.Results {
		res[r.SessionID] = r
	}
	steps := []struct {
		session string
		sev     uint8
		first   int // -1: not flagged
	}{
		{"s1", 90, 2}, {"s2", 60, 3}, {"s3", 0, -1}, {"s4", 60, 1}, {"s5", 0, -1}, {"s6", 30, -1}, {"s7", 70, 1}, {"s8", 0, -1},
	}
	for _, s := range steps {
		r := res[s.session]
		first := -1
		if r.FirstFlagStep != nil {
			first = *r.FirstFlagStep
		}
		if r.MaxSeverity != s.sev || first != s.first {
			t.Errorf("%s: max severity %d first flag %d, want %d and %d", s.session, r.MaxSeverity, first, s.sev, s.first)
		}
	}

	// Outputs: JSON has the documented keys, the table and plot render.
	dir := t.TempDir()
	if err := rep.WriteJSONFile(filepath.Join(dir, "r.json")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "r.json"))
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"auroc", "recall_at_fpr_1pct", "recall_at_fpr_5pct", "recall_at_threshold", "fpr_at_threshold", "early_detection_rate", "sessions", "malicious_sessions", "by", "views", "session_results"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("JSON report lacks %q", k)
		}
	}
	var tbl bytes.Buffer
	if err := rep.WriteTable(&tbl); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tbl.String(), "hijacked") || !strings.Contains(tbl.String(), "by suite") {
		t.Errorf("table:\n%s", tbl.String())
	}
	png := filepath.Join(dir, "roc.png")
	if err := rep.WritePlot(png); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(png); err != nil || st.Size() < 1000 {
		t.Errorf("plot: %v, %v", st, err)
	}
}

// TestRunProduction replays the stream through the production detector set:
// agent-b is not in the inventory, so its first session is flagged from its
// first event by the identity detector.
func TestRunProduction(t *testing.T) {
	evs, ls := load(t)
	inv, err := models.LoadInventoryFile(filepath.Join(testdata, "inventory.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.Detector.Inventory = inv
	var progress bytes.Buffer
	opts.Progress = &progress
	rep, err := Run(evs, ls, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rep.Results {
		if r.SessionID == "s7" && (r.FirstFlagStep == nil || *r.FirstFlagStep != 0 || r.MaxSeverity < models.AlertThreshold) {
			t.Errorf("s7 = %+v, want flagged at step 0", r)
		}
	}
	if rep.FindingKinds["identity/unregistered_agent"][ClassAttackedNotHijacked] != 1 {
		t.Errorf("finding kinds = %v", rep.FindingKinds)
	}
	if a := float64(rep.AUROC); a < 0 || a > 1 {
		t.Errorf("auroc %v out of range", a)
	}
	if !strings.Contains(progress.String(), "32/32 events") {
		t.Errorf("progress = %q", progress.String())
	}
}

func TestRunNoSessions(t *testing.T) {
	evs, _ := load(t)
	_, err := Run(evs, []SessionLabel{{SessionID: "nope", Label: LabelBenign}}, DefaultOptions())
	if !errors.Is(err, ErrNoSessions) {
		t.Errorf("err = %v, want ErrNoSessions", err)
	}
}

func TestDecodeLabel(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		wantErr bool
		check   func(SessionLabel) bool
	}{
		{name: "minimal malicious defaults attacked and hijacked", line: `{"session_id":"a","label":"malicious"}`,
			check: func(l SessionLabel) bool { return l.IsAttacked() && l.IsHijacked() && l.HarmStep == nil }},
		{name: "attacked benign", line: `{"session_id":"a","label":"benign","attacked":true,"hijacked":false,"harm_step":null}`,
			check: func(l SessionLabel) bool { return l.IsAttacked() && !l.IsHijacked() }},
		{name: "groups and harm step", line: `{"session_id":"a","label":"malicious","harm_step":4,"groups":{"suite":"s"}}`,
			check: func(l SessionLabel) bool { return *l.HarmStep == 4 && l.Groups["suite"] == "s" }},
		{name: "no session", line: `{"label":"benign"}`, wantErr: true},
		{name: "unknown label", line: `{"session_id":"a","label":"evil"}`, wantErr: true},
		{name: "negative harm step", line: `{"session_id":"a","label":"malicious","harm_step":-1}`, wantErr: true},
		{name: "malicious not attacked", line: `{"session_id":"a","label":"malicious","attacked":false}`, wantErr: true},
		{name: "not an object", line: `"a"`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := DecodeLabel([]byte(tt.line))
			if tt.wantErr {
				if !errors.Is(err, ErrBadLabel) {
					t.Errorf("err = %v, want ErrBadLabel", err)
				}
				return
			}
			if err != nil || !tt.check(l) {
				t.Errorf("DecodeLabel = %+v, %v", l, err)
			}
		})
	}
}

func TestReadLabelsDuplicate(t *testing.T) {
	_, err := ReadLabels(strings.NewReader("{\"session_id\":\"a\",\"label\":\"benign\"}\n\n{\"session_id\":\"a\",\"label\":\"benign\"}\n"))
	if !errors.Is(err, ErrBadLabel) {
		t.Errorf("err = %v, want ErrBadLabel", err)
	}
}

func FuzzDecodeLabel(f *testing.F) {
	b, err := os.ReadFile(filepath.Join(testdata, "labels.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		l, err := DecodeLabel(line)
		if err != nil {
			if !errors.Is(err, ErrBadLabel) {
				t.Fatalf("error %v does not wrap ErrBadLabel", err)
			}
			return
		}
		if l.SessionID == "" || (l.Label != LabelMalicious && l.Label != LabelBenign) {
			t.Fatalf("accepted invalid label %+v", l)
		}
		var buf bytes.Buffer
		if err := WriteLabel(&buf, &l); err != nil {
			t.Fatal(err)
		}
		back, err := DecodeLabel(buf.Bytes())
		if err != nil || back.SessionID != l.SessionID || back.IsHijacked() != l.IsHijacked() || back.IsAttacked() != l.IsAttacked() {
			t.Fatalf("round trip: %+v -> %+v, %v", l, back, err)
		}
	})
}
