package ingest

import (
	"context"
	"fmt"
	"os"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/detector"
)

// BenchmarkCheckpoint measures one partition's checkpoint at 10k and 100k
// agents. An engine with every default detector is warmed up on fleet
// traffic (10 events per agent, before the timed loop). Each iteration
// snapshots it and encodes the chunk records and manifest (encode-ms), then
// verifies and reassembles the chunks and restores them into a fresh engine
// (restore-ms); the -cpu-ms metrics are the process CPU time of the same
// phases (all cores, GC included). bytes/agent is the snapshot's size, zstd-B/agent its chunk
// records compressed one batch each as the checkpoint producer does. The
// restored engine's snapshot is checked byte-identical once.
//
// When the real broker is configured (TETHER_TEST_KAFKA), the checkpoint is
// also written once to a fresh state topic through the consumer's own
// producer, and each iteration restores a fresh partition from it as a new
// owner does: read the state topic, verify, restore (broker-restore-ms);
// broker-B/agent is the state topic's size on the broker's disk.
//
//	TETHER_TEST_KAFKA=127.0.0.1:9092 go test -run '^$' -bench BenchmarkCheckpoint -benchtime 3x ./ingest/
func BenchmarkCheckpoint(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("agents=%dk", n/1000), func(b *testing.B) {
			fl := fleet.New(fleet.Options{Agents: n, Rogue: n / 100, Seed: 1, Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)})
			opts := detector.DefaultOptions()
			opts.Inventory = fl.Inventory()
			eng := detector.New(opts)
			var out detector.Output
			for range n * 10 {
				eng.Process(fl.Next(), &out)
				out.Reset()
			}
			o := DefaultOptions()
			o.Detector = opts
			o.Logger = testOptions(nil).Logger
			broker, brokerBytes := brokerCheckpoint(b, &o, eng)

			var snapBytes, wireBytes, chunks int
			var encode, restore, brokerRestore, encodeCPU, restoreCPU time.Duration
			b.ReportAllocs()
			for b.Loop() {
				t0, c0 := time.Now(), cpuTime(b)
				snap, err := eng.Snapshot()
				if err != nil {
					b.Fatal(err)
				}
				recs, man, err := encodeCheckpoint(o.StateTopic, "g/t/0", o.Topic, 0, 1, 1, 0, snap, o.CheckpointMaxBytes, 0, 0)
				if err != nil {
					b.Fatal(err)
				}
				t1, c1 := time.Now(), cpuTime(b)
				sc := &stateScan{chunks: [2]map[int][]byte{{}, {}}, manifest: man.Value}
				for i, r := range recs {
					sc.chunks[0][i] = r.Value
				}
				m, err := unmarshalManifest(sc.manifest)
				if err != nil {
					b.Fatal(err)
				}
				back, err := assemble(&m, sc)
				if err != nil {
					b.Fatal(err)
				}
				fresh := detector.New(opts)
				if err := fresh.Restore(back); err != nil {
					b.Fatal(err)
				}
				t2, c2 := time.Now(), cpuTime(b)
				encode += t1.Sub(t0)
				restore += t2.Sub(t1)
				encodeCPU += c1 - c0
				restoreCPU += c2 - c1
				if broker != nil {
					st := broker.newState(0)
					before := broker.m.restores.Load()
					broker.restore(context.Background(), map[int32]*partitionState{0: st})
					brokerRestore += time.Since(t2)
					if broker.m.restores.Load() != before+1 {
						b.Fatalf("restore from the broker failed; stats %+v", broker.Stats())
					}
				}
				if snapBytes == 0 {
					snapBytes, chunks = len(snap), len(recs)
					wireBytes = zstdSize(b, recs) + len(man.Value)
					again, err := fresh.Snapshot()
					if err != nil || string(again) != string(snap) {
						b.Fatalf("restored engine's snapshot differs (err %v)", err)
					}
					logComposition(b, n, snap)
				}
			}
			iters := float64(b.N)
			b.ReportMetric(float64(snapBytes)/float64(n), "bytes/agent")
			b.ReportMetric(float64(wireBytes)/float64(n), "zstd-B/agent")
			b.ReportMetric(float64(chunks), "chunks")
			b.ReportMetric(float64(encode.Milliseconds())/iters, "encode-ms")
			b.ReportMetric(float64(restore.Milliseconds())/iters, "restore-ms")
			b.ReportMetric(float64(encodeCPU.Milliseconds())/iters, "encode-cpu-ms")
			b.ReportMetric(float64(restoreCPU.Milliseconds())/iters, "restore-cpu-ms")
			if broker != nil {
				b.ReportMetric(float64(brokerRestore.Milliseconds())/iters, "broker-restore-ms")
				b.ReportMetric(float64(brokerBytes)/float64(n), "broker-B/agent")
			}
		})
	}
}

// brokerCheckpoint writes eng's checkpoint of partition 0 to a fresh
// state topic on the real broker, when one is configured, and returns the
// consumer to restore it with and the topic's size on disk; nil without a
// broker.
func brokerCheckpoint(b *testing.B, o *Options, eng *detector.Engine) (*Consumer, int64) {
	b.Helper()
	if os.Getenv(testenv.KafkaEnv) == "" {
		return nil, 0
	}
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	o.Brokers = []string{testenv.Kafka(b)}
	o.Group, o.Topic, o.StateTopic = "ckpt-bench-"+suffix, "ckpt.bench.events."+suffix, "ckpt.bench.state."+suffix
	o.RestoreTimeout = time.Minute
	c, err := New(*o, newMemSink())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	ctx := context.Background()
	adm := kadm.NewClient(c.prod)
	b.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), o.StateTopic) })
	if err := c.ensureStateTopic(ctx); err != nil {
		b.Fatal(err)
	}
	st := c.newState(0)
	st.engine = eng
	pc := c.buildCheckpoint(st, 0, 1)
	if pc == nil {
		b.Fatalf("checkpoint not built; stats %+v", c.Stats())
	}
	if err := c.produceCheckpoints(ctx, []*pendingCheckpoint{pc}); err != nil || !pc.done {
		b.Fatalf("checkpoint not written (done %v): %v", pc.done, err)
	}
	dirs, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{o.StateTopic: {0: {}}})
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for _, d := range dirs {
		size += d.Size()
	}
	return c, size
}

// cpuTime is the process's user+system CPU time so far: on a shared
// machine it measures the work where wall time also measures the wait.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// zstdSize is the summed size of the record values compressed one record
// batch each, as the checkpoint producer does (one chunk per batch).
func zstdSize(b *testing.B, recs []*kgo.Record) int {
	b.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	n := 0
	for _, r := range recs {
		n += len(enc.EncodeAll(r.Value, nil))
	}
	return n
}

// logComposition logs each part's share of the snapshot.
func logComposition(b *testing.B, agents int, snap []byte) {
	sizes, err := detector.StateSizes(snap)
	if err != nil {
		b.Fatal(err)
	}
	names := make([]string, 0, len(sizes))
	for k := range sizes {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return sizes[names[i]] > sizes[names[j]] })
	s := fmt.Sprintf("%d agents, snapshot %d bytes:", agents, len(snap))
	for _, k := range names {
		s += fmt.Sprintf(" %s %.0f B/agent;", k, float64(sizes[k])/float64(agents))
	}
	b.Log(s)
}
