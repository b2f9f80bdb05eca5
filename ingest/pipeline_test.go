package ingest

import (
	"context"
	"errors"
	"fmt"
	"maps"
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
	// commandDelay is added to each write that carries commands (the
	// urgent part), failCommands fails that many of them first.
	commandDelay, failCommands atomic.Int64

	mu       sync.Mutex
	writes   int
	failFrom int
	events   map[string]int
	findings map[string]models.Finding
	commands map[string]models.ContainmentCommand
	// published are the commands of sink.PhasePublish writes (the
	// publishers' share once the journal holds their findings); the other
	// maps are the stores'.
	published map[string]models.ContainmentCommand
	// storeDown fails every write but sink.PhasePublish ones.
	storeDown bool
	conflicts []string
	// orphans are commands written before a finding they name.
	orphans []string
}

func newOutageSink() *outageSink {
	return &outageSink{events: map[string]int{}, findings: map[string]models.Finding{}, commands: map[string]models.ContainmentCommand{},
		published: map[string]models.ContainmentCommand{}}
}

func (s *outageSink) Write(ctx context.Context, b *sink.Batch) error {
	d := time.Duration(s.delay.Load())
	if len(b.Commands) > 0 {
		d += time.Duration(s.commandDelay.Load())
		if s.failCommands.Add(-1) >= 0 {
			return fmt.Errorf("urgent outage: %w", sink.ErrUnavailable)
		}
	}
	if d > 0 {
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
	if sink.PhaseOf(ctx) == sink.PhasePublish {
		for _, c := range b.Commands {
			s.published[c.ID] = c
		}
		return nil
	}
	if s.storeDown {
		return fmt.Errorf("stores down: %w", sink.ErrUnavailable)
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

// commanded reports whether a command for agent was written.
func (s *outageSink) commanded(agent string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.commands {
		if c.AgentID == agent {
			return true
		}
	}
	return false
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

// spreadAgents is how many agents produceSpread's events of one partition
// come from, in turn: offsets 0..spreadAgents-1 are their first events.
const spreadAgents = 7

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
			agent := fmt.Sprintf("agent-%d-%d", p, i%spreadAgents)
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
				// The first event of each (unregistered) agent raises a
				// review command: it must be published before its
				// record is committed.
				for i := int64(0); i < min(o.At, spreadAgents); i++ {
					if agent := fmt.Sprintf("agent-%d-%d", o.Partition, i); !s.commanded(agent) {
						cc.violation(fmt.Sprintf("partition %d committed at %d before the command for %s was published", o.Partition, o.At, agent))
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
	testenv.CreateTopics(t, broker, 3, nil, f.o.Topic, f.o.DeadLetterTopic)
	t.Cleanup(func() {
		_, _ = adm.DeleteTopics(context.Background(), f.o.StateTopic, f.o.Topic+".journal", f.o.Topic+".empty")
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

// TestPipelineCommandsBeforeCommit: containment commands are published by
// the urgent writer apart from the bulk writes; while those writes are slow
// and the first fails (the writer then retries it before the rest of its
// batch), no offset is committed before the commands of the records below
// it are published (checkCommits), and every command is published once
// its findings are stored.
func TestPipelineCommandsBeforeCommit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fixture func(*testing.T, int, int) *pipelineFixture
		journal bool
	}{{"kfake", kfakeFixture, false}, {"kfake/journal", kfakeFixture, true}, {"broker", brokerFixture, false}, {"broker/journal", brokerFixture, true}} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.fixture(t, DefaultPipelineDepth, 150)
			if tc.journal {
				// Commands are published once the journal holds their
				// findings; the stores must still have both before the
				// records are committed (checkCommits reads the stores).
				f.o.JournalTopic = f.o.Topic + ".journal"
			}
			s := newOutageSink()
			s.delay.Store(int64(5 * time.Millisecond))
			s.commandDelay.Store(int64(150 * time.Millisecond))
			s.failCommands.Store(1)
			cc := checkCommits(t, f, s)
			a, err := New(f.o, s)
			if err != nil {
				t.Fatal(err)
			}
			r := start(a)
			r.waitFor(t, "every event written and committed", func() bool {
				_, ev := s.stats()
				return ev == f.total && cc.committed() == int64(f.total)
			})
			r.stop(t)
			a.Close()
			cc.verify(t)
			for p := range 3 {
				for i := range spreadAgents {
					if agent := fmt.Sprintf("agent-%d-%d", p, i); !s.commanded(agent) {
						t.Errorf("no command for %s", agent)
					}
				}
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.orphans) > 0 || len(s.conflicts) > 0 {
				t.Errorf("commands before their findings %v; conflicting finding ids %v", s.orphans, s.conflicts)
			}
			st := a.Stats()
			if n := sampleCount(t, a.Metrics().commandLatency); n == 0 || st.Commands == 0 {
				t.Errorf("event-to-command histogram holds %d samples for %d commands", n, st.Commands)
			}
		})
	}
}

// TestGroupMerge: the writer's group holds its batches' output in poll
// order and commits, per partition, the offset of the last batch holding
// that partition; urgent parts already published are not written again.
func TestGroupMerge(t *testing.T) {
	ev := func(id string) *models.Event { return &models.Event{ID: id} }
	cmd := func(id string) models.ContainmentCommand { return models.ContainmentCommand{ID: id} }
	b1 := newBatchWork()
	b1.bulk.Events = []*models.Event{ev("a"), ev("b")}
	b1.commit[0] = kgo.EpochOffset{Epoch: 1, Offset: 10}
	b1.commit[1] = kgo.EpochOffset{Epoch: 1, Offset: 5}
	b1.urgent.Commands, b1.urgentDone = []models.ContainmentCommand{cmd("c1")}, true
	b2 := newBatchWork()
	b2.bulk.Events = []*models.Event{ev("c")}
	b2.bulk.Findings = []models.Finding{{ID: "f2"}}
	b2.commit[0] = kgo.EpochOffset{Epoch: 2, Offset: 12}
	b2.urgent.Findings, b2.urgent.Commands = []models.Finding{{ID: "f3"}}, []models.ContainmentCommand{cmd("c2")}
	b2.dlq = []*kgo.Record{{Offset: 11}}
	b2.ckpts = []*pendingCheckpoint{{p: 0, next: 12}}

	tests := []struct {
		name        string
		batches     []*batchWork
		events      []string
		commit      map[int32]kgo.EpochOffset
		dlq, ckpts  int
		urgent      []string // commands still to write
		wantPending bool
	}{
		{"one batch, urgent published", []*batchWork{b1}, []string{"a", "b"},
			map[int32]kgo.EpochOffset{0: {Epoch: 1, Offset: 10}, 1: {Epoch: 1, Offset: 5}}, 0, 0, nil, false},
		{"two batches", []*batchWork{b1, b2}, []string{"a", "b", "c"},
			map[int32]kgo.EpochOffset{0: {Epoch: 2, Offset: 12}, 1: {Epoch: 1, Offset: 5}}, 1, 1, []string{"c2"}, true},
	}
	var g group
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g.merge(tc.batches)
			var ids []string
			for _, e := range g.bulk.Events {
				ids = append(ids, e.ID)
			}
			if !reflect.DeepEqual(ids, tc.events) {
				t.Errorf("events %v, want %v", ids, tc.events)
			}
			if !reflect.DeepEqual(g.commit, tc.commit) {
				t.Errorf("commit %v, want %v", g.commit, tc.commit)
			}
			if len(g.dlq) != tc.dlq || len(g.ckpts) != tc.ckpts {
				t.Errorf("%d dead letters, %d checkpoints; want %d, %d", len(g.dlq), len(g.ckpts), tc.dlq, tc.ckpts)
			}
			if got := g.pendingUrgent(); got != tc.wantPending {
				t.Fatalf("pendingUrgent %v, want %v", got, tc.wantPending)
			}
			var cmds []string
			for _, c := range g.urgent.Commands {
				cmds = append(cmds, c.ID)
			}
			if !reflect.DeepEqual(cmds, tc.urgent) {
				t.Errorf("urgent commands %v, want %v", cmds, tc.urgent)
			}
		})
	}
}

