package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// The command journal.
//
// With Options.JournalTopic set, the urgent writer does not wait for the
// stores (ClickHouse takes hundreds of ms per insert under load) before it
// publishes containment commands. It first produces one record per command
// — the command and the findings it names, keyed by command id — to the
// compacted journal topic and waits for the broker's acknowledgement
// (acks=all, idempotent producer): the findings are then durably stored.
// Only then does it write the batch to the publishers of the chain
// (sink.PhasePublish: the OCSF findings topic, the control topic). The
// writer writes the same commands and findings to the stores
// (sink.PhaseStore) with their batch, before it commits the batch's
// offsets, and then tombstones their journal records. If the process dies
// in between, the next start of a consumer on the same journal topic reads
// the records that are not tombstoned and writes them to the stores before
// it consumes anything (recoverJournal): a published command's findings
// reach the stores even if the replayed records would not raise them
// again. Stores and publishers are idempotent on finding and command ids,
// so a journal record written to the stores twice is harmless.

// journalEntry is one journal record: a command and the findings it names.
type journalEntry struct {
	Command  models.ContainmentCommand `json:"command"`
	Findings []models.Finding          `json:"findings"`
}

// ErrJournal: the command journal could not be written or read.
var ErrJournal = errors.New("command journal")

func (c *Consumer) journaling() bool { return c.opts.JournalTopic != "" }

// journalRecords returns one record per command of b, holding the command
// and the findings of b it names, keyed by its id.
func journalRecords(topic string, b *sink.Batch) ([]*kgo.Record, error) {
	byID := make(map[string]*models.Finding, len(b.Findings))
	for i := range b.Findings {
		byID[b.Findings[i].ID] = &b.Findings[i]
	}
	recs := make([]*kgo.Record, 0, len(b.Commands))
	for _, cmd := range b.Commands {
		if cmd.ID == "" {
			cmd.SetID()
		}
		e := journalEntry{Command: cmd}
		for _, id := range cmd.FindingIDs {
			if f, ok := byID[id]; ok {
				e.Findings = append(e.Findings, *f)
			}
		}
		v, err := json.Marshal(&e)
		if err != nil {
			return nil, fmt.Errorf("%w: encode command %s: %w", ErrJournal, cmd.ID, err)
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(cmd.ID), Value: v})
	}
	return recs, nil
}

// writeJournal makes b's commands and the findings they name durable in
// the journal topic.
func (c *Consumer) writeJournal(ctx context.Context, b *sink.Batch) error {
	recs, err := journalRecords(c.opts.JournalTopic, b)
	if err != nil {
		return err
	}
	if err := c.pub.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("%w: topic %s: %w", ErrJournal, c.opts.JournalTopic, err)
	}
	return nil
}

// trimJournal tombstones the journal records of cmds, whose findings are
// in the stores now. Best effort: a record left behind is written to the
// stores once more at the next start.
func (c *Consumer) trimJournal(cmds []models.ContainmentCommand) {
	for _, cmd := range cmds {
		if cmd.ID == "" {
			cmd.SetID()
		}
		c.pub.Produce(context.Background(), &kgo.Record{Topic: c.opts.JournalTopic, Key: []byte(cmd.ID)}, func(r *kgo.Record, err error) {
			if err != nil {
				c.log.Debug().Err(err).Str("command", string(r.Key)).Msg("journal tombstone not written; the record is stored again at the next start")
			}
		})
	}
}

// ensureJournalTopic creates the compacted journal topic when missing and
// reports whether it did (a new journal holds nothing to recover).
func (c *Consumer) ensureJournalTopic(ctx context.Context) (created bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RestoreTimeout)
	defer cancel()
	resp, err := kadm.NewClient(c.cl).CreateTopic(ctx, 1, -1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, c.opts.JournalTopic)
	if err == nil {
		err = resp.Err
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, kerr.TopicAlreadyExists):
		return false, nil
	default:
		return false, fmt.Errorf("%w: create topic %s: %w", ErrJournal, c.opts.JournalTopic, err)
	}
}

// recoverJournal writes the commands and findings of the journal records
// that are not tombstoned to the stores (sink.PhaseStore), retrying within
// RestoreTimeout, and then tombstones them. On failure the records stay
// for the next start; the error is logged and counted, consuming goes on.
func (c *Consumer) recoverJournal(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RestoreTimeout)
	defer cancel()
	live, err := c.readJournal(ctx)
	if err == nil && len(live) > 0 {
		var b sink.Batch
		seen := map[string]bool{}
		for _, e := range live {
			b.Commands = append(b.Commands, e.Command)
			for _, f := range e.Findings {
				if !seen[f.ID] {
					seen[f.ID] = true
					b.Findings = append(b.Findings, f)
				}
			}
		}
		backoff := c.opts.RetryBackoff
		for {
			if err = c.w.Write(sink.WithPhase(ctx, sink.PhaseStore), &b); err == nil || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, c.opts.MaxRetryBackoff)
		}
		if err == nil {
			c.trimJournal(b.Commands)
			if ferr := c.pub.Flush(ctx); ferr != nil {
				c.log.Warn().Err(ferr).Msg("journal tombstones not flushed; the records are stored again at the next start")
			}
			c.m.journalRecovered.Add(int64(len(b.Commands)))
			c.log.Warn().Int("commands", len(b.Commands)).Int("findings", len(b.Findings)).Str("topic", c.opts.JournalTopic).
				Msg("journal: commands published before a stop and their findings written to the stores")
		}
	}
	if err != nil {
		c.m.journalRecoveryFailures.Add(1)
		c.log.Error().Err(err).Str("topic", c.opts.JournalTopic).
			Msg("journal not recovered: commands published before the last stop may lack their findings in the stores until the next start")
	}
}

// readJournal returns the journal records that are not tombstoned, by
// command id.
func (c *Consumer) readJournal(ctx context.Context) (map[string]journalEntry, error) {
	adm := kadm.NewClient(c.cl)
	ends, err := adm.ListEndOffsets(ctx, c.opts.JournalTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: topic %s: list end offsets: %w", ErrJournal, c.opts.JournalTopic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, c.opts.JournalTopic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: topic %s: list start offsets: %w", ErrJournal, c.opts.JournalTopic, err)
	}
	want := map[int32]int64{}
	offs := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && o.Offset > s.Offset {
			want[o.Partition] = o.Offset
			offs[o.Partition] = kgo.NewOffset().At(s.Offset)
		}
	})
	live := map[string]journalEntry{}
	if len(want) == 0 {
		return live, nil
	}
	rd, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.opts.Brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.opts.JournalTopic: offs}),
		kgo.FetchMaxWait(250 * time.Millisecond)}, c.extra...)...)
	if err != nil {
		return nil, fmt.Errorf("%w: reader: %w", ErrJournal, err)
	}
	defer rd.Close()
	for len(want) > 0 {
		fs := rd.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: topic %s: read short of the high watermark: %w", ErrJournal, c.opts.JournalTopic, ctx.Err())
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			ferr = fmt.Errorf("%w: topic %s partition %d: %w", ErrJournal, t, p, err)
		})
		if ferr != nil {
			return nil, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
			if r.Value == nil {
				delete(live, string(r.Key))
				return
			}
			var e journalEntry
			if err := json.Unmarshal(r.Value, &e); err != nil {
				c.log.Error().Err(err).Str("command", string(r.Key)).Msg("journal record unreadable; skipped")
				return
			}
			live[string(r.Key)] = e
		})
	}
	return live, nil
}
