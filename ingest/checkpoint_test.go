package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

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
	deadline := time.Now().Add(60 * time.Second) // a cap, not a timing assertion: -race on a busy machine is slow
	for !cond() {
		if time.Now().After(deadline) {
			rd := r.c.Metrics().Readiness(time.Now())
			t.Fatalf("timed out waiting for %s; last sink error %q, readiness %v; stats %+v", what, rd.SinkError, rd.Reasons, r.c.Stats())
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

// latestCheckpoint reads the state topic as a restoring consumer would
// and returns partition p's latest manifest and its verified snapshot.
func latestCheckpoint(t *testing.T, o Options, p int32) (manifest, []byte) {
	t.Helper()
	c, err := New(o, newMemSink())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	scans, err := c.readCheckpoints(context.Background(), []int32{p})
	if err != nil {
		t.Fatal(err)
	}
	sc, ok := scans[p]
	if !ok || sc.manifest == nil {
		t.Fatalf("no checkpoint for partition %d", p)
	}
	m, err := unmarshalManifest(sc.manifest)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := assemble(&m, sc)
	if err != nil {
		t.Fatal(err)
	}
	return m, snap
}

// checkpointRecords encodes snap as a complete checkpoint generation of
// partition p (chunks, then the manifest last) as the consumer writes it.
func checkpointRecords(t testing.TB, o Options, p int32, next int64, gen uint64, slot uint8, snap []byte, present int) []*kgo.Record {
	t.Helper()
	prefix := o.Group + "/" + o.Topic + "/" + fmt.Sprint(p)
	chunks, man, err := encodeCheckpoint(o.StateTopic, prefix, o.Topic, p, next, gen, slot, snap, o.CheckpointMaxBytes, present, 0)
	if err != nil {
		t.Fatal(err)
	}
	return append(chunks, man)
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
		chunkBytes  int // CheckpointMaxBytes; 0: the default (one chunk)
	}{
		{name: "final checkpoint on revoke", bStateTopic: "tether.state", wantNewTool: true},
		{name: "final checkpoint on revoke, 2 KiB chunks", bStateTopic: "tether.state", wantNewTool: true, chunkBytes: 2 << 10},
		{name: "killed after older checkpoint: seek back and replay", killed: true, bStateTopic: "tether.state", wantNewTool: true},
		{name: "killed after older checkpoint, 2 KiB chunks", killed: true, bStateTopic: "tether.state", wantNewTool: true, chunkBytes: 2 << 10},
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
			if tc.chunkBytes > 0 {
				oA.CheckpointMaxBytes = tc.chunkBytes
			}
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

			ck, ckState := latestCheckpoint(t, oA, 0)
			t.Logf("checkpoint: offset %d, %d chunks, snapshot %d bytes (1 agent, %d events)", ck.Next, len(ck.Hashes), len(ckState), ck.Next)
			if tc.killed {
				if ck.Next >= total {
					t.Fatalf("checkpoint at %d, want before %d", ck.Next, total)
				}
			} else if ck.Next != total || !bytes.Equal(ckState, wantState) {
				t.Fatalf("final checkpoint at %d (want %d), state equal to A's: %v", ck.Next, total, bytes.Equal(ckState, wantState))
			}

			if tc.chunkBytes > 0 && len(ck.Hashes) < 2 {
				t.Fatalf("%d chunks of %d bytes for a %d-byte snapshot", len(ck.Hashes), tc.chunkBytes, len(ckState))
			}
			oB := testOptions(addrs)
			oB.StateTopic = tc.bStateTopic
			oB.CheckpointMaxBytes = oA.CheckpointMaxBytes
			msB := newMemSink()
			b, err := New(oB, msB)
			if err != nil {
				t.Fatal(err)
			}
			rb := start(b)
			rb.waitFor(t, "B's assignment", func() bool { s := b.Stats(); return s.Restores+s.ColdStarts > 0 || b.m.assigned.Load() > 0 })
			if tc.bStateTopic != "" {
				rb.waitFor(t, "B's restore", func() bool { return b.Stats().Restores == 1 })
				if got := b.snapshot(t, 0); !bytes.Equal(got, ckState) {
					t.Fatalf("B's restored snapshot (%d bytes) differs from A's last checkpoint (%d bytes)", len(got), len(ckState))
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
				if err := ref.Restore(ckState); err != nil {
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
	o0 := testOptions(nil)
	o0.CheckpointMaxBytes = 4 << 10
	snap, _ := detector.New(detector.DefaultOptions()).Snapshot()
	good := func(mut func(m *manifest)) []*kgo.Record {
		recs := checkpointRecords(t, o0, 0, 0, 7, 0, snap, 0)
		if mut != nil {
			man := recs[len(recs)-1]
			m, err := unmarshalManifest(man.Value)
			if err != nil {
				t.Fatal(err)
			}
			mut(&m)
			man.Value = m.marshal()
		}
		return recs
	}
	withSnap := func(s []byte) []*kgo.Record { return checkpointRecords(t, o0, 0, 0, 7, 0, s, 0) }
	manifestOnly := func(v []byte) []*kgo.Record {
		return []*kgo.Record{{Topic: o0.StateTopic, Key: []byte(o0.Group + "/" + o0.Topic + "/0"), Value: v}}
	}
	if n := len(good(nil)) - 1; n < 2 {
		t.Fatalf("test needs a snapshot of several chunks, got %d", n)
	}
	v1 := append([]byte("TC\x01\x00\x0dtether.events\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), snap...)
	for _, tc := range []struct {
		name string
		recs []*kgo.Record
	}{
		{"garbage manifest", manifestOnly([]byte("not a checkpoint"))},
		{"version 1 checkpoint", manifestOnly(v1)},
		{"truncated manifest", func() []*kgo.Record {
			r := good(nil)
			r[len(r)-1].Value = r[len(r)-1].Value[:20]
			return r
		}()},
		{"manifest version", good(func(m *manifest) { m.Version = 3 })},
		{"other partition", good(func(m *manifest) { m.Partition = 2 })},
		{"other topic", good(func(m *manifest) { m.Topic = "x" })},
		{"other slot", good(func(m *manifest) { m.Slot = 1 })},
		{"missing chunk", func() []*kgo.Record { r := good(nil); return append(r[:1], r[2:]...) }()},
		{"other generation", good(func(m *manifest) { m.Gen = 8 })},
		{"hash mismatch", func() []*kgo.Record {
			r := good(nil)
			r[1].Value = append([]byte(nil), r[1].Value...)
			r[1].Value[chunkHeader] ^= 1
			return r
		}()},
		{"size mismatch", good(func(m *manifest) { m.Size-- })},
		{"corrupt snapshot", withSnap(append(append([]byte(nil), snap[:len(snap)/2]...), "garbage"...))},
		{"snapshot version", withSnap(append([]byte{snap[0], snap[1], 99}, snap[3:]...))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "tether.events", "tether.events.dlq", "tether.state"))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			addrs := cl.ListenAddrs()
			o := testOptions(addrs)
			produce(t, addrs, tc.recs...)
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

// TestCheckpointEncoding: manifests and chunks round-trip, bad input is
// ErrCheckpoint, and a snapshot split and reassembled is byte-identical.
func TestCheckpointEncoding(t *testing.T) {
	m := manifest{Version: CheckpointVersion, Topic: "tether.events", Partition: 7, Next: 1 << 40, Gen: 42, Slot: 1, Size: 3,
		Hashes: [][32]byte{{1}, {2}}}
	got, err := unmarshalManifest(m.marshal())
	if err != nil {
		t.Fatal(err)
	}
	if got.Topic != m.Topic || got.Partition != m.Partition || got.Next != m.Next || got.Gen != m.Gen || got.Slot != m.Slot ||
		got.Size != m.Size || len(got.Hashes) != 2 || got.Hashes[1] != m.Hashes[1] {
		t.Fatalf("round trip: %+v, want %+v", got, m)
	}
	for _, b := range [][]byte{nil, []byte("TM"), []byte("TM\x02\x00\x05ab"), []byte("XX\x02\x00\x00"), m.marshal()[:40]} {
		if _, err := unmarshalManifest(b); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("manifest %q: %v, want ErrCheckpoint", b, err)
		}
	}
	for _, b := range [][]byte{nil, []byte("TK\x02"), []byte("TK\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")} {
		if _, _, _, err := unmarshalChunk(b); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("chunk %q: %v, want ErrCheckpoint", b, err)
		}
	}
	o := testOptions(nil)
	for _, tc := range []struct {
		name             string
		size, chunkBytes int
		wantChunks       int
	}{
		{"one chunk", 1000, 1 << 20, 1},
		{"exact multiple", 4096, 1024, 4},
		{"remainder", 4097, 1024, 5},
		{"empty", 0, 1024, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := make([]byte, tc.size)
			for i := range snap {
				snap[i] = byte(i * 7)
			}
			o.CheckpointMaxBytes = tc.chunkBytes
			recs := checkpointRecords(t, o, 3, 99, 5, 1, snap, tc.wantChunks+2)
			sc := &stateScan{chunks: [2]map[int][]byte{{}, {}}}
			tombstones := 0
			for _, r := range recs[:len(recs)-1] {
				_, slot, index, ok := parseStateKey(string(r.Key), o.Group+"/"+o.Topic+"/")
				if !ok || slot != 1 {
					t.Fatalf("key %q: slot %d ok %v", r.Key, slot, ok)
				}
				if r.Value == nil {
					tombstones++
					continue
				}
				if len(r.Value) > tc.chunkBytes+chunkHeader {
					t.Errorf("chunk of %d bytes, max %d", len(r.Value), tc.chunkBytes+chunkHeader)
				}
				sc.chunks[1][index] = r.Value
			}
			if tombstones != 2 {
				t.Errorf("%d tombstones, want 2", tombstones)
			}
			sc.manifest = recs[len(recs)-1].Value
			m, err := unmarshalManifest(sc.manifest)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Hashes) != tc.wantChunks || m.Next != 99 || m.Partition != 3 {
				t.Fatalf("manifest: %d chunks (want %d), next %d, partition %d", len(m.Hashes), tc.wantChunks, m.Next, m.Partition)
			}
			back, err := assemble(&m, sc)
			if err != nil || !bytes.Equal(back, snap) {
				t.Fatalf("reassembled %d bytes (err %v), want %d identical bytes", len(back), err, len(snap))
			}
		})
	}
	// A manifest must list every chunk within one record.
	o.CheckpointMaxBytes = 100
	if _, _, err := encodeCheckpoint("s", "k", o.Topic, 0, 0, 1, 0, make([]byte, 10_000), 100, 0, 0); !errors.Is(err, ErrCheckpointTooLarge) {
		t.Fatalf("10 kB in 100-byte chunks: %v, want ErrCheckpointTooLarge", err)
	}
}

func TestParseStateKey(t *testing.T) {
	const prefix = "g/with/slash/tether.events/"
	for _, tc := range []struct {
		key   string
		ok    bool
		p     int32
		slot  uint8
		index int
	}{
		{prefix + "3", true, 3, 0, -1},
		{prefix + "3/1/17", true, 3, 1, 17},
		{prefix + "3/0/0", true, 3, 0, 0},
		{prefix + "3/2/0", false, 0, 0, 0},
		{prefix + "3/1", false, 0, 0, 0},
		{prefix + "x", false, 0, 0, 0},
		{prefix + "-1", false, 0, 0, 0},
		{prefix + "3/1/-4", false, 0, 0, 0},
		{"other/tether.events/3", false, 0, 0, 0},
	} {
		p, slot, index, ok := parseStateKey(tc.key, prefix)
		if ok != tc.ok || (ok && (p != tc.p || slot != tc.slot || index != tc.index)) {
			t.Errorf("%q: %d %d %d %v, want %d %d %d %v", tc.key, p, slot, index, ok, tc.p, tc.slot, tc.index, tc.ok)
		}
	}
}

// TestCheckpointGenerations: successive generations alternate slots and
// tombstone the chunks a smaller generation no longer uses; a generation
// whose manifest was never written (a crash mid-write) does not disturb
// the previous complete one.
func TestCheckpointGenerations(t *testing.T) {
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "tether.events", "tether.events.dlq", "tether.state"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	addrs := cl.ListenAddrs()
	o := testOptions(addrs)
	o.CheckpointMaxBytes = 2 << 10
	big := bytes.Repeat([]byte("a"), 20<<10)   // 10 chunks
	small := bytes.Repeat([]byte("b"), 5<<10)  // 3 chunks
	other := bytes.Repeat([]byte("c"), 13<<10) // 7 chunks, never completed
	produce(t, addrs, checkpointRecords(t, o, 0, 10, 1, 0, big, 0)...)
	produce(t, addrs, checkpointRecords(t, o, 0, 20, 2, 1, small, 0)...)
	// Generation 3 to slot 0 (the slot after 2's): 3 chunks and 7
	// tombstones, as the writer does after generation 1 left 10 there.
	produce(t, addrs, checkpointRecords(t, o, 0, 30, 3, 0, small, 10)...)
	// Generation 4 writes its chunks to slot 1 and crashes before its manifest.
	torn := checkpointRecords(t, o, 0, 40, 4, 1, other, 3)
	produce(t, addrs, torn[:len(torn)-1]...)

	c, err := New(o, newMemSink())
	if err != nil {
		t.Fatal(err)
	}
	scans, err := c.readCheckpoints(context.Background(), []int32{0})
	c.Close() // it is in the group: leave before b joins
	if err != nil {
		t.Fatal(err)
	}
	sc := scans[0]
	if len(sc.chunks[0]) != 3 || sc.present != [2]int{10, 7} {
		t.Errorf("slot 0 holds %d chunks (want 3 after tombstones), present %v (want [10 7])", len(sc.chunks[0]), sc.present)
	}
	m, err := unmarshalManifest(sc.manifest)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := assemble(&m, sc)
	if err != nil || m.Gen != 3 || m.Next != 30 || !bytes.Equal(snap, small) {
		t.Fatalf("latest complete generation %d at %d (err %v), want 3 at 30 with its snapshot", m.Gen, m.Next, err)
	}

	// A manifest for generation 5 whose chunks are not all there (the
	// writer's chunks of generation 4 sit in its slot): a new owner
	// restores generation 3, the one before it, and replays from 30.
	eng := detector.New(o.Detector)
	snap3, _ := eng.Snapshot()
	good := checkpointRecords(t, o, 0, 50, 6, 0, snap3, 10)
	produce(t, addrs, good...)
	bad := checkpointRecords(t, o, 0, 60, 7, 1, snap3, 7)
	produce(t, addrs, bad[len(bad)-1]) // manifest only
	produce(t, addrs, warmEvents("tether.events", 0, 70)...)
	ms := newMemSink()
	b, err := New(o, ms)
	if err != nil {
		t.Fatal(err)
	}
	b.noFinalCheckpoint = true
	// Restored at 50: records 50..69 are judged, those before skipped.
	if err := runUntil(t, b, func() bool {
		ev, _, _ := ms.counts()
		return b.Stats().Restores == 1 && ev == 20 && b.Stats().Commits > 0
	}); err != nil {
		t.Fatal(err)
	}
	if s := b.Stats(); s.Replayed != 0 || s.ColdStarts != 0 || s.RestoreFailures != 0 {
		t.Errorf("replayed %d, cold starts %d, restore failures %d; want 0 (restored generation 6 at 50)", s.Replayed, s.ColdStarts, s.RestoreFailures)
	}
}

// TestCheckpointFailureBacksOff: a checkpoint that cannot be written is
// counted and logged once, then not rebuilt on the following batches
// (backoff), and the last good checkpoint stays the one restored.
func TestCheckpointFailureBacksOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		mut  func(o *Options, cl *kfake.Cluster)
	}{
		// The manifest of 100-byte records cannot list a real snapshot's chunks.
		{"too many chunks", func(o *Options, _ *kfake.Cluster) { o.CheckpointMaxBytes = 100 }},
		// The broker rejects the chunk records (max.message.bytes below them).
		{"rejected by the broker", func(o *Options, cl *kfake.Cluster) {
			kc, err := kgo.NewClient(kgo.SeedBrokers(cl.ListenAddrs()...))
			if err != nil {
				t.Fatal(err)
			}
			defer kc.Close()
			adm := kadm.NewClient(kc)
			small := "300"
			if _, err := adm.CreateTopic(context.Background(), 1, 1, map[string]*string{"max.message.bytes": &small}, o.StateTopic); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := onePartitionCluster(t)
			addrs := cl.ListenAddrs()
			o := testOptions(addrs)
			o.CheckpointEvery = time.Nanosecond // every batch wants a checkpoint
			tc.mut(&o, cl)
			ms := newMemSink()
			c, err := New(o, ms)
			if err != nil {
				t.Fatal(err)
			}
			c.noFinalCheckpoint = true
			r := start(c)
			const batches = 5
			for i := range batches {
				produce(t, addrs, warmEvents("tether.events", i*10, 10)...)
				want := int64((i + 1) * 10)
				r.waitFor(t, fmt.Sprintf("batch %d", i), func() bool { s := c.Stats(); return s.Durable == want && s.Commits > int64(i) })
			}
			r.stop(t)
			c.Close()
			s := c.Stats()
			if s.Batches < batches {
				t.Fatalf("%d batches, want %d", s.Batches, batches)
			}
			if s.CheckpointsSkipped != 1 || s.Checkpoints != 0 {
				t.Fatalf("%d failed checkpoints, %d written over %d batches; want 1 failure (then backoff), 0 written",
					s.CheckpointsSkipped, s.Checkpoints, s.Batches)
			}
		})
	}
}

func TestCheckpointBackoffDelays(t *testing.T) {
	c := &Consumer{m: NewMetrics(), log: testOptions(nil).Logger}
	for _, tc := range []struct {
		every time.Duration
		want  []time.Duration
	}{
		{time.Minute, []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 30 * time.Minute, 30 * time.Minute}},
		{time.Nanosecond, []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute}},
		{2 * time.Hour, []time.Duration{30 * time.Minute, 30 * time.Minute}},
	} {
		c.opts.CheckpointEvery = tc.every
		st := &partitionState{}
		for i, want := range tc.want {
			before := time.Now()
			c.checkpointFailed(st, 0, 0, 0, ErrCheckpointTooLarge)
			got := st.ck.retryAt.Sub(before)
			if got < want || got > want+time.Second {
				t.Errorf("every %s, failure %d: retry in %s, want %s", tc.every, i+1, got, want)
			}
		}
		for i := range 40 { // no overflow with many failures
			c.checkpointFailed(st, 0, 0, 0, ErrCheckpointTooLarge)
			if d := time.Until(st.ck.retryAt); d < checkpointRetryMin-time.Second || d > checkpointRetryMax {
				t.Fatalf("failure %d: retry in %s", len(tc.want)+i+1, d)
			}
		}
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
	testenv.CreateTopics(t, broker, 2, nil, o.Topic, o.DeadLetterTopic)
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
	if conf["cleanup.policy"] != "compact" || conf["segment.bytes"] != fmt.Sprint(stateSegmentBytes) {
		t.Errorf("state topic cleanup.policy %q, segment.bytes %q; want compact, %d", conf["cleanup.policy"], conf["segment.bytes"], stateSegmentBytes)
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
	produce(t, addrs, checkpointRecords(t, o, 0, 30, 1, 0, snap, 0)...)
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

// fleetEvents returns perAgent tool calls for each of agents agents, keyed
// by agent (one session each), interleaved as a busy partition sees them.
func fleetEvents(topic string, agents, perAgent int) []*kgo.Record {
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	tools := []string{"crm.read", "kb.search", "mail.send"}
	recs := make([]*kgo.Record, 0, agents*perAgent)
	for k := range perAgent {
		for a := range agents {
			id := fmt.Sprintf("agent-%06d", a)
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(id),
				Value: toolEvent(fmt.Sprintf("e-%d-%d", a, k), id, "s-"+id, tools[(a+k)%len(tools)], base.Add(time.Duration(k)*time.Minute))})
		}
	}
	return recs
}

// TestCheckpointRealBrokerLarge: on the real broker, a partition with
// 20,000 agents — a snapshot far above the former 8 MiB single-record cap —
// is checkpointed as many chunks and restored byte for byte by the next
// owner.
func TestCheckpointRealBrokerLarge(t *testing.T) {
	broker := testenv.Kafka(t)
	const agents, perAgent = 20_000, 3
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	o := testOptions([]string{broker})
	o.Group = "ckpt-large-" + suffix
	o.Topic = "ckpt.large.events." + suffix
	o.DeadLetterTopic = "ckpt.large.dlq." + suffix
	o.StateTopic = "ckpt.large.state." + suffix
	o.CheckpointEvery = time.Hour // the first batch, then the final checkpoint on revocation
	o.ShutdownFlushTimeout = 30 * time.Second
	o.RestoreTimeout = time.Minute

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	testenv.CreateTopics(t, broker, 1, nil, o.Topic, o.DeadLetterTopic)
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), o.Topic, o.DeadLetterTopic, o.StateTopic) })
	recs := fleetEvents(o.Topic, agents, perAgent)
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	a, err := New(o, newMemSink())
	if err != nil {
		t.Fatal(err)
	}
	ra := start(a)
	total := int64(len(recs))
	ra.waitFor(t, "A's batches", func() bool { s := a.Stats(); return s.Durable == total && s.Commits > 0 })
	ra.stop(t)
	want := a.snapshot(t, 0)
	a.Close() // final checkpoint at the committed offset
	sa := a.Stats()
	if sa.CheckpointsSkipped != 0 || sa.Checkpoints < 2 {
		t.Fatalf("A: %d checkpoints written, %d failed; want ≥ 2 and 0", sa.Checkpoints, sa.CheckpointsSkipped)
	}

	m, snap := latestCheckpoint(t, o, 0)
	t.Logf("%d agents: snapshot %d bytes (%.0f B/agent) in %d chunks; A wrote %d checkpoints, %d bytes",
		agents, m.Size, float64(m.Size)/agents, len(m.Hashes), sa.Checkpoints, sa.CheckpointBytes)
	if m.Next != total || !bytes.Equal(snap, want) {
		t.Fatalf("latest checkpoint at %d (want %d), equal to A's state: %v", m.Next, total, bytes.Equal(snap, want))
	}
	if m.Size <= 8<<20 || len(m.Hashes) < 9 {
		t.Fatalf("snapshot of %d bytes in %d chunks; the test needs more than 8 MiB", m.Size, len(m.Hashes))
	}

	ms := newMemSink()
	b, err := New(o, ms)
	if err != nil {
		t.Fatal(err)
	}
	rb := start(b)
	rb.waitFor(t, "B's restore", func() bool { s := b.Stats(); return s.Restores == 1 })
	if got := b.snapshot(t, 0); !bytes.Equal(got, want) {
		t.Fatalf("B's restored state (%d bytes) differs from A's (%d bytes)", len(got), len(want))
	}
	took := time.Duration(b.m.lastRestoreNanos.Load())
	if took <= 0 {
		t.Errorf("tether_state_last_restore_seconds not set")
	}
	t.Logf("B restored %d agents in %s (read + verify + restore)", agents, took)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: o.Topic, Key: []byte("agent-000001"),
		Value: toolEvent("late-1", "agent-000001", "s-agent-000001", "shell.exec", time.Now().UTC().Add(-time.Minute))}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	rb.waitFor(t, "B's batch", func() bool { ev, _, _ := ms.counts(); return ev == 1 && b.Stats().Commits > 0 })
	rb.stop(t)
	b.Close()
	if s := b.Stats(); s.Replayed != 0 || s.ColdStarts != 0 {
		t.Errorf("B: replayed %d, cold starts %d; want 0, 0", s.Replayed, s.ColdStarts)
	}
}

