package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/detector/containment"
	"github.com/tetherhq/tether/ingest"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/control"
)

// severeEverywhere raises one severe finding on every event: a storm.
type severeEverywhere struct{}

func (severeEverywhere) Name() string { return "storm" }

func (severeEverywhere) Observe(_ *models.Event, _ *models.AgentSpec, emit detector.Emit) {
	emit(models.Finding{Kind: "storm", Severity: 75, Confidence: 1, Explanation: "test storm"})
}

// findingKinds is a sink that counts findings by kind.
type findingKinds struct {
	mu sync.Mutex
	n  map[string]int
}

func (f *findingKinds) Write(_ context.Context, b *sink.Batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, x := range b.Findings {
		f.n[x.Kind]++
	}
	return nil
}

func (f *findingKinds) get(k string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n[k]
}

// TestStormOnRealBroker: 100,000 severe findings from 100,000 distinct
// agents within one minute of event time, through the real pipeline and
// broker, yield at most the configured fleet burst of commands per
// partition on the control topic; the rest are held back, counted, and
// summarised, and the circuit breaker trips with a finding of its own.
func TestStormOnRealBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short")
	}
	broker := testenv.Kafka(t)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	events, control1, dlq := "storm.events."+suffix, "storm.control."+suffix, "storm.dlq."+suffix
	const partitions, storm = 3, 100_000
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	testenv.CreateTopics(t, broker, partitions, nil, events, control1, dlq)
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		_, _ = adm.DeleteTopics(dctx, events, control1, dlq)
	})

	base := time.Now().UTC().Add(-2 * time.Minute).Truncate(time.Second)
	recs := make([]*kgo.Record, 0, storm)
	for i := range storm {
		ev := models.Event{SchemaVersion: 1, ID: fmt.Sprintf("e%d", i), Kind: models.KindSessionStart,
			Time:    base.Add(time.Duration(i) * 50 * time.Microsecond), // 5 s of event time
			AgentID: fmt.Sprintf("storm-agent-%d", i), SessionID: fmt.Sprintf("s%d", i)}
		b, _ := json.Marshal(ev)
		recs = append(recs, &kgo.Record{Topic: events, Key: ev.Key(), Value: b})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	opts := ingest.DefaultOptions()
	opts.Brokers, opts.Group, opts.Topic, opts.DeadLetterTopic, opts.StateTopic = []string{broker}, "storm-"+suffix, events, dlq, ""
	opts.Detector = detector.Options{
		Detectors:   []detector.Factory{func(*models.Inventory) detector.Detector { return severeEverywhere{} }},
		Containment: containment.DefaultOptions(),
	}
	opts.Detector.Containment.Breaker = containment.NewBreaker()
	kinds := &findingKinds{n: map[string]int{}}
	late := &lateWriter{}
	cons, err := ingest.New(opts, late)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := control.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	pub := control.NewPublisher(cons.Client(), control1)
	pub.Signer = signer
	late.w = sink.Multi{kinds, pub}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cons.Run(rctx) }()
	deadline := time.Now().Add(3 * time.Minute)
	for cons.Stats().Durable < storm {
		if time.Now().After(deadline) {
			stop()
			<-done
			t.Fatalf("consumed %d of %d events in 3 minutes", cons.Stats().Durable, storm)
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cons.Close()

	o := opts.Detector.Containment
	published := len(readTopicAll(t, broker, control1))
	// Every finding would have been a command (a suspension of an
	// unregistered intern at 75): 100,000 decisions.
	if max := partitions * o.FleetBurst; published > max || published == 0 {
		t.Fatalf("%d commands published for %d severe findings, want 1..%d (fleet burst %d × %d partitions, 5 s of event time)", published, storm, max, o.FleetBurst, partitions)
	}
	if kinds.get("storm") != storm {
		t.Errorf("%d storm findings written, want %d (findings are never held back)", kinds.get("storm"), storm)
	}
	if !o.Breaker.Tripped() || kinds.get(containment.KindBreakerTripped) < 1 {
		t.Errorf("breaker tripped %v, %d breaker findings: a storm of %d must trip it (at %d held)", o.Breaker.Tripped(), kinds.get(containment.KindBreakerTripped), storm, o.BreakerHeld)
	}
	t.Logf("%d severe findings → %d commands published; breaker findings %d", storm, published, kinds.get(containment.KindBreakerTripped))
}

// readTopicAll reads topic to its end offsets.
func readTopicAll(t *testing.T, broker, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	var out []*kgo.Record
	for int64(len(out)) < want && ctx.Err() == nil {
		out = append(out, cl.PollFetches(ctx).Records()...)
	}
	return out
}
