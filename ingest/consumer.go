// Package ingest consumes agent events from Kafka and drives the detectors.
//
// A Consumer is a franz-go consumer-group member. Each poll returns a batch
// of records; every partition's records are processed in offset order by one
// goroutine that owns that partition's detector state. Records that cannot
// be decoded or fail validation are copied to a dead-letter topic with the
// reason in headers. The batch's findings and commands are then written to
// the sink, and only after the sink and the dead-letter topic have accepted
// them are the batch's offsets committed (at-least-once); later batches
// are judged meanwhile and containment commands are published apart, as
// soon as their batch is judged (pipeline.go). While the sink is
// unavailable the consumer retries with backoff and does not poll or commit:
// backpressure, never loss. Each partition's detector state is
// checkpointed to a compacted state topic and restored by the partition's
// next owner (checkpoint.go). See DESIGN.md for rebalance semantics.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// Errors returned by the consumer.
var (
	// ErrConfig: the options are incomplete or inconsistent.
	ErrConfig = errors.New("invalid ingest configuration")
	// ErrUncommitted: the consumer stopped while a batch could not be made
	// durable; its records were not committed and will be redelivered.
	ErrUncommitted = errors.New("stopped with an uncommitted batch")
)

// Options configures a Consumer.
type Options struct {
	// Brokers are the seed brokers (host:port).
	Brokers []string
	// Security is the client id, TLS and SASL of every Kafka client the
	// consumer opens (see ClientOptions).
	Security Security
	// Group is the consumer group; instances sharing it split the partitions.
	Group string
	// InstanceID, when set, makes this member a static group member
	// (KIP-345): a restarted process with the same id takes its partitions
	// back at once instead of waiting for SessionTimeout to expire the old
	// member. Each running instance needs its own id (for example the pod
	// name of a StatefulSet). A static member does not leave the group when
	// it stops, so its partitions wait SessionTimeout for it to return.
	InstanceID string
	// SessionTimeout is how long the group coordinator waits for a silent
	// member before reassigning its partitions; 0 keeps franz-go's 45s.
	SessionTimeout time.Duration
	// LagInterval is how often the group's committed offsets and the end
	// offsets are read for the lag gauges and broker reachability
	// (Readiness); 0 means 5s.
	LagInterval time.Duration
	// KafkaHooks, when set, returns franz-go hooks (for example
	// plugin/kprom metrics) for each Kafka client the consumer creates:
	// "consumer" (group member, dead letters, shared producers),
	// "publisher" (the command journal and PublishClient's users) and
	// "checkpoint" (state topic producer).
	KafkaHooks func(client string) []kgo.Hook
	// Topic is the events topic.
	Topic string
	// DeadLetterTopic receives undecodable or invalid records.
	DeadLetterTopic string
	// DeadLetterMaxBytes caps a dead letter's value (see deadletter.go):
	// larger values are cut and marked, so an oversized record cannot stall
	// the consumer on a broker that refuses it. 0 means no cap.
	DeadLetterMaxBytes int
	// Decode bounds record size and clock skew.
	Decode models.DecodeOptions
	// Detector configures the per-partition detector engines.
	Detector detector.Options
	// MaxPollRecords caps one batch.
	MaxPollRecords int
	// PipelineDepth bounds the records judged but not yet durable to
	// PipelineDepth × MaxPollRecords (1..MaxPipelineDepth): the judging
	// goroutine polls again as soon as a batch is judged while there is
	// room, the writer makes every batch waiting for it durable in one
	// write, and offsets are still committed per partition in order, only
	// once everything up to them is durable (see pipeline.go). 0 means
	// DefaultPipelineDepth.
	PipelineDepth int
	// RetryBackoff is the first wait after a failed sink write; it doubles
	// up to MaxRetryBackoff.
	RetryBackoff, MaxRetryBackoff time.Duration
	// ShutdownFlushTimeout is the shutdown window: after Run's context
	// ends, a batch that is not yet durable keeps being retried (and then
	// committed) for this long before Run gives up with ErrUncommitted. It
	// also bounds each single write or commit attempt.
	ShutdownFlushTimeout time.Duration
	// JournalTopic, when set, is the compacted topic where the urgent
	// writer makes containment commands and the findings they name durable
	// before it publishes the commands, instead of waiting for the stores
	// (journal.go); the stores get them with their batch, before its
	// offsets are committed. Empty: commands are published after the whole
	// sink chain has stored their findings.
	JournalTopic string
	// StateTopic is the compacted changelog topic that receives detector
	// checkpoints (see checkpoint.go); empty disables checkpointing.
	StateTopic string
	// CheckpointEvery is the wall time between two checkpoints of one
	// partition.
	CheckpointEvery time.Duration
	// CheckpointMaxBytes bounds one checkpoint record: a partition's
	// snapshot is written as chunks of at most this many bytes plus a
	// manifest (checkpoint.go).
	CheckpointMaxBytes int
	// RestoreTimeout bounds reading the state topic on assignment (and
	// creating it at start-up); on timeout the partitions start cold.
	RestoreTimeout time.Duration
	// Logger receives structured logs.
	Logger zerolog.Logger
}

