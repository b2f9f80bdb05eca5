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

// TestThreshold: threshold rules at their window edges, per scope. Each
// case lists events (session, agent, root, second of the event time,
// whether the event matches) and the 1-based indices of the events that
// fire.
func TestThreshold(t *testing.T) {
	type ev struct {
		session, agent, root string
		sec                  int
		match                bool
	}
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name, threshold string
		events          []ev
		want            []int
	}{
		{"time edge inclusive", "{count: 3, within: 60s}",
			[]ev{{"s", "a", "", 0, true}, {"s", "a", "", 30, true}, {"s", "a", "", 60, true}}, []int{3}},
		{"time edge exceeded", "{count: 3, within: 60s}",
			[]ev{{"s", "a", "", 0, true}, {"s", "a", "", 30, true}, {"s", "a", "", 61, true}}, nil},
		{"window slides past the first match", "{count: 3, within: 60s}",
			[]ev{{"s", "a", "", 0, true}, {"s", "a", "", 30, true}, {"s", "a", "", 61, true}, {"s", "a", "", 62, true}}, []int{4}},
		{"empties after a finding", "{count: 2, within: 60s}",
			[]ev{{"s", "a", "", 0, true}, {"s", "a", "", 1, true}, {"s", "a", "", 2, true}, {"s", "a", "", 3, true}}, []int{2, 4}},
		{"non-matching events are not counted", "{count: 2, within: 60s}",
			[]ev{{"s", "a", "", 0, true}, {"s", "a", "", 1, false}, {"s", "a", "", 2, false}}, nil},
		{"session scope does not cross sessions", "{count: 2, within: 60s}",
			[]ev{{"s1", "a", "", 0, true}, {"s2", "a", "", 1, true}}, nil},
		{"steps edge inside (span 2 of 3)", "{count: 2, steps: 3}",
			[]ev{{"s", "a", "", 0, true}, {"s", "a", "", 1, false}, {"s", "a", "", 2, true}}, []int{3}},
		{"steps edge outside (span 3 of 3)", "{count: 2, steps: 3}",
			[]ev{{"s", "a", "", 0, true}, {"s", "a", "", 1, false}, {"s", "a", "", 2, false}, {"s", "a", "", 3, true}}, nil},
		{"steps count non-matching events", "{count: 2, steps: 2}",
			[]ev{{"s", "a", "", 0, true}, {"s", "a", "", 1, false}, {"s", "a", "", 2, true}}, nil},
		{"time and steps: both must hold", "{count: 2, steps: 5, within: 10s}",
			[]ev{{"s", "a", "", 0, true}, {"s", "a", "", 11, true}, {"s", "a", "", 12, true}}, []int{3}},
		{"agent scope crosses sessions", "{count: 3, within: 60s, per: agent}",
			[]ev{{"s1", "a", "", 0, true}, {"s2", "a", "", 1, true}, {"s3", "a", "", 2, true}}, []int{3}},
		{"agent scope does not cross agents", "{count: 2, within: 60s, per: agent}",
			[]ev{{"s1", "a", "", 0, true}, {"s1", "b", "", 1, true}}, nil},
		{"agent steps count the agent's events only", "{count: 2, steps: 2, per: agent}",
			[]ev{{"s1", "a", "", 0, true}, {"s2", "b", "", 1, false}, {"s2", "b", "", 2, false}, {"s1", "a", "", 3, true}}, []int{4}},
		{"lineage scope crosses sub-agents", "{count: 2, within: 60s, per: lineage}",
			[]ev{{"p", "parent", "", 0, true}, {"c", "child", "parent", 1, true}}, []int{2}},
		{"lineage scope does not cross roots", "{count: 2, within: 60s, per: lineage}",
			[]ev{{"p", "parent", "", 0, true}, {"c", "child", "other", 1, true}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := load(t, "rules:\n  - {id: T-1, kind: burst, severity: 40, condition: 'event.tool == \"hit\"', threshold: "+tt.threshold+"}\n")
			d := New(DefaultOptions(), rules.NewHolder(rs))
			var got []int
			for i, e := range tt.events {
				tool := "miss"
				if e.match {
					tool = "hit"
				}
				ev := &models.Event{Kind: models.KindToolCall, AgentID: e.agent, RootAgentID: e.root, SessionID: e.session, ToolName: tool,
					Time: t0.Add(time.Duration(e.sec) * time.Second)}
				d.Observe(ev, nil, func(f models.Finding) {
					if f.Kind != "burst" || !strings.Contains(f.Explanation, "matching events in") {
						t.Errorf("finding %+v", f)
					}
					got = append(got, i+1)
				})
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("fired at events %v, want %v", got, tt.want)
			}
		})
	}
}

