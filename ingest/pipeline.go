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
// on the goroutine that owns its detector state) and hands it on twice: its
// urgent part (the findings that containment commands name, and the
// commands) to the urgent writer goroutine, the whole batch to the writer
// goroutine. Then it polls again at once: judging waits neither for the
// commands to be published nor for the batch to be durable, only for room
// in the record budget (Options.PipelineDepth × MaxPollRecords records
// judged and not yet durable). The urgent writer publishes the commands of
// every batch waiting for it in one write: through the whole sink chain,
// or, with the command journal (journal.go), to the journal topic and then
// to the chain's publishers alone, the stores following with the batch. The
// writer makes every batch waiting for it durable as one group — the urgent
// parts whose early write failed, the dead letters, the rest of the
// batches in one write, then the checkpoints judged with them — and then
// commits the group's offsets. So a command waits for the judging of its
// own batch and one urgent write, never for a bulk insert, and the bulk
// inserts grow with the load instead of queueing behind each other.
//
// Guarantees:
//   - The writer takes batches in the order they were polled, so a batch
//     is durable only after every batch before it (a group is written as
//     one; on failure it is retried whole); it commits, per partition, the
//     offset after the last record of the group's last batch holding that
//     partition, only once the whole group is durable. Offsets are never
//     committed past durable output, and per partition they only move
//     forward.
//   - A checkpoint is snapshotted at the end of a partition's share of a
//     batch (its manifest names the offset after that share's last record)
//     and produced after the sink writes of its group, hence after the
//     writes of every earlier batch: a checkpoint never covers output that
//     is not durable. A partition has at most one checkpoint in flight, so
//     two generations never share a key slot.
//   - A batch's urgent part holds every finding its commands name (a
//     command only names findings of the same Process call) and goes
//     through the whole sink chain, whose stores come before the control
//     publisher, or first to the journal topic (acknowledged) and then to
//     the publishers: a command is never published for a finding that is
//     not durably stored. With the journal, the writer writes the urgent
//     part to the stores with the batch, before its commit. The writer
//     waits for a batch's early urgent write to end before it writes the
//     batch, and retries it first if it failed, so no offset is committed
//     before the batch's commands are published.
//   - Rebalances are blocked from a poll until its batch is judged and
//     handed on. Revocation and loss callbacks wait for the pipeline to
//     drain (every judged batch durable and committed, or the pipeline
//     failed) before they checkpoint and drop the partitions.
//   - When a batch cannot be made durable before the shutdown window ends,
//     the pipeline fails: no later batch is written (not even its urgent
//     part) or committed, every partition of the failed and the discarded
//     batches is marked broken (no checkpoint of state ahead of the sinks),
//     and Run returns ErrUncommitted.

// DefaultPipelineDepth is the default Options.PipelineDepth.
const DefaultPipelineDepth = 4

// MaxPipelineDepth bounds Options.PipelineDepth.
const MaxPipelineDepth = 16

// maxFreeBatches bounds the released batchWorks kept for reuse.
const maxFreeBatches = 64

// batchWork is one polled batch on its way through the pipeline. Released
// batchWorks are kept for reuse (up to maxFreeBatches), so their buffers
// are too.
type batchWork struct {
	start time.Time
	// polled is how many records the poll returned (the record budget's
	// unit).
	polled int
	// parts is this batch's share per partition, in poll order; byPart
	// keeps every partWork this batchWork has used, for reuse.
	parts  []*partWork
	byPart map[int32]*partWork
	// commit is the offset to commit per partition once durable.
	commit map[int32]kgo.EpochOffset
	// urgent holds the commands and the findings they name; bulk the
	// events and the other findings.
	urgent, bulk sink.Batch
	// urgentDone: the urgent part is durable (in the stores or the
	// journal) and published; urgentStored: it is in the stores;
	// urgentJournaled: it has journal records to tombstone once stored.
	// The urgent writer sets them before it closes urgentEnded, then only
	// the writer.
	urgentDone, urgentStored, urgentJournaled bool
	// urgentEnded is closed when the early write of the urgent part has
	// ended (nil: none was attempted).
	urgentEnded chan struct{}
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
	bw.polled = 0
	bw.parts = bw.parts[:0]
	clear(bw.commit)
	bw.urgent = sink.Batch{Findings: bw.urgent.Findings[:0], Commands: bw.urgent.Commands[:0]}
	bw.bulk = sink.Batch{Events: bw.bulk.Events[:0], Findings: bw.bulk.Findings[:0]}
	bw.urgentDone, bw.urgentStored, bw.urgentJournaled = false, false, false
	bw.urgentEnded = nil
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
	bw.urgentStored = bw.urgentDone
}

