package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memSink records batches and can be told to fail.
type memSink struct {
	mu       sync.Mutex
	fail     bool
	writes   int
	events   map[string]int // event id -> times written
	order    []string       // event ids in write order
	findings map[string]models.Finding
	commands map[string]models.ContainmentCommand
}

func newMemSink() *memSink {
	return &memSink{events: map[string]int{}, findings: map[string]models.Finding{}, commands: map[string]models.ContainmentCommand{}}
}

func (s *memSink) Write(_ context.Context, b *sink.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.fail {
		return fmt.Errorf("mem: %w", sink.ErrUnavailable)
	}
	for _, e := range b.Events {
		s.events[e.ID]++
		s.order = append(s.order, e.ID)
	}
	for _, f := range b.Findings {
		s.findings[f.ID] = f
	}
	for _, c := range b.Commands {
		s.commands[c.ID] = c
	}
	return nil
}

func (s *memSink) setFail(v bool) { s.mu.Lock(); s.fail = v; s.mu.Unlock() }
func (s *memSink) counts() (events, findings, writes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events), len(s.findings), s.writes
}

func event(id, agent, session string, kind models.Kind, t time.Time) []byte {
	ev := models.Event{SchemaVersion: 1, ID: id, Kind: kind, Time: t, AgentID: agent, SessionID: session}
	if kind == models.KindToolCall {
		ev.ToolName = "crm.read"
		ev.Arguments = json.RawMessage(`{"id":1}`)
	}
	b, _ := json.Marshal(ev)
	return b
}

func newCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "tether.events", "tether.events.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func produce(t *testing.T, addrs []string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic("tether.events"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func testOptions(addrs []string) Options {
	o := DefaultOptions()
	o.Brokers = addrs
	o.RetryBackoff = 10 * time.Millisecond
	o.MaxRetryBackoff = 50 * time.Millisecond
	o.ShutdownFlushTimeout = 2 * time.Second
	return o
}

// runUntil runs a consumer until cond holds (or the deadline passes), then
// stops it gracefully and returns Run's error.
func runUntil(t *testing.T, c *Consumer, cond func() bool) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	err := <-done
	c.Close()
	if !cond() {
		t.Fatalf("condition not reached before deadline; stats %+v", c.Stats())
	}
	return err
}