// DefaultOptions returns the daemon's defaults: topic "tether.events",
// dead letters to "tether.events.dlq", group "tether", 5,000 records per
// batch, backoff 200ms doubling to 10s, checkpoints to "tether.state"
// every minute per partition, in records of at most 1 MiB.
func DefaultOptions() Options {
	return Options{
		Brokers:              []string{"127.0.0.1:9092"},
		Group:                "tether",
		Topic:                "tether.events",
		DeadLetterTopic:      "tether.events.dlq",
		DeadLetterMaxBytes:   900 << 10,
		Decode:               models.DefaultDecodeOptions(),
		Detector:             detector.DefaultOptions(),
		MaxPollRecords:       5000,
		PipelineDepth:        DefaultPipelineDepth,
		RetryBackoff:         200 * time.Millisecond,
		MaxRetryBackoff:      10 * time.Second,
		ShutdownFlushTimeout: 30 * time.Second,
		StateTopic:           "tether.state",
		CheckpointEvery:      time.Minute,
		CheckpointMaxBytes:   1 << 20,
		RestoreTimeout:       20 * time.Second,
		LagInterval:          defaultLagInterval,
		Logger:               zerolog.Nop(),
	}
}

func (o *Options) validate() error {
	switch {
	case len(o.Brokers) == 0:
		return fmt.Errorf("%w: no brokers", ErrConfig)
	case o.Group == "":
		return fmt.Errorf("%w: no consumer group", ErrConfig)
	case o.Topic == "":
		return fmt.Errorf("%w: no events topic", ErrConfig)
	case o.DeadLetterTopic == "":
		return fmt.Errorf("%w: no dead-letter topic", ErrConfig)
	case o.DeadLetterTopic == o.Topic:
		return fmt.Errorf("%w: dead-letter topic %q is the events topic", ErrConfig, o.Topic)
	case o.MaxPollRecords <= 0:
		return fmt.Errorf("%w: max poll records %d", ErrConfig, o.MaxPollRecords)
	case o.PipelineDepth < 0 || o.PipelineDepth > MaxPipelineDepth:
		return fmt.Errorf("%w: pipeline depth %d (want 1..%d)", ErrConfig, o.PipelineDepth, MaxPipelineDepth)
	case o.JournalTopic != "" && (o.JournalTopic == o.Topic || o.JournalTopic == o.DeadLetterTopic || o.JournalTopic == o.StateTopic):
		return fmt.Errorf("%w: journal topic %q is the events, dead-letter or state topic", ErrConfig, o.JournalTopic)
	case o.StateTopic != "" && (o.StateTopic == o.Topic || o.StateTopic == o.DeadLetterTopic):
		return fmt.Errorf("%w: state topic %q is the events or dead-letter topic", ErrConfig, o.StateTopic)
	case o.StateTopic != "" && (o.CheckpointMaxBytes <= 0 || o.CheckpointMaxBytes > 1<<30):
		return fmt.Errorf("%w: checkpoint max bytes %d (want 1..1 GiB)", ErrConfig, o.CheckpointMaxBytes)
	case o.CheckpointEvery < 0:
		return fmt.Errorf("%w: negative checkpoint interval %s", ErrConfig, o.CheckpointEvery)
	case o.SessionTimeout < 0:
		return fmt.Errorf("%w: negative session timeout %s", ErrConfig, o.SessionTimeout)
	case o.LagInterval < 0:
		return fmt.Errorf("%w: negative lag interval %s", ErrConfig, o.LagInterval)
	}
	if o.LagInterval == 0 {
		o.LagInterval = defaultLagInterval
	}
	if o.PipelineDepth == 0 {
		o.PipelineDepth = DefaultPipelineDepth
	}
	if o.RestoreTimeout <= 0 {
		o.RestoreTimeout = 20 * time.Second
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 200 * time.Millisecond
	}
	if o.MaxRetryBackoff < o.RetryBackoff {
		o.MaxRetryBackoff = o.RetryBackoff
	}
	if o.ShutdownFlushTimeout <= 0 {
		o.ShutdownFlushTimeout = 30 * time.Second
	}
	return nil
}

