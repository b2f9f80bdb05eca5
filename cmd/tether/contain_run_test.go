package main

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/tetherhq/tether/ingest"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// flakyAcks fails its first write, like a ClickHouse outage.
type flakyAcks struct {
	fails int
	got   []models.CommandAck
}

func (f *flakyAcks) WriteAcks(_ context.Context, acks []models.CommandAck) error {
	if f.fails > 0 {
		f.fails--
		return errors.New("clickhouse down")
	}
	f.got = append(f.got, acks...)
	return nil
}

// TestRecorderFeedsConsole: the daemon's ack recorder hands the acks it
// reads to the console's store (after the durable store took them, kept
// once although the batch was retried), so the finding page shows them.
func TestRecorderFeedsConsole(t *testing.T) {
	defer goleak.VerifyNone(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "acks"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cfg := defaultConfig()
	cfg.Kafka.Brokers, cfg.Kafka.Group, cfg.Control.AckTopic = cluster.ListenAddrs(), "feed", "acks"

	store := newConsoleStore(nil)
	t0 := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	f := models.Finding{Time: t0, AgentID: "a", RootAgentID: "a", SessionID: "a-s1", Detector: "flow", Kind: "untrusted_to_sink", Severity: 80}
	f.SetID()
	c := models.ContainmentCommand{AgentID: "a", SessionID: "a-s1", Action: models.ActionHaltAgent, FindingIDs: []string{f.ID}, IssuedAt: t0}
	c.SetID()
	if err := store.Write(context.Background(), &sink.Batch{Findings: []models.Finding{f}, Commands: []models.ContainmentCommand{c}}); err != nil {
		t.Fatal(err)
	}

	durable := &flakyAcks{fails: 1}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, stop, err := startRecorderWith(ctx, cfg, ingest.Security{}, sink.Multi{}, ackStores{durable, store}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	ack := models.CommandAck{CommandID: c.ID, AgentID: "a", Action: c.Action, Status: models.AckApplied, Consumer: "enforcer",
		IssuedAt: t0, ReceivedAt: t0.Add(40 * time.Millisecond), AckedAt: t0.Add(52 * time.Millisecond)}
	v, _ := json.Marshal(ack)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "acks", Key: []byte("a"), Value: v}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := store.Finding(f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Acks) > 0 {
			if len(d.Acks) != 1 || d.Acks[0].Consumer != "enforcer" || d.Acks[0].TimeToContainMillis != 52 || len(durable.got) != 1 {
				t.Errorf("console acks %+v, durable store %d; want one applied ack (52 ms), stored first", d.Acks, len(durable.got))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ack did not reach the console within 20 s")
		}
		time.Sleep(20 * time.Millisecond) // polling the condition, with a deadline
	}
}
