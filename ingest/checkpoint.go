package ingest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
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
// snapshot is produced to the compacted StateTopic under the key
// "<group>/<events topic>/<partition>", wrapped in a checkpoint envelope
// that records the offset after the last record the snapshot has seen. A
// new owner of the partition reads the latest checkpoint for the key on
// assignment, restores the engine, and on the partition's first batch
// seeks back to the checkpoint's offset when the group's committed
// position is ahead of it (the records in between are replayed into the
// restored state; their findings and commands have deterministic ids).
// See DESIGN.md, "Rebalances and state".

// ErrCheckpoint wraps every error decoding or applying a checkpoint.
var ErrCheckpoint = errors.New("invalid checkpoint")

// CheckpointVersion is the version of the checkpoint envelope.
const CheckpointVersion = 1

// checkpointOverhead is added to CheckpointMaxBytes for the envelope, the
// key and the record batch framing when sizing producer batches and the
// state topic's max.message.bytes.
const checkpointOverhead = 64 << 10

// checkpoint is one partition's detector state at an offset.
//
// Wire layout (all integers big-endian): 'T' 'C' magic, version (1 byte),
// topic length (uint16), topic, partition (int32), next offset (int64),
// then the engine snapshot (detector.Engine.Snapshot) to the end.
type checkpoint struct {
	Version   int
	Topic     string
	Partition int32
	// Next is the offset of the first record the state has not seen.
	Next  int64
	State []byte
}

func (ck *checkpoint) marshal() []byte {
	b := make([]byte, 0, 3+2+len(ck.Topic)+4+8+len(ck.State))
	b = append(b, 'T', 'C', byte(ck.Version))
	b = binary.BigEndian.AppendUint16(b, uint16(len(ck.Topic)))
	b = append(b, ck.Topic...)
	b = binary.BigEndian.AppendUint32(b, uint32(ck.Partition))
	b = binary.BigEndian.AppendUint64(b, uint64(ck.Next))
	return append(b, ck.State...)
}

func unmarshalCheckpoint(b []byte) (checkpoint, error) {
	var ck checkpoint
	if len(b) < 5 || b[0] != 'T' || b[1] != 'C' {
		return ck, fmt.Errorf("%w: bad magic or short envelope (%d bytes)", ErrCheckpoint, len(b))
	}
	ck.Version = int(b[2])
	if ck.Version != CheckpointVersion {
		return ck, fmt.Errorf("%w: envelope version %d, want %d", ErrCheckpoint, ck.Version, CheckpointVersion)
	}
	n := int(binary.BigEndian.Uint16(b[3:5]))
	b = b[5:]
	if len(b) < n+12 {
		return ck, fmt.Errorf("%w: truncated envelope", ErrCheckpoint)
	}
	ck.Topic = string(b[:n])
	b = b[n:]
	ck.Partition = int32(binary.BigEndian.Uint32(b[:4]))
	ck.Next = int64(binary.BigEndian.Uint64(b[4:12]))
	ck.State = b[12:]
	if ck.Next < 0 {
		return ck, fmt.Errorf("%w: negative offset %d", ErrCheckpoint, ck.Next)
	}
	return ck, nil
}

// checkpointKey is the state-topic key of a partition's checkpoints.
func (c *Consumer) checkpointKey(p int32) string {
	return c.opts.Group + "/" + c.opts.Topic + "/" + strconv.Itoa(int(p))
}

func (c *Consumer) checkpointing() bool { return c.opts.StateTopic != "" }

// maybeSnapshot runs on the partition's goroutine at the end of its share
// of a batch: when the partition's last checkpoint is older than
// CheckpointEvery it snapshots the engine into st.ckpt, produced once the
// batch has reached the sinks.
func (c *Consumer) maybeSnapshot(st *partitionState, p int32, next int64) {
	st.ckpt = nil
	if !c.checkpointing() || st.broken || time.Since(st.lastCheckpoint) < c.opts.CheckpointEvery {
		return
	}
	st.ckpt = c.snapshotRecord(st, p, next)
}

