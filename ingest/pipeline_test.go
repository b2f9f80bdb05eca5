package ingest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// outageSink is an in-memory sink that can be slowed down and that fails
// every write from its failFrom-th on (0: never) until healed. It records
// how often each event was written and any finding id written with two
// different contents.
type outageSink struct {
	delay atomic.Int64 // per write, nanoseconds

	mu        sync.Mutex
	writes    int
	failFrom  int
	events    map[string]int
	findings  map[string]models.Finding
	commands  map[string]models.ContainmentCommand
	conflicts []string
	// orphans are commands written before a finding they name.
	orphans []string
}

func newOutageSink() *outageSink {
	return &outageSink{events: map[string]int{}, findings: map[string]models.Finding{}, commands: map[string]models.ContainmentCommand{}}
}

func (s *outageSink) Write(ctx context.Context, b *sink.Batch) error {
	if d := time.Duration(s.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.failFrom > 0 && s.writes >= s.failFrom {
		return fmt.Errorf("outage: %w", sink.ErrUnavailable)
	}
	for _, e := range b.Events {
		s.events[e.ID]++
	}
	for _, f := range b.Findings {
		if old, ok := s.findings[f.ID]; ok && !reflect.DeepEqual(old, f) {
			s.conflicts = append(s.conflicts, f.ID)
		}
		s.findings[f.ID] = f
	}
	// Stores come before the control publisher in a real chain: a
	// command's findings must be stored by the end of this write.
	for _, c := range b.Commands {
		for _, id := range c.FindingIDs {
			if _, ok := s.findings[id]; !ok {
				s.orphans = append(s.orphans, c.ID+"->"+id)
			}
		}
		s.commands[c.ID] = c
	}
	return nil
}

func (s *outageSink) heal() { s.mu.Lock(); s.failFrom = 0; s.mu.Unlock() }

func (s *outageSink) stats() (writes, events int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes, len(s.events)
}

func (s *outageSink) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events[id] > 0
}

// pipelineFixture is a topic of known records and a group reading it.
type pipelineFixture struct {
	addrs []string
	o     Options
	ids   map[int32][]string // partition -> event id at each offset
	total int
}

// produceSpread writes perPartition reasoning events from a few agents to
// each of the topic's partitions and remembers their offsets.
func produceSpread(t *testing.T, addrs []string, topic string, partitions, perPartition int) (map[int32][]string, int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	now := time.Now().UTC().Add(-time.Hour)
	var recs []*kgo.Record
	for p := range int32(partitions) {
		for i := range perPartition {
			agent := fmt.Sprintf("agent-%d-%d", p, i%7)
			id := fmt.Sprintf("e-%d-%d", p, i)
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: []byte(agent),
				Value: event(id, agent, "s-"+agent, models.KindReasoning, now.Add(time.Duration(i)*time.Millisecond))})
		}
	}
	res := cl.ProduceSync(context.Background(), recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatal(err)
	}
	ids := map[int32][]string{}
	for _, r := range res {
		p, off := r.Record.Partition, int(r.Record.Offset)
		for len(ids[p]) <= off {
			ids[p] = append(ids[p], "")
		}
		ids[p][off] = idOf(r.Record)
	}
	return ids, len(recs)
}

// idOf recovers the event id produceSpread put in a record.
func idOf(r *kgo.Record) string {
	ev, err := models.NewDecoder(models.DefaultDecodeOptions()).Decode(r.Value, r.Timestamp)
	if err != nil {
		return ""
	}
	return ev.ID
}

// commitChecker polls the group's committed offsets and checks that every
// record below them is in the sink: offsets are never committed past
// durable output. Committed offsets are read before the sink, which only
// grows, so a check never races a write.
type commitChecker struct {
	violations atomic.Int64
	first      atomic.Value // string
	checks     atomic.Int64
	maxSeen    sync.Map // partition -> committed offset
	stop       context.CancelFunc
	done       chan struct{}
}

func checkCommits(t *testing.T, f *pipelineFixture, s *outageSink) *commitChecker {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.addrs...))
	if err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithCancel(context.Background())
	cc := &commitChecker{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(cc.done)
		defer cl.Close()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			offs, err := adm.FetchOffsets(ctx, f.o.Group)
			if err != nil {
				continue
			}
			cc.checks.Add(1)
			offs.Each(func(o kadm.OffsetResponse) {
				if o.Topic != f.o.Topic || o.Err != nil {
					return
				}
				if prev, ok := cc.maxSeen.Load(o.Partition); ok && o.At < prev.(int64) {
					cc.violation(fmt.Sprintf("partition %d: commit moved back from %d to %d", o.Partition, prev, o.At))
				}
				cc.maxSeen.Store(o.Partition, o.At)
				ids := f.ids[o.Partition]
				for off := int64(0); off < o.At && off < int64(len(ids)); off++ {
					if !s.has(ids[off]) {
						cc.violation(fmt.Sprintf("partition %d committed at %d but offset %d (%s) is not in the sink", o.Partition, o.At, off, ids[off]))
						return
					}
				}
			})
		}
	}()
	t.Cleanup(cc.close)
	return cc
}

func (cc *commitChecker) violation(msg string) {
	if cc.violations.Add(1) == 1 {
		cc.first.Store(msg)
	}
}

func (cc *commitChecker) close() { cc.stop(); <-cc.done }

func (cc *commitChecker) committed() int64 {
	var n int64
	cc.maxSeen.Range(func(_, v any) bool { n += v.(int64); return true })
	return n
}

