// Package contain_test measures the containment loop on the real broker:
// how long from an event to the command reaching an enforcement point, and
// from publishing the command to its acknowledgement.
package contain_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/ingest"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/clickhouse"
	"github.com/tetherhq/tether/sink/control"
)

// Load of one run: Seconds of traffic at the benchmark's rate, of which
// TriggersPerSecond events (each from its own agent) carry a severe
// incident that must be contained.
const (
	Seconds           = 10
	TriggersPerSecond = 50
	Agents            = 1000
	Partitions        = 6
)

// incident raises a critical finding on the bench's trigger events. It is
// the benchmark's stand-in for a detection (the detectors' own cost is
// measured by BenchmarkFleetPipeline); every other event goes through the
// default detectors as in production.
type incident struct{}

func (incident) Name() string { return "bench_incident" }

func (incident) Observe(ev *models.Event, _ *models.AgentSpec, emit detector.Emit) {
	if ev.Kind == models.KindToolCall && ev.ToolName == "bench.trigger" {
		emit(models.Finding{Kind: "bench_incident", Severity: 99, Confidence: 1, Explanation: "benchmark incident"})
	}
}

// BenchmarkContainLoop runs the daemon's pipeline (default detectors plus
// the incident detector, the signed control publisher, with and without
// the ClickHouse writer before it as in production, and with the command
// journal ahead of both as the daemon runs by default) and an enforcement
// point (the sink/control consumer library, acking) on the real broker, at 1,000 and
// 20,000 events/s, and reports p50/p99/p99.9 of event→command (event time,
// stamped at production, to the command reaching the enforcement point)
// and command→ack (the daemon starting to publish to the ack), in ms.
// Run with `make bench-contain`.
func BenchmarkContainLoop(b *testing.B) {
	broker, chAddr := testenv.Kafka(b), testenv.ClickHouse(b)
	for _, sinks := range []string{"control", "clickhouse+control", "journal+clickhouse+control"} {
		for _, rate := range []int{1000, 20000} {
			ch := ""
			if sinks != "control" {
				ch = chAddr
			}
			journal := strings.HasPrefix(sinks, "journal+")
			b.Run(fmt.Sprintf("sinks=%s/rate=%d", sinks, rate), func(b *testing.B) { benchLoad(b, broker, ch, rate, journal) })
		}
	}
}

// benchLoad runs the load and reports its latency quantiles.
func benchLoad(b *testing.B, broker, chAddr string, rate int, journal bool) {
	var e2c, c2a []time.Duration
	var achieved float64
	for b.Loop() {
		r := runLoad(b, broker, chAddr, rate, journal)
		e2c, c2a, achieved = append(e2c, r.e2c...), append(c2a, r.c2a...), r.rate
	}
	slices.Sort(e2c)
	slices.Sort(c2a)
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 0.5}, {"p99", 0.99}, {"p99.9", 0.999}} {
		b.ReportMetric(ms(quantile(e2c, q.q)), "event_to_command_"+q.name+"_ms")
		b.ReportMetric(ms(quantile(c2a, q.q)), "command_to_ack_"+q.name+"_ms")
	}
	b.ReportMetric(float64(len(e2c)), "commands")
	b.ReportMetric(achieved, "events/s")
}

