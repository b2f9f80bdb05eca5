package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/ingest"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/control"
	"github.com/tetherhq/tether/sink/memstore"
	"github.com/tetherhq/tether/sink/parquet"
)

// Topics of the demo's in-process broker.
const (
	demoEventsTopic     = "tether.events"
	demoDeadLetterTopic = "tether.events.dlq"
	demoControlTopic    = control.DefaultTopic
	demoPartitions      = 6
)

// errDemo is wrapped by the demo's own failures.
var errDemo = errors.New("demo failed")

// demoConfig configures one demo run (the flags of `tether demo`).
type demoConfig struct {
	// Duration is how long events are produced (wall clock).
	Duration time.Duration
	// Agents, Rogue, Seed and Warmup configure the simulated fleet.
	Agents, Rogue int
	Seed          int64
	Warmup        int
	// Out is the Parquet output directory.
	Out string
	// Rate is the production rate in events per second.
	Rate float64
	// BadRecords is how many deliberately invalid records are produced
	// (spread over the run) to show dead-lettering.
	BadRecords int
	// Live receives the per-second summary; nil discards it.
	Live io.Writer
	// Logger receives the pipeline's logs.
	Logger zerolog.Logger
	// DrainTimeout bounds the wait for the consumer to catch up after
	// production stops.
	DrainTimeout time.Duration
	// Console, when set, receives every durable batch (the console's view).
	Console *memstore.Store
}

func defaultDemoConfig() demoConfig {
	return demoConfig{
		Duration:     20 * time.Second,
		Agents:       24,
		Rogue:        3,
		Seed:         1,
		Warmup:       fleet.DefaultOptions().WarmupSessions,
		Out:          filepath.Join("out", "demo"),
		Rate:         500,
		BadRecords:   3,
		Logger:       zerolog.Nop(),
		DrainTimeout: 20 * time.Second,
	}
}

// demoAgent is one root agent's line in the final report.
type demoAgent struct {
	ID       string
	Purpose  string
	Autonomy models.Autonomy
	// Rogue is the simulator's ground truth; RogueSince is the event time of
	// its first rogue session (zero if it had not gone rogue yet).
	Rogue      bool
	RogueSince time.Time
	Findings   int
	// Alerts counts findings at or above models.AlertThreshold.
	Alerts      int
	MaxSeverity uint8
	// MaxRogueSeverity is the highest severity among findings raised at or
	// after RogueSince (0 for an agent that has not gone rogue).
	MaxRogueSeverity uint8
	// Top is the most severe finding (the first raised among equals).
	Top      *models.Finding
	Commands map[models.Action]int
	// Kinds counts findings by detector/kind.
	Kinds map[string]int
}

// Flagged reports whether the agent has a finding at or above the alert
// threshold.
func (a *demoAgent) Flagged() bool { return a.MaxSeverity >= models.AlertThreshold }

// demoReport is what a demo run produced.
type demoReport struct {
	Elapsed time.Duration
	// Produced counts valid events; Bad the deliberately invalid records.
	Produced, Bad int64
	Stats         ingest.Stats
	// ControlHandled counts commands read back from the control topic by
	// the demo's containment consumer.
	ControlHandled uint64
	Agents         []demoAgent
	// Out is the Parquet directory; Files the files written.
	Out   string
	Files []string
}

// Agent returns the report line of root agent id, or nil.
func (r *demoReport) Agent(id string) *demoAgent {
	for i := range r.Agents {
		if r.Agents[i].ID == id {
			return &r.Agents[i]
		}
	}
	return nil
}

