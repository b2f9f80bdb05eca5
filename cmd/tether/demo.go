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
	demoAckTopic        = control.DefaultAckTopic
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
	// FirstAlert is the wall time the demo first saw an alert on the
	// agent's lineage (zero: never); EmittedAfterAlert counts the events
	// its lineage still emitted afterwards, Stopped those containment
	// stopped (halted, suspended, revoked), Approvals the sink calls it
	// asked approval for instead. Halted: its halt was in force at the end.
	FirstAlert        time.Time
	EmittedAfterAlert int
	// EmittedAfterHalt counts events its lineage emitted from agents whose
	// halt the enforcement point had acknowledged (0: they obeyed).
	EmittedAfterHalt int
	Stopped          int
	Approvals        int
	Halted           bool
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
	// ControlHandled counts commands read back from the control topic and
	// applied by the demo's enforcement point; Control its full counters
	// (refusals by reason).
	ControlHandled uint64
	Control        control.Stats
	// KeyID is the ephemeral signing key's id.
	KeyID string
	// Forged describes the forged commands produced onto the control
	// topic; ForgedTarget is the benign agent they tried to halt and
	// ForgedHalted whether it ended up halted (it must not).
	Forged       []string
	ForgedTarget string
	ForgedHalted bool
	// Contain holds time-to-contain per action: wall time from producing
	// the event behind the command to the enforcer's applied ack.
	Contain map[models.Action][]time.Duration
	// Stages are the recorder's p50 and p99 of finding→command and
	// command→ack over every applied command.
	Stages map[string][2]time.Duration
	// Acks counts the acks the recorder read; Unacked the commands left
	// without an applied ack within the deadline.
	Acks    int
	Unacked uint64
	Agents  []demoAgent
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
		kfake.SeedTopics(demoPartitions, demoEventsTopic, demoDeadLetterTopic, demoControlTopic, demoAckTopic))
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
	// Commands are signed with an ephemeral key: the enforcer trusts only
	// it, so the forged commands below are refused.
	signer, err := control.GenerateSigner()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.Live, "signing containment commands with an ephemeral Ed25519 key %s (generated for this run, not saved)\n", signer.KeyID())
	pub := control.NewPublisher(cons.PublishClient(), demoControlTopic)
	pub.Signer, late.signer = signer, signer

	// The agents' enforcement point: the consumer library applies verified
	// commands to state, which the simulated agents' runtime obeys, and
	// acknowledges each on the ack topic.
	state := control.NewState()
	rt := fleet.NewRuntime(state, fl.Inventory())
	ctrl, err := control.NewConsumer(control.Brokers(brokers...), control.Topic(demoControlTopic),
		control.Group("tether-demo-enforcer"), control.Track(state), control.TrustKey(signer.Public()),
		control.AckTopic(demoAckTopic), control.KafkaOpts(kgo.FetchMaxWait(20*time.Millisecond)))
	if err != nil {
		return nil, err
	}
	defer ctrl.Close()
	loop := newDemoLoop()
	ropts := control.DefaultRecorderOptions()
	ropts.Brokers, ropts.Topic, ropts.Group, ropts.Deadline = brokers, demoAckTopic, "tether-demo-acks", 10*time.Second
	ropts.KafkaOpts = []kgo.Opt{kgo.FetchMaxWait(50 * time.Millisecond)}
	ropts.OnAck = loop.ack
	if cfg.Console != nil { // acks on the console's pages and in incident exports
		ropts.Store = cfg.Console
	}
	rec, err := control.NewRecorder(ropts)
	if err != nil {
		return nil, err
	}
	defer rec.Close()
	late.w = sink.Multi{pw, pub, rec, obs}
	if cfg.Console != nil {
		late.w = append(late.w.(sink.Multi), cfg.Console)
	}

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
	wg.Add(3)
	go func() { defer wg.Done(); consErr = cons.Run(runCtx) }()
	go func() { defer wg.Done(); ctrlErr = ctrl.Run(runCtx) }()
	go func() { defer wg.Done(); _ = rec.Run(runCtx) }()

	rep := &demoReport{Out: cfg.Out, KeyID: signer.KeyID()}
	forgeAt := int64(cfg.Rate * cfg.Duration.Seconds() / 2)
	stopped := map[string]int{}   // root agent -> events containment stopped
	approvals := map[string]int{} // root agent -> approvals asked
	after := map[string]int{}     // root agent -> events emitted after its first alert
	afterHalt := map[string]int{} // root agent -> events emitted after its halt was applied
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
	var generated int64