// Consumer reads events, runs the detectors and writes their output.
type Consumer struct {
	opts  Options
	cl    *kgo.Client
	pub   *kgo.Client // urgent producer: the command journal and PublishClient's users
	prod  *kgo.Client // checkpoint producer (zstd, large batches); nil when disabled
	extra []kgo.Opt
	w     sink.Writer
	dec   *models.Decoder
	log   zerolog.Logger
	m     *Metrics

	mu      sync.Mutex
	engines map[int32]*partitionState
	retired detector.Stats // counters of closed engines (revoked partitions), under mu

	// pipe is the running pipeline (pipeline.go), nil outside Run.
	pipe atomic.Pointer[pipeline]

	// statePartitions is the state topic's partition count (ensureStateTopic).
	statePartitions atomic.Int32

	// noFinalCheckpoint (tests) skips the checkpoint on revocation, as if
	// the process had been killed.
	noFinalCheckpoint bool
}

// partitionState is a partition's detector state. The engine, restoredAt
// and next are owned by one goroutine at a time: the one judging that
// partition's records in the current batch (or a rebalance callback once
// the pipeline is drained). The fields under mu are shared with the
// pipeline's writer, which updates them as batches become durable.
type partitionState struct {
	partition  int32
	engine     *detector.Engine
	created    time.Time // when this member took the partition
	restoredAt int64     // restored checkpoint's offset, until the first batch; -1: none
	next       int64     // offset after the last judged record; -1: none yet
	replayTo   int64     // while replaying into a restored checkpoint: the committed position it started from

	mu             sync.Mutex
	ck             checkpointState
	lastCheckpoint time.Time // when a checkpoint was last produced (or restored)
	ckInFlight     bool      // a checkpoint built by a judged batch is not yet written
	dirty          bool      // durable records since the last checkpoint
	broken         bool      // a batch failed after judging: state is ahead of the sinks
}

// partWork is one partition's share of a batch in the pipeline: its
// output, kept apart from the partition's state so that the next batch can
// be judged while this one is written.
type partWork struct {
	st           *partitionState
	out          detector.Output
	events       []*models.Event
	dlq          []*kgo.Record
	findingTimes []time.Time        // Kafka timestamp of the record behind each of out.Findings
	ckpt         *pendingCheckpoint // this batch's checkpoint, produced once the batch is in the sinks
}

// process runs one event through the partition's engine and notes the
// record timestamp behind each new finding (event→finding latency).
func (pw *partWork) process(ev *models.Event, ts time.Time) {
	pw.st.engine.Process(ev, &pw.out)
	for len(pw.findingTimes) < len(pw.out.Findings) {
		pw.findingTimes = append(pw.findingTimes, ts)
	}
	pw.events = append(pw.events, ev)
}

func (c *Consumer) newState(p int32) *partitionState {
	return &partitionState{partition: p, engine: detector.New(c.opts.Detector), restoredAt: -1, next: -1, created: time.Now()}
}