// runDemo is `tether demo`: an in-process Kafka-protocol broker, a
// simulated fleet, the real consumer pipeline, Parquet output.
func runDemo(args []string) error {
	cfg := defaultDemoConfig()
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long to produce events")
	fs.IntVar(&cfg.Agents, "agents", cfg.Agents, "number of simulated root agents")
	fs.IntVar(&cfg.Rogue, "rogue", cfg.Rogue, "how many of them go rogue after the warm-up")
	fs.Int64Var(&cfg.Seed, "seed", cfg.Seed, "simulation seed (same seed, same traffic)")
	fs.IntVar(&cfg.Warmup, "warmup", cfg.Warmup, "benign sessions a rogue agent runs before going rogue")
	fs.StringVar(&cfg.Out, "out", cfg.Out, "Parquet output directory")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "events produced per second")
	fs.IntVar(&cfg.BadRecords, "bad", cfg.BadRecords, "deliberately invalid records to produce (dead-lettered)")
	verbose := fs.Bool("v", false, "log the pipeline (to stderr)")
	listen := fs.String("listen", "127.0.0.1:9464", "address of the console (empty: no console)")
	linger := fs.Bool("linger", false, "keep serving the console after the run until interrupted")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *verbose {
		cfg.Logger = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).With().Timestamp().Logger()
	} else {
		cfg.Logger = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	}
	cfg.Live = os.Stdout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Printf("tether demo: %d agents (%d go rogue after %d sessions), %.0f events/s for %s, seed %d\n",
		cfg.Agents, cfg.Rogue, cfg.Warmup, cfg.Rate, cfg.Duration, cfg.Seed)
	if *listen != "" {
		cfg.Console = newConsoleStore(nil)
		srv, addr, err := serveConsole(*listen, consoleHandler(cfg.Console, nil, os.Getenv("TETHER_CONSOLE_TOKEN"), "Tether demo"))
		if err != nil {
			return err
		}
		defer srv.Close()
		fmt.Printf("console: http://%s/\n", addr)
	}
	rep, err := demo(ctx, cfg)
	if rep != nil {
		printDemoReport(os.Stdout, rep)
	}
	if *linger && cfg.Console != nil && ctx.Err() == nil {
		fmt.Println("serving the console until interrupted (Ctrl-C)")
		<-ctx.Done()
	}
	return err
}

