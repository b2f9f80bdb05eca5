package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/tetherhq/tether/bench/eval"
	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/ingest"
	"github.com/tetherhq/tether/ingest/otlp"
	"github.com/tetherhq/tether/models"
)

// errProduce marks a failed `tether produce`.
var errProduce = errors.New("produce failed")

// Sources `tether produce` replays.
const (
	sourceEvents = "events" // a JSONL file of native events
	sourceStream = "stream" // a labelled stream folder (events.jsonl, labels.jsonl, inventory.yaml)
	sourceOTLP   = "otlp"   // OTLP trace payloads (ingest/otlp), JSON lines or length-prefixed protobuf
	sourceFleet  = "fleet"  // the simulated fleet
)

// produceConfig configures produce.
type produceConfig struct {
	Brokers  []string
	Topic    string
	Security ingest.Security
	// Source is one of the source* constants; Path its file or folder.
	Source, Path string
	// Rate is records per second; 0 sends as fast as the broker takes them.
	Rate float64
	// RebaseTime shifts every event time by one offset so that the last
	// event is at Now: gaps between events are kept, none is in the future.
	RebaseTime bool
	// Count caps the records sent (0: all); for the fleet it is the number
	// of events to generate (0: 20,000).
	Count int
	// Agents, Rogue and Seed shape the simulated fleet.
	Agents, Rogue int
	Seed          int64
	// InventoryOut, when set, receives the fleet's inventory (YAML).
	InventoryOut string
	// Progress receives a line per second and a summary (nil: none).
	Progress io.Writer
	// Now is the clock for RebaseTime (nil: time.Now).
	Now func() time.Time
}

func defaultProduceConfig() produceConfig {
	return produceConfig{Topic: "tether.events", Agents: 24, Rogue: 3, Seed: 1, Count: 0}
}

// produceReport summarises a produce run.
type produceReport struct {
	Produced int64
	Elapsed  time.Duration
	// Shift is the offset RebaseTime added to every event time.
	Shift time.Duration
	// Inventory is the inventory file that goes with the replayed agents
	// ("" when the source has none).
	Inventory string
}