// New creates a Consumer and its Kafka clients. Their client id, TLS and
// SASL come from opts.Security (ClientOptions); extra options are appended
// after those (logging, tests); the consumer's own options (group, manual
// commits, rebalance blocking) must not be overridden.
func New(opts Options, w sink.Writer, extra ...kgo.Opt) (*Consumer, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if w == nil {
		return nil, fmt.Errorf("%w: no sink", ErrConfig)
	}
	sec, err := ClientOptions(opts.Security)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	extra = append(sec, extra...)
	c := &Consumer{
		opts:    opts,
		w:       w,
		dec:     models.NewDecoder(opts.Decode),
		log:     opts.Logger,
		m:       NewMetrics(),
		engines: make(map[int32]*partitionState),
		extra:   extra,
	}
	c.m.detectorStats, c.m.detectorOpts = c.DetectorStats, opts.Detector
	c.m.brokerStaleAfter = 3 * opts.LagInterval
	hooks := func(client string) []kgo.Opt {
		if opts.KafkaHooks == nil {
			return nil
		}
		if hs := opts.KafkaHooks(client); len(hs) > 0 {
			return []kgo.Opt{kgo.WithHooks(hs...)}
		}
		return nil
	}
	var group []kgo.Opt
	if opts.InstanceID != "" {
		group = append(group, kgo.InstanceID(opts.InstanceID))
	}
	if opts.SessionTimeout > 0 {
		group = append(group, kgo.SessionTimeout(opts.SessionTimeout))
	}
	kopts := append([]kgo.Opt{
		kgo.SeedBrokers(opts.Brokers...),
		kgo.ConsumerGroup(opts.Group),
		kgo.ConsumeTopics(opts.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.AllowAutoTopicCreation(),
		kgo.OnPartitionsAssigned(c.assigned),
		kgo.OnPartitionsRevoked(c.revoked),
		kgo.OnPartitionsLost(c.lost),
	}, group...)
	kopts = append(append(kopts, hooks("consumer")...), extra...)
	if opts.StateTopic != "" {
		popts := append([]kgo.Opt{
			kgo.SeedBrokers(opts.Brokers...),
			kgo.ProducerBatchCompression(kgo.ZstdCompression()),
			kgo.ProducerBatchMaxBytes(int32(opts.CheckpointMaxBytes + checkpointOverhead)),
			kgo.MaxBufferedBytes(max(32<<20, 4*(opts.CheckpointMaxBytes+checkpointOverhead))),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
		}, hooks("checkpoint")...)
		popts = append(popts, extra...)
		prod, err := kgo.NewClient(popts...)
		if err != nil {
			return nil, fmt.Errorf("kafka checkpoint producer: %w", err)
		}
		c.prod = prod
	}
	// The urgent producer: containment commands and their journal records
	// do not queue behind the consumer client's bulk produce requests (dead
	// letters, OCSF findings) on the same broker connections.
	pub, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(opts.Brokers...), kgo.ProducerLinger(0), kgo.AllowAutoTopicCreation()}, hooks("publisher")...), extra...)...)
	if err != nil {
		if c.prod != nil {
			c.prod.Close()
		}
		return nil, fmt.Errorf("kafka publisher client: %w", err)
	}
	c.pub = pub
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		if c.prod != nil {
			c.prod.Close()
		}
		c.pub.Close()
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	c.cl = cl
	return c, nil
}

// Client returns the consumer's Kafka client, for sharing with producers
// (the control-topic publisher) in the same process.
func (c *Consumer) Client() *kgo.Client { return c.cl }

// PublishClient returns the consumer's urgent producer, for the
// control-topic publisher: its produce requests do not queue behind the
// bulk produced through Client (dead letters, OCSF findings). The consumer
// closes it.
func (c *Consumer) PublishClient() *kgo.Client { return c.pub }

// Metrics returns the consumer's counters.
func (c *Consumer) Metrics() *Metrics { return c.m }

// Stats returns a snapshot of the counters.
func (c *Consumer) Stats() Stats { return c.m.Snapshot() }

// Close leaves the group (checkpointing the partitions it gives up) and
// closes the clients. Call it after Run returns.
func (c *Consumer) Close() {
	c.cl.Close()
	c.pub.Close()
	if c.prod != nil {
		c.prod.Close()
	}
}

// assigned creates the engines of newly assigned partitions and, when
// checkpointing, restores them from their latest checkpoints. Rebalances
// are blocked while a batch is in flight, so no engine is in use here.
func (c *Consumer) assigned(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
	c.mu.Lock()
	fresh := map[int32]*partitionState{}
	for _, ps := range m {
		for _, p := range ps {
			if _, ok := c.engines[p]; !ok {
				st := c.newState(p)
				c.engines[p] = st
				fresh[p] = st
			}
		}
	}
	c.m.assigned.Store(int64(len(c.engines)))
	c.mu.Unlock()
	c.log.Info().Interface("partitions", m).Msg("partitions assigned")
	if c.checkpointing() && len(fresh) > 0 {
		c.restore(ctx, fresh)
	}
}

// revoked checkpoints and drops the detector state of partitions this
// member gives up. Rebalances are blocked while a batch is being judged;
// batches already judged may still be on their way to the sinks, so it
// first waits for the pipeline to drain (every judged batch durable and
// committed, or the pipeline failed): the final checkpoint is then at the
// committed offset, and no commit for these partitions follows.
func (c *Consumer) revoked(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	c.drain()
	c.drop(m, !c.noFinalCheckpoint)
}

