package ingest

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// The pipeline.
//
// Run's goroutine polls a batch, judges it (the partitions in parallel, each
// on the goroutine that owns its detector state) and hands it to one writer
// goroutine, which makes it durable — its urgent part (the findings that
// containment commands name, and the commands), the dead letters, the rest
// of the batch and the checkpoints judged with it — and then commits its
// offsets. With PipelineDepth 2 the next batch is polled and judged while
// the writer works; with 1 Run waits for the writer before polling again.
//
// Guarantees:
//   - The writer takes batches in the order they were polled, so a batch
//     is durable only after every batch before it; it commits a batch's own
//     offsets (per partition, the offset after its last record) only once
//     that batch is durable. Offsets are never committed past durable
//     output, and per partition they only move forward.
//   - A checkpoint is snapshotted at the end of a partition's share of a
//     batch (its manifest names the offset after that share's last record)
//     and produced after that batch's sink writes, hence after the writes of
//     every earlier batch: a checkpoint never covers output that is not
//     durable. A partition has at most one checkpoint in flight, so two
//     generations never share a key slot.
//   - A batch's urgent part is written by the judging goroutine right after
//     judging, concurrently with the writer's work on the previous batch, so
//     a command waits neither for the bulk insert of its own batch nor for
//     the previous batch's. It holds every finding the commands name (a
//     command only names findings of the same Process call), and it goes
//     through the whole sink chain, whose stores come before the control
//     publisher: a command is never published for a finding that is not
//     stored. If that early write fails the writer retries it first.
//   - Rebalances are blocked from a poll until its batch is judged and
//     handed to the writer. Revocation and loss callbacks wait for the
//     pipeline to drain (every judged batch durable and committed, or the
//     pipeline failed) before they checkpoint and drop the partitions.
//   - When a batch cannot be made durable before the shutdown window ends,
//     the pipeline fails: no later batch is written or committed, every
//     partition of the failed and the discarded batches is marked broken
//     (no checkpoint of state ahead of the sinks), and Run returns
//     ErrUncommitted.

// DefaultPipelineDepth is the default Options.PipelineDepth.
const DefaultPipelineDepth = 2

// MaxPipelineDepth bounds Options.PipelineDepth.
const MaxPipelineDepth = 2

// batchWork is one polled batch on its way through the pipeline. A fixed
// set of PipelineDepth of them circulates between the judging goroutine
// and the writer, so their buffers are reused.
type batchWork struct {
	start time.Time
	// parts is this batch's share per partition, in poll order; byPart
	// keeps every partWork this batchWork has used, for reuse.
	parts  []*partWork
	byPart map[int32]*partWork
	// commit is the offset to commit per partition once durable.
	commit map[int32]kgo.EpochOffset
	// urgent holds the commands and the findings they name; bulk the
	// events and the other findings.
	urgent, bulk sink.Batch
	urgentDone   bool
	// urgentTimes are the Kafka timestamps of the records behind
	// urgent.Findings (event→command latency).
	urgentTimes []time.Time
	named       map[string]struct{}
	dlq         []*kgo.Record
	ckpts       []*pendingCheckpoint
}

func newBatchWork() *batchWork {
	return &batchWork{byPart: map[int32]*partWork{}, commit: map[int32]kgo.EpochOffset{}, named: map[string]struct{}{}}
}

// reset empties bw for a new batch, keeping its buffers.
func (bw *batchWork) reset() {
	bw.start = time.Now()
	bw.parts = bw.parts[:0]
	clear(bw.commit)
	bw.urgent = sink.Batch{Findings: bw.urgent.Findings[:0], Commands: bw.urgent.Commands[:0]}
	bw.bulk = sink.Batch{Events: bw.bulk.Events[:0], Findings: bw.bulk.Findings[:0]}
	bw.urgentDone = false
	bw.urgentTimes = bw.urgentTimes[:0]
	clear(bw.named)
	bw.dlq, bw.ckpts = bw.dlq[:0], bw.ckpts[:0]
}