// runProduce is `tether produce`.
func runProduce(args []string) error {
	pc := defaultProduceConfig()
	fs := flag.NewFlagSet("produce", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "daemon YAML configuration: brokers, TLS/SASL and kafka.events_topic are taken from it")
	brokers := fs.String("brokers", "", "comma-separated brokers (default: the configuration's, 127.0.0.1:9092)")
	topic := fs.String("topic", "", "topic (default: the configuration's kafka.events_topic, tether.events)")
	events := fs.String("events", "", "replay a JSONL file of native events (one models.Event per line)")
	stream := fs.String("stream", "", "replay a labelled stream folder (events.jsonl; inventory.yaml is reported)")
	otlpFile := fs.String("otlp", "", "replay OTLP trace payloads: FILE.jsonl (OTLP/JSON, one per line) or FILE.binpb (protobuf, 4-byte big-endian length before each), the Collector file exporter's formats")
	useFleet := fs.Bool("fleet", false, "replay the simulated fleet (mostly benign agents, a few going rogue)")
	fs.Float64Var(&pc.Rate, "rate", 1000, "records per second (0: as fast as possible)")
	fs.BoolVar(&pc.RebaseTime, "rebase-time", false, "shift event times so the last event is now (keeps the gaps); use it for recordings (always on for --fleet)")
	fs.IntVar(&pc.Count, "count", 0, "send at most this many records (fleet: events to generate, default 20000)")
	fs.IntVar(&pc.Agents, "agents", pc.Agents, "fleet: root agents")
	fs.IntVar(&pc.Rogue, "rogue", pc.Rogue, "fleet: agents that go rogue after a warm-up")
	fs.Int64Var(&pc.Seed, "seed", pc.Seed, "fleet: random seed")
	fs.StringVar(&pc.InventoryOut, "inventory-out", "", "fleet: write the fleet's agent inventory here (give it to tether run as inventory.file / TETHER_INVENTORY)")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var chosen []string
	for name, v := range map[string]string{sourceEvents: *events, sourceStream: *stream, sourceOTLP: *otlpFile} {
		if v != "" {
			chosen = append(chosen, name)
			pc.Source, pc.Path = name, v
		}
	}
	if *useFleet {
		chosen = append(chosen, sourceFleet)
		pc.Source = sourceFleet
	}
	if len(chosen) != 1 {
		fs.Usage()
		return errors.New("give exactly one of --events, --stream, --otlp, --fleet")
	}
	cfg, err := loadConfig(*cfgPath, os.Getenv)
	if err != nil {
		return err
	}
	pc.Brokers, pc.Topic = cfg.Kafka.Brokers, cfg.Kafka.EventsTopic
	if *brokers != "" {
		pc.Brokers = strings.Split(*brokers, ",")
	}
	if *topic != "" {
		pc.Topic = *topic
	}
	if pc.Security, err = cfg.kafkaSecurity(); err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	if !*quiet {
		pc.Progress = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	rep, err := produce(ctx, pc)
	if err != nil {
		return err
	}
	if rep.Inventory != "" {
		fmt.Fprintf(os.Stderr, "the agents' inventory is %s: run the daemon with TETHER_INVENTORY=%s (or inventory.file)\n", rep.Inventory, rep.Inventory)
	}
	return nil
}

// produceRecord is one record to send and its event time.
type produceRecord struct {
	key, value []byte
	time       time.Time
}

// loadRecords reads or generates the records of pc's source, in event-time
// order, with times rebased when asked.
func loadRecords(pc produceConfig, now time.Time) ([]produceRecord, *produceReport, error) {
	rep := &produceReport{}
	var evs []*models.Event
	switch pc.Source {
	case sourceEvents, sourceStream:
		path := pc.Path
		if pc.Source == sourceStream {
			path = filepath.Join(pc.Path, "events.jsonl")
			if inv := filepath.Join(pc.Path, "inventory.yaml"); fileExists(inv) {
				rep.Inventory = inv
			}
		}
		var err error
		if evs, err = eval.ReadEventsFile(path); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errProduce, err)
		}
		eval.SortEvents(evs)
	case sourceFleet:
		n := cmp.Or(pc.Count, 20_000)
		fo := fleet.DefaultOptions()
		fo.Agents, fo.Rogue, fo.Seed, fo.Start = pc.Agents, pc.Rogue, pc.Seed, now.UTC().Truncate(time.Millisecond)
		fl := fleet.New(fo)
		evs = fl.Take(n)
		if pc.InventoryOut != "" {
			b, err := fl.Inventory().Marshal()
			if err != nil {
				return nil, nil, fmt.Errorf("%w: fleet inventory: %w", errProduce, err)
			}
			if err := os.MkdirAll(filepath.Dir(pc.InventoryOut), 0o755); err != nil {
				return nil, nil, fmt.Errorf("%w: %w", errProduce, err)
			}
			if err := os.WriteFile(pc.InventoryOut, b, 0o644); err != nil {
				return nil, nil, fmt.Errorf("%w: %w", errProduce, err)
			}
			rep.Inventory = pc.InventoryOut
		}
	case sourceOTLP:
		recs, shift, err := loadOTLP(pc.Path, pc.RebaseTime, now)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errProduce, err)
		}
		rep.Shift = shift
		if pc.Count > 0 && len(recs) > pc.Count {
			recs = recs[:pc.Count]
		}
		return recs, rep, nil
	default:
		return nil, nil, fmt.Errorf("%w: unknown source %q", errProduce, pc.Source)
	}
	if len(evs) == 0 {
		return nil, rep, nil
	}
	if pc.Count > 0 && len(evs) > pc.Count {
		evs = evs[:pc.Count]
	}
	// The fleet's times start now and run ahead of the clock: always rebase.
	if pc.RebaseTime || pc.Source == sourceFleet {
		last := evs[0].Time
		for _, ev := range evs {
			if ev.Time.After(last) {
				last = ev.Time
			}
		}
		rep.Shift = now.Sub(last)
		for _, ev := range evs {
			rebaseEvent(ev, rep.Shift)
		}
	}
	recs := make([]produceRecord, 0, len(evs))
	for _, ev := range evs {
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: encode event %s: %w", errProduce, ev.ID, err)
		}
		recs = append(recs, produceRecord{key: ev.Key(), value: b, time: ev.Time})
	}
	return recs, rep, nil
}

// rebaseEvent adds d to every absolute time of ev. The optional times get
// new values: events of one session may share a pointer.
func rebaseEvent(ev *models.Event, d time.Duration) {
	ev.Time = ev.Time.Add(d)
	for _, p := range []**time.Time{&ev.PrincipalSessionEnd, &ev.CredentialExpiry} {
		if *p != nil {
			v := (*p).Add(d)
			*p = &v
		}
	}
}

