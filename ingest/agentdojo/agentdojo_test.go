package agentdojo

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/bench/eval"
	"github.com/tetherhq/tether/models"
)

const fixtures = "../../testdata/agentdojo"

func TestToolLabels(t *testing.T) {
	P, U, S, D := models.LabelPrivateData, models.LabelUntrustedContent, models.LabelPublicSink, models.LabelDestructive
	tests := []struct {
		tool string
		want []models.Label
	}{
		{"send_money", []models.Label{S, D}},
		{"schedule_transaction", []models.Label{S, D}},
		{"update_scheduled_transaction", []models.Label{S, D}},
		{"update_password", []models.Label{D}},
		{"update_user_info", nil},
		{"read_file", []models.Label{P}},
		{"get_iban", []models.Label{P}},
		{"get_webpage", []models.Label{U}},
		{"post_webpage", []models.Label{S}},
		{"read_channel_messages", []models.Label{P, U}},
		{"read_inbox", []models.Label{P, U}},
		{"get_users_in_channel", []models.Label{P}},
		{"add_user_to_channel", []models.Label{S}},
		{"invite_user_to_slack", []models.Label{S}},
		{"send_direct_message", []models.Label{S}},
		{"search_emails", []models.Label{P, U}},
		{"search_contacts_by_email", []models.Label{P}},
		{"send_email", []models.Label{S}},
		{"share_file", []models.Label{S}},
		{"delete_file", []models.Label{D}},
		{"cancel_calendar_event", []models.Label{D}},
		{"add_calendar_event_participants", []models.Label{S}},
		{"create_calendar_event", nil},
		{"get_current_day", nil},
		{"get_day_calendar_events", []models.Label{P}},
		{"get_rating_reviews_for_hotels", []models.Label{U}},
		{"reserve_hotel", []models.Label{D}},
		{"append_to_file", nil},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			if got := ToolLabels(tt.tool); !slices.Equal(got, tt.want) {
				t.Errorf("ToolLabels(%q) = %v, want %v", tt.tool, got, tt.want)
			}
		})
	}
}

func TestDecodeLine(t *testing.T) {
	tests := []struct {
		name       string
		line       string
		wantHeader string
		wantRun    func(t *testing.T, r *Run)
		wantErr    error
	}{
		{name: "blank", line: "  "},
		{name: "header", line: `{"metadata": {"benchmark": "agent-dojo", "name": "p1"}}`, wantHeader: "p1"},
		{
			name: "run with string arguments and blocks",
			line: `{"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
				{"role": "assistant", "content": null, "tool_calls": [{"id": "x", "type": "function", "function": {"name": "get_iban", "arguments": "{\"a\": 1}"}}]},
				{"role": "tool", "content": "r", "tool_call_id": "x", "error": "boom"}],
				"metadata": {"suite_name": "banking", "user_task_id": "user_task_2", "injection_task_id": "injection_task_1", "security": true}}`,
			wantRun: func(t *testing.T, r *Run) {
				if r.Pipeline != "hdr" || !r.Hijacked() || len(r.Messages) != 3 {
					t.Fatalf("run = %+v", r)
				}
				if r.Messages[0].Text != "hi" || string(r.Messages[1].ToolCalls[0].Args) != `{"a":1}` || r.Messages[2].Error != "boom" {
					t.Errorf("messages = %+v", r.Messages)
				}
			},
		},
		{
			name: "unattacked security means nothing",
			line: `{"messages": [], "metadata": {"suite_name": "slack", "user_task_id": "user_task_0", "injection_task_id": null, "security": true}}`,
			wantRun: func(t *testing.T, r *Run) {
				if r.Attacked() || r.Hijacked() {
					t.Errorf("attacked=%v hijacked=%v, want false", r.Attacked(), r.Hijacked())
				}
			},
		},
		{name: "not an object", line: `[1]`, wantErr: ErrMalformed},
		{name: "bad json", line: `{"metadata": `, wantErr: ErrMalformed},
		{name: "no metadata", line: `{"messages": []}`, wantErr: ErrMalformed},
		{name: "missing suite", line: `{"messages": [], "metadata": {"user_task_id": "u"}}`, wantErr: ErrMalformed},
		{name: "bad role", line: `{"messages": [{"role": "wizard"}], "metadata": {"suite_name": "s", "user_task_id": "u"}}`, wantErr: ErrMalformed},
		{name: "nameless call", line: `{"messages": [{"role": "assistant", "tool_calls": [{"id": "1", "function": {"arguments": {}}}]}], "metadata": {"suite_name": "s", "user_task_id": "u"}}`, wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, r, err := DecodeLine([]byte(tt.line), "hdr")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.wantHeader != "" && (h == nil || h.Name != tt.wantHeader) {
				t.Errorf("header = %+v, want %q", h, tt.wantHeader)
			}
			if tt.wantRun != nil {
				if r == nil {
					t.Fatal("no run")
				}
				tt.wantRun(t, r)
			}
			if tt.wantHeader == "" && tt.wantRun == nil && (h != nil || r != nil) {
				t.Errorf("got header %+v run %+v, want neither", h, r)
			}
		})
	}
}