// snapshotRecord builds the checkpoint record of st at offset next, or nil
// (logged and counted) when the snapshot fails or is too large.
func (c *Consumer) snapshotRecord(st *partitionState, p int32, next int64) *kgo.Record {
	snap, err := st.engine.Snapshot()
	if err != nil {
		c.m.checkpointsSkipped.Add(1)
		c.log.Error().Err(err).Str("topic", c.opts.Topic).Int32("partition", p).Int64("offset", next).
			Msg("checkpoint skipped: snapshot failed")
		return nil
	}
	if len(snap) > c.opts.CheckpointMaxBytes {
		c.m.checkpointsSkipped.Add(1)
		c.log.Warn().Str("topic", c.opts.Topic).Int32("partition", p).Int64("offset", next).
			Int("bytes", len(snap)).Int("max_bytes", c.opts.CheckpointMaxBytes).
			Msg("checkpoint skipped: snapshot larger than checkpoint_max_bytes")
		return nil
	}
	ck := checkpoint{Version: CheckpointVersion, Topic: c.opts.Topic, Partition: p, Next: next, State: snap}
	return &kgo.Record{Topic: c.opts.StateTopic, Key: []byte(c.checkpointKey(p)), Value: ck.marshal()}
}

// produceCheckpoints writes the checkpoint records. A record the broker
// rejects as too large is skipped (logged and counted) rather than
// retried; any other error is returned for the caller's retry loop.
func (c *Consumer) produceCheckpoints(ctx context.Context, recs []*kgo.Record) error {
	if len(recs) == 0 {
		return nil
	}
	res := c.prod.ProduceSync(ctx, recs...)
	var first error
	for _, r := range res {
		switch {
		case r.Err == nil:
			c.m.observeCheckpoint(len(r.Record.Value))
		case errors.Is(r.Err, kerr.MessageTooLarge) || errors.Is(r.Err, kerr.RecordListTooLarge):
			c.m.checkpointsSkipped.Add(1)
			c.log.Warn().Err(r.Err).Str("topic", c.opts.StateTopic).Int32("partition", r.Record.Partition).
				Str("key", string(r.Record.Key)).Int("bytes", len(r.Record.Value)).Msg("checkpoint skipped: rejected as too large")
		case first == nil:
			first = fmt.Errorf("state topic %s, key %s: %w", c.opts.StateTopic, r.Record.Key, r.Err)
		}
	}
	return first
}

// ensureStateTopic creates the state topic, compacted, when it is missing:
// as many partitions as the events topic (1 if that cannot be read),
// replication at the broker default.
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
	cfg := map[string]*string{"cleanup.policy": kadm.StringPtr("compact"), "max.message.bytes": &maxBytes}
	resp, err := adm.CreateTopic(ctx, partitions, -1, cfg, c.opts.StateTopic)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		c.log.Info().Str("topic", c.opts.StateTopic).Int32("partitions", partitions).Msg("state topic created (compacted)")
		return nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		return nil
	default:
		return fmt.Errorf("create state topic %s: %w", c.opts.StateTopic, err)
	}
}

