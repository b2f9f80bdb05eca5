package baseline

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// collector gathers emitted findings.
type collector []models.Finding

func (c *collector) emit(f models.Finding) { *c = append(*c, f) }

func (c collector) kinds() map[string]int {
	m := map[string]int{}
	for _, f := range c {
		m[f.Kind]++
	}
	return m
}

func ev(agent, session string, kind models.Kind, tool string, at time.Duration) *models.Event {
	return &models.Event{SchemaVersion: 1, ID: fmt.Sprintf("%s-%d", agent, at), Kind: kind, Time: t0.Add(at),
		AgentID: agent, SessionID: session, ToolName: tool}
}

func TestSpikeSeverity(t *testing.T) {
	d := New(DefaultOptions())
	tests := []struct {
		z       float64
		windows int
		want    uint8
	}{
		{4, 32, 40}, {8, 32, 65}, {16, 32, 90}, {100, 32, 90}, {2, 32, 40}, {5.3, 32, 50},
		{16, 100, 90},
		// Young baselines are scored on the predictive z (Student's t with
		// windows−1 degrees of freedom): z = 16 against 16 windows is as
		// likely as z ≈ 6.4 against a known rate, against 8 windows as
		// z ≈ 5.1; a busy minute at z = 8 against 8 windows is marginal.
		{16, 16, 57}, {16, 8, 47}, {30, 8, 52}, {5.3, 8, 40}, {8, 8, 40}, {4, 8, 40}, {2, 8, 40},
	}
	for _, tt := range tests {
		if got := d.spikeSeverity(tt.z, tt.windows); got != tt.want {
			t.Errorf("spikeSeverity(%v, %d windows) = %d, want %d", tt.z, tt.windows, got, tt.want)
		}
	}
}

// steady feeds perMin events per minute for minutes minutes, starting at start.
func steady(d *Detector, c *collector, agent string, start time.Duration, minutes, perMin int) time.Duration {
	at := start
	for m := 0; m < minutes; m++ {
		for i := 0; i < perMin; i++ {
			at = start + time.Duration(m)*time.Minute + time.Duration(i)*time.Minute/time.Duration(perMin)
			d.Observe(ev(agent, "s1", models.KindReasoning, "", at), nil, c.emit)
		}
	}
	return start + time.Duration(minutes)*time.Minute
}

func TestRateSpike(t *testing.T) {
	tests := []struct {
		name      string
		minutes   int // of steady baseline at 10 events/min
		burst     int // events in the following minute
		wantSpike int
		minSev    uint8 // of the last spike
		maxSev    uint8 // of the last spike (0: the minimum alone)
	}{
		{"no spike after warm-up", 40, 12, 0, 0, 0},
		{"spike during warm-up suppressed", 3, 200, 0, 0, 0},
		{"moderate spike: reported, then again on reaching the alert threshold", 40, 30, 2, 50, 0},
		{"marginal spike recorded below the alert threshold", 40, 24, 1, 40, 49},
		{"large spike escalates", 40, 400, 4, 90, 0},
		{"young baseline: moderate spike stays below the alert threshold", 10, 30, 1, 40, 49},
		{"young baseline: large spike alerts, discounted", 10, 400, 2, 50, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(DefaultOptions())
			var c collector
			at := steady(d, &c, "a", 0, tt.minutes, 10)
			for i := 0; i < tt.burst; i++ {
				d.Observe(ev("a", "s1", models.KindReasoning, "", at+time.Duration(i)*time.Minute/time.Duration(tt.burst+1)), nil, c.emit)
			}
			if got := c.kinds()[KindRateSpike]; got != tt.wantSpike {
				t.Fatalf("rate_spike findings = %d, want %d: %+v", got, tt.wantSpike, c)
			}
			if tt.wantSpike == 0 {
				return
			}
			last := c[len(c)-1]
			if last.Severity < tt.minSev || (tt.maxSev > 0 && last.Severity > tt.maxSev) {
				t.Errorf("severity %d outside [%d, %d]: %s", last.Severity, tt.minSev, tt.maxSev, last.Explanation)
			}
			if len(last.Features) == 0 || last.Features[0].Name != "events_per_window" || last.Features[0].Baseline < 9 || last.Features[0].Baseline > 11 {
				t.Errorf("features = %+v, want events_per_window with baseline ≈ 10", last.Features)
			}
			if !strings.Contains(last.Explanation, "baseline is 10.0 ±") {
				t.Errorf("explanation lacks baseline: %s", last.Explanation)
			}
		})
	}
}

