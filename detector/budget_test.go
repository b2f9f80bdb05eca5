package detector_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/detector/containment"
	"github.com/tetherhq/tether/models"
)

var floodStart = time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)

// flood feeds n unregistered agents (a session_start and a tool call
// each) to e, starting at agent from, and returns the findings by kind.
func flood(e *detector.Engine, from, n int) map[string]int {
	kinds := map[string]int{}
	var out detector.Output
	for a := from; a < from+n; a++ {
		id := fmt.Sprint("flood-", a)
		for i, k := range []models.Kind{models.KindSessionStart, models.KindToolCall} {
			ev := &models.Event{SchemaVersion: models.SchemaVersion, ID: fmt.Sprint(id, "-", i), Kind: k, AgentID: id, SessionID: id + "-s",
				Time: floodStart.Add(time.Duration(a) * time.Millisecond), ToolName: "search"}
			e.Process(ev, &out)
			for _, f := range out.Findings {
				kinds[f.Detector+"/"+f.Kind]++
			}
			out.Reset()
		}
	}
	return kinds
}

func totalEvictions(s detector.Stats) uint64 {
	var n uint64
	for _, v := range s.Evictions {
		n += v
	}
	return n
}

func TestBudgetSharedByEngines(t *testing.T) {
	opts := detector.DefaultOptions()
	opts.MemoryBudget = detector.NewBudget(1 << 30)
	a := detector.New(opts)
	b := detector.New(opts)
	if opts.MemoryBudget.Engines() != 2 || opts.MemoryBudget.Used() != 0 {
		t.Fatalf("%d engines, %d bytes used before any event", opts.MemoryBudget.Engines(), opts.MemoryBudget.Used())
	}
	flood(a, 0, 100)
	used := opts.MemoryBudget.Used()
	flood(b, 100, 100)
	both := opts.MemoryBudget.Used()
	if used <= 0 || both <= used {
		t.Fatalf("used %d after one engine's flood, %d after both", used, both)
	}
	var sum int64
	for _, n := range a.StateBytes() {
		sum += n
	}
	if sum != used {
		t.Fatalf("engine a's tables hold %d bytes, the budget counted %d", sum, used)
	}
	a.Close()
	a.Close() // idempotent
	if got := opts.MemoryBudget.Used(); got != both-used || opts.MemoryBudget.Engines() != 1 {
		t.Fatalf("after Close: %d bytes used by %d engines, want %d by 1", got, opts.MemoryBudget.Engines(), both-used)
	}
	b.Close()
	if detector.DefaultMemoryBudget() < 1<<20 {
		t.Fatalf("default budget %d", detector.DefaultMemoryBudget())
	}
}

// TestBudgetEvictsExactlyWhenExceeded: the default engine on fleet
// traffic, first under a budget it never reaches (recording the bytes
// used after each event), then under a budget of the bytes used halfway:
// no eviction until the event after which the first run used more, an
// eviction at that event, the bytes used never above the budget, and the
// evictions in Stats.
func TestBudgetEvictsExactlyWhenExceeded(t *testing.T) {
	const agents, n = 1500, 30_000
	run := func(budget int64, each func(i int, e *detector.Engine, b *detector.Budget) bool) {
		f := fleet.New(fleet.Options{Agents: agents, Rogue: agents / 10, Seed: 5, Start: floodStart})
		opts := detector.DefaultOptions()
		opts.Inventory = f.Inventory()
		opts.MemoryBudget = detector.NewBudget(budget)
		e := detector.New(opts)
		defer e.Close()
		var out detector.Output
		for i := range n {
			e.Process(f.Next(), &out)
			out.Reset()
			if !each(i, e, opts.MemoryBudget) {
				return
			}
		}
	}
	used := make([]int64, n)
	run(1<<40, func(i int, e *detector.Engine, b *detector.Budget) bool {
		used[i] = b.Used()
		if ev := totalEvictions(e.Stats()); ev != 0 {
			t.Fatalf("event %d: %d evictions far below the budget", i, ev)
		}
		return true
	})
	limit := used[n/2]
	if limit < 1<<20 {
		t.Fatalf("only %d bytes used halfway: below the least budget", limit)
	}
	over := slices.IndexFunc(used, func(u int64) bool { return u > limit }) // the state shrinks too, when sessions end
	if over < 0 {
		t.Fatal("the state never grew past the halfway bytes")
	}
	run(limit, func(i int, e *detector.Engine, b *detector.Budget) bool {
		ev := totalEvictions(e.Stats())
		switch {
		case b.Used() > limit:
			t.Fatalf("event %d: %d bytes used, above the budget %d", i, b.Used(), limit)
		case i < over && ev != 0:
			t.Fatalf("event %d: %d evictions at %d bytes, below the budget %d", i, ev, used[i], limit)
		case i == over && ev == 0:
			t.Fatalf("event %d: no eviction though %d bytes exceed the budget %d", i, used[i], limit)
		}
		return i < over+1000
	})
}