// lost drops the state of partitions this member lost without a clean
// revocation: another member may already own them, so no checkpoint. It
// also waits for the pipeline first, so no checkpoint of a judged batch is
// written after the state is dropped.
func (c *Consumer) lost(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	c.drain()
	c.drop(m, false)
}

func (c *Consumer) drop(m map[string][]int32, checkpoint bool) {
	c.mu.Lock()
	var recs []*pendingCheckpoint
	for _, ps := range m {
		for _, p := range ps {
			st, ok := c.engines[p]
			if !ok {
				continue
			}
			st.mu.Lock()
			if checkpoint && c.checkpointing() && st.dirty && !st.broken && st.next >= 0 {
				if r := c.buildCheckpoint(st, p, st.next); r != nil {
					recs = append(recs, r)
				}
			}
			st.mu.Unlock()
			c.retire(st.engine)
			delete(c.engines, p)
			c.m.forgetPartition(p)
		}
	}
	c.m.assigned.Store(int64(len(c.engines)))
	c.mu.Unlock()
	if len(recs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.ShutdownFlushTimeout)
		if err := c.produceCheckpoints(ctx, recs); err != nil {
			c.log.Error().Err(err).Msg("final checkpoint of revoked partitions failed; the next owner resumes from an older one")
		}
		cancel()
	}
	c.log.Info().Interface("partitions", m).Int("checkpoints", len(recs)).Msg("partitions revoked")
}

// retire closes an engine that is no longer used, returning its share of
// the memory budget, and keeps its counters for DetectorStats. c.mu must
// be held.
func (c *Consumer) retire(e *detector.Engine) {
	c.retired.Add(e.Stats())
	e.Close()
}

// DetectorStats returns the detector counters (evictions per detector,
// containment commands held back) summed over this consumer's engines,
// closed ones included, so the totals never decrease. Safe for concurrent
// use.
func (c *Consumer) DetectorStats() detector.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s detector.Stats
	s.Add(c.retired)
	for _, st := range c.engines {
		s.Add(st.engine.Stats())
	}
	return s
}

func (c *Consumer) state(p int32) *partitionState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.engines[p]
	if !ok { // records fetched before the assignment callback ran
		st = c.newState(p)
		c.engines[p] = st
	}
	return st
}

// Run consumes until ctx is cancelled, then makes the batches already
// judged durable, commits them and returns. It returns ErrUncommitted
// (wrapped) if a batch could not be made durable within
// ShutdownFlushTimeout of ctx ending.
func (c *Consumer) Run(ctx context.Context) error {
	c.log.Info().Strs("brokers", c.opts.Brokers).Str("topic", c.opts.Topic).Str("group", c.opts.Group).
		Int("pipeline_depth", c.opts.PipelineDepth).Msg("consumer started")
	if c.checkpointing() {
		if err := c.ensureStateTopic(ctx); err != nil {
			return err
		}
	}
	if c.journaling() {
		created, err := c.ensureJournalTopic(ctx)
		if err != nil {
			return err
		}
		if !created {
			c.recoverJournal(ctx)
		}
	}
	c.m.running.Store(true)
	c.m.stopping.Store(false)
	defer c.m.running.Store(false)
	defer context.AfterFunc(ctx, func() { c.m.stopping.Store(true) })()
	lctx, stopLag := context.WithCancel(context.WithoutCancel(ctx))
	lagDone := make(chan struct{})
	go func() {
		defer close(lagDone)
		c.refreshLag(lctx)
	}()
	defer func() {
		stopLag()
		<-lagDone
	}()
	flush, release := c.flushWindow(ctx)
	defer release()
	p := c.startPipeline(ctx, flush)
	err := c.pollLoop(ctx, p)
	return errors.Join(err, c.stopPipeline(p))
}

