package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/detector/baseline"
	"github.com/tetherhq/tether/models"
)

func toolEvent(id, agent, session, tool string, t time.Time) []byte {
	ev := models.Event{SchemaVersion: 1, ID: id, Kind: models.KindToolCall, Time: t, AgentID: agent, SessionID: session,
		ToolName: tool, Arguments: json.RawMessage(`{"id":1}`)}
	b, _ := json.Marshal(ev)
	return b
}

// warmEvents returns n calls of one tool by agent a1 (enough, from 20, to
// leave the baseline's tool warm-up), starting an hour ago.
func warmEvents(topic string, from, n int) []*kgo.Record {
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var recs []*kgo.Record
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("a1"),
			Value: toolEvent(fmt.Sprintf("w%d", i), "a1", "s1", "crm.read", base.Add(time.Duration(i)*time.Second))})
	}
	return recs
}

// newToolEvent is a first call of a tool a1 never used: a warm baseline
// reports new_tool, a cold one (in warm-up) does not.
func newToolEvent(topic string) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: []byte("a1"),
		Value: toolEvent("new-1", "a1", "s1", "shell.exec", time.Now().UTC().Add(-time.Minute))}
}

// running is a consumer running in the background.
type running struct {
	c      *Consumer
	cancel context.CancelFunc
	done   chan error
}

func start(c *Consumer) *running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{c: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	return r
}

