package main

import (
	"context"
	"encoding/json"
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

// TestDaemonContainmentLoop closes the loop on the real broker and
// ClickHouse: events lead to findings and signed commands; an enforcement
// point using the consumer library applies them and acknowledges; a forged
// command is refused and acknowledged as such; the daemon records the acks
// with their time-to-contain stages in ClickHouse (command_acks).
func TestDaemonContainmentLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short")
	}
	broker := testenv.Kafka(t)
	chAddr := testenv.ClickHouse(t)
	cfg := testDaemonConfig("loop", broker, chAddr)
	cfg.Kafka.FindingsTopic = ""
	cfg.Kafka.StateTopic = ""
	signer := testSigningKey(t, &cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics := []string{cfg.Kafka.EventsTopic, cfg.Kafka.DeadLetterTopic, cfg.Kafka.ControlTopic, cfg.Control.AckTopic}
	testenv.CreateTopics(t, broker, 3, nil, topics...)
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		_, _ = adm.DeleteTopics(dctx, topics...)
	})

	// The enforcement point runs alongside the daemon.
	state := control.NewState()
	enf, err := control.NewConsumer(control.Brokers(broker), control.Topic(cfg.Kafka.ControlTopic), control.Group(cfg.Kafka.Group+"-enforcer"),
		control.Track(state), control.TrustKey(signer.Public()), control.AckTopic(cfg.Control.AckTopic),
		control.KafkaOpts(kgo.FetchMaxWait(50*time.Millisecond)))
	if err != nil {
		t.Fatal(err)
	}
	enfDone := make(chan error, 1)
	go func() { enfDone <- enf.Run(ctx) }()
	defer func() { enf.Close(); <-enfDone }()

	base := time.Now().UTC().Add(-10 * time.Second).Truncate(time.Millisecond)
	mk := func(id, agent, session string, step int, kind models.Kind, tool string) *kgo.Record {
		ev := models.Event{SchemaVersion: 1, ID: id, Kind: kind, Time: base.Add(time.Duration(step) * time.Millisecond),
			AgentID: agent, SessionID: session, ToolName: tool, Step: step, Principal: "alice@example.com"}
		if tool != "" {
			ev.Arguments = json.RawMessage(`{"q":"x"}`)
		}
		b, _ := json.Marshal(ev)
		return &kgo.Record{Topic: cfg.Kafka.EventsTopic, Key: ev.Key(), Value: b}
	}
	if err := cl.ProduceSync(ctx,
		mk("ev-1", "support-bot", "s-1", 0, models.KindSessionStart, ""),
		mk("ev-2", "support-bot", "s-1", 1, models.KindToolCall, "shell.exec"), // outside its manifest
		mk("ev-3", "shadow-agent", "s-2", 0, models.KindSessionStart, ""),      // not in the inventory
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// An attacker with write access to the control topic.
	attacker, err := control.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	forged := models.ContainmentCommand{AgentID: "finance-reporter", Action: models.ActionHaltAgent, Reason: "forged",
		FindingIDs: []string{"x"}, IssuedAt: time.Now().UTC(), ExpiresAt: time.Now().Add(time.Hour)}
	forged.SetID()
	attacker.Sign(&forged)
	fv, _ := json.Marshal(forged)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: cfg.Kafka.ControlTopic, Key: []byte(forged.AgentID), Value: fv}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	chOpts := clickhouse.DefaultOptions()
	chOpts.Addr, chOpts.Database = chAddr, cfg.ClickHouse.Database
	qw, err := clickhouse.Open(ctx, chOpts, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer qw.Close()
	t.Cleanup(func() { _ = qw.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.ClickHouse.Database) })
	count := func(where string) uint64 {
		t.Helper()
		var n uint64
		q := "SELECT count() FROM " + cfg.ClickHouse.Database + ".command_acks FINAL WHERE " + where
		if err := qw.Conn().QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}

	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- serve(rctx, cfg, zerolog.Nop()) }()
	deadline := time.Now().Add(90 * time.Second)
	for count("status = 'applied'") < 2 || count("status = 'refused' AND reason = 'unknown_key'") < 1 {
		if time.Now().After(deadline) {
			stop()
			<-done
			t.Fatalf("command_acks: %d applied, %d refused forgeries within 90 s", count("status = 'applied'"), count("status = 'refused'"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}

	// Every applied ack is of a command the daemon issued, with its stages.
	var unknown, badStages uint64
	if err := qw.Conn().QueryRow(ctx, "SELECT count() FROM "+cfg.ClickHouse.Database+".command_acks FINAL WHERE status = 'applied' AND command_id NOT IN (SELECT command_id FROM "+cfg.ClickHouse.Database+".commands)").Scan(&unknown); err != nil {
		t.Fatal(err)
	}
	if err := qw.Conn().QueryRow(ctx, "SELECT count() FROM "+cfg.ClickHouse.Database+".command_acks FINAL WHERE status = 'applied' AND NOT (time_to_contain_ms > 0 AND event_to_finding_ms > 0 AND command_to_ack_ms >= 0 AND time_to_contain_ms >= event_to_finding_ms)").Scan(&badStages); err != nil {
		t.Fatal(err)
	}
	if unknown != 0 || badStages != 0 {
		t.Errorf("%d applied acks of unknown commands, %d with missing or inconsistent stages", unknown, badStages)
	}
	// The autonomy report reads the same evidence back.
	ev, err := autonomyReport(ctx, qw.Conn(), cfg.ClickHouse.Database, base.Add(-time.Hour), "", time.Now().UTC())
	if err != nil {
		t.Fatal(err)
	}
	var acked uint64
	seen := map[string]agentEvidence{}
	for _, a := range ev {
		seen[a.AgentID] = a
		acked += a.Acked
	}
	sb, ok := seen["support-bot"]
	if !ok || sb.Events != 2 || sb.Operations != 1 || len(sb.Containment) == 0 || sb.Recommendation == "" || acked < 2 {
		t.Errorf("autonomy report %+v: want support-bot with 2 events, 1 operation, its containment and a recommendation; %d acked in all", ev, acked)
	}
	if state.Halted("finance-reporter") {
		t.Error("the forged halt was applied")
	}
	if st := enf.Stats(); st.Refused[control.ReasonUnknownKey] != 1 {
		t.Errorf("enforcer refusals %v, want the forgery refused as unknown_key", st.Refused)
	}
}
