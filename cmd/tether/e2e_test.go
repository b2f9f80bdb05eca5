package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink/clickhouse"
	"github.com/tetherhq/tether/sink/control"
)

// TestDaemonEndToEnd runs the daemon against the real Kafka broker and
// ClickHouse server: events in, finding rows and control-topic commands
// out, bad records dead-lettered; then a restart mid-stream and a full
// replay by a second group must leave no duplicate finding rows.
func TestDaemonEndToEnd(t *testing.T) {
	broker := testenv.Kafka(t)
	chAddr := testenv.ClickHouse(t)
	cfg := testDaemonConfig("e2e", broker, chAddr)
	signer := testSigningKey(t, &cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	testenv.CreateTopics(t, broker, 3, nil, cfg.Kafka.EventsTopic, cfg.Kafka.DeadLetterTopic, cfg.Kafka.ControlTopic)

	base := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	mk := func(id, agent, session string, step int, kind models.Kind, tool string) *kgo.Record {
		ev := models.Event{SchemaVersion: 1, ID: id, Kind: kind, Time: base.Add(time.Duration(step) * time.Second),
			AgentID: agent, SessionID: session, ToolName: tool, Step: step, Principal: "alice@example.com"}
		if tool != "" {
			ev.Arguments = json.RawMessage(`{"q":"x"}`)
		}
		b, _ := json.Marshal(ev)
		return &kgo.Record{Topic: cfg.Kafka.EventsTopic, Key: ev.Key(), Value: b}
	}
	first := []*kgo.Record{
		mk("ev-1", "support-bot", "s-1", 0, models.KindSessionStart, ""),
		mk("ev-2", "support-bot", "s-1", 1, models.KindToolCall, "crm.lookup"),
		mk("ev-3", "support-bot", "s-1", 2, models.KindToolCall, "shell.exec"), // outside its manifest
		mk("ev-4", "shadow-agent", "s-2", 0, models.KindSessionStart, ""),      // not in the inventory
		{Topic: cfg.Kafka.EventsTopic, Key: []byte("x"), Value: []byte(`{"schema_version":1,`)},
	}
	second := []*kgo.Record{
		mk("ev-5", "finance-reporter", "s-3", 0, models.KindToolCall, "ledger.read"),
		mk("ev-6", "finance-reporter", "s-3", 1, models.KindToolCall, "email.send"), // outside its manifest
		{Topic: cfg.Kafka.EventsTopic, Key: []byte("y"), Value: []byte(`{"schema_version":7,"event_id":"z"}`)},
	}

	chOpts := clickhouse.DefaultOptions()
	chOpts.Addr, chOpts.Database = chAddr, cfg.ClickHouse.Database
	// The test's own connection applies the schema first: the daemon's
	// start-up migration must then find it in place (idempotent DDL).
	qw, err := clickhouse.Open(ctx, chOpts, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer qw.Close()
	query := func(q string) uint64 {
		t.Helper()
		var n uint64
		if err := qw.Conn().QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	// caughtUp reports whether group has committed every record of the
	// events topic: each record was then judged and its findings, events
	// and dead letter made durable (the consumer commits only after that).
	caughtUp := func(group string) bool {
		t.Helper()
		ends, err := adm.ListEndOffsets(ctx, cfg.Kafka.EventsTopic)
		if err != nil || ends.Error() != nil {
			return false
		}
		committed, err := adm.FetchOffsetsForTopics(ctx, group, cfg.Kafka.EventsTopic)
		if err != nil {
			return false
		}
		ok := true
		ends.Each(func(e kadm.ListedOffset) {
			c, found := committed.Lookup(e.Topic, e.Partition)
			if e.Offset > 0 && (!found || c.At < e.Offset) {
				ok = false
			}
		})
		return ok
	}
	// run starts the daemon and stops it once until holds; it fails at
	// once if the daemon returns early (a start-up error).
	run := func(cfg Config, until func() bool) {
		t.Helper()
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		done := make(chan error, 1)
		go func() { done <- serve(rctx, cfg, zerolog.Nop()) }()
		deadline := time.After(60 * time.Second)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for !until() {
			select {
			case err := <-done:
				t.Fatalf("daemon stopped before producing the expected output: %v", err)
			case <-deadline:
				stop()
				<-done
				t.Fatal("daemon did not produce the expected output in 60s")
			case <-tick.C:
			}
		}
		stop()
		if err := <-done; err != nil {
			t.Fatalf("serve: %v", err)
		}
	}
	t.Cleanup(func() {
		w, err := clickhouse.Open(context.Background(), chOpts, zerolog.Nop())
		if err == nil {
			_ = w.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.ClickHouse.Database)
			w.Close()
		}
	})
	findings := func() uint64 {
		return query("SELECT count() FROM " + cfg.ClickHouse.Database + ".findings FINAL")
	}

	if err := cl.ProduceSync(ctx, first...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// unregistered shadow-agent + support-bot's off-manifest tool
	run(cfg, func() bool { return caughtUp(cfg.Kafka.Group) && findings() >= 2 })
	afterFirst := findings()

	if err := cl.ProduceSync(ctx, second...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	run(cfg, func() bool { return caughtUp(cfg.Kafka.Group) && findings() >= afterFirst+1 })
	total := findings()

	if n := query("SELECT count() FROM " + cfg.ClickHouse.Database + ".events FINAL"); n != 6 {
		t.Errorf("events audit table holds %d events, want 6", n)
	}
	kinds := query("SELECT uniqExact(kind) FROM " + cfg.ClickHouse.Database + ".findings FINAL WHERE kind IN ('unregistered_agent','tool_outside_manifest')")
	if kinds != 2 {
		t.Errorf("want unregistered_agent and tool_outside_manifest findings, got %d kinds", kinds)
	}

	// A second group replays the whole topic: same ids, no new rows.
	replay := cfg
	replay.Kafka.Group = cfg.Kafka.Group + "-replay"
	replay.Kafka.DeadLetterTopic = cfg.Kafka.DeadLetterTopic + "-replay"
	// (Raw row counts are not compared: a background merge may collapse
	// the repeats at any time. The replay's own dead letters show that it
	// judged every record again.)
	run(replay, func() bool { return caughtUp(replay.Kafka.Group) })
	if n := len(readTopic(t, broker, replay.Kafka.DeadLetterTopic, 2)); n != 2 {
		t.Errorf("replay dead-lettered %d records, want 2", n)
	}
	if got := findings(); got != total {
		t.Errorf("after replay %d findings under FINAL, want %d (duplicates)", got, total)
	}
	if u := query("SELECT uniqExact(finding_id) FROM " + cfg.ClickHouse.Database + ".findings"); u != total {
		t.Errorf("%d distinct finding ids, want %d", u, total)
	}

	// Commands reached the control topic, and the containment consumer
	// library sees each command id once despite the replay.
	seen := map[string]int{}
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	cons, err := control.NewConsumer(control.Brokers(broker), control.Topic(cfg.Kafka.ControlTopic), control.Group(cfg.Kafka.Group+"-control"),
		control.TrustKey(signer.Public()), control.AckTopic(cfg.Control.AckTopic),
		control.Handler(func(_ context.Context, c models.ContainmentCommand) error {
			seen[c.ID]++
			if len(seen) >= 2 {
				ccancel()
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	_ = cons.Run(cctx)
	cons.Close()
	if len(seen) < 2 {
		t.Fatalf("containment consumer saw %d distinct commands, want >= 2", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("command %s handled %d times", id, n)
		}
	}

	// Both bad records were dead-lettered with a reason.
	dl := readTopic(t, broker, cfg.Kafka.DeadLetterTopic, 2)
	for _, r := range dl {
		var reason string
		for _, h := range r.Headers {
			if h.Key == "tether-dlq-reason" {
				reason = string(h.Value)
			}
		}
		if reason == "" {
			t.Errorf("dead letter %q has no reason", r.Value)
		}
	}
	if len(dl) != 2 {
		t.Errorf("%d dead letters, want 2", len(dl))
	}
}

// readTopic reads at least want records of topic (or what arrives within
// 15 s); opts add client options (TLS, SASL).
func readTopic(t *testing.T, broker, topic string, want int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(broker), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
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

// testDaemonConfig is the configuration of a daemon under an integration
// test: its own consumer group, topics (events, dead letters, control,
// acks) and ClickHouse database, named after name and made unique, the
// sample inventory, no HTTP listener and a 10 s shutdown timeout. The test
// adds a signing key (testSigningKey) and whatever it varies.
func testDaemonConfig(name, broker, chAddr string) Config {
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	cfg := defaultConfig()
	cfg.Kafka.Brokers = []string{broker}
	cfg.Kafka.Group = name + "-" + suffix
	cfg.Kafka.EventsTopic = name + ".events." + suffix
	cfg.Kafka.DeadLetterTopic = name + ".dlq." + suffix
	cfg.Kafka.ControlTopic = name + ".control." + suffix
	cfg.Control.AckTopic = name + ".acks." + suffix
	cfg.ClickHouse.Addr = chAddr
	cfg.ClickHouse.Database = "tether_" + name + "_" + suffix
	cfg.Inventory.File = "../../testdata/inventory.example.yaml"
	cfg.HTTP.Listen = ""
	cfg.ShutdownTimeout = 10 * time.Second
	return cfg
}

// testSigningKey writes a fresh control signing key to a temporary file,
// points cfg at it and returns its signer.
func testSigningKey(t *testing.T, cfg *Config) *control.Signer {
	t.Helper()
	s, err := control.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "control.key")
	if err := os.WriteFile(path, s.PrivateKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Control.SigningKeyFile = path
	return s
}