func (r *running) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; stats %+v", what, r.c.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends Run (the consumer stays in the group until Close).
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// snapshot returns the engine snapshot of partition p (Run must be idle).
func (c *Consumer) snapshot(t *testing.T, p int32) []byte {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.engines[p]
	if !ok {
		t.Fatalf("partition %d not owned", p)
	}
	b, err := st.engine.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// latestCheckpoint reads the state topic as a restoring consumer would.
func latestCheckpoint(t *testing.T, o Options, p int32) checkpoint {
	t.Helper()
	c, err := New(o, newMemSink())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key := c.checkpointKey(p)
	vals, err := c.readCheckpoints(context.Background(), map[string]int32{key: p})
	if err != nil {
		t.Fatal(err)
	}
	v, ok := vals[key]
	if !ok {
		t.Fatalf("no checkpoint under %q", key)
	}
	ck, err := unmarshalCheckpoint(v)
	if err != nil {
		t.Fatal(err)
	}
	return ck
}

func hasKind(ms *memSink, kind string) bool {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for _, f := range ms.findings {
		if string(f.Kind) == kind {
			return true
		}
	}
	return false
}

func onePartitionCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "tether.events", "tether.events.dlq"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestCheckpointRestoreWarm: consumer A warms agent a1 up and checkpoints;
// consumer B in the same group restores the state and reports a new tool
// as a warm detector does, where a cold B stays in warm-up and does not.
func TestCheckpointRestoreWarm(t *testing.T) {
	const warmN, moreN = 30, 10
	for _, tc := range []struct {
		name string
		// A checkpoints only its first batch and is "killed": B must seek
		// back and replay the records after the checkpoint.
		killed      bool
		bStateTopic string // "" = B has checkpointing disabled (cold control)
		wantNewTool bool
	}{
		{name: "final checkpoint on revoke", bStateTopic: "tether.state", wantNewTool: true},
		{name: "killed after older checkpoint: seek back and replay", killed: true, bStateTopic: "tether.state", wantNewTool: true},
		{name: "checkpointing disabled: cold start", bStateTopic: "", wantNewTool: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := onePartitionCluster(t)
			addrs := cl.ListenAddrs()
			oA := testOptions(addrs)
			// Only A's first batch is checkpointed on the interval; the
			// second is covered by the checkpoint on revocation, unless A
			// is "killed".
			oA.CheckpointEvery = time.Hour
			events := warmEvents("tether.events", 0, warmN+moreN)
			newTool := newToolEvent("tether.events")
			produce(t, addrs, events[:warmN]...)
			msA := newMemSink()
			a, err := New(oA, msA)
			if err != nil {
				t.Fatal(err)
			}
			a.noFinalCheckpoint = tc.killed
			ra := start(a)
			ra.waitFor(t, "A's warm-up batch", func() bool {
				s := a.Stats()
				return s.Consumed == warmN && s.Commits > 0 && s.Checkpoints > 0
			})
			produce(t, addrs, events[warmN:]...)
			total := int64(warmN + moreN)
			ra.waitFor(t, "A's second batch", func() bool { return a.Stats().Durable == total && a.Stats().Commits > 1 })
			ra.stop(t)
			wantState := a.snapshot(t, 0)
			a.Close()
			if s := a.Stats(); s.ColdStarts != 1 || s.Restores != 0 {
				t.Errorf("A: %d cold starts, %d restores; want 1, 0", s.ColdStarts, s.Restores)
			}

			ck := latestCheckpoint(t, oA, 0)
			t.Logf("checkpoint: offset %d, envelope %d bytes, snapshot %d bytes (1 agent, %d events)", ck.Next, len(ck.marshal()), len(ck.State), ck.Next)
			if tc.killed {
				if ck.Next >= total {
					t.Fatalf("checkpoint at %d, want before %d", ck.Next, total)
				}
			} else if ck.Next != total || !bytes.Equal(ck.State, wantState) {
				t.Fatalf("final checkpoint at %d (want %d), state equal to A's: %v", ck.Next, total, bytes.Equal(ck.State, wantState))
			}

			oB := testOptions(addrs)
			oB.StateTopic = tc.bStateTopic
			msB := newMemSink()
			b, err := New(oB, msB)
			if err != nil {
				t.Fatal(err)
			}
			rb := start(b)
			rb.waitFor(t, "B's assignment", func() bool { s := b.Stats(); return s.Restores+s.ColdStarts > 0 || b.m.assigned.Load() > 0 })
			if tc.bStateTopic != "" {
				rb.waitFor(t, "B's restore", func() bool { return b.Stats().Restores == 1 })
				if got := b.snapshot(t, 0); !bytes.Equal(got, ck.State) {
					t.Fatalf("B's restored snapshot (%d bytes) differs from A's last checkpoint (%d bytes)", len(got), len(ck.State))
				}
			}
			produce(t, addrs, newTool)
			rb.waitFor(t, "B's batch", func() bool {
				ev, _, _ := msB.counts()
				return ev >= 1 && b.Stats().Commits > 0
			})
			rb.stop(t)
			if got := hasKind(msB, baseline.KindNewTool); got != tc.wantNewTool {
				t.Errorf("B reported new_tool: %v, want %v", got, tc.wantNewTool)
			}
			st := b.Stats()
			if tc.killed {
				if want := total - ck.Next; st.Replayed != want {
					t.Errorf("replayed %d records, want %d", st.Replayed, want)
				}
				ev, _, _ := msB.counts()
				if want := int(total-ck.Next) + 1; ev != want {
					t.Errorf("B wrote %d events, want %d (replay + new)", ev, want)
				}
				// B's state after the replay equals the checkpoint restored
				// in-process and fed exactly the records after it (engines
				// carry a random hash seed, so a fresh engine fed every
				// event would differ in its seed alone).
				ref := detector.New(oB.Detector)
				if err := ref.Restore(ck.State); err != nil {
					t.Fatal(err)
				}
				dec := models.NewDecoder(oB.Decode)
				var out detector.Output
				for _, r := range append(events[ck.Next:total:total], newTool) {
					e, err := dec.Decode(r.Value, time.Now())
					if err != nil {
						t.Fatal(err)
					}
					ref.Process(e, &out)
				}
				want, _ := ref.Snapshot()
				if got := b.snapshot(t, 0); !bytes.Equal(got, want) {
					t.Errorf("B's state after the replay differs from the checkpoint fed the same records in-process; B wrote %v", msB.order)
				}
			} else if st.Replayed != 0 {
				t.Errorf("replayed %d records, want 0", st.Replayed)
			}
			b.Close()
		})
	}
}

