package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/detector"
)

// Checkpoints.
//
// Every CheckpointEvery (per partition), after a batch has been written to
// the sinks and before its offsets are committed, the partition's engine
// snapshot is written to the compacted StateTopic as one generation: the
// snapshot split into chunks of at most CheckpointMaxBytes, each its own
// record keyed "<group>/<events topic>/<partition>/<slot>/<index>", then a
// manifest keyed "<group>/<events topic>/<partition>" naming the
// generation, its slot, the offset after the last record the snapshot has
// seen, and the SHA-256 of every chunk. The manifest is produced only once
// every chunk is acknowledged, so a reader trusts only complete
// generations. Generations alternate between two key slots (0 and 1): a
// new generation never overwrites the chunks of the one its predecessor
// manifest names, so a crash half-way through a write leaves the previous
// generation whole even after compaction. Chunks of the slot being written
// beyond the new chunk count are tombstoned. Every record of a partition's
// checkpoints goes to state-topic partition <partition> mod <state-topic
// partitions>, so a restore reads only those partitions.
//
// A new owner reads the state-topic partitions of its newly assigned
// partitions from their start to their high watermarks, keeps the latest
// manifest and the latest chunk per key, verifies the manifest's chunks
// (generation, index, hash) and restores the engines in parallel; on its
// first batch it seeks back to the checkpoint's offset when the group's
// committed position is ahead of it (the records in between are replayed
// into the restored state; their findings and commands have deterministic
// ids). See DESIGN.md, "Rebalances and state".

// ErrCheckpoint wraps every error decoding or applying a checkpoint.
var ErrCheckpoint = errors.New("invalid checkpoint")

// ErrCheckpointTooLarge wraps a checkpoint that cannot be written: its
// manifest cannot list that many chunks, or the broker rejected a record
// as too large.
var ErrCheckpointTooLarge = errors.New("checkpoint too large")

// ErrCheckpointRejected wraps a checkpoint record the broker rejected with
// an error that no retry changes (not retriable: a topic policy, an
// invalid record, a denied write); the checkpoint is skipped and backed
// off like one too large, and the batches behind it are committed.
var ErrCheckpointRejected = errors.New("checkpoint rejected by the broker")

// CheckpointVersion is the version of the manifest and chunk encodings.
// Version 1 (one record holding the whole snapshot) is not read: a
// partition whose only checkpoint is version 1 starts cold once.
const CheckpointVersion = 2

// checkpointOverhead is added to CheckpointMaxBytes for the chunk header,
// the key and the record batch framing when sizing producer batches and
// the state topic's max.message.bytes.
const checkpointOverhead = 64 << 10

// stateSegmentBytes is the state topic's segment.bytes: the log cleaner
// only compacts closed segments, so small segments keep the uncompacted
// tail a restore has to read short.
const stateSegmentBytes = 64 << 20

// After a failed checkpoint the partition waits CheckpointEvery doubled per
// consecutive failure, clamped to [checkpointRetryMin, checkpointRetryMax],
// before building another: a checkpoint that cannot be written is never
// rebuilt on every batch, and its warning is logged once per attempt.
const (
	checkpointRetryMin = 30 * time.Second
	checkpointRetryMax = 30 * time.Minute
)

// manifest names one complete checkpoint generation of a partition.
//
// Wire layout (all integers big-endian): 'T' 'M' magic, version (1 byte),
// topic length (uint16), topic, partition (int32), next offset (int64),
// generation (uint64), slot (1 byte), snapshot size (uint64), chunk count
// (uint32), then one SHA-256 per chunk.
type manifest struct {
	Version   int
	Topic     string
	Partition int32
	// Next is the offset of the first record the state has not seen.
	Next int64
	// Gen identifies the generation (random); every chunk carries it.
	Gen uint64
	// Slot is the key slot (0 or 1) holding the generation's chunks.
	Slot uint8
	// Size is the snapshot's length in bytes.
	Size int64
	// Hashes holds the SHA-256 of each chunk's payload, in chunk order.
	Hashes [][sha256.Size]byte
}