// part returns bw's emptied share for st's partition.
func (bw *batchWork) part(st *partitionState) *partWork {
	pw := bw.byPart[st.partition]
	if pw == nil || pw.st != st {
		pw = &partWork{}
		bw.byPart[st.partition] = pw
	}
	pw.st = st
	pw.out.Reset()
	pw.events, pw.dlq, pw.findingTimes, pw.ckpt = pw.events[:0], pw.dlq[:0], pw.findingTimes[:0], nil
	bw.parts = append(bw.parts, pw)
	return pw
}

// collect gathers the partitions' output into the urgent and bulk batches,
// the dead letters and the checkpoints.
func (bw *batchWork) collect() {
	for _, pw := range bw.parts {
		bw.urgent.Commands = append(bw.urgent.Commands, pw.out.Commands...)
		for i := range pw.out.Commands {
			for _, id := range pw.out.Commands[i].FindingIDs {
				bw.named[id] = struct{}{}
			}
		}
	}
	for _, pw := range bw.parts {
		bw.bulk.Events = append(bw.bulk.Events, pw.events...)
		for i := range pw.out.Findings {
			f := &pw.out.Findings[i]
			if _, ok := bw.named[f.ID]; ok {
				bw.urgent.Findings = append(bw.urgent.Findings, *f)
				bw.urgentTimes = append(bw.urgentTimes, pw.findingTimes[i])
			} else {
				bw.bulk.Findings = append(bw.bulk.Findings, *f)
			}
		}
		bw.dlq = append(bw.dlq, pw.dlq...)
		if pw.ckpt != nil {
			bw.ckpts = append(bw.ckpts, pw.ckpt)
		}
	}
	bw.urgentDone = bw.urgent.Empty()
}

// records is how many records (events and dead letters) bw carries.
func (bw *batchWork) records() int { return len(bw.bulk.Events) + len(bw.dlq) }

// findings is how many findings bw carries.
func (bw *batchWork) findings() int { return len(bw.urgent.Findings) + len(bw.bulk.Findings) }

// pipeline connects the judging goroutine to the writer.
type pipeline struct {
	in     chan *batchWork // judged batches, in poll order
	free   chan *batchWork // batchWorks ready for the next poll
	failed chan struct{}   // closed when a batch could not be made durable
	done   chan struct{}   // closed when the writer has returned

	mu       sync.Mutex
	cond     *sync.Cond // signalled when inFlight drops
	inFlight int        // judged batches not yet durable and committed (or discarded)
	werr     error      // the writer's failure
}

// startPipeline starts the writer goroutine of a new pipeline.
func (c *Consumer) startPipeline(ctx, flush context.Context) *pipeline {
	depth := c.opts.PipelineDepth
	p := &pipeline{
		in:     make(chan *batchWork, depth),
		free:   make(chan *batchWork, depth),
		failed: make(chan struct{}),
		done:   make(chan struct{}),
	}
	p.cond = sync.NewCond(&p.mu)
	for range depth {
		p.free <- newBatchWork()
	}
	c.pipe.Store(p)
	go func() {
		defer close(p.done)
		c.writeLoop(ctx, flush, p)
	}()
	return p
}

// stopPipeline lets the writer finish the batches handed to it and
// returns its error, if any.
func (c *Consumer) stopPipeline(p *pipeline) error {
	close(p.in)
	<-p.done
	c.pipe.Store(nil)
	return p.err()
}

// submit hands a judged batch to the writer. It never blocks: at most
// PipelineDepth batches exist.
func (p *pipeline) submit(bw *batchWork) {
	p.mu.Lock()
	p.inFlight++
	p.mu.Unlock()
	p.in <- bw
}

func (p *pipeline) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.werr
}

func (p *pipeline) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.werr == nil {
		p.werr = err
		close(p.failed)
	}
}

// release returns a written (or discarded) batch for reuse.
func (p *pipeline) release(bw *batchWork) {
	p.mu.Lock()
	p.inFlight--
	p.cond.Broadcast()
	p.mu.Unlock()
	p.free <- bw
}

// drain waits until no judged batch is waiting to be made durable and
// committed (or until the pipeline has discarded them after a failure).
// Rebalance callbacks call it before they checkpoint and drop partitions.
func (c *Consumer) drain() {
	p := c.pipe.Load()
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.inFlight > 0 {
		p.cond.Wait()
	}
}

