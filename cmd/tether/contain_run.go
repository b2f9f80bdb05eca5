package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/tetherhq/tether/detector/containment"
	"github.com/tetherhq/tether/ingest"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/control"
	"github.com/tetherhq/tether/sink/memstore"
)

// startRecorder starts the ack recorder: acks from control.ack_topic are
// stored in ClickHouse (when enabled) with their time-to-contain stages,
// and commands not applied within control.ack_deadline raise
// containment_unacknowledged findings (to ClickHouse). When console is not
// nil, it keeps the acks too (after ClickHouse took them), for the
// console's pages and incident exports.
// The returned stop function ends the recorder and waits for it.
func startRecorder(ctx context.Context, cfg Config, sec ingest.Security, sinks sink.Multi, console *memstore.Store, log zerolog.Logger) (*control.Recorder, func(), error) {
	var stores ackStores
	for _, w := range sinks {
		if ch, ok := clickHouseOf(w); ok {
			stores = append(stores, ch)
		}
	}
	if console != nil {
		stores = append(stores, console)
	}
	return startRecorderWith(ctx, cfg, sec, sinks, stores, log)
}

// startRecorderWith starts the recorder storing acks in stores (in
// order) and writing containment_unacknowledged findings to the ClickHouse
// writer among sinks.
func startRecorderWith(ctx context.Context, cfg Config, sec ingest.Security, sinks sink.Multi, stores ackStores, log zerolog.Logger) (*control.Recorder, func(), error) {
	kopts, err := ingest.ClientOptions(sec)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	o := control.DefaultRecorderOptions()
	// A group per replica: every replica reads every ack (ClickHouse
	// collapses the repeated rows) and clears the commands it published.
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = fmt.Sprint(os.Getpid())
	}
	o.Brokers, o.Topic, o.Group, o.Deadline = cfg.Kafka.Brokers, cfg.Control.AckTopic, cfg.Kafka.Group+"-acks-"+host, cfg.Control.AckDeadline
	o.KafkaOpts = kopts
	o.OnError = func(err error) { log.Warn().Err(err).Msg("containment ack recorder") }
	for _, w := range sinks {
		if ch, ok := clickHouseOf(w); ok {
			o.Findings = ch
		}
	}
	if len(stores) > 0 {
		o.Store = stores
	}
	rec, err := control.NewRecorder(o)
	if err != nil {
		return nil, nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := rec.Run(rctx); err != nil {
			log.Error().Err(err).Msg("containment ack recorder stopped")
		}
	}()
	log.Info().Str("topic", o.Topic).Dur("deadline", o.Deadline).Bool("clickhouse", o.Findings != nil).Int("ack_stores", len(stores)).Msg("recording containment acks")
	return rec, func() { cancel(); <-done; rec.Close() }, nil
}

// ackStores stores acks in each store in turn (the recorder retries the
// batch while one fails: the console's store keeps a repeated ack once).
type ackStores []control.AckStore

// WriteAcks implements control.AckStore.
func (s ackStores) WriteAcks(ctx context.Context, acks []models.CommandAck) error {
	for _, st := range s {
		if err := st.WriteAcks(ctx, acks); err != nil {
			return err
		}
	}
	return nil
}

// reloadOnHUP re-reads the configuration file on SIGHUP and puts its
// containment policy in force; an invalid file is refused (logged) and
// the policy in force stays.
func reloadOnHUP(ctx context.Context, path string, live *containment.Live, log zerolog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		if err := reloadPolicy(path, os.Getenv, live); err != nil {
			log.Error().Err(err).Str("file", path).Msg("containment policy reload refused; the policy in force stays")
			continue
		}
		log.Info().Str("file", path).Msg("containment policy reloaded")
	}
}

// reloadPolicy loads path and stores its containment options in live.
func reloadPolicy(path string, getenv func(string) string, live *containment.Live) error {
	c, err := loadConfig(path, getenv)
	if err != nil {
		return err
	}
	o, err := c.Containment.options()
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	live.Store(o)
	return nil
}

// registerContainmentMetrics registers the ack recorder (time-to-contain
// stage histograms, acks by status, outstanding and unacknowledged
// commands) and the circuit breaker's state on reg; either may be nil.
func registerContainmentMetrics(reg *prometheus.Registry, rec *control.Recorder, b *containment.Breaker) error {
	if rec != nil {
		if err := reg.Register(rec); err != nil {
			return err
		}
	}
	if b == nil {
		return nil
	}
	return errors.Join(
		reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tether_containment_breaker_tripped",
			Help: "Whether the containment circuit breaker is tripped (1) until an operator clears it.",
		}, func() float64 {
			if b.Tripped() {
				return 1
			}
			return 0
		})),
		reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "tether_containment_breaker_trips_total",
			Help: "Times the containment circuit breaker tripped.",
		}, func() float64 { return float64(b.Trips()) })),
	)
}