// demo runs the pipeline until cfg.Duration has passed or ctx is done, lets
// the consumer drain what was produced, and reports.
func demo(ctx context.Context, cfg demoConfig) (*demoReport, error) {
	if cfg.Rate <= 0 || cfg.Agents <= 0 || cfg.Duration <= 0 {
		return nil, fmt.Errorf("%w: rate, agents and duration must be positive", errConfig)
	}
	if cfg.Live == nil {
		cfg.Live = io.Discard
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 20 * time.Second
	}
	begin := time.Now()

	fopts := fleet.DefaultOptions()
	fopts.Agents, fopts.Rogue, fopts.Seed, fopts.Start = cfg.Agents, cfg.Rogue, cfg.Seed, begin.UTC().Truncate(time.Millisecond)
	if cfg.Warmup > 0 {
		fopts.WarmupSessions = cfg.Warmup
	}
	fl := fleet.New(fopts)
	if cfg.Console != nil {
		cfg.Console.SetInventory(fl.Inventory())
	}

	if removed, err := clearDemoOutput(cfg.Out); err != nil {
		return nil, err
	} else if removed > 0 {
		fmt.Fprintf(cfg.Live, "removed %d Parquet files of a previous run from %s\n", removed, cfg.Out)
	}
	popts := parquet.DefaultOptions()
	popts.Dir = cfg.Out
	popts.RollRows, popts.RollInterval = 20000, 30*time.Second // few, large files
	popts.Events, popts.EventRollRows = true, 5000             // for tether query's timelines
	pw, err := parquet.New(popts)
	if err != nil {
		return nil, err
	}
	defer pw.Close()

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(demoPartitions, demoEventsTopic, demoDeadLetterTopic, demoControlTopic))
	if err != nil {
		return nil, fmt.Errorf("%w: in-process broker: %v", errDemo, err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()

	iopts := ingest.DefaultOptions()
	iopts.Brokers, iopts.Group = brokers, "tether-demo"
	iopts.Topic, iopts.DeadLetterTopic = demoEventsTopic, demoDeadLetterTopic
	iopts.Detector.Inventory = fl.Inventory()
	iopts.MaxPollRecords = 2000
	iopts.Logger = cfg.Logger
	obs := newDemoObserver()
	late := &lateWriter{}
	cons, err := ingest.New(iopts, late, kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	late.w = sink.Multi{pw, control.NewPublisher(cons.Client(), demoControlTopic), obs}
	if cfg.Console != nil {
		late.w = append(late.w.(sink.Multi), cfg.Console)
	}

	// A containment consumer, as an enforcement point would run it, reads
	// the commands back from the control topic.
	ctrl, err := control.NewConsumer(control.Brokers(brokers...), control.Topic(demoControlTopic),
		control.Group("tether-demo-enforcer"),
		control.Handler(func(context.Context, models.ContainmentCommand) error { return nil }),
		control.KafkaOpts(kgo.FetchMaxWait(200*time.Millisecond)))
	if err != nil {
		return nil, err
	}
	defer ctrl.Close()

	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(demoEventsTopic),
		kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("%w: producer: %v", errDemo, err)
	}
	defer prod.Close()

	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	var wg sync.WaitGroup
	var consErr, ctrlErr error
	wg.Add(2)
	go func() { defer wg.Done(); consErr = cons.Run(runCtx) }()
	go func() { defer wg.Done(); ctrlErr = ctrl.Run(runCtx) }()

	rep := &demoReport{Out: cfg.Out}
	var prodMu sync.Mutex
	var prodErr error
	onProduced := func(_ *kgo.Record, err error) {
		if err != nil {
			prodMu.Lock()
			prodErr = cmp.Or(prodErr, err)
			prodMu.Unlock()
		}
	}
	badAt := make([]int64, cfg.BadRecords) // spread over the run
	total := int64(cfg.Rate * cfg.Duration.Seconds())
	for i := range badAt {
		badAt[i] = total * int64(i+1) / int64(cfg.BadRecords+1)
	}

	live := newDemoLive(cfg.Live, begin)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(cfg.Duration)
	defer deadline.Stop()
	var last *models.Event
produce:
	for {
		select {
		case <-ctx.Done():
			break produce
		case <-deadline.C:
			break produce
		case now := <-tick.C:
			due := int64(cfg.Rate * now.Sub(begin).Seconds())
			for rep.Produced < due {
				ev := fl.Next()
				b, err := json.Marshal(ev)
				if err != nil {
					return nil, fmt.Errorf("%w: encode event: %v", errDemo, err)
				}
				prod.Produce(runCtx, &kgo.Record{Key: ev.Key(), Value: b, Timestamp: ev.Time}, onProduced)
				rep.Produced++
				last = ev
				for len(badAt) > 0 && rep.Produced >= badAt[0] {
					prod.Produce(runCtx, badRecord(int(rep.Bad), last), onProduced)
					rep.Bad++
					badAt = badAt[1:]
				}
			}
			live.maybePrint(now, rep.Produced, cons.Stats(), obs)
		}
	}
	// Drain: everything produced is flushed to the broker, then consumed.
	fctx, fcancel := context.WithTimeout(runCtx, 10*time.Second)
	err = prod.Flush(fctx)
	fcancel()
	if err != nil {
		prodErr = cmp.Or(prodErr, err)
	}
	drainBy := time.Now().Add(cfg.DrainTimeout)
	for cons.Stats().Durable < rep.Produced+rep.Bad && time.Now().Before(drainBy) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		live.maybePrint(time.Now(), rep.Produced, cons.Stats(), obs)
	}
	// Give the enforcer a moment to read the last commands.
	for ctrl.Stats().Handled < uint64(cons.Stats().Commands) && time.Now().Before(drainBy) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	cancelRun()
	wg.Wait()
	live.print(time.Now(), rep.Produced, cons.Stats(), obs)

	rep.Elapsed = time.Since(begin)
	rep.Stats = cons.Stats()
	rep.ControlHandled = ctrl.Stats().Handled
	rep.Files = pw.Files()
	rep.Agents = obs.agents(fl)
	var errs []error
	if prodErr != nil {
		errs = append(errs, fmt.Errorf("%w: produce: %v", errDemo, prodErr))
	}
	if consErr != nil {
		errs = append(errs, fmt.Errorf("consumer: %w", consErr))
	}
	if ctrlErr != nil {
		errs = append(errs, fmt.Errorf("control consumer: %w", ctrlErr))
	}
	if got := rep.Stats.Consumed; got < rep.Produced+rep.Bad && ctx.Err() == nil {
		errs = append(errs, fmt.Errorf("%w: consumer read %d of %d records within %s", errDemo, got, rep.Produced+rep.Bad, cfg.DrainTimeout))
	}
	return rep, errors.Join(errs...)
}

// clearDemoOutput creates dir and removes the Parquet series files a
// previous run left in it, so the printed query reads this run only.
func clearDemoOutput(dir string) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("%w: output directory: %v", errDemo, err)
	}
	n := 0
	for _, prefix := range []string{parquet.FindingsPrefix, parquet.CommandsPrefix, parquet.EventsPrefix} {
		old, _ := filepath.Glob(filepath.Join(dir, prefix+"-*.parquet"))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				return n, fmt.Errorf("%w: clear previous output: %v", errDemo, err)
			}
			n++
		}
	}
	return n, nil
}