// records is how many records (events and dead letters) bw carries.
func (bw *batchWork) records() int { return len(bw.bulk.Events) + len(bw.dlq) }

// findings is how many findings bw carries.
func (bw *batchWork) findings() int { return len(bw.urgent.Findings) + len(bw.bulk.Findings) }

// group is the batches the writer makes durable together, and their
// output merged into one write.
type group struct {
	batches []*batchWork
	urgent  sink.Batch // urgent parts whose early write failed
	bulk    sink.Batch
	dlq     []*kgo.Record
	ckpts   []*pendingCheckpoint
	commit  map[int32]kgo.EpochOffset
}

// merge sets g to the batches bws, in poll order.
func (g *group) merge(bws []*batchWork) {
	g.batches = bws
	g.bulk = sink.Batch{Events: g.bulk.Events[:0], Findings: g.bulk.Findings[:0]}
	g.dlq, g.ckpts = g.dlq[:0], g.ckpts[:0]
	if g.commit == nil {
		g.commit = map[int32]kgo.EpochOffset{}
	}
	clear(g.commit)
	for _, bw := range bws {
		g.bulk.Events = append(g.bulk.Events, bw.bulk.Events...)
		g.bulk.Findings = append(g.bulk.Findings, bw.bulk.Findings...)
		g.dlq = append(g.dlq, bw.dlq...)
		g.ckpts = append(g.ckpts, bw.ckpts...)
		for p, eo := range bw.commit { // later batches override: offsets only move forward
			g.commit[p] = eo
		}
	}
}

// pendingUrgent gathers the urgent parts of g's batches that are not yet
// durable into g.urgent and reports whether there are any.
func (g *group) pendingUrgent() bool {
	g.urgent = sink.Batch{Findings: g.urgent.Findings[:0], Commands: g.urgent.Commands[:0]}
	for _, bw := range g.batches {
		if !bw.urgentDone {
			g.urgent.Findings = append(g.urgent.Findings, bw.urgent.Findings...)
			g.urgent.Commands = append(g.urgent.Commands, bw.urgent.Commands...)
		}
	}
	return !g.urgent.Empty()
}

// unstoredUrgent gathers the urgent parts of g's batches that were
// published after the journal took them but are not yet in the stores into
// g.urgent and reports whether there are any.
func (g *group) unstoredUrgent() bool {
	g.urgent = sink.Batch{Findings: g.urgent.Findings[:0], Commands: g.urgent.Commands[:0]}
	for _, bw := range g.batches {
		if bw.urgentDone && !bw.urgentStored {
			g.urgent.Findings = append(g.urgent.Findings, bw.urgent.Findings...)
			g.urgent.Commands = append(g.urgent.Commands, bw.urgent.Commands...)
		}
	}
	return !g.urgent.Empty()
}

func (g *group) records() (n int) {
	for _, bw := range g.batches {
		n += bw.records()
	}
	return n
}

func (g *group) findings() (n int) {
	for _, bw := range g.batches {
		n += bw.findings()
	}
	return n
}

func (g *group) commands() (n int) {
	for _, bw := range g.batches {
		n += len(bw.urgent.Commands)
	}
	return n
}

// queue is a FIFO of batches between two goroutines.
type queue struct {
	mu     sync.Mutex
	items  []*batchWork
	closed bool
	wake   chan struct{} // capacity 1: something was pushed or the queue closed
}

func newQueue() *queue { return &queue{wake: make(chan struct{}, 1)} }

func (q *queue) push(bw *batchWork) {
	q.mu.Lock()
	q.items = append(q.items, bw)
	q.mu.Unlock()
	q.signal()
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// takeAll waits until the queue holds batches and returns all of them (in
// push order, into buf), or returns nil once it is closed and empty.
func (q *queue) takeAll(buf []*batchWork) []*batchWork {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			buf = append(buf[:0], q.items...)
			clear(q.items)
			q.items = q.items[:0]
			q.mu.Unlock()
			return buf
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil
		}
		<-q.wake
	}
}