// writeLoop makes the judged batches durable and commits them, in order.
// After a failure it discards the remaining batches, marking their
// partitions broken.
func (c *Consumer) writeLoop(ctx, flush context.Context, p *pipeline) {
	for bw := range p.in {
		if p.err() == nil {
			start := time.Now()
			if err := c.durable(ctx, flush, bw); err != nil {
				p.fail(err)
			} else {
				c.m.observeStage(stageDurable, time.Since(start))
				c.finish(flush, bw)
			}
		}
		if p.err() != nil {
			for _, pw := range bw.parts {
				pw.st.mu.Lock()
				pw.st.broken = true
				pw.st.mu.Unlock()
			}
		}
		p.release(bw)
	}
}

// writeUrgent writes bw's urgent part (the commands and the findings they
// name) at once, on the judging goroutine, so that containment does not
// wait for the writer. One attempt: if it fails, the writer retries it
// before the rest of the batch. Skipped while the sinks are failing.
func (c *Consumer) writeUrgent(ctx context.Context, bw *batchWork) {
	if bw.urgentDone || !c.m.sinkHealthy.Load() || ctx.Err() != nil {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, c.opts.ShutdownFlushTimeout)
	defer cancel()
	start := time.Now()
	if err := c.w.Write(wctx, &bw.urgent); err != nil {
		c.log.Debug().Err(err).Int("commands", len(bw.urgent.Commands)).
			Msg("urgent write of containment commands failed; the writer retries it before the rest of the batch")
		return
	}
	c.m.observeStage(stageUrgentWrite, time.Since(start))
	c.urgentWritten(bw)
}

// urgentWritten marks bw's urgent part durable and published and observes
// the event→command latency of its findings.
func (c *Consumer) urgentWritten(bw *batchWork) {
	bw.urgentDone = true
	now := time.Now()
	for _, ts := range bw.urgentTimes {
		c.m.commandLatency.Observe(max(now.Sub(ts), 0).Seconds())
	}
}

// finish runs once bw is durable: it updates the partitions' checkpoint
// bookkeeping, commits bw's offsets and counts the batch.
func (c *Consumer) finish(flush context.Context, bw *batchWork) {
	now := time.Now()
	for _, pw := range bw.parts {
		st := pw.st
		st.mu.Lock()
		if pw.ckpt != nil {
			st.ckInFlight = false
		}
		st.dirty = pw.ckpt == nil || !pw.ckpt.done
		since := st.lastCheckpoint
		if since.IsZero() {
			since = st.created
		}
		dirty := st.dirty
		st.mu.Unlock()
		if c.checkpointing() {
			c.m.setCheckpointState(st.partition, dirty, since)
		}
		for _, ts := range pw.findingTimes {
			c.m.findingLatency.Observe(max(now.Sub(ts), 0).Seconds())
		}
	}
	if len(bw.commit) > 0 {
		cctx, cancel := c.detached(flush)
		start := time.Now()
		err := c.commit(cctx, bw.commit)
		cancel()
		c.m.observeStage(stageCommit, time.Since(start))
		if err != nil {
			// The batch is durable; a failed commit only means redelivery,
			// and deterministic ids make the replay idempotent.
			c.m.commitErrors.Add(1)
			c.log.Error().Err(err).Msg("offset commit failed; the batch will be redelivered")
		} else {
			c.m.commits.Add(1)
		}
	}
	c.m.batches.Add(1)
	c.m.observeBatch(time.Since(bw.start), bw.records())
	c.m.durable.Add(int64(bw.records()))
	c.m.findings.Add(int64(bw.findings()))
	c.m.commands.Add(int64(len(bw.urgent.Commands)))
	for _, fs := range [][]models.Finding{bw.urgent.Findings, bw.bulk.Findings} {
		for i := range fs {
			c.m.observeFinding(&fs[i])
		}
	}
}

// commit commits offsets of the events topic synchronously and returns the
// request's error or the first partition's error.
func (c *Consumer) commit(ctx context.Context, offsets map[int32]kgo.EpochOffset) error {
	recs := make([]*kgo.Record, 0, len(offsets))
	for p, eo := range offsets {
		recs = append(recs, &kgo.Record{Topic: c.opts.Topic, Partition: p, LeaderEpoch: eo.Epoch, Offset: eo.Offset - 1})
	}
	return c.cl.CommitRecords(ctx, recs...)
}