type result struct {
	e2c, c2a []time.Duration
	rate     float64
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// quantile is the nearest-rank q-quantile of sorted d.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(q*float64(len(d))+0.5) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func runLoad(b *testing.B, broker, chAddr string, rate int, journal bool) result {
	b.Helper()
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	events, ctl, acks, dlq := "bench.events."+suffix, "bench.control."+suffix, "bench.acks."+suffix, "bench.dlq."+suffix
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ProducerLinger(2*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	adm := kadm.NewClient(prod)
	testenv.CreateTopics(b, broker, Partitions, nil, events, ctl, acks, dlq)
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		_, _ = adm.DeleteTopics(dctx, events, ctl, acks, dlq, ctl+".journal")
	}()

	inv := &models.Inventory{}
	for i := range Agents {
		inv.Agents = append(inv.Agents, models.AgentSpec{ID: fmt.Sprintf("bench-%d", i), Purpose: "benchmark", Autonomy: models.AutonomySenior,
			Tools: []models.ToolSpec{{Name: "bench.trigger"}}})
	}
	if err := inv.Index(); err != nil {
		b.Fatal(err)
	}
	opts := ingest.DefaultOptions()
	opts.Brokers, opts.Group, opts.Topic, opts.DeadLetterTopic, opts.StateTopic = []string{broker}, "bench-"+suffix, events, dlq, ""
	opts.MaxPollRecords = 5000
	if d, err := strconv.Atoi(os.Getenv("TETHER_BENCH_PIPELINE_DEPTH")); err == nil {
		opts.PipelineDepth = d // compare consumer.pipeline_depth settings
	}
	opts.Logger = zerolog.Nop()
	if journal {
		opts.JournalTopic = ctl + ".journal" // as the daemon with control.journal on
	}
	opts.Detector = detector.DefaultOptions()
	opts.Detector.Inventory = inv
	opts.Detector.Detectors = append(opts.Detector.Detectors, func(*models.Inventory) detector.Detector { return incident{} })
	// The benchmark measures latency, not the storm limits: every
	// incident must be contained.
	opts.Detector.Containment.AgentBurst, opts.Detector.Containment.LineageBurst, opts.Detector.Containment.FleetBurst = 0, 0, 0
	late := &lateWriter{}
	cons, err := ingest.New(opts, late, kgo.FetchMaxWait(10*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	var sinks sink.Multi
	if chAddr != "" {
		co := clickhouse.DefaultOptions()
		co.Addr, co.Database = chAddr, "tether_bench_"+suffix
		w, err := clickhouse.Open(ctx, co, zerolog.Nop())
		if err != nil {
			b.Fatal(err)
		}
		defer func() {
			_ = w.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+co.Database)
			w.Close()
		}()
		sinks = append(sinks, sink.InRole{W: w, Role: sink.Store})
	}
	signer, err := control.GenerateSigner()
	if err != nil {
		b.Fatal(err)
	}
	pub := control.NewPublisher(cons.Client(), ctl)
	pub.Signer = signer
	late.w = append(sinks, sink.InRole{W: pub, Role: sink.Publish})

	var mu sync.Mutex
	var res result
	var warmed atomic.Bool
	rec, err := control.NewRecorder(control.RecorderOptions{Brokers: []string{broker}, Topic: acks, Group: "bench-acks-" + suffix,
		KafkaOpts: []kgo.Opt{kgo.FetchMaxWait(10 * time.Millisecond)},
		OnAck: func(a models.CommandAck) {
			if a.Status != models.AckApplied {
				return
			}
			if a.AgentID == "bench-warm" {
				warmed.Store(true)
				return
			}
			mu.Lock()
			res.e2c = append(res.e2c, a.ReceivedAt.Sub(a.IssuedAt))
			res.c2a = append(res.c2a, a.AckedAt.Sub(a.AlertedAt))
			mu.Unlock()
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer rec.Close()
	enf, err := control.NewConsumer(control.Brokers(broker), control.Topic(ctl), control.Group("bench-enf-"+suffix),
		control.TrustKey(signer.Public()), control.AckTopic(acks), control.Track(control.NewState()),
		control.KafkaOpts(kgo.FetchMaxWait(10*time.Millisecond)))
	if err != nil {
		b.Fatal(err)
	}
	defer enf.Close()

	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); _ = cons.Run(rctx) }()
	go func() { defer wg.Done(); _ = enf.Run(rctx) }()
	go func() { defer wg.Done(); _ = rec.Run(rctx) }()
	defer func() { stop(); wg.Wait() }()

	// Warm-up: one incident must go round the loop before the load starts,
	// so that group joins are not measured.
	warm := models.Event{SchemaVersion: 1, ID: "warm-up", Kind: models.KindToolCall, ToolName: "bench.trigger", Time: time.Now().UTC(),
		AgentID: "bench-warm", SessionID: "warm-up"}
	wv, _ := json.Marshal(&warm)
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: events, Key: warm.Key(), Value: wv}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	for warmBy := time.Now().Add(2 * time.Minute); !warmed.Load(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(warmBy) {
			b.Fatal("the warm-up incident was not contained within 2 minutes")
		}
	}

	// Produce at rate for Seconds, paced every 5 ms, event time = now.
	total := rate * Seconds
	triggerEvery := rate / TriggersPerSecond
	begin := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	sent, triggers := 0, 0
	halted := map[string]bool{} // agents with an incident: halted once each
	for sent < total {
		now := <-tick.C
		due := min(total, int(float64(rate)*now.Sub(begin).Seconds()))
		for ; sent < due; sent++ {
			agent := fmt.Sprintf("bench-%d", sent%Agents)
			ev := models.Event{SchemaVersion: 1, ID: fmt.Sprintf("ev-%d", sent), Kind: models.KindReasoning, Time: time.Now().UTC(),
				AgentID: agent, SessionID: fmt.Sprintf("s-%d", sent%Agents), Content: "planning the next step"}
			if sent%triggerEvery == 0 {
				// A fresh session per incident: each is contained once.
				ev.Kind, ev.ToolName, ev.Content, ev.SessionID = models.KindToolCall, "bench.trigger", "", fmt.Sprintf("t-%d", sent)
				triggers++
				halted[agent] = true
			}
			v, _ := json.Marshal(&ev)
			prod.Produce(ctx, &kgo.Record{Topic: events, Key: ev.Key(), Value: v}, nil)
		}
	}
	res.rate = float64(sent) / time.Since(begin).Seconds()
	// Every incident suspends its session; an agent's first incident also
	// halts it: wait for their acks.
	want := triggers + len(halted)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		n := len(res.e2c)
		mu.Unlock()
		if n >= want {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d commands acknowledged within 2 minutes of the end of the load", n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	return result{e2c: slices.Clone(res.e2c), c2a: slices.Clone(res.c2a), rate: res.rate}
}

// lateWriter forwards to a writer set after the consumer is built (the
// publisher shares the consumer's Kafka client).
type lateWriter struct{ w sink.Writer }

func (l *lateWriter) Write(ctx context.Context, b *sink.Batch) error { return l.w.Write(ctx, b) }