// FuzzCheckpointDecode: the manifest, chunk and state-key decoders never
// panic, fail with ErrCheckpoint, and a decoded manifest re-encodes to the
// same bytes.
func FuzzCheckpointDecode(f *testing.F) {
	m := manifest{Version: CheckpointVersion, Topic: "tether.events", Partition: 3, Next: 99, Gen: 7, Slot: 1, Size: 10, Hashes: [][32]byte{{1}}}
	f.Add(m.marshal())
	f.Add(marshalChunk(7, 2, []byte("payload")))
	f.Add([]byte("g/tether.events/3/1/17"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := unmarshalManifest(b); err != nil {
			if !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("manifest error does not wrap ErrCheckpoint: %v", err)
			}
		} else if !bytes.Equal(m.marshal(), b) {
			t.Fatalf("manifest does not re-encode to its input")
		}
		if gen, index, payload, err := unmarshalChunk(b); err != nil {
			if !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("chunk error does not wrap ErrCheckpoint: %v", err)
			}
		} else if !bytes.Equal(marshalChunk(gen, index, payload), b) {
			t.Fatalf("chunk does not re-encode to its input")
		}
		if p, slot, index, ok := parseStateKey(string(b), "g/tether.events/"); ok {
			if p < 0 || slot > 1 || index < -1 {
				t.Fatalf("key %q parsed as %d/%d/%d", b, p, slot, index)
			}
		}
	})
}