// TestPipelineRecordBudget: the judging side gets room for at most
// budget records judged and not yet durable; it waits while the budget is
// spent, resumes when a batch is released, and gives up when its context
// ends or the pipeline fails.
func TestPipelineRecordBudget(t *testing.T) {
	p := &pipeline{budget: 30, write: newQueue(), urgent: newQueue(), failed: make(chan struct{}), room: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	ctx := context.Background()
	steps := []struct {
		polled, want int
	}{{20, 20}, {8, 10}, {2, 2}}
	var held []*batchWork
	for i, s := range steps {
		bw, n, ok := p.acquire(ctx, 20)
		if !ok || n != s.want {
			t.Fatalf("step %d: acquire gave room for %d (ok %v), want %d", i, n, ok, s.want)
		}
		bw.polled = s.polled
		bw.urgentDone = true
		p.submit(bw)
		held = append(held, bw)
	}
	// The budget is spent: acquire waits until a batch is released.
	got := make(chan int, 1)
	go func() {
		_, n, _ := p.acquire(ctx, 20)
		got <- n
	}()
	select {
	case n := <-got:
		t.Fatalf("acquire returned room for %d with the budget spent", n)
	case <-time.After(50 * time.Millisecond):
	}
	p.write.takeAll(nil)
	p.release(held[:1])
	if n := <-got; n != 20 {
		t.Errorf("after releasing 20 records: room for %d, want 20", n)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	p.records = p.budget
	if _, _, ok := p.acquire(cctx, 20); ok {
		t.Error("acquire succeeded after its context ended with the budget spent")
	}
	p.fail(errors.New("writer failed"))
	if _, _, ok := p.acquire(ctx, 20); ok {
		t.Error("acquire succeeded after the pipeline failed")
	}
}

// TestJournalRecovery: with the stores down, commands are still published
// once the journal holds their findings; the member stops without
// committing (ErrUncommitted). The next member on the same journal — on
// an empty events topic, so no replay could raise the findings again —
// writes every published command and its findings to the stores before it
// consumes, and tombstones them: a third start recovers nothing.
func TestJournalRecovery(t *testing.T) {
	for name, fixture := range map[string]func(*testing.T, int, int) *pipelineFixture{"kfake": kfakeFixture, "broker": brokerFixture} {
		t.Run(name, func(t *testing.T) {
			f := fixture(t, MaxPipelineDepth, 60) // the budget holds every record: all agents are judged
			f.o.JournalTopic = f.o.Topic + ".journal"
			down := newOutageSink()
			down.storeDown = true
			a, err := New(f.o, down)
			if err != nil {
				t.Fatal(err)
			}
			ra := start(a)
			ra.waitFor(t, "every agent's command published", func() bool {
				down.mu.Lock()
				defer down.mu.Unlock()
				return len(down.published) == 3*spreadAgents
			})
			ra.cancel()
			if err := <-ra.done; !errors.Is(err, ErrUncommitted) {
				t.Fatalf("Run with the stores down returned %v, want ErrUncommitted", err)
			}
			a.Close()
			down.mu.Lock()
			published := maps.Clone(down.published)
			stored := len(down.commands) + len(down.findings)
			down.mu.Unlock()
			if stored != 0 {
				t.Fatalf("%d rows reached the stores that were down", stored)
			}

			o := f.o
			o.Topic = f.o.Topic + ".empty" // nothing to replay
			o.Group = f.o.Group + "-recovery"
			o.StateTopic = ""
			for i, want := range []int{len(published), 0} {
				s := newOutageSink()
				b, err := New(o, s)
				if err != nil {
					t.Fatal(err)
				}
				rb := start(b)
				rb.waitFor(t, "the journal read at start-up", func() bool { return b.Metrics().running.Load() })
				rb.stop(t)
				b.Close()
				if got := b.Metrics().journalRecovered.Load(); got != int64(want) || b.Metrics().journalRecoveryFailures.Load() != 0 {
					t.Fatalf("start %d: recovered %d commands (failures %d), want %d", i+2, got, b.Metrics().journalRecoveryFailures.Load(), want)
				}
				if want == 0 {
					continue
				}
				s.mu.Lock()
				for id, c := range published {
					if _, ok := s.commands[id]; !ok {
						t.Errorf("published command %s not stored after recovery", id)
					}
					for _, fid := range c.FindingIDs {
						if _, ok := s.findings[fid]; !ok {
							t.Errorf("finding %s of published command %s not stored after recovery", fid, id)
						}
					}
				}
				if len(s.orphans) > 0 || len(s.conflicts) > 0 {
					t.Errorf("commands before their findings %v; conflicting ids %v", s.orphans, s.conflicts)
				}
				s.mu.Unlock()
			}
		})
	}
}