func importFixtures(t *testing.T) (*Result, Stats) {
	t.Helper()
	im := New(DefaultOptions())
	if err := im.AddPath(fixtures); err != nil {
		t.Fatal(err)
	}
	res, err := im.Convert()
	if err != nil {
		t.Fatal(err)
	}
	return res, im.Stats()
}

func TestImportFixtures(t *testing.T) {
	res, st := importFixtures(t)
	wantStats := Stats{Files: 4, Runs: 5, SkippedEmpty: 1, SkippedPseudo: 1, Agents: 3, Sessions: 5, Clean: 2, Attacked: 3, Hijacked: 2, HarmStepKnown: 2, Events: len(res.Events)}
	if st != wantStats {
		t.Errorf("stats = %+v\nwant    %+v", st, wantStats)
	}

	// Session ids are opaque; the readable run name is in the label.
	labels := map[string]eval.SessionLabel{}
	runOf := map[string]string{}
	for _, l := range res.Labels {
		run, _ := l.Extra["run"].(string)
		if l.SessionID == run || !strings.HasPrefix(l.SessionID, "sess-") {
			t.Errorf("session id %q is not opaque (run %q)", l.SessionID, run)
		}
		labels[run], runOf[l.SessionID] = l, run
	}
	step := func(n int) *int { return &n }
	wantLabels := []struct {
		id       string
		label    string
		attacked bool
		harm     *int
		suite    string
		pipeline string
		nEvents  int
		// injection: the GroupInjection value ("" for a clean run)
		injection string
	}{
		{"toy-model-1/banking/user_task_0/none", eval.LabelBenign, false, nil, "banking", "toy-model-1", 10, ""},
		{"toy-model-1/banking/user_task_0/injection_task_0", eval.LabelMalicious, true, step(6), "banking", "toy-model-1", 11, InjectionRead},
		{"toy-model-1/slack/user_task_3/injection_task_0", eval.LabelBenign, true, nil, "slack", "toy-model-1", 9, InjectionRead},
		{"toy-pipeline/workspace/user_task_1/none", eval.LabelBenign, false, nil, "workspace", "toy-pipeline", 10, ""},
		{"toy-pipeline/workspace/user_task_1/injection_task_2", eval.LabelMalicious, true, step(5), "workspace", "toy-pipeline", 9, InjectionRead},
	}
	perSession := map[string][]models.Event{}
	for _, ev := range res.Events {
		perSession[runOf[ev.SessionID]] = append(perSession[runOf[ev.SessionID]], ev)
	}
	for _, w := range wantLabels {
		l, ok := labels[w.id]
		if !ok {
			t.Errorf("no label for %s (have %v)", w.id, slices.Sorted(maps.Keys(labels)))
			continue
		}
		if l.Label != w.label || l.IsAttacked() != w.attacked || l.IsHijacked() != (w.label == eval.LabelMalicious) {
			t.Errorf("%s: label %s attacked %v hijacked %v", w.id, l.Label, l.IsAttacked(), l.IsHijacked())
		}
		if (l.HarmStep == nil) != (w.harm == nil) || (w.harm != nil && *l.HarmStep != *w.harm) {
			t.Errorf("%s: harm_step %v, want %v", w.id, deref(l.HarmStep), deref(w.harm))
		}
		if l.Groups["suite"] != w.suite || l.Groups["pipeline"] != w.pipeline || l.Groups[GroupInjection] != w.injection {
			t.Errorf("%s: groups %v", w.id, l.Groups)
		}
		evs := perSession[w.id]
		if len(evs) != w.nEvents {
			t.Errorf("%s: %d events, want %d", w.id, len(evs), w.nEvents)
		}
		if w.harm != nil && len(evs) > *w.harm && evs[*w.harm].Kind != models.KindToolCall {
			t.Errorf("%s: harm step %d is a %s event", w.id, *w.harm, evs[*w.harm].Kind)
		}
	}

	// Every event is valid on the wire, steps and times are monotonic, and
	// each session starts with session_start and ends with session_end.
	dec := models.NewDecoder(models.DecodeOptions{})
	for id, evs := range perSession {
		for i, ev := range evs {
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dec.Decode(b, time.Time{}); err != nil {
				t.Errorf("%s step %d: %v", id, i, err)
			}
			if ev.Step != i || (i > 0 && !ev.Time.After(evs[i-1].Time)) {
				t.Errorf("%s: event %d has step %d time %s", id, i, ev.Step, ev.Time)
			}
		}
		if evs[0].Kind != models.KindSessionStart || evs[len(evs)-1].Kind != models.KindSessionEnd {
			t.Errorf("%s: first %s last %s", id, evs[0].Kind, evs[len(evs)-1].Kind)
		}
	}

	// Content mapping on the upstream hijacked run.
	up := perSession["toy-pipeline/workspace/user_task_1/injection_task_2"]
	if up[5].ToolName != "send_email" || !strings.Contains(string(up[5].Arguments), "drop@example.invalid") || up[4].Kind != models.KindToolResult || !strings.Contains(up[4].Result, "<INFORMATION>") {
		t.Errorf("upstream events: %+v / %+v", up[4], up[5])
	}
	sl := perSession["toy-model-1/slack/user_task_3/injection_task_0"]
	if sl[4].Error != "ValueError: channel not found" || sl[4].ToolName != "read_channel_messages" {
		t.Errorf("tool error not carried: %+v", sl[4])
	}
	cl := perSession["toy-pipeline/workspace/user_task_1/none"]
	if cl[3].Kind != models.KindReasoning || cl[3].Content != "Find the file id first.\nSearching." {
		t.Errorf("thinking blocks: %+v", cl[3])
	}

	// Sessions of one agent are 10 minutes apart from the base.
	starts := map[string][]time.Time{}
	for _, ev := range res.Events {
		if ev.Kind == models.KindSessionStart {
			starts[ev.AgentID] = append(starts[ev.AgentID], ev.Time)
		}
	}
	base := DefaultOptions().Base
	for agent, ts := range starts {
		for k, ts := range ts {
			if want := base.Add(time.Duration(k) * 10 * time.Minute); !ts.Equal(want) {
				t.Errorf("%s session %d starts %s, want %s", agent, k, ts, want)
			}
		}
	}

	// Inventory: one entry per pipeline×suite with the suite's tools labelled.
	if n := len(res.Inventory.Agents); n != 3 {
		t.Fatalf("%d agents", n)
	}
	a := res.Inventory.Agent("toy-model-1/banking")
	if a == nil || a.Purpose != Purpose("banking") || a.Owner == "" || a.Autonomy != models.AutonomySenior {
		t.Fatalf("banking agent = %+v", a)
	}
	if tl := a.Tool("send_money"); tl == nil || !tl.Has(models.LabelPublicSink) || !tl.Has(models.LabelDestructive) {
		t.Errorf("send_money = %+v", tl)
	}
	if tl := a.Tool("get_balance"); tl == nil || !tl.Has(models.LabelPrivateData) {
		t.Errorf("get_balance = %+v", tl)
	}
}