func TestRateIdleWindowsIgnored(t *testing.T) {
	d := New(DefaultOptions())
	var c collector
	// Sessions of 10 minutes at 15 events/min separated by 3 hours of silence.
	at := time.Duration(0)
	for s := 0; s < 10; s++ {
		steady(d, &c, "a", at, 10, 15)
		at += 3 * time.Hour
	}
	if len(c) != 0 {
		t.Fatalf("bursty session-shaped agent flagged: %+v", c)
	}
}

func TestRateLateEventsAfterSkew(t *testing.T) {
	d := New(DefaultOptions())
	var c collector
	at := steady(d, &c, "a", 0, 30, 40)
	// One event stamped 5 minutes ahead, then ordinary traffic at the
	// usual pace for those 5 minutes and beyond.
	d.Observe(ev("a", "s1", models.KindReasoning, "", at+5*time.Minute), nil, c.emit)
	steady(d, &c, "a", at, 15, 40)
	if got := c.kinds()[KindRateSpike]; got != 0 {
		t.Fatalf("clock-skewed event faked %d spikes: %+v", got, c)
	}
}

func TestNewTool(t *testing.T) {
	inv := &models.Inventory{Agents: []models.AgentSpec{{ID: "reg", Owner: "o", Purpose: "p", Autonomy: "junior", Tools: []models.ToolSpec{
		{Name: "read"}, {Name: "search", Labels: []models.Label{models.LabelUntrustedContent}},
		{Name: "wire", Labels: []models.Label{models.LabelDestructive}}, {Name: "post", Labels: []models.Label{models.LabelPublicSink}},
		{Name: "lookup"},
	}}}}
	if err := inv.Index(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		agent    string
		history  int // prior calls of "read"
		tool     string
		wantKind string // "" for none
		minSev   uint8
		maxSev   uint8
	}{
		{"warm-up suppresses", "reg", 5, "lookup", "", 0, 0},
		{"plain declared tool", "reg", 25, "lookup", KindNewTool, 30, 34},
		{"untrusted-content tool", "reg", 25, "search", KindNewTool, 35, 39},
		{"destructive tool", "reg", 25, "wire", KindNewTool, 40, 44},
		{"public sink tool", "reg", 25, "post", KindNewTool, 40, 44},
		{"long history raises surprise", "reg", 5000, "lookup", KindNewTool, 35, 35},
		{"declared sink after long history stays below the alert threshold", "reg", 5000, "post", KindNewTool, 45, models.AlertThreshold - 1},
		{"unregistered agent", "anon", 25, "lookup", KindNewTool, 55, 70},
		{"unregistered agent after long history", "anon", 5000, "lookup", KindNewTool, 70, 70},
		{"outside manifest during warm-up", "reg", 1, "shell", KindToolOutsideManifest, 70, 70},
		{"outside manifest after warm-up", "reg", 25, "shell", KindToolOutsideManifest, 70, 70},
		{"known tool", "reg", 25, "read", "", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New(DefaultOptions())
			spec := inv.Agent(tt.agent)
			var c collector
			for i := 0; i < tt.history; i++ {
				d.Observe(ev(tt.agent, "s1", models.KindToolCall, "read", time.Duration(i)*time.Second), spec, c.emit)
			}
			c = c[:0]
			d.Observe(ev(tt.agent, "s1", models.KindToolCall, tt.tool, time.Duration(tt.history)*time.Second), spec, c.emit)
			if tt.wantKind == "" {
				if len(c) != 0 {
					t.Fatalf("want no finding, got %+v", c)
				}
				return
			}
			if len(c) != 1 || c[0].Kind != tt.wantKind {
				t.Fatalf("want one %s, got %+v", tt.wantKind, c)
			}
			if c[0].Severity < tt.minSev || c[0].Severity > tt.maxSev {
				t.Errorf("severity %d outside [%d, %d]: %s", c[0].Severity, tt.minSev, tt.maxSev, c[0].Explanation)
			}
			if tt.wantKind == KindNewTool {
				f := c[0].Features[0]
				want := math.Log(float64(tt.history + 1 + 1)) // p = 1/(calls + tools + 1)
				if f.Name != "tool_surprise_nats" || math.Abs(f.Observed-want) > 1e-9 {
					t.Errorf("surprise feature %+v, want %.4f", f, want)
				}
			}
		})
	}
}