// TestCheckpointManyPartitions: with four events partitions and a state
// topic of three (partitions 0 and 3 share state partition 0), every
// partition's checkpoint goes to its own state partition and a new owner
// restores all four, in parallel, byte for byte.
func TestCheckpointManyPartitions(t *testing.T) {
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "tether.events", "tether.events.dlq"), kfake.SeedTopics(3, "tether.state"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	addrs := cl.ListenAddrs()
	o := testOptions(addrs)
	o.CheckpointEvery = time.Hour
	o.CheckpointMaxBytes = 4 << 10 // several chunks each
	recs := fleetEvents("tether.events", 40, 3)
	produce(t, addrs, recs...)
	a, err := New(o, newMemSink())
	if err != nil {
		t.Fatal(err)
	}
	ra := start(a)
	ra.waitFor(t, "A's batches", func() bool { s := a.Stats(); return s.Durable == int64(len(recs)) && s.Commits > 0 })
	ra.stop(t)
	want := map[int32][]byte{}
	for p := range int32(4) {
		want[p] = a.snapshot(t, p)
	}
	a.Close()

	kc, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		"tether.state": {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart(), 2: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seen := map[int32]int{} // records per state partition, by the events partition in their key
	for len(seen) < 4 {
		fs := kc.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("state topic: only partitions %v seen", seen)
		}
		fs.EachRecord(func(r *kgo.Record) {
			p, _, _, ok := parseStateKey(string(r.Key), o.Group+"/"+o.Topic+"/")
			if !ok || r.Partition != p%3 {
				t.Errorf("key %q in state partition %d, want %d", r.Key, r.Partition, p%3)
			}
			seen[p]++
		})
	}

	b, err := New(o, newMemSink())
	if err != nil {
		t.Fatal(err)
	}
	rb := start(b)
	rb.waitFor(t, "B's restores", func() bool { return b.Stats().Restores == 4 })
	rb.stop(t)
	for p := range int32(4) {
		if got := b.snapshot(t, p); !bytes.Equal(got, want[p]) {
			t.Errorf("partition %d: restored state (%d bytes) differs from A's (%d bytes)", p, len(got), len(want[p]))
		}
	}
	b.Close()
	if s := b.Stats(); s.ColdStarts != 0 || s.RestoreFailures != 0 {
		t.Errorf("B: %d cold starts, %d restore failures; want 0", s.ColdStarts, s.RestoreFailures)
	}
}