func TestWriteDeterministic(t *testing.T) {
	var outs [2][3][]byte
	for i := range outs {
		dir := t.TempDir()
		im := New(DefaultOptions())
		if err := im.AddPath(fixtures); err != nil {
			t.Fatal(err)
		}
		if _, err := im.Write(dir); err != nil {
			t.Fatal(err)
		}
		for j, name := range []string{"events.jsonl", "labels.jsonl", "inventory.yaml"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			outs[i][j] = b
		}
		// The written files read back through the evaluation readers.
		if _, err := eval.ReadEventsFile(filepath.Join(dir, "events.jsonl")); err != nil {
			t.Error(err)
		}
		if ls, err := eval.ReadLabelsFile(filepath.Join(dir, "labels.jsonl")); err != nil || len(ls) != 5 {
			t.Errorf("labels: %d, %v", len(ls), err)
		}
		if _, err := models.LoadInventoryFile(filepath.Join(dir, "inventory.yaml")); err != nil {
			t.Error(err)
		}
	}
	for j := range outs[0] {
		if !bytes.Equal(outs[0][j], outs[1][j]) {
			t.Errorf("output %d differs between runs", j)
		}
	}
}

func TestConvertNoRuns(t *testing.T) {
	if _, err := New(DefaultOptions()).Convert(); !errors.Is(err, ErrNoRuns) {
		t.Errorf("err = %v, want ErrNoRuns", err)
	}
}

