package identity

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/detector/internal/lru"
	"github.com/tetherhq/tether/detector/internal/statetest"
	"github.com/tetherhq/tether/models"
)

func TestObserve(t *testing.T) {
	registered := &models.AgentSpec{ID: "known"}
	type step struct {
		agent string
		reg   bool
	}
	tests := []struct {
		name       string
		maxTracked int
		steps      []step
		want       []string // agents reported, in order
	}{
		{"registered agent never reported", 10, []step{{"known", true}, {"known", true}}, nil},
		{"unregistered reported once", 10, []step{{"x", false}, {"x", false}, {"x", false}}, []string{"x"}},
		{"each unregistered agent once", 10, []step{{"x", false}, {"y", false}, {"x", false}, {"known", true}}, []string{"x", "y"}},
		{"full tracking set forgets the least recently active agent", 2, []step{{"x", false}, {"y", false}, {"z", false}, {"x", false}}, []string{"x", "y", "z", "x"}},
		{"a recently active agent is kept when the set is full", 2, []step{{"x", false}, {"y", false}, {"x", false}, {"z", false}, {"x", false}, {"y", false}}, []string{"x", "y", "z", "y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(Options{MaxTracked: tt.maxTracked})
			var got []models.Finding
			for i, s := range tt.steps {
				var spec *models.AgentSpec
				if s.reg {
					spec = registered
				}
				ev := &models.Event{ID: fmt.Sprint("e", i), Kind: models.KindReasoning, AgentID: s.agent, SessionID: "s", Principal: "alice"}
				d.Observe(ev, spec, func(f models.Finding) { f.AgentID = s.agent; got = append(got, f) })
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d findings, want %d (%v)", len(got), len(tt.want), tt.want)
			}
			for i, f := range got {
				if f.AgentID != tt.want[i] || f.Kind != KindUnregistered || f.Severity != models.SeverityMedium || f.Confidence != 1 {
					t.Errorf("finding %d = %+v, want unregistered_agent for %s", i, f, tt.want[i])
				}
				if !strings.Contains(f.Explanation, tt.want[i]) || !strings.Contains(f.Explanation, "alice") {
					t.Errorf("explanation lacks agent or principal: %s", f.Explanation)
				}
			}
		})
	}
}

func TestName(t *testing.T) {
	if got := New(DefaultOptions()).Name(); got != Name {
		t.Errorf("Name() = %q, want %q", got, Name)
	}
}

func TestLapsedGrants(t *testing.T) {
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	spec := &models.AgentSpec{ID: "bot", Tools: []models.ToolSpec{
		{Name: "read"}, {Name: "send", Labels: []models.Label{models.LabelPublicSink}}, {Name: "drop", Labels: []models.Label{models.LabelDestructive}},
	}}
	type step struct {
		at      time.Duration // event time relative to base
		kind    models.Kind
		tool    string
		session string
	}
	type want struct {
		kind string
		sev  uint8
	}
	credExp := base.Add(-10 * time.Minute)
	princEnd := base.Add(-20 * time.Minute)
	tests := []struct {
		name        string
		cred, princ *time.Time
		steps       []step
		want        []want
	}{
		{"valid grants: nothing", ptr(base.Add(time.Hour)), ptr(base.Add(8 * time.Hour)),
			[]step{{0, models.KindSessionStart, "", "s"}, {time.Second, models.KindToolCall, "send", "s"}}, nil},
		{"event exactly at expiry is still valid", ptr(base), nil,
			[]step{{0, models.KindToolCall, "read", "s"}}, nil},
		{"no expiry given: nothing", nil, nil,
			[]step{{0, models.KindToolCall, "drop", "s"}}, nil},
		{"expired credential once per session", &credExp, nil,
			[]step{{0, models.KindSessionStart, "", "s"}, {time.Second, models.KindReasoning, "", "s"}, {2 * time.Second, models.KindToolCall, "read", "s"}},
			[]want{{KindExpiredCredential, 60}}},
		{"risky call under expired credential escalates once", &credExp, nil,
			[]step{{0, models.KindSessionStart, "", "s"}, {time.Second, models.KindToolCall, "send", "s"}, {2 * time.Second, models.KindToolCall, "drop", "s"}, {3 * time.Second, models.KindReasoning, "", "s"}},
			[]want{{KindExpiredCredential, 60}, {KindExpiredCredential, 75}}},
		{"risky call first reports only the strong finding", &credExp, nil,
			[]step{{0, models.KindToolCall, "drop", "s"}, {time.Second, models.KindReasoning, "", "s"}},
			[]want{{KindExpiredCredential, 75}}},
		{"principal gone and credential expired", &credExp, &princEnd,
			[]step{{0, models.KindSessionStart, "", "s"}, {time.Second, models.KindReasoning, "", "s"}},
			[]want{{KindExpiredCredential, 60}, {KindPrincipalSessionEnded, 50}}},
		{"each session reported", nil, &princEnd,
			[]step{{0, models.KindReasoning, "", "s1"}, {time.Second, models.KindReasoning, "", "s2"}, {2 * time.Second, models.KindReasoning, "", "s1"}},
			[]want{{KindPrincipalSessionEnded, 50}, {KindPrincipalSessionEnded, 50}}},
		{"session end forgets the session", nil, &princEnd,
			[]step{{0, models.KindReasoning, "", "s"}, {time.Second, models.KindSessionEnd, "", "s"}, {2 * time.Second, models.KindSessionStart, "", "s"}},
			[]want{{KindPrincipalSessionEnded, 50}, {KindPrincipalSessionEnded, 50}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(DefaultOptions())
			var got []models.Finding
			for i, s := range tt.steps {
				ev := &models.Event{ID: fmt.Sprint("e", i), Kind: s.kind, Time: base.Add(s.at), AgentID: "bot", SessionID: s.session,
					ToolName: s.tool, Principal: "alice", CredentialID: "cred-1", CredentialExpiry: tt.cred, PrincipalSessionEnd: tt.princ}
				d.Observe(ev, spec, func(f models.Finding) { got = append(got, f) })
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d findings %+v, want %v", len(got), got, tt.want)
			}
			for i, f := range got {
				if f.Kind != tt.want[i].kind || f.Severity != tt.want[i].sev || f.Confidence != 1 {
					t.Errorf("finding %d = %s sev %d, want %s sev %d", i, f.Kind, f.Severity, tt.want[i].kind, tt.want[i].sev)
				}
				if len(f.Features) != 1 || f.Features[0].Observed <= 0 {
					t.Errorf("finding %d features %+v, want a positive gap", i, f.Features)
				}
				if !strings.Contains(f.Explanation, "earlier") || !strings.Contains(f.Explanation, "alice") {
					t.Errorf("explanation lacks the gap or principal: %s", f.Explanation)
				}
			}
			if d.TrackedSessions() > 2 {
				t.Errorf("%d sessions tracked", d.TrackedSessions())
			}
		})
	}
}