// manifestFixed is the manifest's size without its topic and hashes.
const manifestFixed = 3 + 2 + 4 + 8 + 8 + 1 + 8 + 4

// chunkHeader is the size of a chunk's header: 'T' 'K' magic, version,
// generation (uint64), index (uint32); the payload follows.
const chunkHeader = 3 + 8 + 4

func (m *manifest) marshal() []byte {
	b := make([]byte, 0, manifestFixed+len(m.Topic)+len(m.Hashes)*sha256.Size)
	b = append(b, 'T', 'M', byte(m.Version))
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Topic)))
	b = append(b, m.Topic...)
	b = binary.BigEndian.AppendUint32(b, uint32(m.Partition))
	b = binary.BigEndian.AppendUint64(b, uint64(m.Next))
	b = binary.BigEndian.AppendUint64(b, m.Gen)
	b = append(b, m.Slot)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Size))
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Hashes)))
	for _, h := range m.Hashes {
		b = append(b, h[:]...)
	}
	return b
}

func unmarshalManifest(b []byte) (manifest, error) {
	var m manifest
	if len(b) < 5 || b[0] != 'T' || b[1] != 'M' {
		return m, fmt.Errorf("%w: bad manifest magic or short manifest (%d bytes)", ErrCheckpoint, len(b))
	}
	m.Version = int(b[2])
	if m.Version != CheckpointVersion {
		return m, fmt.Errorf("%w: manifest version %d, want %d", ErrCheckpoint, m.Version, CheckpointVersion)
	}
	n := int(binary.BigEndian.Uint16(b[3:5]))
	if len(b) < manifestFixed+n {
		return m, fmt.Errorf("%w: truncated manifest", ErrCheckpoint)
	}
	b = b[5:]
	m.Topic = string(b[:n])
	b = b[n:]
	m.Partition = int32(binary.BigEndian.Uint32(b[:4]))
	m.Next = int64(binary.BigEndian.Uint64(b[4:12]))
	m.Gen = binary.BigEndian.Uint64(b[12:20])
	m.Slot = b[20]
	m.Size = int64(binary.BigEndian.Uint64(b[21:29]))
	count := int(binary.BigEndian.Uint32(b[29:33]))
	b = b[33:]
	switch {
	case m.Next < 0:
		return m, fmt.Errorf("%w: negative offset %d", ErrCheckpoint, m.Next)
	case m.Slot > 1:
		return m, fmt.Errorf("%w: slot %d", ErrCheckpoint, m.Slot)
	case m.Size < 0 || m.Size > maxSnapshotBytes:
		return m, fmt.Errorf("%w: snapshot size %d", ErrCheckpoint, m.Size)
	case len(b) != count*sha256.Size:
		return m, fmt.Errorf("%w: %d chunk hashes announced, %d bytes of hashes", ErrCheckpoint, count, len(b))
	}
	m.Hashes = make([][sha256.Size]byte, count)
	for i := range m.Hashes {
		copy(m.Hashes[i][:], b[i*sha256.Size:])
	}
	return m, nil
}

// maxSnapshotBytes bounds the snapshot a manifest may announce (the
// engine's own bound on Restore).
const maxSnapshotBytes = 1 << 30

func marshalChunk(gen uint64, index int, payload []byte) []byte {
	b := make([]byte, 0, chunkHeader+len(payload))
	b = append(b, 'T', 'K', CheckpointVersion)
	b = binary.BigEndian.AppendUint64(b, gen)
	b = binary.BigEndian.AppendUint32(b, uint32(index))
	return append(b, payload...)
}

func unmarshalChunk(b []byte) (gen uint64, index int, payload []byte, err error) {
	if len(b) < chunkHeader || b[0] != 'T' || b[1] != 'K' || b[2] != CheckpointVersion {
		return 0, 0, nil, fmt.Errorf("%w: bad chunk header (%d bytes)", ErrCheckpoint, len(b))
	}
	return binary.BigEndian.Uint64(b[3:11]), int(binary.BigEndian.Uint32(b[11:15])), b[chunkHeader:], nil
}