// TestBudgetBoundsState: below the budget nothing is evicted; a flood
// beyond it evicts (counted) in every detector holding per-agent state.
func TestBudgetBoundsState(t *testing.T) {
	opts := detector.DefaultOptions()
	opts.MemoryBudget = detector.NewBudget(64 << 20)
	e := detector.New(opts)
	defer e.Close()
	flood(e, 0, 1000)
	if n := totalEvictions(e.Stats()); n != 0 {
		t.Fatalf("%d evictions below the budget: %v", n, e.Stats().Evictions)
	}

	opts.MemoryBudget = detector.NewBudget(2 << 20)
	small := detector.New(opts)
	defer small.Close()
	kinds := flood(small, 0, 20_000)
	st := small.Stats()
	for _, d := range []string{"identity", "baseline", "profile"} {
		if st.Evictions[d] == 0 {
			t.Errorf("no %s evictions in a flood beyond the budget: %v", d, st.Evictions)
		}
	}
	if used := opts.MemoryBudget.Used(); used > 2<<20 {
		t.Errorf("%d bytes used, above the budget", used)
	}
	if kinds["identity/unregistered_agent"] > 20 {
		t.Errorf("%d individual unregistered_agent findings in one window, want ≤ 20", kinds["identity/unregistered_agent"])
	}
}

// TestContainmentRateLimited: a storm of severe findings on many agents
// gets FleetBurst commands; the rest are held back, counted in Stats and
// summarised in one containment_rate_limited finding when the window ends.
func TestContainmentRateLimited(t *testing.T) {
	script := map[string][]models.Finding{}
	const agents = 500
	for i := range agents {
		script[fmt.Sprint("e", i)] = []models.Finding{{Kind: "bad", Severity: 75, Confidence: 1}} // suspends an intern, below its halt (80)
	}
	opts := detector.Options{
		Detectors:   []detector.Factory{func(*models.Inventory) detector.Detector { return &scripted{"s", script} }},
		Containment: containment.DefaultOptions(),
	}
	e := detector.New(opts)
	var out detector.Output
	for i := range agents {
		e.Process(&models.Event{ID: fmt.Sprint("e", i), AgentID: fmt.Sprint("a", i), SessionID: fmt.Sprint("s", i), Time: floodStart}, &out)
	}
	burst := opts.Containment.FleetBurst
	if len(out.Commands) != burst || e.Stats().CommandsHeld != uint64(agents-burst) {
		t.Fatalf("%d commands, %d held; want %d, %d", len(out.Commands), e.Stats().CommandsHeld, burst, agents-burst)
	}
	for _, f := range out.Findings {
		if f.Kind == containment.KindRateLimited {
			t.Fatal("summary before the window ended")
		}
	}
	out.Reset()
	e.Process(&models.Event{ID: "later", AgentID: "quiet", SessionID: "q", Time: floodStart.Add(2 * time.Minute)}, &out)
	if len(out.Findings) != 1 || out.Findings[0].Kind != containment.KindRateLimited || out.Findings[0].Detector != containment.Name ||
		out.Findings[0].Features[0].Observed != agents-float64(burst) || out.Findings[0].AgentID != fmt.Sprint("a", burst) || out.Findings[0].ID == "" {
		t.Fatalf("findings after the window: %+v", out.Findings)
	}
	if len(out.Commands) != 0 {
		t.Fatalf("the summary was commanded: %+v", out.Commands)
	}
}

// TestStatsConcurrentWithProcess: metrics read Stats while the engine's
// goroutine processes a flood (run with -race).
func TestStatsConcurrentWithProcess(t *testing.T) {
	opts := detector.DefaultOptions()
	opts.MemoryBudget = detector.NewBudget(1 << 20)
	e := detector.New(opts)
	defer e.Close()
	done := make(chan struct{})
	read := make(chan uint64)
	go func() {
		var last uint64
		for {
			select {
			case <-done:
				read <- last
				return
			default:
				last = totalEvictions(e.Stats())
			}
		}
	}()
	flood(e, 0, 3000)
	close(done)
	if last, final := <-read, totalEvictions(e.Stats()); last > final || final == 0 {
		t.Fatalf("evictions read concurrently %d, final %d", last, final)
	}
}