func TestLapsedExplanation(t *testing.T) {
	exp := time.Date(2026, 5, 1, 11, 50, 0, 0, time.UTC)
	ev := &models.Event{ID: "e1", Kind: models.KindReasoning, Time: exp.Add(10*time.Minute + 5*time.Second), AgentID: "bot", SessionID: "s",
		Principal: "alice", CredentialID: "cred-9", CredentialExpiry: &exp}
	var got []models.Finding
	New(DefaultOptions()).Observe(ev, &models.AgentSpec{ID: "bot"}, func(f models.Finding) { got = append(got, f) })
	if len(got) != 1 {
		t.Fatalf("got %+v", got)
	}
	for _, want := range []string{"cred-9", "2026-05-01T11:50:00Z", "2026-05-01T12:00:05Z", "10m5s earlier"} {
		if !strings.Contains(got[0].Explanation, want) {
			t.Errorf("explanation lacks %q: %s", want, got[0].Explanation)
		}
	}
	if got[0].Features[0].Observed != 605 {
		t.Errorf("gap feature %v, want 605 s", got[0].Features[0].Observed)
	}
}

func TestLapsedSessionsBounded(t *testing.T) {
	exp := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	opts := DefaultOptions()
	opts.MaxSessions = 3
	d := New(opts)
	n := 0
	for i := 0; i < 10; i++ {
		ev := &models.Event{ID: fmt.Sprint("e", i), Kind: models.KindReasoning, Time: exp.Add(time.Hour), AgentID: "bot",
			SessionID: fmt.Sprint("s", i), CredentialExpiry: &exp}
		d.Observe(ev, &models.AgentSpec{ID: "bot"}, func(models.Finding) { n++ })
		if d.TrackedSessions() > 3 {
			t.Fatalf("tracked %d sessions, cap 3", d.TrackedSessions())
		}
	}
	if n != 10 {
		t.Errorf("%d findings for 10 sessions", n)
	}
}

func ptr[T any](v T) *T { return &v }