// maxManifestChunks is how many chunk hashes fit in a manifest of at most
// maxBytes for topic.
func maxManifestChunks(maxBytes int, topic string) int {
	return max(0, (maxBytes-manifestFixed-len(topic))/sha256.Size)
}

// checkpointKey is the state-topic key of a partition's manifests; its
// chunks' keys extend it with "/<slot>/<index>".
func (c *Consumer) checkpointKey(p int32) string {
	return c.opts.Group + "/" + c.opts.Topic + "/" + strconv.Itoa(int(p))
}

func chunkKey(prefix string, slot uint8, index int) []byte {
	return []byte(prefix + "/" + strconv.Itoa(int(slot)) + "/" + strconv.Itoa(index))
}

func (c *Consumer) checkpointing() bool { return c.opts.StateTopic != "" }

// checkpointState is a partition's checkpoint bookkeeping, owned with its
// partitionState.
type checkpointState struct {
	// slot holds the last complete generation (written or restored); the
	// next generation goes to the other slot.
	slot uint8
	// present[s] is how many chunk keys of slot s may hold a value: chunks
	// of a new generation beyond its count are tombstoned up to it.
	present [2]int
	// failures counts consecutive failed checkpoints; retryAt is when the
	// next may be built.
	failures int
	retryAt  time.Time
}

// pendingCheckpoint is one generation being written: its chunk records
// (then tombstones), produced first, and its manifest, produced once they
// are all acknowledged.
type pendingCheckpoint struct {
	st       *partitionState
	p        int32
	next     int64
	slot     uint8
	n        int // chunks
	bytes    int // summed record value bytes
	chunks   []*kgo.Record
	manifest *kgo.Record

	chunksDone, done, failed bool
	errs                     int // produce errors in the current attempt
}

// encodeCheckpoint splits snap into the records of one checkpoint
// generation of partition p: chunk records of at most chunkBytes of payload
// under slot, tombstones for the slot's chunk keys from the new count up to
// present, then the manifest. Every record goes to state-topic partition
// statePart. It fails with ErrCheckpointTooLarge when the manifest cannot
// list every chunk within chunkBytes.
func encodeCheckpoint(stateTopic, keyPrefix, topic string, p int32, next int64, gen uint64, slot uint8,
	snap []byte, chunkBytes, present int, statePart int32) (chunks []*kgo.Record, man *kgo.Record, err error) {
	n := max(1, (len(snap)+chunkBytes-1)/chunkBytes)
	if limit := maxManifestChunks(chunkBytes, topic); n > limit || len(snap) > maxSnapshotBytes {
		return nil, nil, fmt.Errorf("%w: snapshot of %d bytes needs %d chunks of %d bytes, a manifest lists at most %d (and %d bytes)",
			ErrCheckpointTooLarge, len(snap), n, chunkBytes, limit, maxSnapshotBytes)
	}
	m := manifest{Version: CheckpointVersion, Topic: topic, Partition: p, Next: next, Gen: gen, Slot: slot,
		Size: int64(len(snap)), Hashes: make([][sha256.Size]byte, n)}
	chunks = make([]*kgo.Record, 0, max(n, present))
	for i := range n {
		payload := snap[min(i*chunkBytes, len(snap)):min((i+1)*chunkBytes, len(snap))]
		m.Hashes[i] = sha256.Sum256(payload)
		chunks = append(chunks, &kgo.Record{Topic: stateTopic, Partition: statePart,
			Key: chunkKey(keyPrefix, slot, i), Value: marshalChunk(gen, i, payload)})
	}
	for i := n; i < present; i++ {
		chunks = append(chunks, &kgo.Record{Topic: stateTopic, Partition: statePart, Key: chunkKey(keyPrefix, slot, i)})
	}
	man = &kgo.Record{Topic: stateTopic, Partition: statePart, Key: []byte(keyPrefix), Value: m.marshal()}
	return chunks, man, nil
}