// pipeline connects the judging goroutine to the urgent writer and the
// writer.
type pipeline struct {
	budget int    // records judged and not yet durable, at most
	write  *queue // judged batches, in poll order
	urgent *queue // batches whose urgent part waits for its early write
	failed chan struct{}
	done   chan struct{} // closed when the writer and the urgent writer have returned

	mu       sync.Mutex
	cond     *sync.Cond    // signalled when inFlight drops
	room     chan struct{} // closed (and replaced) when records leave the pipeline
	inFlight int           // judged batches not yet durable and committed (or discarded)
	records  int           // records of those batches
	free     []*batchWork  // released batchWorks, for reuse
	werr     error         // the writer's failure
}

// startPipeline starts the writer and urgent writer goroutines of a new
// pipeline.
func (c *Consumer) startPipeline(ctx, flush context.Context) *pipeline {
	p := &pipeline{
		budget: c.opts.PipelineDepth * c.opts.MaxPollRecords,
		write:  newQueue(),
		urgent: newQueue(),
		failed: make(chan struct{}),
		done:   make(chan struct{}),
		room:   make(chan struct{}),
	}
	p.cond = sync.NewCond(&p.mu)
	c.pipe.Store(p)
	var wg sync.WaitGroup
	wg.Go(func() { c.writeLoop(ctx, flush, p) })
	wg.Go(func() { c.urgentLoop(ctx, p) })
	go func() {
		wg.Wait()
		close(p.done)
	}()
	return p
}

// stopPipeline lets the writers finish the batches handed to them and
// returns the writer's error, if any.
func (c *Consumer) stopPipeline(p *pipeline) error {
	p.urgent.close()
	p.write.close()
	<-p.done
	c.pipe.Store(nil)
	if c.journaling() { // the journal's tombstones; a lost one only means a second store write at the next start
		fctx, cancel := context.WithTimeout(context.Background(), c.opts.ShutdownFlushTimeout)
		_ = c.pub.Flush(fctx)
		cancel()
	}
	return p.err()
}

// acquire waits for room in the record budget and returns an emptied
// batchWork and how many records the next poll may take; ok is false when
// ctx ended or the pipeline failed first.
func (p *pipeline) acquire(ctx context.Context, maxPoll int) (bw *batchWork, n int, ok bool) {
	for {
		p.mu.Lock()
		if p.werr != nil {
			p.mu.Unlock()
			return nil, 0, false
		}
		if left := p.budget - p.records; left > 0 {
			if k := len(p.free); k > 0 {
				bw = p.free[k-1]
				p.free = p.free[:k-1]
			} else {
				bw = newBatchWork()
			}
			p.mu.Unlock()
			return bw, min(left, maxPoll), true
		}
		room := p.room
		p.mu.Unlock()
		select {
		case <-room:
		case <-p.failed:
			return nil, 0, false
		case <-ctx.Done():
			return nil, 0, false
		}
	}
}

// unused returns a batchWork that carried no records.
func (p *pipeline) unused(bw *batchWork) {
	p.mu.Lock()
	if len(p.free) < maxFreeBatches {
		p.free = append(p.free, bw)
	}
	p.mu.Unlock()
}