func TestUnregisteredBurst(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	type step struct {
		agent string
		at    time.Duration
	}
	flood := func(prefix string, n int, at time.Duration) []step {
		var out []step
		for i := range n {
			out = append(out, step{fmt.Sprint(prefix, i), at})
		}
		return out
	}
	tests := []struct {
		name       string
		steps      []step
		individual int   // unregistered_agent findings
		bursts     []int // unregistered_agent_burst counts, in order
	}{
		{"below the limit: all individual", flood("a", 3, 0), 3, nil},
		{"over the limit: the rest counted, reported after the window",
			append(flood("a", 10, 0), step{"late", time.Minute}), 5, []int{6}},
		{"repeat agents are not counted again",
			append(append(flood("a", 6, 0), flood("a", 6, 10*time.Second)...), step{"late", time.Minute}), 5, []int{2}},
		{"each window has its own limit and burst",
			append(append(append(flood("a", 6, 0), flood("b", 7, time.Minute)...), step{"c", 2 * time.Minute}), step{"c", 3 * time.Minute}),
			4 + 4 + 1, []int{2, 3}},
		{"no burst finding while the window is open", flood("a", 9, 0), 4, nil},
		{"interleaved times across a window boundary: one burst, the window only moves forward",
			append(flood("a", 6, 0), []step{
				{"x0", 59900 * time.Millisecond}, {"x0", 60100 * time.Millisecond},
				{"x1", 59900 * time.Millisecond}, {"x1", 60100 * time.Millisecond},
				{"x2", 59900 * time.Millisecond}, {"x2", 60100 * time.Millisecond},
				{"x3", 59900 * time.Millisecond}, {"x4", 59900 * time.Millisecond},
				{"late", 2 * time.Minute}}...), 4 + 4 + 1, []int{3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			o.BurstIndividual = 4
			d := New(o)
			individual, bursts := 0, []int(nil)
			for i, s := range tt.steps {
				ev := &models.Event{ID: fmt.Sprint("e", i), Time: t0.Add(s.at), Kind: models.KindReasoning, AgentID: s.agent, SessionID: s.agent + "-s"}
				d.Observe(ev, nil, func(f models.Finding) {
					switch f.Kind {
					case KindUnregistered:
						individual++
					case KindUnregisteredBurst:
						n := int(f.Features[0].Observed) - o.BurstIndividual
						bursts = append(bursts, n)
						if !strings.Contains(f.Explanation, fmt.Sprint(n, " further agents")) || f.AgentID == "" || f.SessionID != f.AgentID+"-s" ||
							len(f.EvidenceIDs) != min(n, maxBurstSample) || f.Severity != models.SeverityMedium {
							t.Errorf("burst finding %+v", f)
						}
					}
				})
			}
			if individual != tt.individual || fmt.Sprint(bursts) != fmt.Sprint(tt.bursts) {
				t.Fatalf("%d individual, bursts %v; want %d, %v", individual, bursts, tt.individual, tt.bursts)
			}
		})
	}
}

func TestBurstSurvivesSnapshot(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	o := DefaultOptions()
	o.BurstIndividual = 1
	d := New(o)
	for i := range 5 {
		d.Observe(&models.Event{ID: fmt.Sprint("e", i), Time: t0, AgentID: fmt.Sprint("a", i)}, nil, func(models.Finding) {})
	}
	b, err := d.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	r := New(o)
	if err := r.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	var got []models.Finding
	r.Observe(&models.Event{ID: "late", Time: t0.Add(time.Minute), AgentID: "a0"}, nil, func(f models.Finding) { got = append(got, f) })
	if len(got) != 1 || got[0].Kind != KindUnregisteredBurst || got[0].Features[0].Observed != 5 {
		t.Fatalf("restored detector emitted %+v, want the pending burst of 4", got)
	}
}

func TestMemoryBudgetEvictsAndCounts(t *testing.T) {
	statetest.EvictsAtBudget(t, 200, 4000, func(*models.Inventory) statetest.Bounded { return New(DefaultOptions()) })
	// Unregistered agents: the least recently active go first.
	d := New(DefaultOptions())
	m := lru.NewMeter(0, nil)
	d.SetMeter(m)
	for i := range 1000 {
		d.Observe(&models.Event{ID: fmt.Sprint("e", i), Time: time.Unix(int64(i), 0), AgentID: fmt.Sprint("a", i), SessionID: "s"}, nil, func(models.Finding) {})
		m.Settle()
	}
	limited := New(DefaultOptions())
	lm := lru.NewMeter(m.Bytes()/2, nil)
	limited.SetMeter(lm)
	for i := range 1000 {
		limited.Observe(&models.Event{ID: fmt.Sprint("e", i), Time: time.Unix(int64(i), 0), AgentID: fmt.Sprint("a", i), SessionID: "s"}, nil, func(models.Finding) {})
		lm.Settle()
	}
	if n := limited.seen.Len(); n >= 1000 || limited.Evictions() == 0 || lm.Bytes() > m.Bytes()/2 {
		t.Fatalf("kept %d agents, %d evictions, %d bytes", n, limited.Evictions(), lm.Bytes())
	}
	if limited.seen.Peek("a999") == nil || limited.seen.Peek("a0") != nil {
		t.Fatal("budget did not keep the most recently active agents")
	}
}

func TestBurstAggregationDisabled(t *testing.T) {
	o := DefaultOptions()
	o.BurstIndividual = -1
	d := New(o)
	n := 0
	for i := range 100 {
		d.Observe(&models.Event{ID: fmt.Sprint("e", i), AgentID: fmt.Sprint("a", i)}, nil, func(f models.Finding) {
			if f.Kind == KindUnregistered {
				n++
			}
		})
	}
	if n != 100 {
		t.Fatalf("%d individual findings with aggregation disabled, want 100", n)
	}
}