// badRecord returns the i-th deliberately invalid record: the kinds of junk
// a real events topic receives.
func badRecord(i int, like *models.Event) *kgo.Record {
	r := &kgo.Record{Key: like.Key(), Timestamp: like.Time}
	switch i % 3 {
	case 0: // truncated JSON, as from a producer killed mid-write
		b, _ := json.Marshal(like)
		r.Value = b[:len(b)/2]
	case 1: // a producer on a newer schema
		ev := *like
		ev.SchemaVersion = models.SchemaVersion + 1
		ev.ID += "-v2"
		r.Value, _ = json.Marshal(&ev)
	default: // not JSON at all
		r.Value = []byte("agent heartbeat ok " + like.AgentID)
	}
	return r
}

// demoObserver is the last sink: it keeps the findings and commands that
// became durable, de-duplicated by id, for the live summary and the report.
type demoObserver struct {
	mu       sync.Mutex
	findings map[string]models.Finding
	order    []string
	commands map[string]models.ContainmentCommand
}

func newDemoObserver() *demoObserver {
	return &demoObserver{findings: map[string]models.Finding{}, commands: map[string]models.ContainmentCommand{}}
}

// Write implements sink.Writer.
func (o *demoObserver) Write(_ context.Context, b *sink.Batch) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, f := range b.Findings {
		if _, ok := o.findings[f.ID]; !ok {
			o.order = append(o.order, f.ID)
		}
		o.findings[f.ID] = f
	}
	for _, c := range b.Commands {
		o.commands[c.ID] = c
	}
	return nil
}