// loadOTLP reads OTLP trace payloads in the OpenTelemetry Collector file
// exporter's formats: OTLP/JSON lines (.json, .jsonl) or protobuf messages
// each preceded by its 4-byte big-endian length (any other name). Each
// payload becomes one record in its own encoding, keyed by the root agent of
// its first GenAI span event (unkeyed when it has none), timestamped with
// its last span time; with rebase every payload is shifted by the offset
// that puts the file's last span at now.
func loadOTLP(path string, rebase bool, now time.Time) ([]produceRecord, time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	var raw [][]byte
	enc := otlp.EncodingProto
	if ext := filepath.Ext(path); ext == ".json" || ext == ".jsonl" {
		enc = otlp.EncodingJSON
		for _, line := range bytes.Split(b, []byte("\n")) {
			if len(bytes.TrimSpace(line)) > 0 {
				raw = append(raw, line)
			}
		}
	} else {
		for len(b) > 0 {
			if len(b) < 4 || int(binary.BigEndian.Uint32(b)) > len(b)-4 {
				return nil, 0, fmt.Errorf("%s: truncated length-prefixed protobuf payload", path)
			}
			n := binary.BigEndian.Uint32(b)
			raw, b = append(raw, b[4:4+n]), b[4+n:]
		}
	}
	tds := make([]*tracepb.TracesData, 0, len(raw))
	var last time.Time
	for i, p := range raw {
		td, err := otlp.Unmarshal(p, enc)
		if err != nil {
			return nil, 0, fmt.Errorf("%s payload %d: %w", path, i+1, err)
		}
		tds = append(tds, td)
		if t := otlp.LastTime(td); t.After(last) {
			last = t
		}
	}
	var shift time.Duration
	if rebase && !last.IsZero() {
		shift = now.Sub(last)
	}
	recs := make([]produceRecord, 0, len(tds))
	for i, td := range tds {
		value := raw[i]
		if shift != 0 {
			otlp.Shift(td, shift)
			if value, err = otlp.Marshal(td, enc); err != nil {
				return nil, 0, fmt.Errorf("%s payload %d: %w", path, i+1, err)
			}
		}
		r := produceRecord{value: value, time: otlp.LastTime(td)}
		if evs := otlp.Events(td); len(evs) > 0 {
			r.key = evs[0].Key()
		}
		recs = append(recs, r)
	}
	return recs, shift, nil
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir()
}

// produce sends pc's records to the topic at pc.Rate, keyed by root agent
// id (as the daemon expects: one lineage per partition) with the event time
// as the record timestamp, and waits until the broker acknowledged all.
func produce(ctx context.Context, pc produceConfig) (*produceReport, error) {
	now := time.Now
	if pc.Now != nil {
		now = pc.Now
	}
	progress := pc.Progress
	if progress == nil {
		progress = io.Discard
	}
	if len(pc.Brokers) == 0 || pc.Topic == "" {
		return nil, fmt.Errorf("%w: brokers and topic are required", errConfig)
	}
	if pc.Rate < 0 {
		return nil, fmt.Errorf("%w: negative rate", errConfig)
	}
	recs, rep, err := loadRecords(pc, now())
	if err != nil {
		return nil, err
	}
	secOpts, err := ingest.ClientOptions(pc.Security)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	opts := append([]kgo.Opt{kgo.SeedBrokers(pc.Brokers...), kgo.DefaultProduceTopic(pc.Topic),
		kgo.ProducerLinger(5 * time.Millisecond), kgo.AllowAutoTopicCreation()}, secOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: client: %w", errProduce, err)
	}
	defer cl.Close()
	// Create the topic with the broker's defaults when it does not exist
	// (brokers without auto-creation); an error here is not fatal: the
	// produce calls report a missing topic precisely.
	actx, acancel := context.WithTimeout(ctx, 15*time.Second)
	if _, err := kadm.NewClient(cl).CreateTopic(actx, -1, -1, nil, pc.Topic); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		fmt.Fprintf(progress, "could not create topic %s (%v); producing anyway\n", pc.Topic, err)
	}
	acancel()

	fmt.Fprintf(progress, "producing %d records to %s on %s", len(recs), pc.Topic, strings.Join(pc.Brokers, ","))
	if pc.Rate > 0 {
		fmt.Fprintf(progress, " at %.0f/s", pc.Rate)
	}
	if rep.Shift != 0 {
		fmt.Fprintf(progress, ", event times shifted by %s", rep.Shift.Round(time.Second))
	}
	fmt.Fprintln(progress)

	var mu sync.Mutex
	var firstErr error
	var acked int64
	done := func(r *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("%w: topic %s partition %d: %w", errProduce, r.Topic, r.Partition, err)
			}
			return
		}
		acked++
	}
	start := time.Now()
	lastPrint := start
	for i, r := range recs {
		if pc.Rate > 0 {
			due := start.Add(time.Duration(float64(i) / pc.Rate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		mu.Lock()
		failed := firstErr
		mu.Unlock()
		if failed != nil {
			break
		}
		cl.Produce(ctx, &kgo.Record{Key: r.key, Value: r.value, Timestamp: r.time}, done)
		if t := time.Now(); t.Sub(lastPrint) >= time.Second {
			lastPrint = t
			mu.Lock()
			fmt.Fprintf(progress, "  %d/%d sent, %d acknowledged, %.0f/s\n", i+1, len(recs), acked, float64(i+1)/t.Sub(start).Seconds())
			mu.Unlock()
		}
	}
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	ferr := cl.Flush(fctx)
	fcancel()
	rep.Elapsed = time.Since(start)
	mu.Lock()
	rep.Produced = acked
	err = firstErr
	mu.Unlock()
	if err == nil && ferr != nil {
		err = fmt.Errorf("%w: flush to topic %s: %w", errProduce, pc.Topic, ferr)
	}
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("%w: interrupted after %d of %d records: %w", errProduce, rep.Produced, len(recs), ctx.Err())
	}
	fmt.Fprintf(progress, "produced %d records to %s in %s\n", rep.Produced, pc.Topic, rep.Elapsed.Round(time.Millisecond))
	return rep, err
}
