// Command flood drives detector engines in process with a flood of
// unregistered agents and reports the memory it took (peak RSS, peak and
// retained heap) and what the engines emitted (findings by kind, commands,
// held-back commands, evictions per detector).
//
//	go run ./bench/flood -agents 200000
//	go run ./bench/flood -agents 400000 -budget 256MiB -partitions 4
//
// Every agent is new and absent from the inventory; it opens a session and
// makes -events events (session_start, then tool calls and results) without
// ending it, so nothing is released at session_end: the worst case for
// per-agent and per-session state. The agents' first events are spread
// evenly over -span of event time (30 s by default: 200,000 agents are
// about 6,700 new agents per second). After the flood each engine sees one
// more event of its first agent a minute later, as the next traffic would:
// it closes the window whose aggregated findings (unregistered_agent_burst,
// containment_rate_limited) are emitted when the window ends. With -partitions > 1 the agents are
// spread over that many engines, each driven by its own goroutine, all
// built from one detector.Options and so sharing one memory budget.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/models"
)

// config is one flood run.
type config struct {
	agents     int
	events     int
	span       time.Duration
	partitions int
	budget     int64 // 0: detector.DefaultOptions()
}

// result is what a run measured.
type result struct {
	events     int
	elapsed    time.Duration
	findings   map[string]int // detector/kind -> count
	commands   int
	peakHeap   uint64
	liveHeap   uint64
	peakRSS    uint64 // 0 when unknown
	stats      detector.Stats
	budget     int64
	partitions int
}

func main() {
	var c config
	var budget string
	flag.IntVar(&c.agents, "agents", 200_000, "unregistered agents in the flood")
	flag.IntVar(&c.events, "events", 3, "events per agent (session_start, then tool calls and results)")
	flag.DurationVar(&c.span, "span", 30*time.Second, "event time over which the agents start")
	flag.IntVar(&c.partitions, "partitions", 1, "engines (partitions) sharing the budget")
	flag.StringVar(&budget, "budget", "", "memory budget (e.g. 512MiB, 2GiB, bytes); empty: the default")
	flag.Parse()
	if budget != "" {
		b, err := parseBytes(budget)
		if err != nil {
			fmt.Fprintln(os.Stderr, "flood:", err)
			os.Exit(2)
		}
		c.budget = b
	}
	r := run(c)
	report(os.Stdout, c, r)
}

// run floods c.partitions engines and measures.
func run(c config) result {
	opts := detector.DefaultOptions()
	if c.budget > 0 {
		opts.MemoryBudget = detector.NewBudget(c.budget)
	}
	parts := max(c.partitions, 1)
	engines := make([]*detector.Engine, parts)
	for i := range engines {
		engines[i] = detector.New(opts)
	}
	res := result{findings: map[string]int{}, partitions: parts, budget: opts.MemoryBudget.Bytes()}
	var mu sync.Mutex
	var peak peakHeap
	start := time.Now()
	var wg sync.WaitGroup
	for p := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			findings := map[string]int{}
			var out detector.Output
			n, commands := 0, 0
			process := func(ev *models.Event) {
				engines[p].Process(ev, &out)
				n++
				for j := range out.Findings {
					findings[out.Findings[j].Detector+"/"+out.Findings[j].Kind]++
				}
				commands += len(out.Commands)
				out.Reset()
			}
			t0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
			for a := p; a < c.agents; a += parts {
				base := t0.Add(time.Duration(int64(c.span) * int64(a) / int64(max(c.agents, 1))))
				for i := range max(c.events, 1) {
					process(floodEvent(a, i, base))
				}
				if p == 0 && a%(4096*parts) == 0 {
					peak.sample()
				}
			}
			if p < c.agents { // the next traffic, a minute after the flood
				ev := floodEvent(p, 1, t0.Add(c.span+time.Minute))
				ev.ID += "-next"
				process(ev)
			}
			mu.Lock()
			defer mu.Unlock()
			res.events += n
			res.commands += commands
			for k, v := range findings {
				res.findings[k] += v
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	peak.sample()
	res.peakHeap = peak.max
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.liveHeap = ms.HeapAlloc
	res.peakRSS = peakRSS()
	for _, e := range engines {
		res.stats.Add(e.Stats())
	}
	runtime.KeepAlive(engines)
	for _, e := range engines {
		e.Close()
	}
	return res
}

// floodEvent returns event i of flood agent a, whose session starts at base.
func floodEvent(a, i int, base time.Time) *models.Event {
	id := "flood-" + strconv.Itoa(a)
	ev := &models.Event{
		SchemaVersion: models.SchemaVersion,
		ID:            id + "-" + strconv.Itoa(i),
		Time:          base.Add(time.Duration(i) * 100 * time.Millisecond),
		AgentID:       id,
		SessionID:     id + "-s",
		Principal:     "user-" + strconv.Itoa(a%1000),
		Step:          i,
		Kind:          models.KindSessionStart,
		Content:       "summarise the open tickets",
	}
	if i > 0 {
		ev.Content = ""
		ev.ToolName = "search_tickets"
		ev.ToolCallID = "c" + strconv.Itoa(i)
		if i%2 == 1 {
			ev.Kind = models.KindToolCall
			ev.Arguments = []byte(`{"query":"open"}`)
		} else {
			ev.Kind = models.KindToolResult
			ev.Result = `[{"id":1,"title":"printer"}]`
		}
	}
	return ev
}

// peakHeap tracks the largest heap-object size sampled.
type peakHeap struct {
	mu  sync.Mutex
	max uint64
	s   [1]metrics.Sample
}

func (p *peakHeap) sample() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.s[0].Name = "/memory/classes/heap/objects:bytes"
	metrics.Read(p.s[:])
	if p.s[0].Value.Kind() == metrics.KindUint64 {
		p.max = max(p.max, p.s[0].Value.Uint64())
	}
}

// peakRSS returns the process's peak resident set size (VmHWM), or 0.
func peakRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

func report(w io.Writer, c config, r result) {
	mib := func(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	fmt.Fprintf(w, "agents %d, events %d, partitions %d, budget %s: %.1fs, %.0f events/s\n",
		c.agents, r.events, r.partitions, mib(uint64(r.budget)), r.elapsed.Seconds(), float64(r.events)/r.elapsed.Seconds())
	fmt.Fprintf(w, "peak RSS %s, peak heap %s, retained heap %s\n", mib(r.peakRSS), mib(r.peakHeap), mib(r.liveHeap))
	total := 0
	kinds := make([]string, 0, len(r.findings))
	for k, v := range r.findings {
		kinds = append(kinds, k)
		total += v
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "findings %d, commands %d, commands held back %d\n", total, r.commands, r.stats.CommandsHeld)
	for _, k := range kinds {
		fmt.Fprintf(w, "  %-44s %d\n", k, r.findings[k])
	}
	names := make([]string, 0, len(r.stats.Evictions))
	for k := range r.stats.Evictions {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprint(w, "evictions:")
	for _, k := range names {
		fmt.Fprintf(w, " %s=%d", k, r.stats.Evictions[k])
	}
	fmt.Fprintln(w)
}

// parseBytes reads a byte count with an optional KiB/MiB/GiB suffix.
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if v, ok := strings.CutSuffix(s, u.suf); ok {
			s, mult = v, u.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("bad byte count %q", s)
	}
	return n * mult, nil
}