func TestOutsideManifestOncePerSession(t *testing.T) {
	spec := &models.AgentSpec{ID: "reg", Tools: []models.ToolSpec{{Name: "read"}}}
	d := New(DefaultOptions())
	var c collector
	for i, s := range []string{"s1", "s1", "s1", "s2", "s2", "s1"} {
		d.Observe(ev("reg", s, models.KindToolCall, "shell", time.Duration(i)*time.Second), spec, c.emit)
	}
	// s1, s2, then s1 again (only the most recent session is remembered).
	if got := c.kinds()[KindToolOutsideManifest]; got != 3 {
		t.Fatalf("tool_outside_manifest = %d, want 3: %+v", got, c)
	}
	if got := c.kinds()[KindNewTool]; got != 0 {
		t.Errorf("new_tool must not duplicate tool_outside_manifest, got %d", got)
	}
}

func TestAgentEvictionLRU(t *testing.T) {
	opts := DefaultOptions()
	opts.MaxAgents = 3
	d := New(opts)
	var c collector
	for i, a := range []string{"a", "b", "c", "a", "d"} { // d evicts b, the least recently active
		d.Observe(ev(a, "s", models.KindReasoning, "", time.Duration(i)*time.Second), nil, c.emit)
	}
	if d.Tracked() != 3 {
		t.Fatalf("tracked = %d, want 3", d.Tracked())
	}
	for a, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		if ok := d.agents.Peek(a) != nil; ok != want {
			t.Errorf("agent %s tracked = %v, want %v", a, ok, want)
		}
	}
	var order []string
	for id := range d.agents.All() {
		order = append(order, id)
	}
	if fmt.Sprint(order) != "[d a c]" || d.Evictions() != 1 {
		t.Errorf("LRU order %v, %d evictions; want [d a c], 1", order, d.Evictions())
	}
}

func TestToolEviction(t *testing.T) {
	opts := DefaultOptions()
	opts.MaxToolsPerAgent = 3
	d := New(opts)
	var c collector
	calls := []string{"a", "a", "a", "b", "b", "c", "d"} // d evicts c (least used)
	for i, tool := range calls {
		d.Observe(ev("x", "s", models.KindToolCall, tool, time.Duration(i)*time.Second), nil, c.emit)
	}
	st := *d.agents.Peek("x")
	var names []string
	for _, ts := range st.tools {
		names = append(names, ts.name)
	}
	if got := strings.Join(names, ","); got != "a,b,d" {
		t.Errorf("tools = %s, want a,b,d", got)
	}
	if st.toolCalls != 6 {
		t.Errorf("toolCalls = %d, want 6 (evicted counts removed)", st.toolCalls)
	}
}

func TestStateBytesPerAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement")
	}
	const agents = 20_000
	tools := []string{"search_web", "read_file", "send_email", "query_db", "write_file", "list_dir"}
	evs := make([]*models.Event, agents)
	for i := range evs {
		evs[i] = ev(fmt.Sprintf("agent-%06d", i), "s", models.KindToolCall, "", 0)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d := New(DefaultOptions())
	var c collector
	for _, e := range evs {
		for j, tool := range tools {
			e.ToolName = tool
			e.Time = t0.Add(time.Duration(j) * time.Second)
			d.Observe(e, nil, c.emit)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / agents
	t.Logf("%.0f bytes/agent with %d tools (agent ids are shared with the events and not counted)", per, len(tools))
	if per > 1024 {
		t.Errorf("%.0f bytes/agent, documented budget is under 1 KB with a few tools", per)
	}
	runtime.KeepAlive(d)
	runtime.KeepAlive(evs)
}

func BenchmarkObserve(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run(fmt.Sprintf("agents=%d", n), func(b *testing.B) {
			d := New(DefaultOptions())
			tools := []string{"search_web", "read_file", "send_email", "query_db"}
			evs := make([]*models.Event, n)
			for i := range evs {
				evs[i] = ev(fmt.Sprintf("agent-%d", i), "s", models.KindToolCall, tools[i%len(tools)], 0)
			}
			emit := func(models.Finding) {}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				e := evs[i%n]
				e.ToolName = tools[(i/n)%len(tools)]
				e.Time = t0.Add(time.Duration(i) * time.Second / time.Duration(n))
				d.Observe(e, nil, emit)
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