produce:
	for {
		select {
		case <-ctx.Done():
			break produce
		case <-deadline.C:
			break produce
		case now := <-tick.C:
			due := int64(cfg.Rate * now.Sub(begin).Seconds())
			for generated < due {
				generated++
				raw := fl.Next()
				ev, ok := rt.Gate(raw)
				if !ok {
					stopped[raw.Root()]++
					continue
				}
				if ev.Kind == models.KindMessage && strings.HasSuffix(ev.ID, "-approval") {
					approvals[ev.Root()]++
				}
				if obs.alerted(ev.Root()) {
					after[ev.Root()]++
				}
				if loop.halted(ev) {
					afterHalt[ev.Root()]++
				}
				loop.produced(ev.ID, time.Now())
				b, err := json.Marshal(ev)
				if err != nil {
					return nil, fmt.Errorf("%w: encode event: %v", errDemo, err)
				}
				prod.Produce(runCtx, &kgo.Record{Key: ev.Key(), Value: b, Timestamp: ev.Time}, onProduced)
				rep.Produced++
				last = ev
				if rep.Forged == nil && generated >= forgeAt {
					rep.ForgedTarget = firstBenign(fl)
					rep.Forged = forge(runCtx, prod, rep.ForgedTarget, signer, onProduced)
				}
				for len(badAt) > 0 && generated >= badAt[0] {
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
	// Wait for the enforcer to apply the last commands and for their acks
	// (and those of the refused forgeries) to be read back.
	for time.Now().Before(drainBy) && ctx.Err() == nil {
		st := ctrl.Stats()
		if st.Handled >= uint64(cons.Stats().Commands) && loop.acks() >= int(st.Handled+st.RefusedTotal()) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancelRun()
	wg.Wait()
	live.print(time.Now(), rep.Produced, cons.Stats(), obs)

	rep.Elapsed = time.Since(begin)
	rep.Stats = cons.Stats()
	rep.Control = ctrl.Stats()
	rep.ControlHandled = rep.Control.Handled
	rep.Files = pw.Files()
	rep.Agents = obs.agents(fl)
	for i := range rep.Agents {
		a := &rep.Agents[i]
		a.FirstAlert = obs.firstAlert(a.ID)
		a.EmittedAfterAlert, a.EmittedAfterHalt, a.Stopped, a.Approvals = after[a.ID], afterHalt[a.ID], stopped[a.ID], approvals[a.ID]
		a.Halted = state.Halted(a.ID)
	}
	rep.ForgedHalted = rep.ForgedTarget != "" && state.Halted(rep.ForgedTarget)
	rep.Contain = loop.timeToContain(obs)
	rep.Stages = map[string][2]time.Duration{}
	for _, st := range []string{"finding_to_command", "command_to_ack"} {
		p50, _ := rec.Quantile(st, "", 0.5)
		p99, _ := rec.Quantile(st, "", 0.99)
		rep.Stages[st] = [2]time.Duration{p50, p99}
	}
	rep.Acks, rep.Unacked = loop.acks(), rec.Overdue()
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
	// alertAt is the wall time of the first alert per root agent.
	alertAt map[string]time.Time
}

func newDemoObserver() *demoObserver {
	return &demoObserver{findings: map[string]models.Finding{}, commands: map[string]models.ContainmentCommand{}, alertAt: map[string]time.Time{}}
}

// alerted reports whether root's lineage has had an alert.
func (o *demoObserver) alerted(root string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.alertAt[root]
	return ok
}

// firstAlert returns the wall time of root's first alert (zero if none).
func (o *demoObserver) firstAlert(root string) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.alertAt[root]
}

// Write implements sink.Writer.
func (o *demoObserver) Write(_ context.Context, b *sink.Batch) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := time.Now()
	for _, f := range b.Findings {
		if _, ok := o.findings[f.ID]; !ok {
			o.order = append(o.order, f.ID)
		}
		o.findings[f.ID] = f
		if _, ok := o.alertAt[f.RootAgentID]; !ok && f.Severity >= models.AlertThreshold {
			o.alertAt[f.RootAgentID] = now
		}
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
	for _, a := range models.Actions {
		if n := actions[a]; n > 0 {
			acts = append(acts, fmt.Sprintf("%s %d", a, n))
		}
	}
	bands := make([]string, 0, len(models.Bands))
	for _, b := range models.Bands {
		bands = append(bands, fmt.Sprintf("%s %d", b, st.FindingsBySeverity[b]))
	}
	fmt.Fprintf(l.w, "[%5.1fs] %5.0f ev/s | produced %6d consumed %6d dead-lettered %d | findings %4d (%s) | commands: %s | flagged: %s\n",
		now.Sub(l.begin).Seconds(), rate, produced, st.Consumed, st.DeadLettered, st.Findings,
		strings.Join(bands, " "), orNone(strings.Join(acts, ", ")), orNone(strings.Join(flagged, " ")))
}

func orNone(s string) string { return cmp.Or(s, "none") }

// printDemoReport writes the final report.
func printDemoReport(w io.Writer, r *demoReport) {
	fmt.Fprintf(w, "\n== Tether demo report (%s) ==\n", r.Elapsed.Round(100*time.Millisecond))
	fmt.Fprintf(w, "events produced %d, invalid records %d; consumed %d, dead-lettered %d %v\n",
		r.Produced, r.Bad, r.Stats.Consumed, r.Stats.DeadLettered, r.Stats.DeadLetterByClass)
	fmt.Fprintf(w, "findings %d, containment commands %d signed with key %s (applied by the agents' enforcement point: %d)\n\n",
		r.Stats.Findings, r.Stats.Commands, r.KeyID, r.ControlHandled)
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
	printContainment(w, r, agents)
	fmt.Fprintf(w, "Parquet files: %d in %s\n", len(r.Files), r.Out)
	findings := filepath.Join(r.Out, parquet.FindingsPrefix+"-*.parquet")
	commands := filepath.Join(r.Out, parquet.CommandsPrefix+"-*.parquet")
	fmt.Fprintf(w, "  findings: %s\n  commands: %s\n\nQuery them:\n", findings, commands)
	fmt.Fprintf(w, "  tether query --dir %s top-agents   (tether query -h lists the other questions)\n", r.Out)
}

// demoLoop measures the closed loop: when each event was produced (wall
// time) and the acks the recorder read.
type demoLoop struct {
	mu         sync.Mutex
	producedAt map[string]time.Time
	ackList    []models.CommandAck
	haltAcked  map[string]models.Action // agents whose halt (of the agent or its lineage) was applied
}

func newDemoLoop() *demoLoop {
	return &demoLoop{producedAt: map[string]time.Time{}, haltAcked: map[string]models.Action{}}
}

// halted reports whether ev comes from an agent whose halt was
// acknowledged as applied: its own, or a lineage halt of its root.
func (l *demoLoop) halted(ev *models.Event) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.haltAcked[ev.AgentID] != "" || l.haltAcked[ev.Root()] == models.ActionHaltLineage
}

func (l *demoLoop) produced(id string, at time.Time) {
	l.mu.Lock()
	l.producedAt[id] = at
	l.mu.Unlock()
}

func (l *demoLoop) ack(a models.CommandAck) {
	l.mu.Lock()
	l.ackList = append(l.ackList, a)
	if a.Status == models.AckApplied && (a.Action == models.ActionHaltAgent || a.Action == models.ActionHaltLineage) {
		if l.haltAcked[a.AgentID] != models.ActionHaltLineage {
			l.haltAcked[a.AgentID] = a.Action
		}
	}
	l.mu.Unlock()
}

func (l *demoLoop) acks() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ackList)
}