func (cc *commitChecker) verify(t *testing.T) {
	t.Helper()
	cc.close()
	if n := cc.violations.Load(); n > 0 {
		t.Fatalf("%d commit checks failed; first: %s", n, cc.first.Load())
	}
	if cc.checks.Load() == 0 {
		t.Fatal("the committed offsets were never read")
	}
}

// runOutage is TestPipelineOutageNeverCommitsPastDurable on one cluster:
// the sink fails from a write in the middle of the backlog, while batches
// are in flight; no offset is committed past durable output, Run gives up
// with ErrUncommitted after the shutdown window, and a restarted member
// with a healthy sink writes every event, each finding id with one content.
func runOutage(t *testing.T, f *pipelineFixture) {
	s := newOutageSink()
	s.delay.Store(int64(2 * time.Millisecond))
	s.failFrom = 9
	cc := checkCommits(t, f, s)
	a, err := New(f.o, s)
	if err != nil {
		t.Fatal(err)
	}
	ra := start(a)
	ra.waitFor(t, "the outage", func() bool { return a.Stats().SinkErrors >= 3 })
	ra.cancel()
	if err := <-ra.done; !errors.Is(err, ErrUncommitted) {
		t.Fatalf("Run during the outage returned %v, want ErrUncommitted", err)
	}
	a.Close()
	if _, ev := s.stats(); ev >= f.total {
		t.Fatalf("all %d events written before the outage; the test needs a longer backlog", ev)
	}

	s.heal()
	b, err := New(f.o, s)
	if err != nil {
		t.Fatal(err)
	}
	rb := start(b)
	rb.waitFor(t, "every event written and committed", func() bool {
		_, ev := s.stats()
		return ev == f.total && cc.committed() == int64(f.total)
	})
	rb.stop(t)
	b.Close()
	cc.verify(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conflicts) > 0 {
		t.Errorf("finding ids written with two contents: %v", s.conflicts)
	}
	if len(s.orphans) > 0 {
		t.Errorf("commands written before the findings they name: %v", s.orphans)
	}
	if len(s.findings) == 0 {
		t.Error("no findings written")
	}
}

func kfakeFixture(t *testing.T, depth, perPartition int) *pipelineFixture {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "tether.events", "tether.events.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	f := &pipelineFixture{addrs: c.ListenAddrs(), o: testOptions(c.ListenAddrs())}
	f.o.MaxPollRecords = 20
	f.o.PipelineDepth = depth
	f.ids, f.total = produceSpread(t, f.addrs, f.o.Topic, 3, perPartition)
	return f
}

func brokerFixture(t *testing.T, depth, perPartition int) *pipelineFixture {
	t.Helper()
	broker := testenv.Kafka(t)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	f := &pipelineFixture{addrs: []string{broker}, o: testOptions([]string{broker})}
	f.o.Group = "pipe-" + suffix
	f.o.Topic = "pipe.events." + suffix
	f.o.DeadLetterTopic = "pipe.dlq." + suffix
	f.o.StateTopic = "pipe.state." + suffix
	f.o.CheckpointEvery = 50 * time.Millisecond
	f.o.MaxPollRecords = 20
	f.o.PipelineDepth = depth
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := adm.CreateTopics(ctx, 3, 1, nil, f.o.Topic, f.o.DeadLetterTopic); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = adm.DeleteTopics(context.Background(), f.o.Topic, f.o.DeadLetterTopic, f.o.StateTopic)
	})
	f.ids, f.total = produceSpread(t, f.addrs, f.o.Topic, 3, perPartition)
	return f
}

func TestPipelineOutageNeverCommitsPastDurable(t *testing.T) {
	for _, depth := range []int{1, 2} {
		t.Run(fmt.Sprintf("kfake/depth=%d", depth), func(t *testing.T) { runOutage(t, kfakeFixture(t, depth, 120)) })
	}
	t.Run("broker/depth=2", func(t *testing.T) { runOutage(t, brokerFixture(t, 2, 120)) })
}

// TestPipelineRebalance: a second member joins while the first has batches
// in flight; the revoked partitions wait for them, so nothing is committed
// past durable output, nothing is lost, and no record is written twice
// (the new owner starts exactly where the old one committed).
func TestPipelineRebalance(t *testing.T) {
	for name, fixture := range map[string]func(*testing.T, int, int) *pipelineFixture{"kfake": kfakeFixture, "broker": brokerFixture} {
		t.Run(name, func(t *testing.T) {
			f := fixture(t, 2, 400)
			s := newOutageSink()
			s.delay.Store(int64(20 * time.Millisecond))
			cc := checkCommits(t, f, s)
			a, err := New(f.o, s)
			if err != nil {
				t.Fatal(err)
			}
			ra := start(a)
			ra.waitFor(t, "A's first batches", func() bool { return a.Stats().Durable >= 60 })
			b, err := New(f.o, s)
			if err != nil {
				t.Fatal(err)
			}
			rb := start(b)
			s.delay.Store(int64(200 * time.Millisecond)) // A's backlog outlasts B's join
			rb.waitFor(t, "B's first batch", func() bool { return b.Stats().Durable > 0 })
			s.delay.Store(0)
			ra.waitFor(t, "every event written and committed", func() bool {
				_, ev := s.stats()
				return ev == f.total && cc.committed() == int64(f.total)
			})
			ra.stop(t)
			a.Close()
			rb.stop(t)
			b.Close()
			cc.verify(t)
			s.mu.Lock()
			defer s.mu.Unlock()
			for id, n := range s.events {
				if n != 1 {
					t.Errorf("event %s written %d times", id, n)
				}
			}
			if len(s.conflicts) > 0 || len(s.orphans) > 0 {
				t.Errorf("conflicting finding ids %v; commands before their findings %v", s.conflicts, s.orphans)
			}
		})
	}
}