// submit hands a judged batch to the writer, and its urgent part, if any,
// to the urgent writer first.
func (p *pipeline) submit(bw *batchWork) {
	p.mu.Lock()
	p.inFlight++
	p.records += bw.polled
	p.mu.Unlock()
	if !bw.urgentDone {
		bw.urgentEnded = make(chan struct{})
		p.urgent.push(bw)
	}
	p.write.push(bw)
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

// release returns written (or discarded) batches for reuse.
func (p *pipeline) release(bws []*batchWork) {
	p.mu.Lock()
	for _, bw := range bws {
		p.inFlight--
		p.records -= bw.polled
		if len(p.free) < maxFreeBatches {
			p.free = append(p.free, bw)
		}
	}
	close(p.room)
	p.room = make(chan struct{})
	p.cond.Broadcast()
	p.mu.Unlock()
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

// writeLoop makes the judged batches durable and commits them, in order,
// each time all the batches waiting for it as one group. After a failure
// it discards the remaining batches, marking their partitions broken.
func (c *Consumer) writeLoop(ctx, flush context.Context, p *pipeline) {
	var g group
	var buf []*batchWork
	for {
		bws := p.write.takeAll(buf)
		if bws == nil {
			return
		}
		buf = bws
		for _, bw := range bws {
			if bw.urgentEnded != nil {
				<-bw.urgentEnded // the early write of its commands has ended
			}
		}
		if p.err() == nil {
			g.merge(bws)
			start := time.Now()
			if err := c.durable(ctx, flush, &g); err != nil {
				p.fail(err)
			} else {
				c.m.observeStage(stageDurable, time.Since(start))
				c.finish(flush, &g)
				for _, bw := range bws {
					if bw.urgentJournaled {
						c.trimJournal(bw.urgent.Commands)
					}
				}
			}
			g.batches = nil
		}
		if p.err() != nil {
			for _, bw := range bws {
				for _, pw := range bw.parts {
					pw.st.mu.Lock()
					pw.st.broken = true
					pw.st.mu.Unlock()
				}
			}
		}
		p.release(bws)
	}
}

// urgentLoop is the urgent writer: it writes the urgent parts (the
// commands and the findings they name) of every batch waiting for it at
// once, in one write through the whole sink chain, so that containment
// waits neither for the judging of later batches nor for the writer. One
// attempt: if it fails, the writer retries it before the rest of its
// batch. Skipped while the sinks are failing (unless the journal is on:
// then containment goes on during a store outage, for the records the
// budget lets be judged), once ctx has ended and after the pipeline
// failed.
func (c *Consumer) urgentLoop(ctx context.Context, p *pipeline) {
	var all sink.Batch
	var buf []*batchWork
	for {
		bws := p.urgent.takeAll(buf)
		if bws == nil {
			return
		}
		buf = bws
		// While the stores fail, the journal still lets commands out.
		if (c.journaling() || c.m.sinkHealthy.Load()) && ctx.Err() == nil && p.err() == nil {
			all = sink.Batch{Findings: all.Findings[:0], Commands: all.Commands[:0]}
			for _, bw := range bws {
				all.Findings = append(all.Findings, bw.urgent.Findings...)
				all.Commands = append(all.Commands, bw.urgent.Commands...)
			}
			wctx, cancel := context.WithTimeout(ctx, c.opts.ShutdownFlushTimeout)
			start := time.Now()
			var err error
			journaled := false
			if c.journaling() {
				// Durable in the journal first, then the publishers alone;
				// the writer stores it with the batch.
				if err = c.writeJournal(wctx, &all); err == nil {
					journaled = true
					err = c.w.Write(sink.WithPhase(wctx, sink.PhasePublish), &all)
				}
			} else {
				err = c.w.Write(wctx, &all)
			}
			cancel()
			for _, bw := range bws {
				bw.urgentJournaled = journaled
			}
			if err != nil {
				c.log.Debug().Err(err).Int("commands", len(all.Commands)).
					Msg("urgent write of containment commands failed; the writer retries it before the rest of the batch")
			} else {
				c.m.observeStage(stageUrgentWrite, time.Since(start))
				for _, bw := range bws {
					c.urgentWritten(bw)
					bw.urgentStored = !journaled
				}
			}
		}
		for _, bw := range bws {
			close(bw.urgentEnded)
		}
	}
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

// finish runs once g is durable: it updates the partitions' checkpoint
// bookkeeping, commits g's offsets and counts its batches.
func (c *Consumer) finish(flush context.Context, g *group) {
	now := time.Now()
	for _, bw := range g.batches {
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
	}
	if len(g.commit) > 0 {
		cctx, cancel := c.detached(flush)
		start := time.Now()
		err := c.commit(cctx, g.commit)
		cancel()
		c.m.observeStage(stageCommit, time.Since(start))
		if err != nil {
			// The batches are durable; a failed commit only means
			// redelivery, and deterministic ids make the replay idempotent.
			c.m.commitErrors.Add(1)
			c.log.Error().Err(err).Msg("offset commit failed; the batch will be redelivered")
		} else {
			c.m.commits.Add(1)
		}
	}
	for _, bw := range g.batches {
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