func readAll(t *testing.T, addrs []string, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(out) < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func TestConsumerProcessesAndDeadLetters(t *testing.T) {
	c := newCluster(t)
	now := time.Now().UTC()
	good := []*kgo.Record{
		{Key: []byte("a1"), Value: event("e1", "a1", "s1", models.KindSessionStart, now)},
		{Key: []byte("a1"), Value: event("e2", "a1", "s1", models.KindToolCall, now.Add(time.Second))},
		{Key: []byte("a2"), Value: event("e3", "a2", "s2", models.KindReasoning, now)},
	}
	bad := []struct {
		value []byte
		class string
	}{
		{[]byte(`{not json`), "malformed"},
		{[]byte(`{"schema_version":9,"event_id":"x","kind":"tool_call"}`), "unsupported_version"},
		{[]byte(`{"schema_version":1,"event_id":"x","kind":"tool_call","time":"2026-01-01T00:00:00Z","gen_ai.conversation.id":"s"}`), "missing_field"},
		{event("e9", "a3", "s3", "teleport", now), "unknown_kind"},
		{event("e10", "a3", "s3", models.KindReasoning, now.Add(48*time.Hour)), "clock_skew"},
	}
	recs := append([]*kgo.Record{}, good...)
	for _, b := range bad {
		recs = append(recs, &kgo.Record{Key: []byte("bad"), Value: b.value, Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("test")}}})
	}
	produce(t, c.ListenAddrs(), recs...)

	ms := newMemSink()
	cons, err := New(testOptions(c.ListenAddrs()), ms)
	if err != nil {
		t.Fatal(err)
	}
	err = runUntil(t, cons, func() bool { s := cons.Stats(); return s.Consumed == int64(len(recs)) && s.Commits > 0 })
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := cons.Stats()
	if st.DeadLettered != int64(len(bad)) {
		t.Errorf("dead-lettered %d, want %d", st.DeadLettered, len(bad))
	}
	if ev, f, _ := ms.counts(); ev != len(good) || f < 2 {
		t.Errorf("sink got %d events and %d findings, want %d events and an unregistered-agent finding per agent", ev, f, len(good))
	}
	expo, err := testutil.CollectAndFormat(cons.Metrics(), expfmt.TypeTextPlain,
		"tether_detector_evictions_total", "tether_containment_commands_held_total", "tether_containment_rate_limit", "tether_detector_memory_budget_bytes", "tether_detector_memory_used_bytes")
	if err != nil {
		t.Fatal(err)
	}
	prom := string(expo)
	for _, want := range []string{`tether_detector_evictions_total{detector="identity"} 0`, `tether_detector_evictions_total{detector="containment"} 0`,
		"tether_containment_commands_held_total 0", `tether_containment_rate_limit{kind="burst",scope="fleet"} 200`, "tether_detector_memory_budget_bytes ", "tether_detector_memory_used_bytes "} {
		if !strings.Contains(prom, want) {
			t.Errorf("metrics lack %q in\n%s", want, prom)
		}
	}
	dl := readAll(t, c.ListenAddrs(), "tether.events.dlq", len(bad))
	if len(dl) != len(bad) {
		t.Fatalf("read %d dead letters, want %d", len(dl), len(bad))
	}
	byValue := map[string]*kgo.Record{}
	for _, r := range dl {
		byValue[string(r.Value)] = r
	}
	for _, b := range bad {
		r, ok := byValue[string(b.value)]
		if !ok {
			t.Errorf("dead letter for %q missing or altered", b.value)
			continue
		}
		h := map[string]string{}
		for _, kv := range r.Headers {
			h[kv.Key] = string(kv.Value)
		}
		if h[HeaderReasonClass] != b.class {
			t.Errorf("%q: class %q, want %q (reason %q)", b.value, h[HeaderReasonClass], b.class, h[HeaderReason])
		}
		if h[HeaderReason] == "" || h[HeaderSourceTopic] != "tether.events" || h[HeaderSourceOffset] == "" || h["origin"] != "test" {
			t.Errorf("%q: incomplete headers %v", b.value, h)
		}
	}
}

// TestSinkOutageStopsCommits: while the sink fails nothing is committed; a
// new consumer in the same group then gets every record again.
func TestSinkOutageStopsCommits(t *testing.T) {
	c := newCluster(t)
	now := time.Now().UTC()
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, &kgo.Record{Key: []byte("a1"), Value: event(fmt.Sprintf("e%d", i), "a1", "s1", models.KindReasoning, now.Add(time.Duration(i)*time.Second))})
	}
	produce(t, c.ListenAddrs(), recs...)

	failing := newMemSink()
	failing.setFail(true)
	cons, err := New(testOptions(c.ListenAddrs()), failing)
	if err != nil {
		t.Fatal(err)
	}
	err = runUntil(t, cons, func() bool { _, _, w := failing.counts(); return w >= 3 })
	if !errors.Is(err, ErrUncommitted) {
		t.Fatalf("Run returned %v, want ErrUncommitted", err)
	}
	if st := cons.Stats(); st.Commits != 0 || st.SinkErrors < 3 {
		t.Fatalf("stats %+v: want no commits and repeated sink errors", st)
	}

	healthy := newMemSink()
	cons2, err := New(testOptions(c.ListenAddrs()), healthy)
	if err != nil {
		t.Fatal(err)
	}
	if err := runUntil(t, cons2, func() bool { ev, _, _ := healthy.counts(); return ev == len(recs) }); err != nil {
		t.Fatal(err)
	}
}