// statePartition is the state-topic partition of events partition p's
// checkpoints when the state topic has n partitions.
func statePartition(p int32, n int32) int32 {
	if n <= 0 {
		return 0
	}
	return p % n
}

// maybeSnapshot runs on the partition's goroutine at the end of its share
// of a batch: when the partition's last checkpoint is older than
// CheckpointEvery, no failed one is backing off and none is still in
// flight in the pipeline, it snapshots the engine into a checkpoint at
// offset next, produced once the batch has reached the sinks.
func (c *Consumer) maybeSnapshot(st *partitionState, p int32, next int64) *pendingCheckpoint {
	if !c.checkpointing() {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	now := time.Now()
	if st.broken || st.ckInFlight || now.Sub(st.lastCheckpoint) < c.opts.CheckpointEvery || now.Before(st.ck.retryAt) {
		return nil
	}
	pc := c.buildCheckpoint(st, p, next)
	st.ckInFlight = pc != nil
	return pc
}

// buildCheckpoint snapshots st's engine into the records of a new
// generation at offset next, or returns nil (logged, counted, backed off)
// when the snapshot fails or cannot be written. st.mu must be held.
func (c *Consumer) buildCheckpoint(st *partitionState, p int32, next int64) *pendingCheckpoint {
	snap, err := st.engine.Snapshot()
	if err != nil {
		c.checkpointFailed(st, p, next, 0, err)
		return nil
	}
	pc := &pendingCheckpoint{st: st, p: p, next: next, slot: 1 - st.ck.slot}
	pc.chunks, pc.manifest, err = encodeCheckpoint(c.opts.StateTopic, c.checkpointKey(p), c.opts.Topic, p, next, rand.Uint64(),
		pc.slot, snap, c.opts.CheckpointMaxBytes, st.ck.present[pc.slot], statePartition(p, c.statePartitions.Load()))
	if err != nil {
		c.checkpointFailed(st, p, next, len(snap), err)
		return nil
	}
	pc.n = len(pc.chunks)
	for _, r := range pc.chunks {
		if r.Value == nil {
			pc.n--
		}
		pc.bytes += len(r.Value)
	}
	pc.bytes += len(pc.manifest.Value)
	return pc
}

// checkpointFailed counts and logs a checkpoint of partition p that could
// not be built or written, and backs the partition's next attempt off.
// The previous complete generation stays the one a restore uses. st.mu
// must be held (or st not shared yet).
func (c *Consumer) checkpointFailed(st *partitionState, p int32, next int64, size int, err error) {
	st.ck.failures++
	delay := max(checkpointRetryMin, c.opts.CheckpointEvery)
	for i := 1; i < st.ck.failures && delay < checkpointRetryMax; i++ {
		delay *= 2
	}
	delay = min(delay, checkpointRetryMax)
	st.ck.retryAt = time.Now().Add(delay)
	c.m.checkpointsSkipped.Add(1)
	c.log.Warn().Err(err).Str("topic", c.opts.Topic).Int32("partition", p).Int64("offset", next).
		Int("bytes", size).Int("failures", st.ck.failures).Dur("retry_in", delay).
		Msg("checkpoint failed; the previous one stays in use, next attempt after a backoff")
}

// rejected reports whether err is a broker's answer that no retry of the
// same record can change (a Kafka error code not marked retriable).
func rejected(err error) bool {
	var ke *kerr.Error
	return errors.As(err, &ke) && !ke.Retriable
}

// checkpointRejected fails pc (once) for its record r, which the broker
// rejected for good; kind is ErrCheckpointTooLarge or
// ErrCheckpointRejected.
func (c *Consumer) checkpointRejected(pc *pendingCheckpoint, r kgo.ProduceResult, kind error) {
	if pc.failed {
		return
	}
	pc.failed = true
	pc.st.mu.Lock()
	defer pc.st.mu.Unlock()
	pc.st.ck.present[pc.slot] = max(pc.st.ck.present[pc.slot], pc.n)
	c.checkpointFailed(pc.st, pc.p, pc.next, pc.bytes, fmt.Errorf("%w: state topic %s partition %d, key %s, %d bytes: %w",
		kind, c.opts.StateTopic, r.Record.Partition, r.Record.Key, len(r.Record.Value), r.Err))
}

// checkpointWritten records pc's generation as the partition's latest.
// pc.st.mu must be held.
func (c *Consumer) checkpointWritten(pc *pendingCheckpoint) {
	st := pc.st
	st.ck.slot = pc.slot
	st.ck.present[pc.slot] = pc.n
	st.ck.failures, st.ck.retryAt = 0, time.Time{}
	st.lastCheckpoint = time.Now()
	c.m.observeCheckpoint(pc.bytes)
}

// produceCheckpoints writes the pending checkpoints: first every chunk
// (and tombstone), then the manifests of the checkpoints whose chunks were
// all acknowledged. A record the broker rejects for good (too large, or
// any error Kafka marks as not retriable: a policy, an invalid record, an
// authorisation failure) fails its checkpoint (logged, counted, backed
// off; its manifest is not written) rather than being retried: retrying
// it would hold the commits of every batch behind it forever, while the
// partition's previous generation stays usable. Any other error is
// returned for the caller's retry loop, which calls again with the same
// checkpoints: finished steps are not repeated.
func (c *Consumer) produceCheckpoints(ctx context.Context, pend []*pendingCheckpoint) error {
	var first error
	for _, manifests := range []bool{false, true} {
		var recs []*kgo.Record
		var own, round []*pendingCheckpoint
		for _, pc := range pend {
			if pc.failed || pc.done || pc.chunksDone != manifests {
				continue
			}
			pc.errs = 0
			round = append(round, pc)
			rs := pc.chunks
			if manifests {
				rs = []*kgo.Record{pc.manifest}
			}
			for _, r := range rs {
				recs = append(recs, r)
				own = append(own, pc)
			}
		}
		if len(recs) > 0 {
			rearm(ctx, recs)
			for i, r := range c.prod.ProduceSync(ctx, recs...) {
				pc := own[i]
				switch {
				case r.Err == nil:
				case errors.Is(r.Err, kerr.MessageTooLarge) || errors.Is(r.Err, kerr.RecordListTooLarge):
					c.checkpointRejected(pc, r, ErrCheckpointTooLarge)
				case rejected(r.Err):
					c.checkpointRejected(pc, r, ErrCheckpointRejected)
				default:
					pc.errs++
					if first == nil {
						first = fmt.Errorf("state topic %s partition %d, key %s: %w", c.opts.StateTopic, r.Record.Partition, r.Record.Key, r.Err)
					}
				}
			}
		}
		for _, pc := range round {
			switch {
			case pc.failed || pc.errs > 0:
			case manifests:
				pc.done = true
				pc.st.mu.Lock()
				c.checkpointWritten(pc)
				pc.st.mu.Unlock()
			default:
				pc.chunksDone = true
			}
		}
	}
	return first
}

// ensureStateTopic creates the state topic, compacted, when it is missing
// (as many partitions as the events topic, 1 if that cannot be read,
// replication at the broker default) and learns its partition count.
func (c *Consumer) ensureStateTopic(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RestoreTimeout)
	defer cancel()
	adm := kadm.NewClient(c.prod)
	partitions := int32(1)
	if td, err := adm.ListTopics(ctx, c.opts.Topic); err == nil {
		if d, ok := td[c.opts.Topic]; ok && d.Err == nil && len(d.Partitions) > 0 {
			partitions = int32(len(d.Partitions))
		}
	}
	maxBytes := strconv.Itoa(c.opts.CheckpointMaxBytes + checkpointOverhead)
	segment := strconv.Itoa(max(stateSegmentBytes, 2*(c.opts.CheckpointMaxBytes+checkpointOverhead)))
	cfg := map[string]*string{"cleanup.policy": kadm.StringPtr("compact"), "max.message.bytes": &maxBytes, "segment.bytes": &segment}
	resp, err := adm.CreateTopic(ctx, partitions, -1, cfg, c.opts.StateTopic)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		c.log.Info().Str("topic", c.opts.StateTopic).Int32("partitions", partitions).Msg("state topic created (compacted)")
		c.statePartitions.Store(partitions)
		return nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		td, err := adm.ListTopics(ctx, c.opts.StateTopic)
		if err == nil {
			err = td.Error()
		}
		if err != nil || len(td[c.opts.StateTopic].Partitions) == 0 {
			return fmt.Errorf("state topic %s: read its partitions: %w", c.opts.StateTopic, errors.Join(err, kerr.UnknownTopicOrPartition))
		}
		c.statePartitions.Store(int32(len(td[c.opts.StateTopic].Partitions)))
		return nil
	default:
		return fmt.Errorf("create state topic %s: %w", c.opts.StateTopic, err)
	}
}

