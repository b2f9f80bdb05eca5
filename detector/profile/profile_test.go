package profile

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// session is a compact session script: tools called in order, each
// followed by a result; errs marks results with an error; reasoning adds a
// reasoning step before each call; bytes is added to every result.
type session struct {
	tools     []string
	errs      int
	reasoning bool
	bytes     int64
}

// run feeds one session of agent a to d and returns its findings.
func run(d *Detector, agent, id string, s session) []models.Finding {
	var out []models.Finding
	emit := func(f models.Finding) { out = append(out, f) }
	n := 0
	ev := func(k models.Kind, tool string) *models.Event {
		n++
		return &models.Event{SchemaVersion: 1, ID: fmt.Sprintf("%s-%d", id, n), Kind: k, Time: t0.Add(time.Duration(n) * time.Second), AgentID: agent, SessionID: id, ToolName: tool}
	}
	d.Observe(ev(models.KindSessionStart, ""), nil, emit)
	for i, tl := range s.tools {
		if s.reasoning {
			d.Observe(ev(models.KindReasoning, ""), nil, emit)
		}
		d.Observe(ev(models.KindToolCall, tl), nil, emit)
		r := ev(models.KindToolResult, tl)
		r.Bytes = s.bytes
		if i < s.errs {
			r.Error = "failed"
		}
		d.Observe(r, nil, emit)
	}
	d.Observe(ev(models.KindSessionEnd, ""), nil, emit)
	return out
}

// normal is a benign session of a routine agent, varied slightly by i.
func normal(i int) session {
	tools := []string{"search", "read", "read", "summarise"}
	if i%3 == 0 {
		tools = append(tools, "read")
	}
	if i%4 == 1 {
		tools = []string{"search", "read", "summarise"}
	}
	return session{tools: tools, reasoning: i%2 == 0, bytes: int64(800 + 37*(i%7))}
}

func warm(d *Detector, agent string, n int) {
	for i := range n {
		if f := run(d, agent, fmt.Sprint("w", i), normal(i)); len(f) > 0 {
			panic(fmt.Sprintf("finding during warm-up/normal session %d: %+v", i, f))
		}
	}
}

func kinds(fs []models.Finding) map[string]uint8 {
	m := map[string]uint8{}
	for _, f := range fs {
		m[f.Kind] = max(m[f.Kind], f.Severity)
	}
	return m
}

func TestJudgements(t *testing.T) {
	tests := []struct {
		name   string
		warmup int // sessions of history before the probe
		probe  session
		want   []string // finding kinds expected
		minSev uint8
		maxSev uint8
	}{
		{"normal after warm-up", 40, normal(5), nil, 0, 0},
		{"unusual order after warm-up", 40, session{tools: []string{"summarise", "search", "summarise", "search", "summarise", "search"}, bytes: 800}, []string{KindUnusualSequence}, 30, 45},
		{"unusual order during warm-up", 10, session{tools: []string{"summarise", "search", "summarise", "search", "summarise", "search"}, bytes: 800}, nil, 0, 0},
		{"huge session", 40, session{tools: strings.Fields(strings.Repeat("search read read summarise ", 30)), errs: 20, bytes: 500_000}, []string{KindSessionOutlier}, 45, 45},
		{"new tools and errors", 40, session{tools: []string{"delete", "transfer", "delete", "transfer"}, errs: 4, bytes: 800}, []string{KindUnusualSequence, KindSessionOutlier}, 30, 45},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(DefaultOptions())
			warm(d, "a", tt.warmup)
			got := kinds(run(d, "a", "probe", tt.probe))
			if len(tt.want) == 0 && len(got) != 0 {
				t.Fatalf("findings %v, want none", got)
			}
			for _, k := range tt.want {
				sev, ok := got[k]
				if !ok || sev < tt.minSev || sev > tt.maxSev {
					t.Errorf("%s: severity %d (present %v), want %d..%d", k, sev, ok, tt.minSev, tt.maxSev)
				}
			}
		})
	}
}

func TestOutlierSeverity(t *testing.T) {
	tests := []struct {
		p    float64
		want uint8
		ok   bool
	}{
		{0.5, 0, false}, {1e-3, 0, false}, {9e-4, 31, true}, {1e-4, 50, true}, {1e-5, 60, true}, {0, 60, true}, // cap 60 here; the default cap is 45
	}
	for _, tt := range tests {
		got, ok := outlierSeverity(tt.p, 1e-3, 60)
		if got != tt.want || ok != tt.ok {
			t.Errorf("outlierSeverity(%g) = %d,%v want %d,%v", tt.p, got, ok, tt.want, tt.ok)
		}
	}
}