// TestRestartNoDuplicates: a replay after a restart yields the same finding
// ids, so an idempotent sink holds each finding once.
func TestRestartNoDuplicates(t *testing.T) {
	c := newCluster(t)
	now := time.Now().UTC()
	var recs []*kgo.Record
	for i := range 10 {
		a := fmt.Sprintf("agent-%d", i%3)
		recs = append(recs, &kgo.Record{Key: []byte(a), Value: event(fmt.Sprintf("e%d", i), a, "s-"+a, models.KindReasoning, now.Add(time.Duration(i)*time.Second))})
	}
	produce(t, c.ListenAddrs(), recs...)
	ms := newMemSink()
	// two consumers in different groups read everything: the same ids result
	for _, group := range []string{"g1", "g2"} {
		o := testOptions(c.ListenAddrs())
		o.Group = group
		cons, err := New(o, ms)
		if err != nil {
			t.Fatal(err)
		}
		if err := runUntil(t, cons, func() bool { return cons.Stats().Consumed == int64(len(recs)) && cons.Stats().Commits > 0 }); err != nil {
			t.Fatal(err)
		}
	}
	if _, f, _ := ms.counts(); f != 3 {
		t.Fatalf("%d distinct findings after replay, want 3 (one unregistered-agent finding per agent)", f)
	}
}

func TestOptionsValidate(t *testing.T) {
	for name, mut := range map[string]func(*Options){
		"no brokers": func(o *Options) { o.Brokers = nil },
		"no group":   func(o *Options) { o.Group = "" },
		"no topic":   func(o *Options) { o.Topic = "" },
		"dlq=topic":  func(o *Options) { o.DeadLetterTopic = o.Topic },
		"no batch":   func(o *Options) { o.MaxPollRecords = 0 },
		"depth -1":   func(o *Options) { o.PipelineDepth = -1 },
		"depth 3":    func(o *Options) { o.PipelineDepth = MaxPipelineDepth + 1 },
	} {
		t.Run(name, func(t *testing.T) {
			o := DefaultOptions()
			mut(&o)
			if _, err := New(o, newMemSink()); !errors.Is(err, ErrConfig) {
				t.Fatalf("got %v, want ErrConfig", err)
			}
		})
	}
}

// TestDeadLetterTruncatesOversized: an oversized record is dead-lettered
// with its value cut to DeadLetterMaxBytes (so the broker accepts it) and
// headers giving the original size and digest; small records are copied
// byte for byte.
func TestDeadLetterTruncatesOversized(t *testing.T) {
	o := DefaultOptions()
	o.DeadLetterMaxBytes = 1024
	c := &Consumer{opts: o, m: NewMetrics()}
	dec := models.NewDecoder(models.DecodeOptions{MaxBytes: 2048})
	tests := []struct {
		name      string
		size      int
		truncated bool
	}{
		{"small", 100, false},
		{"at limit", 1024, false},
		{"oversized", 1 << 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			value := make([]byte, tt.size)
			for i := range value {
				value[i] = 'x'
			}
			_, err := dec.Decode(value, time.Time{})
			if err == nil {
				t.Fatal("decode accepted garbage")
			}
			r := &kgo.Record{Topic: "t", Partition: 1, Offset: 7, Value: value, Key: []byte("k")}
			dl := c.deadLetter(r, err)
			h := map[string]string{}
			for _, kv := range dl.Headers {
				h[kv.Key] = string(kv.Value)
			}
			if tt.truncated {
				if len(dl.Value) != o.DeadLetterMaxBytes || h[HeaderTruncated] != "true" || h[HeaderOriginalBytes] != fmt.Sprint(tt.size) || len(h[HeaderOriginalSHA256]) != 64 {
					t.Fatalf("oversized dead letter: %d bytes, headers %v", len(dl.Value), h)
				}
				if h[HeaderReasonClass] != "oversized" {
					t.Errorf("class %q, want oversized", h[HeaderReasonClass])
				}
				return
			}
			if len(dl.Value) != tt.size || h[HeaderTruncated] != "" {
				t.Fatalf("small dead letter altered: %d bytes, headers %v", len(dl.Value), h)
			}
		})
	}
}
