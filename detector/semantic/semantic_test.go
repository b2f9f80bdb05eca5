package semantic

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func mailer(purpose string) *models.AgentSpec {
	return &models.AgentSpec{ID: "a", Purpose: purpose, Tools: []models.ToolSpec{
		{Name: "read_inbox", Labels: []models.Label{models.LabelPrivateData}, DataClasses: []string{"email"}},
		{Name: "send_email", Labels: []models.Label{models.LabelPublicSink}},
		{Name: "delete_file", Labels: []models.Label{models.LabelDestructive}},
	}}
}

func ev(kind models.Kind, tool, role, content string, args any, classes ...string) *models.Event {
	e := &models.Event{Kind: kind, ToolName: tool, Role: role, Content: content, SessionID: "s", AgentID: "a", DataClasses: classes, Time: t0}
	if args != nil {
		e.Arguments, _ = json.Marshal(args)
	}
	return e
}

const (
	purpose = "Reads the user's inbox and sends e-mail replies about project planning on the user's request."
	request = "Reply to Alice about the project planning meeting next Tuesday and confirm the agenda."
)

func TestObserve(t *testing.T) {
	onTask := map[string]any{"to": "alice@example.com", "subject": "Project planning meeting", "body": "Hi Alice, confirming the planning meeting next Tuesday; agenda attached."}
	offTask := map[string]any{"to": "x@example.net", "subject": "Crypto wallet recovery", "body": "Forward seed phrase backups, bitcoin wallet passwords and banking credentials immediately"}
	tests := []struct {
		name   string
		agent  *models.AgentSpec
		events []*models.Event
		want   map[string]int // finding kind -> count
	}{
		{"on task", mailer(purpose), []*models.Event{
			ev(models.KindMessage, "", models.RoleUser, request, nil),
			ev(models.KindToolCall, "send_email", "", "", onTask),
		}, map[string]int{}},
		{"off task", mailer(purpose), []*models.Event{
			ev(models.KindMessage, "", models.RoleUser, request, nil),
			ev(models.KindToolCall, "send_email", "", "", onTask),
			ev(models.KindToolCall, "send_email", "", "", offTask),
			ev(models.KindToolCall, "send_email", "", "", offTask), // once per session and tool
		}, map[string]int{KindOffTaskAction: 1}},
		{"off task on a non-risky tool is not judged", mailer(purpose), []*models.Event{
			ev(models.KindMessage, "", models.RoleUser, request, nil),
			ev(models.KindToolCall, "read_inbox", "", "", offTask),
		}, map[string]int{}},
		{"no request is unknown, not fine", mailer(purpose), []*models.Event{
			ev(models.KindToolCall, "send_email", "", "", offTask),
			ev(models.KindToolCall, "send_email", "", "", offTask),
		}, map[string]int{KindUnknown: 1}},
		{"too little text is unknown", mailer(purpose), []*models.Event{
			ev(models.KindMessage, "", models.RoleUser, request, nil),
			ev(models.KindToolCall, "send_email", "", "", map[string]any{"to": "x@example.net"}),
		}, map[string]int{KindUnknown: 1}},
		{"no purpose is unknown and no lexicon judgement", mailer(""), []*models.Event{
			ev(models.KindMessage, "", models.RoleUser, request, nil),
			ev(models.KindToolCall, "send_email", "", "", offTask),
			ev(models.KindToolCall, "delete_file", "", "", map[string]any{"path": "/tmp/x"}),
		}, map[string]int{KindUnknown: 1}},
		{"destructive beyond purpose", mailer(purpose), []*models.Event{
			ev(models.KindMessage, "", models.RoleUser, request, nil),
			ev(models.KindToolCall, "delete_file", "", "", map[string]any{"path": "project planning meeting agenda reply alice tuesday"}),
			ev(models.KindToolCall, "delete_file", "", "", map[string]any{"path": "project planning meeting agenda reply alice tuesday"}),
		}, map[string]int{KindActionBeyondPurpose: 1}},
		{"sink beyond purpose", mailer("Summarises the inbox and the project planning documents."), []*models.Event{
			ev(models.KindSessionStart, "", "", request, nil),
			ev(models.KindToolCall, "send_email", "", "", onTask),
		}, map[string]int{KindActionBeyondPurpose: 1}},
		{"data class outside manifest", mailer(purpose), []*models.Event{
			ev(models.KindToolResult, "read_inbox", "", "", nil, "email", "payment_card"),
			ev(models.KindToolResult, "read_inbox", "", "", nil, "payment_card"),
			ev(models.KindToolResult, "read_inbox", "", "", nil, "email"),
		}, map[string]int{KindDataClassOutsideManifest: 1}},
		{"no data classes declared: not judged", &models.AgentSpec{ID: "a", Purpose: purpose, Tools: []models.ToolSpec{{Name: "read_inbox"}}}, []*models.Event{
			ev(models.KindToolResult, "read_inbox", "", "", nil, "payment_card"),
		}, map[string]int{}},
		{"unregistered agent: not judged", nil, []*models.Event{
			ev(models.KindToolCall, "send_email", "", "", offTask, "payment_card"),
		}, map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(DefaultOptions())
			got := map[string]int{}
			var findings []models.Finding
			for _, e := range tt.events {
				d.Observe(e, tt.agent, func(f models.Finding) { got[f.Kind]++; findings = append(findings, f) })
			}
			for k, n := range tt.want {
				if got[k] != n {
					t.Errorf("%s: got %d, want %d", k, got[k], n)
				}
			}
			for k, n := range got {
				if _, ok := tt.want[k]; !ok {
					t.Errorf("unexpected %s ×%d", k, n)
				}
			}
			for _, f := range findings {
				known := -1.0
				for _, ft := range f.Features {
					if ft.Name == "semantic_known" {
						known = ft.Observed
					}
				}
				if f.Kind != KindDataClassOutsideManifest && known < 0 {
					t.Errorf("%s lacks the semantic_known feature", f.Kind)
				}
				if f.Kind == KindUnknown && known != 0 {
					t.Errorf("semantic_unknown with semantic_known=%v", known)
				}
				if f.Severity >= models.AlertThreshold && f.Kind != KindDataClassOutsideManifest {
					t.Errorf("%s severity %d: lexical findings must stay below the alert threshold", f.Kind, f.Severity)
				}
				if testing.Verbose() {
					t.Logf("%s %d: %s", f.Kind, f.Severity, f.Explanation)
				}
			}
		})
	}
}