// readCheckpoints reads the state topic from its start to its high
// watermarks and returns the latest checkpoint value for each wanted key.
// It is bounded by RestoreTimeout.
func (c *Consumer) readCheckpoints(ctx context.Context, keys map[string]int32) (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RestoreTimeout)
	defer cancel()
	adm := kadm.NewClient(c.prod)
	ends, err := adm.ListEndOffsets(ctx, c.opts.StateTopic)
	if err != nil {
		return nil, fmt.Errorf("state topic %s: list end offsets: %w", c.opts.StateTopic, err)
	}
	if err := ends.Error(); err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return map[string][]byte{}, nil
		}
		return nil, fmt.Errorf("state topic %s: list end offsets: %w", c.opts.StateTopic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, c.opts.StateTopic)
	if err != nil || starts.Error() != nil {
		return nil, fmt.Errorf("state topic %s: list start offsets: %w", c.opts.StateTopic, errors.Join(err, starts.Error()))
	}
	want := map[int32]int64{} // partition -> high watermark still to reach
	parts := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && o.Offset > s.Offset {
			want[o.Partition] = o.Offset
			parts[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	out := map[string][]byte{}
	if len(want) == 0 {
		return out, nil
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(c.opts.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.opts.StateTopic: parts}),
		kgo.FetchMaxWait(250 * time.Millisecond),
		kgo.FetchMaxPartitionBytes(int32(c.opts.CheckpointMaxBytes + checkpointOverhead)),
	}, c.extra...)
	rd, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("state topic %s: reader: %w", c.opts.StateTopic, err)
	}
	defer rd.Close()
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
			if _, ok := keys[string(r.Key)]; ok {
				if r.Value == nil {
					delete(out, string(r.Key)) // tombstone
				} else {
					out[string(r.Key)] = r.Value
				}
			}
			if hw, ok := want[r.Partition]; ok && r.Offset+1 >= hw {
				delete(want, r.Partition)
			}
		})
	}
	return out, nil
}

// restore loads the latest checkpoints of newly assigned partitions into
// their fresh engines. Any failure is a logged, counted cold start.
func (c *Consumer) restore(ctx context.Context, states map[int32]*partitionState) {
	keys := make(map[string]int32, len(states))
	for p := range states {
		keys[c.checkpointKey(p)] = p
	}
	start := time.Now()
	vals, err := c.readCheckpoints(ctx, keys)
	if err != nil {
		for p := range states {
			c.m.coldStarts.Add(1)
			c.m.restoreFailures.Add(1)
			c.log.Error().Err(err).Str("topic", c.opts.Topic).Int32("partition", p).
				Msg("checkpoint read failed; partition starts cold (baselines warm up again)")
		}
		return
	}
	for key, p := range keys {
		st := states[p]
		v, ok := vals[key]
		if !ok {
			c.m.coldStarts.Add(1)
			c.log.Info().Str("topic", c.opts.Topic).Int32("partition", p).Msg("no checkpoint; partition starts cold")
			continue
		}
		ck, err := c.applyCheckpoint(st, p, v)
		if err != nil {
			c.m.coldStarts.Add(1)
			c.m.restoreFailures.Add(1)
			c.log.Error().Err(err).Str("topic", c.opts.Topic).Int32("partition", p).Str("state_topic", c.opts.StateTopic).
				Msg("checkpoint unusable; partition starts cold (baselines warm up again)")
			continue
		}
		c.m.restores.Add(1)
		c.log.Info().Str("topic", c.opts.Topic).Int32("partition", p).Int64("offset", ck.Next).
			Int("bytes", len(ck.State)).Dur("took", time.Since(start)).Msg("detector state restored from checkpoint")
	}
}

// applyCheckpoint validates v and restores it into st. On failure st gets
// a fresh engine.
func (c *Consumer) applyCheckpoint(st *partitionState, p int32, v []byte) (checkpoint, error) {
	ck, err := unmarshalCheckpoint(v)
	if err == nil && (ck.Topic != c.opts.Topic || ck.Partition != p) {
		err = fmt.Errorf("%w: written for topic %s partition %d", ErrCheckpoint, ck.Topic, ck.Partition)
	}
	if err == nil {
		if rerr := st.engine.Restore(ck.State); rerr != nil {
			err = fmt.Errorf("%w: %w", ErrCheckpoint, rerr)
			c.mu.Lock() // DetectorStats reads st.engine
			c.retire(st.engine)
			st.engine = detector.New(c.opts.Detector)
			c.mu.Unlock()
		}
	}
	if err != nil {
		return ck, fmt.Errorf("topic %s partition %d offset %d: %w", c.opts.Topic, p, ck.Next, err)
	}
	st.restoredAt = ck.Next
	st.lastCheckpoint = time.Now()
	return ck, nil
}