// stateScan is what a read of the state topic keeps for one events
// partition: its latest manifest and the latest value of each chunk key.
type stateScan struct {
	manifest []byte            // nil: none, or tombstoned
	previous []byte            // the manifest before it, tried when it is unusable
	chunks   [2]map[int][]byte // by slot, then chunk index
	present  [2]int            // 1 + the highest chunk index seen per slot
	scanned  int64             // state-topic bytes read for these keys
	tookRead time.Duration     // time to read the state topic
}

// parseStateKey splits a state-topic key under prefix "<group>/<topic>/"
// into its partition and, for a chunk key, slot and index (index -1 for a
// manifest key).
func parseStateKey(key, prefix string) (p int32, slot uint8, index int, ok bool) {
	rest, found := strings.CutPrefix(key, prefix)
	if !found {
		return 0, 0, 0, false
	}
	ps, tail, isChunk := strings.Cut(rest, "/")
	pn, err := strconv.ParseInt(ps, 10, 32)
	if err != nil || pn < 0 {
		return 0, 0, 0, false
	}
	if !isChunk {
		return int32(pn), 0, -1, true
	}
	ss, is, ok := strings.Cut(tail, "/")
	if !ok || (ss != "0" && ss != "1") {
		return 0, 0, 0, false
	}
	i, err := strconv.Atoi(is)
	if err != nil || i < 0 || i >= 1<<24 {
		return 0, 0, 0, false
	}
	return int32(pn), ss[0] - '0', i, true
}