// pollLoop polls and judges batches and hands them to the pipeline's
// writers until ctx ends, the client is closed or the writer fails.
func (c *Consumer) pollLoop(ctx context.Context, p *pipeline) error {
	for {
		waitStart := time.Now()
		bw, n, ok := p.acquire(ctx, c.opts.MaxPollRecords) // room for records judged and not yet durable
		if !ok {
			if ctx.Err() != nil {
				c.log.Info().Msg("consumer stopping: context done; making the judged batches durable")
			}
			return nil // stopPipeline returns the writer's error
		}
		c.m.observeStage(stageSlotWait, time.Since(waitStart))
		pollStart := time.Now()
		fetches := c.cl.PollRecords(ctx, n)
		c.m.observeStage(stagePoll, time.Since(pollStart))
		if fetches.IsClientClosed() {
			p.unused(bw)
			return nil
		}
		fetches.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			c.m.fetchErrors.Add(1)
			c.log.Error().Err(err).Str("topic", t).Int32("partition", p).Msg("fetch error")
		})
		if fetches.NumRecords() == 0 {
			p.unused(bw)
			c.cl.AllowRebalance()
			if ctx.Err() != nil {
				c.log.Info().Msg("consumer stopping: context done; making the judged batches durable")
				return nil
			}
			continue
		}
		c.judge(bw, fetches)
		p.submit(bw)
		c.cl.AllowRebalance()
		if ctx.Err() != nil {
			c.log.Info().Msg("consumer stopping: context done; making the judged batches durable")
			return nil
		}
	}
}

// judge decodes and judges one polled batch into bw, the partitions in
// parallel, and notes the offsets bw commits once durable. The first batch
// of a partition restored from a checkpoint behind the committed position
// seeks back instead (before the next poll), so the records in between are
// replayed into the restored state; that partition is not committed.
func (c *Consumer) judge(bw *batchWork, fetches kgo.Fetches) {
	bw.reset()
	bw.polled = fetches.NumRecords()
	var seeks map[int32]kgo.EpochOffset
	var wg sync.WaitGroup
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		st := c.state(p.Partition)
		last := p.Records[len(p.Records)-1]
		if st.restoredAt >= 0 {
			// The first batch of a partition restored from a checkpoint.
			at, first := st.restoredAt, p.Records[0].Offset
			st.restoredAt = -1
			if at < first {
				// The committed position is past the checkpoint: replay
				// the records in between into the restored state.
				if seeks == nil {
					seeks = map[int32]kgo.EpochOffset{}
				}
				seeks[p.Partition] = kgo.EpochOffset{Epoch: -1, Offset: at}
				st.replayTo = first
				c.m.replayed.Add(first - at)
				c.log.Info().Str("topic", p.Topic).Int32("partition", p.Partition).Int64("committed", first).
					Int64("checkpoint", at).Msg("seeking back to the checkpoint to replay records into the restored state")
				return
			}
			// The checkpoint is past the committed position (the commit
			// failed after the checkpoint was written): the records
			// before it are already in the state and in the sinks.
			k := 0
			for k < len(p.Records) && p.Records[k].Offset < at {
				k++
			}
			p.Records = p.Records[k:]
		}
		if last.Offset+1 >= st.replayTo { // a replay never moves the commit back
			bw.commit[p.Partition] = kgo.EpochOffset{Epoch: last.LeaderEpoch, Offset: last.Offset + 1}
			st.replayTo = 0
		}
		if len(p.Records) == 0 {
			return
		}
		pw := bw.part(st)
		wg.Go(func() { c.processPartition(pw, p) })
	})
	wg.Wait()
	bw.collect()
	c.m.observeStage(stageJudge, time.Since(bw.start))
	if len(seeks) > 0 {
		c.cl.SetOffsets(map[string]map[int32]kgo.EpochOffset{c.opts.Topic: seeks})
	}
}

// processPartition decodes and judges one partition's records in order.
func (c *Consumer) processPartition(pw *partWork, p kgo.FetchTopicPartition) {
	st := pw.st
	for _, r := range p.Records {
		c.m.consumed.Add(1)
		ev, more, err := c.decodeRecord(r)
		if err != nil {
			pw.dlq = append(pw.dlq, c.deadLetter(r, err))
			continue
		}
		if ev != nil {
			pw.process(ev, r.Timestamp)
		}
		for _, ev := range more {
			pw.process(ev, r.Timestamp)
		}
	}
	if n := len(p.Records); n > 0 {
		st.next = p.Records[n-1].Offset + 1
		pw.ckpt = c.maybeSnapshot(st, p.Partition, st.next)
	}
}