// TestThresholdBounds: windows are LRU-bounded (evictions counted), a
// session's windows go with its end, and a reload that lowers a count
// keeps only the most recent matches.
func TestThresholdBounds(t *testing.T) {
	rule := func(count int) *rules.Ruleset {
		return load(t, fmt.Sprintf("rules:\n  - {id: T-1, severity: 40, condition: 'event.tool == \"hit\"', threshold: {count: %d, within: 1h}}\n", count))
	}
	h := rules.NewHolder(rule(5))
	d := New(Options{MaxWindows: 4}, h)
	hit := func(session string) int {
		n := 0
		d.Observe(&models.Event{Kind: models.KindToolCall, AgentID: "a", SessionID: session, ToolName: "hit"}, nil, func(models.Finding) { n++ })
		return n
	}
	for i := range 10 {
		hit(fmt.Sprint("s", i))
	}
	if d.windows.Len() != 4 || d.Evictions() != 6 {
		t.Errorf("%d windows, %d evictions; want 4, 6", d.windows.Len(), d.Evictions())
	}
	d.Observe(&models.Event{Kind: models.KindSessionEnd, AgentID: "a", SessionID: "s9"}, nil, func(models.Finding) {})
	if d.windows.Peek(windowKey("T-1", rules.PerSession, "s9")) != nil {
		t.Error("the ended session's window is kept")
	}
	for range 3 {
		hit("x") // 3 of 5
	}
	h.Store(rule(2))
	if n := hit("x"); n != 1 {
		t.Errorf("%d findings after lowering the count to 2 with 3 matches in the window, want 1", n)
	}
	if w := d.windows.Peek(windowKey("T-1", rules.PerSession, "x")); w == nil || len(w.Times) != 0 {
		t.Errorf("window after the finding: %+v, want empty", w)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"undeclared", "rules:\n  - id: X\n    severity: 5\n    condition: evnt.tool == \"a\"\n", ":4:16: condition: ERROR: <input>:1:1: undeclared reference to 'evnt'"},
		{"not bool", "rules:\n  - id: X\n    severity: 5\n    condition: event.step + 1\n", ":4:16: condition: evaluates to int"},
		{"no severity", "rules:\n  - id: X\n    condition: \"true\"\n", ":2:5: rule X: a severity is required"},
		{"duplicate id", "rules:\n  - {id: TTH-risk-new_egress, severity: 5, condition: \"true\"}\n", ":2:10: duplicate rule id"},
		{"threshold without count", "rules:\n  - id: X\n    severity: 5\n    condition: \"true\"\n    threshold: {within: 1m}\n", ":5:16: threshold: a count is required"},
		{"threshold without window", "rules:\n  - id: X\n    severity: 5\n    condition: \"true\"\n    threshold: {count: 3}\n", ":5:16: threshold: a window is required"},
		{"threshold count 1", "rules:\n  - id: X\n    severity: 5\n    condition: \"true\"\n    threshold: {count: 1, steps: 3}\n", ":5:24: count: expected an integer 2-1000"},
		{"threshold bad duration", "rules:\n  - id: X\n    severity: 5\n    condition: \"true\"\n    threshold: {count: 2, within: soon}\n", ":5:35: within: expected a positive duration"},
		{"threshold bad scope", "rules:\n  - id: X\n    severity: 5\n    condition: \"true\"\n    threshold: {count: 2, steps: 3, per: tenant}\n", ":5:42: per: expected session, agent or lineage"},
		{"threshold unknown key", "rules:\n  - id: X\n    severity: 5\n    condition: \"true\"\n    threshold: {count: 2, window: 3}\n", ":5:27: unknown key \"window\""},
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
  - {id: OPS-008, kind: call_burst, severity: 20, condition: 'event.kind == "tool_call"', threshold: {count: 4, within: 30s, steps: 10}}
  - {id: OPS-009, kind: agent_burst, severity: 20, condition: 'event.kind == "tool_result"', threshold: {count: 3, steps: 20, per: agent}}
  - {id: OPS-010, kind: lineage_burst, severity: 20, condition: 'event.kind == "tool_call"', threshold: {count: 5, within: 1m, per: lineage}}
`)
	statetest.RoundTrip(t, statetest.Fleet(20), 400, 400, func(*models.Inventory) statetest.Detector {
		return New(DefaultOptions(), rules.NewHolder(rs))
	})
}

// TestMemoryBudgetEvictsWhenExceeded: the session, lineage, agent and
// window tables (held when rules read them) evict exactly when the
// budget is exceeded.
func TestMemoryBudgetEvictsWhenExceeded(t *testing.T) {
	rs := load(t, shellAfterFetch+`  - {id: OPS-004, kind: busy, severity: 20, condition: 'event.kind == "tool_call" && session.calls % 7 == 3'}
  - {id: OPS-007, kind: lineage_busy, severity: 20, condition: 'event.kind == "tool_call" && lineage.calls % 11 == 5 && size(lineage.tools) > 1'}
  - {id: OPS-009, kind: agent_burst, severity: 20, condition: 'event.kind == "tool_result"', threshold: {count: 3, steps: 20, per: agent}}
`)
	statetest.EvictsAtBudget(t, 200, 4000, func(*models.Inventory) statetest.Bounded {
		return New(DefaultOptions(), rules.NewHolder(rs))
	})
}

// BenchmarkCustom measures the cost per event of n CEL rules of the kind
// operators write (a tool name and a session condition), none matching;
// "threshold" adds n threshold rules that all match every event (a window
// update per rule; each fires every 5th event).
func BenchmarkCustom(b *testing.B) {
	for _, bc := range []struct {
		n         int
		threshold bool
	}{{0, false}, {1, false}, {10, false}, {100, false}, {10, true}} {
		name := fmt.Sprintf("rules=%d", bc.n)
		if bc.threshold {
			name += "/threshold"
		}
		b.Run(name, func(b *testing.B) {
			var sb strings.Builder
			sb.WriteString("version: bench\n")
			if bc.n > 0 {
				sb.WriteString("rules:\n")
			}
			for i := range bc.n {
				if bc.threshold {
					fmt.Fprintf(&sb, "  - {id: B-%03d, severity: 50, condition: 'event.tool == \"send_email\"', threshold: {count: 5, within: 1m, per: agent}}\n", i)
					continue
				}
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
			perEvent := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(1e9/perEvent, "events/s")
			if bc.n > 0 {
				b.ReportMetric(perEvent/float64(bc.n), "ns/rule")
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
	f.Add([]byte(`{"sessions":[],"agents":[{"id":"a","events":4}],"windows":[{"id":"T-1\u0000agent\u0000a","times":[1,2],"ords":[1,3]}]}`))
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
