package main

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/tetherhq/tether/ingest"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/clickhouse"
	"github.com/tetherhq/tether/sink/control"
	"github.com/tetherhq/tether/sink/ocsf"
	"github.com/tetherhq/tether/sink/parquet"
)

// lateWriter forwards to a writer set after the consumer is built (the
// control-topic publisher shares the consumer's Kafka client). With a
// signer it signs the batch's commands first, so every sink stores them
// as the control topic carries them.
type lateWriter struct {
	w      sink.Writer
	signer *control.Signer
}

// closingSplit is a sink.Split that closes the store it wraps.
type closingSplit struct {
	sink.Split
	c sink.Closer
}

// Close implements sink.Closer.
func (s closingSplit) Close() error { return s.c.Close() }

// clickHouseOf returns the ClickHouse writer w is or wraps.
func clickHouseOf(w sink.Writer) (*clickhouse.Writer, bool) {
	if s, ok := w.(closingSplit); ok {
		w = s.W
	}
	ch, ok := w.(*clickhouse.Writer)
	return ch, ok
}

// Write implements sink.Writer.
func (l *lateWriter) Write(ctx context.Context, b *sink.Batch) error {
	if l.signer != nil {
		b = l.signer.Signed(b)
	}
	return l.w.Write(ctx, b)
}

// signerOf returns the signer of the control publisher among m, or nil.
func signerOf(m sink.Multi) *control.Signer {
	for _, w := range m {
		if p, ok := w.(*control.Publisher); ok {
			return p.Signer
		}
	}
	return nil
}

// buildSinks opens the configured sinks in write order: the analysts'
// stores first (ClickHouse, Parquet), then the OCSF findings topic for
// SIEMs, the control topic last, so that a command is never published for a
// finding that was not stored or that the SIEM did not get.
func buildSinks(ctx context.Context, cfg Config, cons *ingest.Consumer, log zerolog.Logger) (sink.Multi, error) {
	var m sink.Multi
	if cfg.ClickHouse.Enabled {
		o := clickhouse.DefaultOptions()
		o.Addr = cfg.ClickHouse.Addr
		o.Database = cfg.ClickHouse.Database
		o.Username = cfg.ClickHouse.Username
		pw, err := cfg.clickHousePassword()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errConfig, err)
		}
		o.Password = pw
		if o.TLS, err = cfg.ClickHouse.TLS.build("clickhouse.tls"); err != nil {
			return nil, fmt.Errorf("%w: %w", errConfig, err)
		}
		o.RetentionDays = cfg.ClickHouse.RetentionDays
		o.EventRetentionDays = cfg.ClickHouse.EventRetentionDays
		o.MaxOpenConns = max(o.MaxOpenConns, cfg.ClickHouse.InsertWorkers+2) // +2: the urgent write of commands and their findings
		w, err := clickhouse.Open(ctx, o, log)
		if err != nil {
			return nil, err
		}
		// Inserts sized and concurrent as the server likes them; the Split
		// wraps the store only, so the chain's order (stores before the
		// control publisher) is kept.
		m = append(m, closingSplit{Split: sink.Split{W: w, Rows: cfg.ClickHouse.InsertRows, Workers: cfg.ClickHouse.InsertWorkers}, c: w})
	}
	if cfg.Parquet.Dir != "" {
		o := parquet.DefaultOptions()
		o.Dir = cfg.Parquet.Dir
		w, err := parquet.New(o)
		if err != nil {
			_ = m.CloseAll()
			return nil, err
		}
		m = append(m, w)
	}
	if cfg.SecurityLake.Dir != "" {
		o := ocsf.DefaultLakeOptions()
		o.Dir, o.SourceName, o.Region, o.AccountID = cfg.SecurityLake.Dir, cfg.SecurityLake.Source, cfg.SecurityLake.Region, cfg.SecurityLake.AccountID
		o.Map.LogName = cfg.Kafka.FindingsTopic
		w, err := ocsf.NewLakeWriter(o)
		if err != nil {
			_ = m.CloseAll()
			return nil, fmt.Errorf("%w: security_lake: %w", errConfig, err)
		}
		m = append(m, w)
	}
	if cfg.Kafka.FindingsTopic != "" {
		m = append(m, ocsf.NewPublisher(cons.Client(), cfg.Kafka.FindingsTopic))
	}
	pub := control.NewPublisher(cons.PublishClient(), cfg.Kafka.ControlTopic)
	if cfg.Control.Signing != "disabled" {
		s, err := cfg.signer()
		if err != nil {
			_ = m.CloseAll()
			return nil, fmt.Errorf("%w: %w", errConfig, err)
		}
		pub.Signer = s
		log.Info().Str("key_id", s.KeyID()).Msg("containment commands are signed")
	} else {
		log.Warn().Msg("control.signing is disabled: containment commands are published unsigned; consumers must opt in with control.AllowUnsigned")
	}
	m = append(m, pub)
	return m, nil
}
