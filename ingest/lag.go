package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// defaultLagInterval is Options.LagInterval's default.
const defaultLagInterval = 5 * time.Second

// ErrLag wraps the errors of a refresh of the group's offsets.
var ErrLag = errors.New("consumer lag refresh failed")

// refreshLag runs until ctx ends, refreshing the lag gauges and the broker
// reachability seen by Readiness every LagInterval (and once at once).
// Lag is measured the way the group's operators see it: end offsets
// against the group's committed offsets (kadm.Lag), so it keeps growing
// while a sink outage holds commits back, even though no batch completes.
func (c *Consumer) refreshLag(ctx context.Context) {
	adm := kadm.NewClient(c.cl)
	t := time.NewTicker(c.opts.LagInterval)
	defer t.Stop()
	failing := false
	for {
		rctx, cancel := context.WithTimeout(ctx, c.opts.LagInterval)
		err := c.updateLag(rctx, adm)
		cancel()
		if ctx.Err() != nil {
			return
		}
		c.m.observeBroker(err, time.Now())
		switch { // log the transitions, not every refresh
		case err != nil && !failing:
			c.log.Warn().Err(err).Msg("consumer lag not refreshed: brokers not answering; not ready")
		case err == nil && failing:
			c.log.Info().Msg("consumer lag refreshed again: brokers answering")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// updateLag fetches the group's lag and stores this member's and the
// group's totals. An error means the brokers did not answer (or could not
// describe the group); the gauges then keep their last values.
func (c *Consumer) updateLag(ctx context.Context, adm *kadm.Client) error {
	lags, err := adm.Lag(ctx, c.opts.Group)
	if err != nil {
		return fmt.Errorf("%w: group %s: %w", ErrLag, c.opts.Group, err)
	}
	l, ok := lags[c.opts.Group]
	if !ok {
		return fmt.Errorf("%w: group %s: not described", ErrLag, c.opts.Group)
	}
	if errors.Is(l.Error(), kerr.GroupIDNotFound) {
		// The brokers answered: the group has not been created yet (no
		// member has joined, nothing is committed), so there is no lag.
		c.m.lag.Store(0)
		c.m.groupLag.Store(0)
		return nil
	}
	if err := l.Error(); err != nil {
		return fmt.Errorf("%w: group %s: %w", ErrLag, c.opts.Group, err)
	}
	owned := c.ownedPartitions()
	var mine, group int64
	for _, pl := range l.Lag[c.opts.Topic] {
		if pl.Err != nil {
			return fmt.Errorf("%w: group %s, topic %s, partition %d: %w", ErrLag, c.opts.Group, pl.Topic, pl.Partition, pl.Err)
		}
		group += pl.Lag
		// This member's partitions are those it holds (assignment
		// callbacks), as tether_partitions_assigned counts them.
		if owned[pl.Partition] {
			mine += pl.Lag
		}
	}
	c.m.lag.Store(mine)
	c.m.groupLag.Store(group)
	return nil
}

// ownedPartitions returns the partitions this member holds engines for.
func (c *Consumer) ownedPartitions() map[int32]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[int32]bool, len(c.engines))
	for p := range c.engines {
		out[p] = true
	}
	return out
}