func FuzzDecodeLine(f *testing.F) {
	b, err := os.ReadFile(filepath.Join(fixtures, "export.jsonl"))
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		f.Add(l)
	}
	f.Add([]byte(`{"messages":[{"role":"assistant","tool_calls":[{"function":"f","args":null}]}],"metadata":{"suite_name":"s","user_task_id":"u"}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		h, r, err := DecodeLine(line, "p")
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if h != nil && r != nil {
			t.Fatal("both header and run")
		}
		if r == nil {
			return
		}
		for _, m := range r.Messages {
			for _, tc := range m.ToolCalls {
				if tc.Name == "" || !json.Valid(tc.Args) {
					t.Fatalf("bad call %+v", tc)
				}
			}
		}
		// A decoded run always converts to valid events.
		im := New(DefaultOptions())
		im.add(r)
		if len(im.runs) == 0 {
			return
		}
		res, err := im.Convert()
		if err != nil {
			t.Fatal(err)
		}
		dec := models.NewDecoder(models.DecodeOptions{})
		for i := range res.Events {
			if err := dec.Validate(&res.Events[i], time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzDecodeRunFile(f *testing.F) {
	for _, p := range []string{"runs/toy-pipeline/workspace/user_task_1/none/none.json", "runs/toy-pipeline/workspace/user_task_1/important_instructions/injection_task_2.json"} {
		b, err := os.ReadFile(filepath.Join(fixtures, p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRunFile(b, "p", "s", "u", "none")
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if r.Pipeline == "" || r.Suite == "" || r.UserTask == "" {
			t.Fatalf("run without identity: %+v", r)
		}
	})
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestImportCorpusFixture reads a run file in the shape of the corpus
// generator (bench/corpus/generate.py): no header, the pipeline named by
// metadata.model, templates without markers, and a denial-of-service run.
func TestImportCorpusFixture(t *testing.T) {
	im := New(DefaultOptions())
	if err := im.AddPath("../../testdata/corpus/runs.jsonl"); err != nil {
		t.Fatal(err)
	}
	res, err := im.Convert()
	if err != nil {
		t.Fatal(err)
	}
	step := func(n int) *int { return &n }
	agent := "groundtruth-toy-model/shop"
	tests := []struct {
		id       string
		label    string
		attacked bool
		template string
		harm     *int
	}{
		{agent + "/user_task_0/none", eval.LabelBenign, false, "", nil},
		{agent + "/user_task_0/injection_task_1", eval.LabelBenign, true, "ignore_previous", nil},
		{agent + "/user_task_0/injection_task_1#2", eval.LabelMalicious, true, "ignore_previous", step(7)},
		{agent + "/user_task_0/injection_task_0", eval.LabelMalicious, true, "dos", nil},
	}
	// Session ids are opaque; the readable run name is in the label.
	labels := map[string]eval.SessionLabel{}
	runOf := map[string]string{}
	for _, l := range res.Labels {
		run, _ := l.Extra["run"].(string)
		if l.SessionID == run || !strings.HasPrefix(l.SessionID, "sess-") {
			t.Errorf("session id %q is not opaque (run %q)", l.SessionID, run)
		}
		labels[run], runOf[l.SessionID] = l, run
	}
	if len(labels) != len(tests) {
		t.Fatalf("labels %v", slices.Sorted(maps.Keys(labels)))
	}
	for _, tt := range tests {
		l, ok := labels[tt.id]
		if !ok {
			t.Errorf("no label %s", tt.id)
			continue
		}
		if l.Label != tt.label || l.IsAttacked() != tt.attacked || l.Groups["template"] != tt.template ||
			l.Groups["pipeline"] != "groundtruth-toy-model" || deref(l.HarmStep) != deref(tt.harm) {
			t.Errorf("%s: %+v", tt.id, l)
		}
	}
	for _, ev := range res.Events {
		if runOf[ev.SessionID] == agent+"/user_task_0/injection_task_1#2" && ev.Step == 7 && (ev.Kind != models.KindToolCall || ev.ToolName != "send_money") {
			t.Errorf("harm step is %s %s", ev.Kind, ev.ToolName)
		}
	}
}