func TestProbSmoothing(t *testing.T) {
	d := New(DefaultOptions())
	warm(d, "a", 3)
	a := d.agentOf("a")
	sum := 0.0
	for to := range len(a.names) {
		sum += a.prob(startState, uint8(to), 0.5)
	}
	// START itself is never a target, so known targets plus the unseen
	// slot must sum to 1: sum over names (START slot stands in for unseen).
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("probabilities from START sum to %g, want 1", sum)
	}
	search, ok := a.toolState("search")
	if !ok {
		t.Fatal("tool search has no state")
	}
	if p := a.prob(startState, search, 0.5); p < 0.5 {
		t.Errorf("p(START→search) = %g, want the dominant transition", p)
	}
}

func TestBounds(t *testing.T) {
	tests := []struct {
		name              string
		maxAgents, maxSes int
		maxTools          int
	}{
		{"agents", 3, 100, 64},
		{"sessions", 100, 4, 64},
		{"tools", 100, 100, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			o.MaxAgents, o.MaxSessions, o.MaxToolsPerAgent = tt.maxAgents, tt.maxSes, tt.maxTools
			d := New(o)
			emit := func(models.Finding) {}
			for i := range 50 {
				ev := &models.Event{SchemaVersion: 1, ID: fmt.Sprint(i), Kind: models.KindToolCall, Time: t0, AgentID: fmt.Sprint("a", i%7), SessionID: fmt.Sprint("s", i), ToolName: fmt.Sprint("t", i)}
				d.Observe(ev, nil, emit)
			}
			if d.agents.Len() > tt.maxAgents || d.sessions.Len() > tt.maxSes {
				t.Errorf("%d agents, %d sessions; caps %d, %d", d.agents.Len(), d.sessions.Len(), tt.maxAgents, tt.maxSes)
			}
			if want := max(7-tt.maxAgents, 0) + max(50-tt.maxSes, 0); d.Evictions() < uint64(want) {
				t.Errorf("%d evictions counted, want at least %d", d.Evictions(), want)
			}
			for id, ap := range d.agents.All() {
				a := *ap
				if len(a.names) > tt.maxTools {
					t.Errorf("agent %s has %d tool states, cap %d", id, len(a.names), tt.maxTools)
				}
			}
		})
	}
}

func TestSessionForgottenAtEnd(t *testing.T) {
	d := New(DefaultOptions())
	run(d, "a", "s", normal(0))
	if d.sessions.Len() != 0 {
		t.Errorf("%d sessions in flight after session_end", d.sessions.Len())
	}
	if d.agentOf("a").completed != 1 {
		t.Errorf("completed = %d, want 1", d.agentOf("a").completed)
	}
}

// BenchmarkObserve measures one event of a realistic mix over many agents
// and sessions, session ends (with the covariance update) included.
func BenchmarkObserve(b *testing.B) {
	d := New(DefaultOptions())
	tools := []string{"search", "read", "read", "summarise", "send"}
	const agents, sessions = 50, 2000
	var evs []models.Event
	evs = append(evs, models.Event{Kind: models.KindSessionStart})
	for _, tl := range tools {
		evs = append(evs, models.Event{Kind: models.KindReasoning}, models.Event{Kind: models.KindToolCall, ToolName: tl, Arguments: []byte(`{"q":"x"}`)}, models.Event{Kind: models.KindToolResult, ToolName: tl, Result: strings.Repeat("r", 300)})
	}
	evs = append(evs, models.Event{Kind: models.KindSessionEnd})
	agentIDs := make([]string, agents)
	for i := range agentIDs {
		agentIDs[i] = fmt.Sprint("agent-", i)
	}
	sessIDs := make([]string, sessions)
	for i := range sessIDs {
		sessIDs[i] = fmt.Sprint("sess-", i)
	}
	findings := 0
	emit := func(models.Finding) { findings++ }
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev := &evs[i%len(evs)]
		sn := i / len(evs)
		ev.AgentID = agentIDs[sn%agents]
		ev.SessionID = sessIDs[sn%sessions]
		ev.ID = "e"
		ev.Time = t0.Add(time.Duration(i) * time.Millisecond)
		d.Observe(ev, nil, emit)
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(findings)/float64(b.N), "findings/event")
}