// timeToContain returns, per action, the wall time from producing the
// event that raised the command's finding to the applied ack. (The
// simulated fleet's event time runs faster than the wall clock, so the
// event-time stages the daemon records are not meaningful in the demo.)
func (l *demoLoop) timeToContain(obs *demoObserver) map[models.Action][]time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	obs.mu.Lock()
	defer obs.mu.Unlock()
	out := map[models.Action][]time.Duration{}
	for _, a := range l.ackList {
		if a.Status != models.AckApplied {
			continue
		}
		c, ok := obs.commands[a.CommandID]
		if !ok || len(c.FindingIDs) == 0 {
			continue
		}
		f, ok := obs.findings[c.FindingIDs[0]]
		if !ok {
			continue
		}
		var start time.Time
		for _, ev := range f.EvidenceIDs { // the latest evidence event triggered it
			if t, ok := l.producedAt[ev]; ok && t.After(start) {
				start = t
			}
		}
		if start.IsZero() {
			continue
		}
		out[a.Action] = append(out[a.Action], a.AckedAt.Sub(start))
	}
	for _, d := range out {
		slices.Sort(d)
	}
	return out
}

// firstBenign returns the first agent of the fleet that does not go rogue.
func firstBenign(fl *fleet.Fleet) string {
	for _, id := range fl.AgentIDs() {
		if !fl.IsRogue(id) {
			return id
		}
	}
	return ""
}