// readCheckpoints reads the state-topic partitions holding the
// checkpoints of events partitions parts, from their start to their high
// watermarks, and returns what it found for each (no entry: nothing). It
// is bounded by RestoreTimeout.
func (c *Consumer) readCheckpoints(ctx context.Context, parts []int32) (map[int32]*stateScan, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RestoreTimeout)
	defer cancel()
	start := time.Now()
	adm := kadm.NewClient(c.prod)
	ends, err := adm.ListEndOffsets(ctx, c.opts.StateTopic)
	if err != nil {
		return nil, fmt.Errorf("state topic %s: list end offsets: %w", c.opts.StateTopic, err)
	}
	if err := ends.Error(); err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return map[int32]*stateScan{}, nil
		}
		return nil, fmt.Errorf("state topic %s: list end offsets: %w", c.opts.StateTopic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, c.opts.StateTopic)
	if err != nil || starts.Error() != nil {
		return nil, fmt.Errorf("state topic %s: list start offsets: %w", c.opts.StateTopic, errors.Join(err, starts.Error()))
	}
	nState := int32(len(ends[c.opts.StateTopic]))
	wanted := map[int32]bool{}
	for _, p := range parts {
		wanted[statePartition(p, nState)] = true
	}
	want := map[int32]int64{} // state partition -> high watermark still to reach
	offs := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && wanted[o.Partition] && o.Offset > s.Offset {
			want[o.Partition] = o.Offset
			offs[o.Partition] = kgo.NewOffset().At(s.Offset)
		}
	})
	out := map[int32]*stateScan{}
	if len(want) == 0 {
		return out, nil
	}
	mine := make(map[int32]bool, len(parts))
	for _, p := range parts {
		mine[p] = true
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(c.opts.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.opts.StateTopic: offs}),
		kgo.FetchMaxWait(250 * time.Millisecond),
		kgo.FetchMaxPartitionBytes(int32(max(c.opts.CheckpointMaxBytes+checkpointOverhead, 8<<20))),
		kgo.FetchMaxBytes(int32(max(c.opts.CheckpointMaxBytes+checkpointOverhead, 64<<20))),
	}, c.extra...)
	rd, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("state topic %s: reader: %w", c.opts.StateTopic, err)
	}
	defer rd.Close()
	prefix := c.opts.Group + "/" + c.opts.Topic + "/"
	for len(want) > 0 {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("state topic %s: read %d partitions short of the high watermark: %w", c.opts.StateTopic, len(want), ctx.Err())
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			ferr = fmt.Errorf("state topic %s partition %d: %w", t, p, err)
		})
		if ferr != nil {
			return nil, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if hw, ok := want[r.Partition]; ok && r.Offset+1 >= hw {
				delete(want, r.Partition)
			}
			p, slot, index, ok := parseStateKey(string(r.Key), prefix)
			if !ok || !mine[p] {
				return
			}
			sc := out[p]
			if sc == nil {
				sc = &stateScan{chunks: [2]map[int][]byte{{}, {}}}
				out[p] = sc
			}
			sc.scanned += int64(len(r.Key) + len(r.Value))
			if index < 0 {
				sc.previous, sc.manifest = sc.manifest, r.Value
				if r.Value == nil { // tombstone: no checkpoint
					sc.previous = nil
				}
				return
			}
			sc.present[slot] = max(sc.present[slot], index+1)
			if r.Value == nil {
				delete(sc.chunks[slot], index)
			} else {
				sc.chunks[slot][index] = r.Value
			}
		})
	}
	for _, sc := range out {
		sc.tookRead = time.Since(start)
	}
	return out, nil
}

