package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/ingest/otlp"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink/clickhouse"
)

// TestProduceSources replays each source into an in-process broker and
// checks what the daemon relies on: every record arrives, keyed by the root
// agent, timestamped with its (rebased) event time, decodable, and in event
// time order per key.
func TestProduceSources(t *testing.T) {
	defer goleak.VerifyNone(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "ev"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	inv := filepath.Join(t.TempDir(), "inv", "fleet.yaml")
	tests := []struct {
		name      string
		pc        produceConfig
		want      int
		rebased   bool
		inventory string
	}{
		{"events file", produceConfig{Source: sourceEvents, Path: "../../testdata/eval/events.jsonl"}, 32, false, ""},
		{"stream rebased", produceConfig{Source: sourceStream, Path: "../../testdata/eval", RebaseTime: true}, 32, true, "../../testdata/eval/inventory.yaml"},
		{"stream capped", produceConfig{Source: sourceStream, Path: "../../testdata/eval", Count: 5}, 5, false, "../../testdata/eval/inventory.yaml"},
		{"fleet", produceConfig{Source: sourceFleet, Count: 3000, Agents: 6, Rogue: 1, Seed: 3, InventoryOut: inv}, 3000, true, inv},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := fmt.Sprintf("ev-%d", i)
			pc := tt.pc
			pc.Brokers, pc.Topic, pc.Rate, pc.Now = cluster.ListenAddrs(), topic, 0, func() time.Time { return now }
			var progress bytes.Buffer
			pc.Progress = &progress
			rep, err := produce(context.Background(), pc)
			if err != nil {
				t.Fatalf("produce: %v\n%s", err, progress.String())
			}
			if rep.Produced != int64(tt.want) || rep.Inventory != tt.inventory {
				t.Fatalf("report %+v, want %d records, inventory %q", rep, tt.want, tt.inventory)
			}
			if !bytes.Contains(progress.Bytes(), []byte(fmt.Sprintf("produced %d records", tt.want))) {
				t.Errorf("progress: %s", progress.String())
			}
			recs := readTopicFrom(t, cluster.ListenAddrs(), topic, tt.want)
			if len(recs) != tt.want {
				t.Fatalf("read %d records, want %d", len(recs), tt.want)
			}
			dec := models.NewDecoder(models.DecodeOptions{})
			var last time.Time
			lastByKey := map[string]time.Time{}
			for _, r := range recs {
				ev, err := dec.Decode(r.Value, r.Timestamp)
				if err != nil {
					t.Fatalf("record %s: %v", r.Value, err)
				}
				if string(r.Key) != ev.Root() || !r.Timestamp.Equal(ev.Time.Truncate(time.Millisecond)) {
					t.Fatalf("record key %q ts %s, event root %q time %s", r.Key, r.Timestamp, ev.Root(), ev.Time)
				}
				if ev.Time.Before(lastByKey[string(r.Key)]) {
					t.Fatalf("key %s out of event-time order", r.Key)
				}
				lastByKey[string(r.Key)] = ev.Time
				if ev.Time.After(last) {
					last = ev.Time
				}
			}
			if tt.rebased && !last.Equal(now) {
				t.Errorf("rebased: last event at %s, want %s", last, now)
			}
			if !tt.rebased && last.After(now.Add(-24*time.Hour)) {
				t.Errorf("not rebased but last event at %s", last)
			}
			if tt.inventory == inv {
				fi, err := models.LoadInventoryFile(inv)
				if err != nil || len(fi.Agents) < 6 {
					t.Fatalf("fleet inventory: %v (%d agents)", err, len(fi.Agents))
				}
			}
		})
	}
}