// summary returns commands by action and the flagged root agents.
func (o *demoObserver) summary() (map[models.Action]int, []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	actions := map[models.Action]int{}
	for _, c := range o.commands {
		actions[c.Action]++
	}
	flagged := map[string]bool{}
	for _, f := range o.findings {
		if f.Severity >= models.AlertThreshold {
			flagged[f.RootAgentID] = true
		}
	}
	ids := make([]string, 0, len(flagged))
	for id := range flagged {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return actions, ids
}

// agents builds the per-root-agent report lines.
func (o *demoObserver) agents(fl *fleet.Fleet) []demoAgent {
	o.mu.Lock()
	defer o.mu.Unlock()
	byID := map[string]*demoAgent{}
	var out []demoAgent
	for _, id := range fl.AgentIDs() {
		spec := fl.Inventory().Agent(id)
		a := demoAgent{ID: id, Purpose: spec.Purpose, Autonomy: spec.Autonomy, Rogue: fl.IsRogue(id),
			Commands: map[models.Action]int{}, Kinds: map[string]int{}}
		a.RogueSince, _ = fl.RogueSince(id)
		out = append(out, a)
	}
	for i := range out {
		byID[out[i].ID] = &out[i]
	}
	root := func(id string) *demoAgent {
		if a := byID[id]; a != nil {
			return a
		}
		byID[id] = &demoAgent{ID: id, Purpose: "(not in the fleet)", Commands: map[models.Action]int{}, Kinds: map[string]int{}}
		return byID[id]
	}
	var extra []*demoAgent
	for _, fid := range o.order {
		f := o.findings[fid]
		_, known := byID[f.RootAgentID]
		a := root(f.RootAgentID)
		if !known {
			extra = append(extra, a)
		}
		a.Findings++
		a.Kinds[f.Detector+"/"+f.Kind]++
		if f.Severity >= models.AlertThreshold {
			a.Alerts++
		}
		if !a.RogueSince.IsZero() && !f.Time.Before(a.RogueSince) {
			a.MaxRogueSeverity = max(a.MaxRogueSeverity, f.Severity)
		}
		if a.Top == nil || f.Severity > a.MaxSeverity {
			a.MaxSeverity = f.Severity
			a.Top = &f
		}
	}
	for _, c := range o.commands {
		id := c.AgentID
		for _, fid := range c.FindingIDs {
			if f, ok := o.findings[fid]; ok {
				id = f.RootAgentID
				break
			}
		}
		root(id).Commands[c.Action]++
	}
	for _, a := range extra {
		out = append(out, *a)
	}
	return out
}

// demoLive prints the once-a-second summary line.
type demoLive struct {
	w         io.Writer
	begin     time.Time
	lastAt    time.Time
	lastCount int64
}

func newDemoLive(w io.Writer, begin time.Time) *demoLive {
	return &demoLive{w: w, begin: begin, lastAt: begin}
}

func (l *demoLive) maybePrint(now time.Time, produced int64, st ingest.Stats, obs *demoObserver) {
	if now.Sub(l.lastAt) >= time.Second {
		l.print(now, produced, st, obs)
	}
}

func (l *demoLive) print(now time.Time, produced int64, st ingest.Stats, obs *demoObserver) {
	rate := float64(produced-l.lastCount) / max(now.Sub(l.lastAt).Seconds(), 1e-3)
	l.lastAt, l.lastCount = now, produced
	actions, flagged := obs.summary()
	var acts []string
	for _, a := range []models.Action{models.ActionReview, models.ActionRequireApproval, models.ActionDemote, models.ActionSuspendSession, models.ActionRevokeCredential} {
		if n := actions[a]; n > 0 {
			acts = append(acts, fmt.Sprintf("%s %d", a, n))
		}
	}
	sev := st.FindingsBySeverity
	fmt.Fprintf(l.w, "[%5.1fs] %5.0f ev/s | produced %6d consumed %6d dead-lettered %d | findings %4d (info %d low %d med %d high %d crit %d) | commands: %s | flagged: %s\n",
		now.Sub(l.begin).Seconds(), rate, produced, st.Consumed, st.DeadLettered, st.Findings,
		sev[0], sev[1], sev[2], sev[3], sev[4], orNone(strings.Join(acts, ", ")), orNone(strings.Join(flagged, " ")))
}

func orNone(s string) string { return cmp.Or(s, "none") }

// printDemoReport writes the final report.
func printDemoReport(w io.Writer, r *demoReport) {
	fmt.Fprintf(w, "\n== Tether demo report (%s) ==\n", r.Elapsed.Round(100*time.Millisecond))
	fmt.Fprintf(w, "events produced %d, invalid records %d; consumed %d, dead-lettered %d %v\n",
		r.Produced, r.Bad, r.Stats.Consumed, r.Stats.DeadLettered, r.Stats.DeadLetterByClass)
	fmt.Fprintf(w, "findings %d, containment commands %d (read back from the control topic by the enforcer: %d)\n\n",
		r.Stats.Findings, r.Stats.Commands, r.ControlHandled)
	agents := slices.Clone(r.Agents)
	slices.SortStableFunc(agents, func(a, b demoAgent) int {
		return cmp.Or(cmp.Compare(b.MaxSeverity, a.MaxSeverity), cmp.Compare(a.ID, b.ID))
	})
	fmt.Fprintf(w, "%-12s %-19s %-9s %-6s %4s %4s  %-40s %s\n", "AGENT", "PURPOSE", "AUTONOMY", "TRUTH", "MAX", "FIND", "COMMANDS", "TOP FINDING")
	for _, a := range agents {
		truth := "benign"
		if a.Rogue {
			truth = "ROGUE"
			if a.RogueSince.IsZero() {
				truth = "rogue*"
			}
		}
		var cmds []string
		for act, n := range a.Commands {
			cmds = append(cmds, fmt.Sprintf("%s×%d", act, n))
		}
		slices.Sort(cmds)
		top := "-"
		if a.Top != nil {
			top = fmt.Sprintf("%s/%s: %s", a.Top.Detector, a.Top.Kind, a.Top.Explanation)
			if len(top) > 140 {
				top = top[:137] + "..."
			}
		}
		fmt.Fprintf(w, "%-12s %-19s %-9s %-6s %4d %4d  %-40s %s\n", a.ID, a.Purpose, a.Autonomy, truth, a.MaxSeverity, a.Findings, orNone(strings.Join(cmds, " ")), top)
	}
	var caught, missed, falseAlarms []string
	for _, a := range agents {
		switch {
		case a.Rogue && !a.RogueSince.IsZero() && a.MaxRogueSeverity >= models.AlertThreshold:
			caught = append(caught, a.ID)
		case a.Rogue && !a.RogueSince.IsZero():
			missed = append(missed, a.ID)
		case !a.Rogue && a.Flagged():
			falseAlarms = append(falseAlarms, a.ID)
		}
	}
	fmt.Fprintf(w, "\nrogue agents flagged: %s; missed: %s; benign agents flagged: %s (alert threshold %d)\n",
		orNone(strings.Join(caught, " ")), orNone(strings.Join(missed, " ")), orNone(strings.Join(falseAlarms, " ")), models.AlertThreshold)
	fmt.Fprintf(w, "(rogue* = chosen to go rogue but still in its warm-up when the demo ended)\n\n")
	fmt.Fprintf(w, "Parquet files: %d in %s\n", len(r.Files), r.Out)
	findings := filepath.Join(r.Out, parquet.FindingsPrefix+"-*.parquet")
	commands := filepath.Join(r.Out, parquet.CommandsPrefix+"-*.parquet")
	fmt.Fprintf(w, "  findings: %s\n  commands: %s\n\nQuery them:\n", findings, commands)
	fmt.Fprintf(w, "  tether query --dir %s top-agents   (tether query -h lists the other questions)\n", r.Out)
}