func TestOffTaskExplanation(t *testing.T) {
	d := New(DefaultOptions())
	var f models.Finding
	d.Observe(ev(models.KindMessage, "", models.RoleUser, request, nil), mailer(purpose), func(models.Finding) {})
	d.Observe(ev(models.KindToolCall, "send_email", "", "", map[string]any{"body": "bitcoin wallet seed phrase recovery credentials transfer immediately"}),
		mailer(purpose), func(x models.Finding) { f = x })
	if f.Kind != KindOffTaskAction || !strings.Contains(f.Explanation, "bitcoin") || !strings.Contains(f.Explanation, "cosine 0.000") {
		t.Errorf("finding %s: %s", f.Kind, f.Explanation)
	}
}

func TestSessionsBounded(t *testing.T) {
	o := DefaultOptions()
	o.MaxSessions = 8
	d := New(o)
	a := mailer(purpose)
	for i := range 100 {
		e := ev(models.KindMessage, "", models.RoleUser, request, nil)
		e.SessionID = fmt.Sprint("s", i)
		d.Observe(e, a, func(models.Finding) {})
	}
	if d.sessions.Len() > 8 || d.Evictions() != 92 {
		t.Errorf("%d sessions kept, %d evicted; want ≤ 8, 92", d.sessions.Len(), d.Evictions())
	}
	e := ev(models.KindSessionEnd, "", "", "", nil)
	e.SessionID = "s99"
	d.Observe(e, a, func(models.Finding) {})
	if d.sessions.Peek("s99") != nil {
		t.Error("session kept after session_end")
	}
}

// BenchmarkObserve measures a tool call of ~400 bytes of arguments against a
// session with a request and a declared purpose.
func BenchmarkObserve(b *testing.B) {
	d := New(DefaultOptions())
	a := mailer(purpose)
	d.Observe(ev(models.KindMessage, "", models.RoleUser, request, nil), a, func(models.Finding) {})
	call := ev(models.KindToolCall, "send_email", "", "", map[string]any{
		"to": []string{"alice@example.com", "bob@example.com"}, "subject": "Project planning meeting next Tuesday",
		"body": strings.Repeat("Hi Alice, confirming the planning meeting next Tuesday at 10:00 in room 4; ", 4) + "agenda attached, regards.",
	})
	if n := len(call.Arguments); n < 350 || n > 450 {
		b.Fatalf("arguments are %d bytes, want ~400", n)
	}
	emit := func(models.Finding) {}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		d.Observe(call, a, emit)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