// TestProduceRate checks the pacing: 200 records at 1000/s take at least
// 0.19 s (the first is sent at once).
func TestProduceRate(t *testing.T) {
	defer goleak.VerifyNone(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "ev"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	pc := produceConfig{Brokers: cluster.ListenAddrs(), Topic: "ev", Source: sourceFleet, Count: 200, Agents: 3, Seed: 1, Rate: 1000}
	rep, err := produce(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Produced != 200 || rep.Elapsed < 199*time.Millisecond {
		t.Fatalf("produced %d in %s, want 200 in ≥199ms", rep.Produced, rep.Elapsed)
	}
}

// TestProduceRebaseSharedPointers checks that events sharing an optional
// time are each shifted once.
func TestProduceRebaseSharedPointers(t *testing.T) {
	exp := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	a := &models.Event{Time: exp.Add(-time.Hour), CredentialExpiry: &exp}
	b := &models.Event{Time: exp.Add(-time.Minute), CredentialExpiry: &exp}
	rebaseEvent(a, time.Hour)
	rebaseEvent(b, time.Hour)
	if !a.CredentialExpiry.Equal(exp.Add(time.Hour)) || !b.CredentialExpiry.Equal(exp.Add(time.Hour)) || !exp.Equal(time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("expiries %s %s (original %s)", a.CredentialExpiry, b.CredentialExpiry, exp)
	}
}

func readTopicFrom(t *testing.T, brokers []string, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// TestReadmeQuickstart follows the README's "Running against Kafka and
// ClickHouse" on the real services: `tether produce --fleet` with its
// inventory, then `tether run`, until findings (including alerts on the
// rogue agents) are in ClickHouse.
func TestReadmeQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short")
	}
	broker := testenv.Kafka(t)
	chAddr := testenv.ClickHouse(t)
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	cfg := defaultConfig()
	cfg.Kafka.Brokers = []string{broker}
	cfg.Kafka.Group = "quickstart-" + suffix
	cfg.Kafka.EventsTopic = "quickstart.events." + suffix
	cfg.Kafka.DeadLetterTopic = "quickstart.dlq." + suffix
	cfg.Kafka.ControlTopic = "quickstart.control." + suffix
	cfg.Kafka.FindingsTopic = "quickstart.ocsf." + suffix
	cfg.Kafka.StateTopic = ""
	cfg.ClickHouse.Addr = chAddr
	cfg.ClickHouse.Database = "tether_quickstart_" + suffix
	cfg.HTTP.Listen = ""
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.Inventory.File = filepath.Join(dir, "fleet-inventory.yaml")
	testSigningKey(t, &cfg) // the README's services.sh up writes the development key
	cfg.Control.AckTopic = "quickstart.acks." + suffix

	t.Cleanup(func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
		if err != nil {
			return
		}
		defer cl.Close()
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		_, _ = kadm.NewClient(cl).DeleteTopics(dctx, cfg.Kafka.EventsTopic, cfg.Kafka.DeadLetterTopic, cfg.Kafka.ControlTopic, cfg.Kafka.FindingsTopic, cfg.Control.AckTopic)
	})
	pc := defaultProduceConfig()
	pc.Brokers, pc.Topic, pc.Source, pc.Count, pc.Rate = cfg.Kafka.Brokers, cfg.Kafka.EventsTopic, sourceFleet, 10000, 0
	pc.InventoryOut = cfg.Inventory.File
	rep, err := produce(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Produced != 10000 {
		t.Fatalf("produced %d", rep.Produced)
	}

	chOpts := clickhouse.DefaultOptions()
	chOpts.Addr, chOpts.Database = chAddr, cfg.ClickHouse.Database
	t.Cleanup(func() {
		w, err := clickhouse.Open(context.Background(), chOpts, zerolog.Nop())
		if err == nil {
			_ = w.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.ClickHouse.Database)
			w.Close()
		}
	})
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- serve(rctx, cfg, zerolog.Nop()) }()
	var qw *clickhouse.Writer
	count := func(q string) uint64 {
		if qw == nil {
			if qw, err = clickhouse.Open(ctx, chOpts, zerolog.Nop()); err != nil {
				qw = nil
				return 0
			}
		}
		var n uint64
		if err := qw.Conn().QueryRow(ctx, q).Scan(&n); err != nil {
			return 0
		}
		return n
	}
	events := "SELECT count() FROM " + cfg.ClickHouse.Database + ".events FINAL"
	alerts := "SELECT count() FROM " + cfg.ClickHouse.Database + ".findings FINAL WHERE severity >= 50"
	deadline := time.Now().Add(2 * time.Minute)
	for (count(events) < 10000 || count(alerts) == 0) && time.Now().Before(deadline) {
		select {
		case err := <-done: // serve stopped early (start-up failure): fail at once
			stop()
			t.Fatalf("serve returned early: %v", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if qw == nil {
		t.Fatal("could not open ClickHouse")
	}
	defer qw.Close()
	if n := count(events); n != 10000 {
		t.Errorf("%d events in ClickHouse, want 10000 (none dead-lettered)", n)
	}
	if n := count(alerts); n == 0 {
		t.Error("no alert-level findings in ClickHouse")
	}
	if n := count("SELECT count() FROM " + cfg.ClickHouse.Database + ".findings FINAL WHERE kind = 'unregistered_agent'"); n != 0 {
		t.Errorf("%d unregistered_agent findings: the fleet inventory was not used", n)
	}
}

// TestProduceOTLP replays the OTLP fixtures (both file formats) rebased:
// each payload arrives in its encoding, keyed by its root agent, with the
// span times shifted so that the last one is now.
func TestProduceOTLP(t *testing.T) {
	defer goleak.VerifyNone(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "j", "p"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ topic, file, enc string }{
		{"j", "../../testdata/otlp/agent_run.jsonl", otlp.EncodingJSON},
		{"p", "../../testdata/otlp/agent_run.binpb", otlp.EncodingProto},
	} {
		pc := produceConfig{Brokers: cluster.ListenAddrs(), Topic: tc.topic, Source: sourceOTLP, Path: tc.file, RebaseTime: true, Now: func() time.Time { return now }}
		rep, err := produce(context.Background(), pc)
		if err != nil || rep.Produced != 2 {
			t.Fatalf("%s: produced %v, %v", tc.file, rep, err)
		}
		var last time.Time
		var events int
		for _, r := range readTopicFrom(t, cluster.ListenAddrs(), tc.topic, 2) {
			if enc := otlp.Sniff(r.Value); enc != tc.enc || string(r.Key) != "mail-agent" {
				t.Fatalf("%s: record encoding %q key %q", tc.file, enc, r.Key)
			}
			evs, err := otlp.Decode(r.Value, tc.enc)
			if err != nil {
				t.Fatal(err)
			}
			events += len(evs)
			for _, ev := range evs {
				if ev.Time.After(last) {
					last = ev.Time
				}
			}
		}
		if events != 21 || !last.Equal(now) {
			t.Fatalf("%s: %d events, last at %s; want 21, %s", tc.file, events, last, now)
		}
	}
}