// forge produces two forged commands onto the control topic, as an
// attacker with write access to it would: a halt of a benign agent signed
// with the attacker's own key, and the same halt claiming Tether's key id.
// It returns their descriptions.
func forge(ctx context.Context, prod *kgo.Client, target string, real *control.Signer, done func(*kgo.Record, error)) []string {
	attacker, err := control.GenerateSigner()
	if err != nil {
		return []string{"forgery skipped: " + err.Error()}
	}
	now := time.Now().UTC()
	c := models.ContainmentCommand{AgentID: target, Action: models.ActionHaltAgent, Severity: 99,
		Reason: "forged: halt a benign agent", FindingIDs: []string{"forged"}, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	c.SetID()
	own := c
	attacker.Sign(&own)
	claimed := own
	claimed.KeyID = real.KeyID()
	var out []string
	for _, f := range []struct {
		c    models.ContainmentCommand
		desc string
	}{
		{own, fmt.Sprintf("halt_agent %s signed with the attacker's key %s", target, attacker.KeyID())},
		{claimed, fmt.Sprintf("halt_agent %s claiming Tether's key id %s, signed by the attacker", target, real.KeyID())},
	} {
		v, _ := json.Marshal(f.c)
		prod.Produce(ctx, &kgo.Record{Topic: demoControlTopic, Key: []byte(target), Value: v, Headers: []kgo.RecordHeader{
			{Key: control.HeaderCommandID, Value: []byte(f.c.ID)}, {Key: control.HeaderAction, Value: []byte(f.c.Action)}}}, done)
		out = append(out, f.desc)
	}
	return out
}

// percentile returns the q-quantile (nearest rank) of sorted d.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(q*float64(len(d)) + 0.5)
	return d[min(max(i-1, 0), len(d)-1)]
}

// printContainment writes the closed-loop part of the report.
func printContainment(w io.Writer, r *demoReport, agents []demoAgent) {
	fmt.Fprintf(w, "Containment loop: %d commands applied and acknowledged, %d acks read back, %d unacknowledged after the deadline\n",
		r.ControlHandled, r.Acks, r.Unacked)
	fmt.Fprintf(w, "  time-to-contain (event produced -> command applied and acked, wall clock; kill-switch bar 1 s):\n")
	for _, act := range models.Actions {
		d := r.Contain[act]
		if len(d) == 0 {
			continue
		}
		fmt.Fprintf(w, "    %-18s n=%-4d p50 %-9s p99 %s\n", act, len(d), percentile(d, 0.5).Round(time.Millisecond), percentile(d, 0.99).Round(time.Millisecond))
	}
	for _, st := range []string{"finding_to_command", "command_to_ack"} {
		if v, ok := r.Stages[st]; ok {
			fmt.Fprintf(w, "    stage %-18s p50 %-9s p99 %s\n", st, v[0].Round(100*time.Microsecond), v[1].Round(100*time.Microsecond))
		}
	}
	fmt.Fprintf(w, "  rogue agents after their first alert:\n")
	for _, a := range agents {
		if !a.Rogue || a.RogueSince.IsZero() {
			continue
		}
		halted := "running"
		if a.Halted {
			halted = "HALTED"
		}
		afterHalt := "-"
		if a.Halted {
			afterHalt = fmt.Sprint(a.EmittedAfterHalt)
		}
		fmt.Fprintf(w, "    %-12s %-7s events emitted after first alert %d, after its halt %s; actions stopped by containment %d, approvals asked %d\n",
			a.ID, halted, a.EmittedAfterAlert, afterHalt, a.Stopped, a.Approvals)
	}
	var refused []string
	for _, reason := range control.Reasons {
		if n := r.Control.Refused[reason]; n > 0 {
			refused = append(refused, fmt.Sprintf("%s %d", reason, n))
		}
	}
	fmt.Fprintf(w, "  forged commands on the control topic:\n")
	for _, f := range r.Forged {
		fmt.Fprintf(w, "    %s\n", f)
	}
	fmt.Fprintf(w, "  refused by the enforcement point: %s; %s halted: %v\n\n", orNone(strings.Join(refused, ", ")), orNone(r.ForgedTarget), r.ForgedHalted)
}