// durable writes a group of batches: the urgent parts the urgent writer
// did not make durable, the dead letters, the rest of the batches in one
// write and then the checkpoints, retrying with backoff until all
// succeed. Checkpoints go last so that a checkpoint never covers records
// whose output is not in the sinks. Attempts run under flush (see
// flushWindow), not ctx, so a shutdown never cuts one off half-way. Once
// ctx ends, a failed attempt is retried at once and then with backoff
// until flush ends, ShutdownFlushTimeout after the shutdown request; then
// the batch is given up with ErrUncommitted.
func (c *Consumer) durable(ctx, flush context.Context, g *group) error {
	b, dlq := &g.bulk, g.dlq
	backoff := c.opts.RetryBackoff
	dlqDone := len(dlq) == 0
	sinkDone := b.Empty()
	shutdownLogged := false
	for attempt := 1; ; attempt++ {
		wctx, cancel := c.detached(flush)
		err := func() error {
			if g.pendingUrgent() {
				if err := c.w.Write(wctx, &g.urgent); err != nil {
					return err
				}
				for _, bw := range g.batches {
					if !bw.urgentDone {
						c.urgentWritten(bw)
						bw.urgentStored = true
					}
				}
			}
			if g.unstoredUrgent() { // published after the journal: now the stores
				if err := c.w.Write(sink.WithPhase(wctx, sink.PhaseStore), &g.urgent); err != nil {
					return err
				}
				for _, bw := range g.batches {
					bw.urgentStored = true
				}
			}
			if !dlqDone {
				rearm(wctx, dlq)
				if err := c.cl.ProduceSync(wctx, dlq...).FirstErr(); err != nil {
					return fmt.Errorf("dead-letter topic %s: %w", c.opts.DeadLetterTopic, err)
				}
				dlqDone = true
				c.m.deadLettered.Add(int64(len(dlq)))
			}
			if !sinkDone {
				if err := c.w.Write(wctx, b); err != nil {
					return err
				}
				sinkDone = true
			}
			return c.produceCheckpoints(wctx, g.ckpts)
		}()
		cancel()
		if err == nil {
			if attempt > 1 {
				c.log.Info().Int("attempts", attempt).Msg("sink recovered; batch written")
			}
			c.m.sinkHealthy.Store(true)
			return nil
		}
		if ctx.Err() != nil {
			// Readiness says "shutting down" before this failure is
			// counted: the flag's own context.AfterFunc runs on another
			// goroutine and may come later.
			c.m.stopping.Store(true)
		}
		c.m.sinkHealthy.Store(false)
		c.m.sinkErrors.Add(1)
		c.m.setSinkError(err)
		c.log.Error().Err(err).Int("attempt", attempt).Dur("retry_in", backoff).
			Int("batches", len(g.batches)).Int("events", len(b.Events)).Int("findings", g.findings()).
			Int("commands", g.commands()).
			Msg("batch not durable; offsets not committed, retrying")
		if flush.Err() != nil {
			return fmt.Errorf("%w: %d events, %d findings, %d dead letters after %d attempts: %v",
				ErrUncommitted, len(b.Events), g.findings(), len(dlq), attempt, err)
		}
		if ctx.Err() != nil && !shutdownLogged {
			shutdownLogged = true
			c.log.Warn().Dur("shutdown_timeout", c.opts.ShutdownFlushTimeout).
				Msg("shutdown requested while a batch is not durable; retrying until shutdown_timeout has passed")
		}
		timer := time.NewTimer(backoff)
		if ctx.Err() == nil {
			select {
			case <-ctx.Done(): // shutdown: one more attempt at once
				c.m.stopping.Store(true)
			case <-timer.C:
			}
		} else {
			select {
			case <-flush.Done():
			case <-timer.C:
			}
		}
		timer.Stop()
		backoff = min(backoff*2, c.opts.MaxRetryBackoff)
	}
}

// flushWindow returns a context that ends ShutdownFlushTimeout after ctx
// ends (and not before): the time a shutdown leaves to make the batch in
// flight durable and commit it. release frees its resources.
func (c *Consumer) flushWindow(ctx context.Context) (flush context.Context, release func()) {
	flush, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var mu sync.Mutex
	var timer *time.Timer
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		timer = time.AfterFunc(c.opts.ShutdownFlushTimeout, cancel)
		mu.Unlock()
	})
	return flush, func() {
		stop()
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

// detached bounds one attempt to make a batch durable, or to commit it,
// by ShutdownFlushTimeout under flush (flushWindow): a shutdown request
// does not cut it off half-way, the end of the shutdown window does.
func (c *Consumer) detached(flush context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(flush, c.opts.ShutdownFlushTimeout)
}