// assemble verifies the chunks m names against sc (present, same
// generation and index, matching hash) and returns the snapshot.
func assemble(m *manifest, sc *stateScan) ([]byte, error) {
	snap := make([]byte, 0, m.Size)
	for i, h := range m.Hashes {
		v, ok := sc.chunks[m.Slot][i]
		if !ok {
			return nil, fmt.Errorf("%w: generation %x: chunk %d/%d of slot %d missing", ErrCheckpoint, m.Gen, i, len(m.Hashes), m.Slot)
		}
		gen, index, payload, err := unmarshalChunk(v)
		switch {
		case err != nil:
			return nil, fmt.Errorf("generation %x chunk %d: %w", m.Gen, i, err)
		case gen != m.Gen || index != i:
			return nil, fmt.Errorf("%w: chunk %d of slot %d belongs to generation %x index %d, not generation %x (incomplete write)",
				ErrCheckpoint, i, m.Slot, gen, index, m.Gen)
		case sha256.Sum256(payload) != h:
			return nil, fmt.Errorf("%w: generation %x chunk %d: hash mismatch", ErrCheckpoint, m.Gen, i)
		case int64(len(snap)+len(payload)) > m.Size:
			return nil, fmt.Errorf("%w: generation %x: chunks exceed the announced %d bytes", ErrCheckpoint, m.Gen, m.Size)
		}
		snap = append(snap, payload...)
	}
	if int64(len(snap)) != m.Size {
		return nil, fmt.Errorf("%w: generation %x: %d bytes of chunks, %d announced", ErrCheckpoint, m.Gen, len(snap), m.Size)
	}
	return snap, nil
}