// TestCheckpointInvalid: an unusable checkpoint is a counted cold start,
// and the partition is still processed.
func TestCheckpointInvalid(t *testing.T) {
	snap, _ := detector.New(detector.DefaultOptions()).Snapshot()
	env := func(ck checkpoint) []byte { return ck.marshal() }
	good := checkpoint{Version: CheckpointVersion, Topic: "tether.events", Partition: 0, Next: 0, State: snap}
	for _, tc := range []struct {
		name  string
		value []byte
	}{
		{"garbage", []byte("not a checkpoint")},
		{"truncated", env(good)[:9]},
		{"envelope version", func() []byte { c := good; c.Version = 2; return env(c) }()},
		{"other partition", func() []byte { c := good; c.Partition = 2; return env(c) }()},
		{"other topic", func() []byte { c := good; c.Topic = "x"; return env(c) }()},
		{"corrupt snapshot", func() []byte { c := good; c.State = []byte(`{"version":1,"detectors":{"x":"AA=="}}`); return env(c) }()},
		{"snapshot version", func() []byte {
			c := good
			c.State = bytes.Replace(snap, fmt.Appendf(nil, `"version":%d`, detector.StateVersion), []byte(`"version":99`), 1)
			return env(c)
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "tether.events", "tether.events.dlq", "tether.state"))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			addrs := cl.ListenAddrs()
			o := testOptions(addrs)
			produce(t, addrs, &kgo.Record{Topic: o.StateTopic, Key: []byte(o.Group + "/" + o.Topic + "/0"), Value: tc.value})
			produce(t, addrs, warmEvents("tether.events", 0, 3)...)
			ms := newMemSink()
			c, err := New(o, ms)
			if err != nil {
				t.Fatal(err)
			}
			err = runUntil(t, c, func() bool { ev, _, _ := ms.counts(); return ev == 3 && c.Stats().Commits > 0 })
			if err != nil {
				t.Fatal(err)
			}
			if s := c.Stats(); s.ColdStarts != 1 || s.RestoreFailures != 1 || s.Restores != 0 {
				t.Fatalf("cold starts %d, restore failures %d, restores %d; want 1, 1, 0", s.ColdStarts, s.RestoreFailures, s.Restores)
			}
		})
	}
}

func TestCheckpointEnvelope(t *testing.T) {
	ck := checkpoint{Version: CheckpointVersion, Topic: "tether.events", Partition: 7, Next: 1 << 40, State: []byte(`{"version":1}`)}
	got, err := unmarshalCheckpoint(ck.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if got.Topic != ck.Topic || got.Partition != ck.Partition || got.Next != ck.Next || !bytes.Equal(got.State, ck.State) {
		t.Fatalf("round trip: %+v, want %+v", got, ck)
	}
	for _, b := range [][]byte{nil, []byte("TC"), []byte("TC\x01\x00\x05ab"), []byte("XX\x01\x00\x00")} {
		if _, err := unmarshalCheckpoint(b); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%q: %v, want ErrCheckpoint", b, err)
		}
	}
}

func TestCheckpointTooLargeSkipped(t *testing.T) {
	cl := onePartitionCluster(t)
	addrs := cl.ListenAddrs()
	o := testOptions(addrs)
	o.CheckpointEvery = time.Nanosecond
	o.CheckpointMaxBytes = 100 // any real snapshot is larger
	produce(t, addrs, warmEvents("tether.events", 0, 5)...)
	ms := newMemSink()
	c, err := New(o, ms)
	if err != nil {
		t.Fatal(err)
	}
	if err := runUntil(t, c, func() bool { s := c.Stats(); return s.Durable == 5 && s.Commits > 0 }); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.CheckpointsSkipped == 0 || s.Checkpoints != 0 {
		t.Fatalf("skipped %d, written %d; want >0, 0", s.CheckpointsSkipped, s.Checkpoints)
	}
}