// rejectProduce makes kfake answer every produce request for topic with
// the error code reject returns (0: let it through) and returns the count
// of requests it rejected.
func rejectProduce(t *testing.T, cl *kfake.Cluster, topic string, reject func() int16) *atomic.Int64 {
	t.Helper()
	adm, err := kgo.NewClient(kgo.SeedBrokers(cl.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	td, err := kadm.NewClient(adm).ListTopics(context.Background(), topic)
	adm.Close()
	if err != nil || td.Error() != nil {
		t.Fatalf("topic %s: %v %v", topic, err, td.Error())
	}
	id := td[topic].ID
	var rejected atomic.Int64
	cl.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		cl.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		ours := false
		for _, rt := range pr.Topics {
			ours = ours || rt.Topic == topic || rt.TopicID == id
		}
		if !ours {
			return nil, nil, false
		}
		code := reject()
		if code == 0 {
			return nil, nil, false
		}
		rejected.Add(1)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range pr.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return &rejected
}

// stateProduceFault runs a consumer over a kfake cluster whose answers to
// produce requests for the state topic come from reject (0: let it
// through) until every record is durable and committed, checks the
// commits as checkCommits does and returns the consumer's stats and how
// many requests were rejected. reject sees the consumer's stats so far.
func stateProduceFault(t *testing.T, reject func(Stats) int16) (Stats, int64) {
	t.Helper()
	o := testOptions(nil)
	cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, o.Topic, o.DeadLetterTopic, o.StateTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	o.Brokers = cl.ListenAddrs()
	o.MaxPollRecords = 20
	var consumer atomic.Pointer[Consumer]
	rejected := rejectProduce(t, cl, o.StateTopic, func() int16 {
		if c := consumer.Load(); c != nil {
			return reject(c.Stats())
		}
		return 0
	})
	ids, total := produceSpread(t, o.Brokers, o.Topic, 3, 60)
	f := &pipelineFixture{addrs: o.Brokers, o: o, ids: ids, total: total}
	s := newOutageSink()
	cc := checkCommits(t, f, s)
	a, err := New(o, s)
	if err != nil {
		t.Fatal(err)
	}
	consumer.Store(a)
	r := start(a)
	r.waitFor(t, "every event written and committed", func() bool {
		_, ev := s.stats()
		return ev == total && cc.committed() == int64(total)
	})
	r.stop(t)
	a.Close()
	cc.verify(t)
	return a.Stats(), rejected.Load()
}

// TestCheckpointRejectedDoesNotBlockCommits: a broker that rejects every
// checkpoint record with an error no retry changes skips those
// checkpoints, counted, instead of retrying them forever: every batch is
// still made durable and committed. Before, the writer retried the group
// holding the checkpoint without end and committed nothing.
func TestCheckpointRejectedDoesNotBlockCommits(t *testing.T) {
	for _, code := range []*kerr.Error{kerr.PolicyViolation, kerr.InvalidRecord, kerr.TopicAuthorizationFailed} {
		t.Run(code.Message, func(t *testing.T) {
			st, rejected := stateProduceFault(t, func(Stats) int16 { return code.Code })
			if rejected == 0 || st.CheckpointsSkipped == 0 || st.Checkpoints != 0 {
				t.Errorf("%d state-topic produce requests rejected, %d checkpoints skipped, %d written; want > 0, > 0, 0",
					rejected, st.CheckpointsSkipped, st.Checkpoints)
			}
		})
	}
}

// TestCheckpointRetriedAfterFailedAttempt: a checkpoint whose first
// attempt fails (the broker answers a retriable error until the attempt
// times out) is written by the next attempt once the broker takes it.
// Before, kgo kept the first attempt's ended context on the records, so
// every later attempt failed at once ("context deadline exceeded", no
// request sent) and the writer retried the group forever without
// committing: the stall seen in TestPipelineCommandsBeforeCommit under
// load.
func TestCheckpointRetriedAfterFailedAttempt(t *testing.T) {
	st, rejected := stateProduceFault(t, func(st Stats) int16 {
		if st.SinkErrors == 0 { // until an attempt has failed
			return kerr.NotEnoughReplicas.Code
		}
		return 0
	})
	if rejected == 0 || st.SinkErrors == 0 || st.Checkpoints == 0 || st.CheckpointsSkipped != 0 {
		t.Errorf("%d requests rejected, %d failed attempts, %d checkpoints written, %d skipped; want > 0, > 0, > 0, 0",
			rejected, st.SinkErrors, st.Checkpoints, st.CheckpointsSkipped)
	}
}