// restore loads the latest checkpoints of newly assigned partitions into
// their fresh engines, up to GOMAXPROCS partitions at a time (each holds
// its chunks and snapshot while it restores). Any failure is a logged,
// counted cold start.
func (c *Consumer) restore(ctx context.Context, states map[int32]*partitionState) {
	parts := make([]int32, 0, len(states))
	for p := range states {
		parts = append(parts, p)
	}
	scans, err := c.readCheckpoints(ctx, parts)
	if err != nil {
		for p := range states {
			c.m.coldStarts.Add(1)
			c.m.restoreFailures.Add(1)
			c.log.Error().Err(err).Str("topic", c.opts.Topic).Int32("partition", p).
				Msg("checkpoint read failed; partition starts cold (baselines warm up again)")
		}
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for p, st := range states {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c.restorePartition(st, p, scans[p])
		})
	}
	wg.Wait()
}

// restorePartition restores st from sc, or counts and logs a cold start.
func (c *Consumer) restorePartition(st *partitionState, p int32, sc *stateScan) {
	if sc != nil {
		st.ck.present = sc.present
	}
	if sc == nil || sc.manifest == nil {
		c.m.coldStarts.Add(1)
		c.log.Info().Str("topic", c.opts.Topic).Int32("partition", p).Msg("no checkpoint; partition starts cold")
		return
	}
	start := time.Now()
	m, err := c.applyCheckpoint(st, p, sc.manifest, sc)
	if err != nil && sc.previous != nil {
		// The generation before it is still whole unless a write tore it.
		pm, perr := c.applyCheckpoint(st, p, sc.previous, sc)
		if perr == nil {
			c.log.Warn().Err(err).Str("topic", c.opts.Topic).Int32("partition", p).Str("state_topic", c.opts.StateTopic).
				Int64("offset", pm.Next).Msg("latest checkpoint unusable; restored the one before it (a longer replay)")
			m, err = pm, nil
		} else {
			err = errors.Join(err, fmt.Errorf("the checkpoint before it: %w", perr))
		}
	}
	sc.chunks = [2]map[int][]byte{} // let the chunks go before the next partition's restore
	if err != nil {
		c.m.coldStarts.Add(1)
		c.m.restoreFailures.Add(1)
		c.log.Error().Err(err).Str("topic", c.opts.Topic).Int32("partition", p).Str("state_topic", c.opts.StateTopic).
			Msg("checkpoint unusable; partition starts cold (baselines warm up again)")
		return
	}
	c.m.restores.Add(1)
	c.m.lastRestoreNanos.Store(int64(sc.tookRead + time.Since(start)))
	c.log.Info().Str("topic", c.opts.Topic).Int32("partition", p).Int64("offset", m.Next).
		Int64("bytes", m.Size).Int("chunks", len(m.Hashes)).Int64("state_bytes_read", sc.scanned).
		Dur("read", sc.tookRead).Dur("restore", time.Since(start)).Msg("detector state restored from checkpoint")
}

// applyCheckpoint validates manifest value mv, assembles its chunks from sc
// and restores the snapshot into st. On failure st gets a fresh engine.
func (c *Consumer) applyCheckpoint(st *partitionState, p int32, mv []byte, sc *stateScan) (manifest, error) {
	m, err := unmarshalManifest(mv)
	if err == nil && (m.Topic != c.opts.Topic || m.Partition != p) {
		err = fmt.Errorf("%w: written for topic %s partition %d", ErrCheckpoint, m.Topic, m.Partition)
	}
	var snap []byte
	if err == nil {
		snap, err = assemble(&m, sc)
	}
	if err == nil {
		if rerr := st.engine.Restore(snap); rerr != nil {
			err = fmt.Errorf("%w: %w", ErrCheckpoint, rerr)
			c.mu.Lock() // DetectorStats reads st.engine
			c.retire(st.engine)
			st.engine = detector.New(c.opts.Detector)
			c.mu.Unlock()
		}
	}
	if err != nil {
		return m, fmt.Errorf("topic %s partition %d offset %d: %w", c.opts.Topic, p, m.Next, err)
	}
	st.restoredAt = m.Next
	st.lastCheckpoint = time.Now()
	st.ck.slot = m.Slot
	return m, nil
}