func TestCheckpointOptionsValidate(t *testing.T) {
	for name, mut := range map[string]func(*Options){
		"state=events": func(o *Options) { o.StateTopic = o.Topic },
		"state=dlq":    func(o *Options) { o.StateTopic = o.DeadLetterTopic },
		"no max bytes": func(o *Options) { o.CheckpointMaxBytes = 0 },
		"negative":     func(o *Options) { o.CheckpointEvery = -time.Second },
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

// TestCheckpointRealBroker: against the real Kafka broker the state topic
// is created compacted, and a restarted consumer restores its checkpoint.
func TestCheckpointRealBroker(t *testing.T) {
	broker := testenv.Kafka(t)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	o := testOptions([]string{broker})
	o.Group = "ckpt-" + suffix
	o.Topic = "ckpt.events." + suffix
	o.DeadLetterTopic = "ckpt.dlq." + suffix
	o.StateTopic = "ckpt.state." + suffix
	o.CheckpointEvery = time.Nanosecond
	o.ShutdownFlushTimeout = 10 * time.Second

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopics(ctx, 2, 1, nil, o.Topic, o.DeadLetterTopic); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), o.Topic, o.DeadLetterTopic, o.StateTopic) })
	if err := cl.ProduceSync(ctx, warmEvents(o.Topic, 0, 30)...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	a, err := New(o, newMemSink())
	if err != nil {
		t.Fatal(err)
	}
	ra := start(a)
	ra.waitFor(t, "A's batch", func() bool { s := a.Stats(); return s.Durable == 30 && s.Checkpoints > 0 })
	ra.stop(t)
	a.Close()
	t.Logf("A: %d checkpoints, %d bytes", a.Stats().Checkpoints, a.Stats().CheckpointBytes)

	cfgs, err := adm.DescribeTopicConfigs(ctx, o.StateTopic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfgs.On(o.StateTopic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v", o.StateTopic, err, rc.Err)
	}
	conf := map[string]string{}
	for _, c := range rc.Configs {
		conf[c.Key] = c.MaybeValue()
	}
	if conf["cleanup.policy"] != "compact" {
		t.Errorf("state topic cleanup.policy %q, want compact", conf["cleanup.policy"])
	}
	if td, err := adm.ListTopics(ctx, o.StateTopic); err != nil || len(td[o.StateTopic].Partitions) != 2 {
		t.Errorf("state topic partitions: %v (err %v), want 2 like the events topic", td[o.StateTopic].Partitions.Numbers(), err)
	}

	ms := newMemSink()
	b, err := New(o, ms)
	if err != nil {
		t.Fatal(err)
	}
	rb := start(b)
	rb.waitFor(t, "B's restore", func() bool { s := b.Stats(); return s.Restores == 1 && s.ColdStarts == 1 })
	if err := cl.ProduceSync(ctx, newToolEvent(o.Topic)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	rb.waitFor(t, "B's new_tool finding", func() bool { return hasKind(ms, baseline.KindNewTool) })
	rb.stop(t)
	b.Close()
}

// TestCheckpointAheadOfCommit: a checkpoint past the committed position
// (the commit failed after the checkpoint was written) is restored and the
// records it already covers are skipped, not judged a second time.
func TestCheckpointAheadOfCommit(t *testing.T) {
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "tether.events", "tether.events.dlq", "tether.state"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	addrs := cl.ListenAddrs()
	o := testOptions(addrs)
	o.CheckpointEvery = time.Hour
	recs := warmEvents("tether.events", 0, 40)
	ref := detector.New(o.Detector)
	dec := models.NewDecoder(o.Decode)
	var out detector.Output
	for _, r := range recs[:30] {
		e, err := dec.Decode(r.Value, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ref.Process(e, &out)
	}
	snap, _ := ref.Snapshot()
	ck := checkpoint{Version: CheckpointVersion, Topic: o.Topic, Partition: 0, Next: 30, State: snap}
	produce(t, addrs, &kgo.Record{Topic: o.StateTopic, Key: []byte(o.Group + "/" + o.Topic + "/0"), Value: ck.marshal()})
	produce(t, addrs, recs...)
	ms := newMemSink()
	c, err := New(o, ms)
	if err != nil {
		t.Fatal(err)
	}
	c.noFinalCheckpoint = true
	if err := runUntil(t, c, func() bool { ev, _, _ := ms.counts(); return ev == 10 && c.Stats().Commits > 0 }); err != nil {
		t.Fatal(err)
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for id := range ms.events {
		var n int
		if _, err := fmt.Sscanf(id, "w%d", &n); err != nil || n < 30 {
			t.Errorf("event %s written: records before the checkpoint must be skipped", id)
		}
	}
	if s := c.Stats(); s.Restores != 1 || s.Replayed != 0 {
		t.Errorf("restores %d, replayed %d; want 1, 0", s.Restores, s.Replayed)
	}
}
