package custom

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/detector/internal/statetest"
	"github.com/tetherhq/tether/detector/rules"
	"github.com/tetherhq/tether/models"
)

func load(t testing.TB, body string) *rules.Ruleset {
	t.Helper()
	p := filepath.Join(t.TempDir(), "custom.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

const shellAfterFetch = `rules:
  - id: OPS-001
    kind: shell_after_fetch
    severity: 70
    tags: [ASI02]
    description: a shell command after the session fetched a web page
    condition: event.kind == "tool_call" && event.tool == "shell" && "fetch_url" in session.tools
  - id: OPS-002
    kind: big_transfer
    severity: 60
    condition: event.tool == "transfer" && has(event.args.amount) && event.args.amount > 1000.0
  - id: OPS-005
    kind: send_soon_after_read
    severity: 65
    condition: >-
      event.tool == "send_email" && "read_inbox" in session.tool_step &&
      int(event.step) - int(session.tool_step["read_inbox"]) <= 2 &&
      double(event.time) - double(session.tool_time["read_inbox"]) <= 60.0
  - id: OPS-006
    kind: deletion_spree
    severity: 55
    condition: event.tool == "delete_file" && "delete_file" in session.tool_calls && int(session.tool_calls["delete_file"]) >= 2
  - id: OPS-003
    kind: unregistered_shell
    severity: 50
    condition: '!agent.registered && event.tool == "shell"'
`

func TestCustomRules(t *testing.T) {
	rs := load(t, shellAfterFetch)
	call := func(session, tool, args string) *models.Event {
		return &models.Event{Kind: models.KindToolCall, AgentID: "a", SessionID: session, ToolName: tool, Arguments: json.RawMessage(args)}
	}
	spec := &models.AgentSpec{ID: "a", Tools: []models.ToolSpec{{Name: "shell"}}}
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	step := func(ev *models.Event, n, sec int) *models.Event {
		ev.Step, ev.Time = n, t0.Add(time.Duration(sec)*time.Second)
		return ev
	}
	tests := []struct {
		name   string
		events []*models.Event
		agent  *models.AgentSpec
		want   []string // kinds of the last event's findings
	}{
		{"shell after fetch", []*models.Event{call("s1", "fetch_url", `{"url":"x"}`), call("s1", "shell", `{"cmd":"ls"}`)}, spec, []string{"shell_after_fetch"}},
		{"shell in another session", []*models.Event{call("s1", "fetch_url", `{}`), call("s2", "shell", `{}`)}, spec, nil},
		{"shell first", []*models.Event{call("s1", "shell", `{}`), call("s1", "fetch_url", `{}`)}, spec, nil},
		{"send right after read", []*models.Event{step(call("s1", "read_inbox", `{}`), 1, 0), step(call("s1", "send_email", `{}`), 3, 30)}, spec, []string{"send_soon_after_read"}},
		{"send too many steps later", []*models.Event{step(call("s1", "read_inbox", `{}`), 1, 0), step(call("s1", "send_email", `{}`), 4, 30)}, spec, nil},
		{"send too late", []*models.Event{step(call("s1", "read_inbox", `{}`), 1, 0), step(call("s1", "send_email", `{}`), 2, 61)}, spec, nil},
		{"third deletion", []*models.Event{call("s1", "delete_file", `{}`), call("s1", "delete_file", `{}`), call("s1", "delete_file", `{}`)}, spec, []string{"deletion_spree"}},
		{"second deletion", []*models.Event{call("s1", "delete_file", `{}`), call("s1", "delete_file", `{}`)}, spec, nil},
		{"big transfer", []*models.Event{call("s1", "transfer", `{"amount": 5000}`)}, spec, []string{"big_transfer"}},
		{"small transfer", []*models.Event{call("s1", "transfer", `{"amount": 5}`)}, spec, nil},
		{"transfer without amount", []*models.Event{call("s1", "transfer", `{"to":"x"}`)}, spec, nil},
		{"unregistered shell", []*models.Event{call("s1", "shell", `{}`)}, nil, []string{"unregistered_shell"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(DefaultOptions(), rules.NewHolder(rs))
			var got []string
			for i, ev := range tt.events {
				d.Observe(ev, tt.agent, func(f models.Finding) {
					if i == len(tt.events)-1 {
						got = append(got, f.Kind)
						if f.Severity == 0 || f.Explanation == "" {
							t.Errorf("finding %+v without severity or explanation", f)
						}
					}
				})
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("findings %v, want %v", got, tt.want)
			}
		})
	}
}

// TestReloadKeepsState: a rule added by a reload sees the session state
// gathered under the previous ruleset.
func TestReloadKeepsState(t *testing.T) {
	h := rules.NewHolder(load(t, `rules:
  - {id: OPS-000, kind: noop, severity: 1, condition: "false"}
`))
	d := New(DefaultOptions(), h)
	none := func(f models.Finding) { t.Errorf("unexpected finding %+v", f) }
	d.Observe(&models.Event{Kind: models.KindToolCall, SessionID: "s1", ToolName: "fetch_url"}, nil, none)
	h.Store(load(t, shellAfterFetch))
	n := 0
	d.Observe(&models.Event{Kind: models.KindToolCall, SessionID: "s1", ToolName: "shell"}, &models.AgentSpec{ID: "a"}, func(models.Finding) { n++ })
	if n != 1 {
		t.Errorf("%d findings after the reload, want 1 (shell_after_fetch)", n)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"undeclared", "rules:\n  - id: X\n    severity: 5\n    condition: evnt.tool == \"a\"\n", ":4:16: condition: ERROR: <input>:1:1: undeclared reference to 'evnt'"},
		{"not bool", "rules:\n  - id: X\n    severity: 5\n    condition: event.step + 1\n", ":4:16: condition: evaluates to int"},
		{"no severity", "rules:\n  - id: X\n    condition: \"true\"\n", ":2:5: rule X: a severity is required"},
		{"duplicate id", "rules:\n  - {id: TTH-risk-new_egress, severity: 5, condition: \"true\"}\n", ":2:10: duplicate rule id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(p, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := rules.Load(p)
			if !errors.Is(err, rules.ErrRuleset) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	rs := load(t, shellAfterFetch+`  - {id: OPS-004, kind: busy, severity: 20, condition: 'event.kind == "tool_call" && session.calls % 7 == 3'}
  - {id: OPS-007, kind: lineage_busy, severity: 20, condition: 'event.kind == "tool_call" && lineage.calls % 11 == 5 && size(lineage.tools) > 1'}
`)
	statetest.RoundTrip(t, statetest.Fleet(20), 400, 400, func(*models.Inventory) statetest.Detector {
		return New(DefaultOptions(), rules.NewHolder(rs))
	})
}

// BenchmarkRules measures the cost per event of n CEL rules of the kind
// operators write (a tool name and a session condition), none matching.
func BenchmarkRules(b *testing.B) {
	for _, n := range []int{0, 1, 10, 100} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			var sb strings.Builder
			sb.WriteString("version: bench\n")
			if n > 0 {
				sb.WriteString("rules:\n")
			}
			for i := range n {
				fmt.Fprintf(&sb, "  - {id: B-%03d, severity: 50, condition: 'event.tool == \"tool-%d\" && \"fetch_url\" in session.tools && event.step > 3'}\n", i, i)
			}
			d := New(DefaultOptions(), rules.NewHolder(load(b, sb.String())))
			ev := &models.Event{Kind: models.KindToolCall, AgentID: "a", SessionID: "s1", ToolName: "send_email", Time: time.Unix(0, 0),
				Arguments: json.RawMessage(`{"to":"bob@example.com","subject":"hi","body":"hello"}`)}
			agent := &models.AgentSpec{ID: "a", Purpose: "mail", Tools: []models.ToolSpec{{Name: "send_email"}}}
			emit := func(models.Finding) {}
			b.ReportAllocs()
			for b.Loop() {
				d.Observe(ev, agent, emit)
			}
			if n > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/rule")
			}
		})
	}
}

// FuzzUnmarshalState: no input panics the state decoder or breaks the
// determinism of a state it accepts.
func FuzzUnmarshalState(f *testing.F) {
	f.Add([]byte(`{"sessions":[{"id":"s1","tools":["a"],"steps":[3],"times":[1.5],"counts":[2],"calls":2}]}`))
	f.Add([]byte(`{"sessions":[],"lineages":[{"id":"root","tools":["a","b"],"steps":[1,2],"times":[1,2],"counts":[1,1],"calls":2}]}`))
	f.Add([]byte(`{"sessions":[]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := New(Options{MaxSessions: 8}, rules.NewHolder(nil))
		if d.UnmarshalState(b) != nil {
			return
		}
		one, err := d.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		if err := d.UnmarshalState(one); err != nil {
			t.Fatalf("re-reading own state: %v", err)
		}
		two, _ := d.MarshalState()
		if string(one) != string(two) {
			t.Fatalf("state not stable: %s vs %s", one, two)
		}
	})
}
