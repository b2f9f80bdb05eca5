package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/ingest"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink/clickhouse"
	"github.com/tetherhq/tether/sink/control"
)

// syncBuffer is a bytes.Buffer safe for the daemon's concurrent loggers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDaemonSecureEndToEnd runs the daemon with Kafka reached only through
// the broker's SASL_SSL listener (SCRAM-SHA-512 with a password file and a
// client certificate) and ClickHouse only through its secure native port:
// findings land in ClickHouse, commands on the control topic (read back with
// the sink/control library over SASL_SSL), OCSF findings on the findings
// topic, checkpoints on the state topic; the log names the settings but
// never the password.
func TestDaemonSecureEndToEnd(t *testing.T) {
	defer goleak.VerifyNone(t)
	k := testenv.KafkaSASLSSL(t)
	chs := testenv.ClickHouseTLS(t)
	password, err := os.ReadFile(k.PasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	cfg := defaultConfig()
	cfg.Kafka.Brokers = []string{k.Addr}
	cfg.Kafka.ClientID = "tether-secure-e2e"
	cfg.Kafka.Group = "sec-e2e-" + suffix
	cfg.Kafka.EventsTopic = "sec-e2e.events." + suffix
	cfg.Kafka.DeadLetterTopic = "sec-e2e.dlq." + suffix
	cfg.Kafka.ControlTopic = "sec-e2e.control." + suffix
	cfg.Kafka.FindingsTopic = "sec-e2e.ocsf." + suffix
	cfg.Kafka.StateTopic = "sec-e2e.state." + suffix
	cfg.Kafka.CheckpointEvery = time.Nanosecond
	cfg.Kafka.TLS = tlsConfig{Enabled: true, CAFile: k.CAFile, CertFile: k.CertFile, KeyFile: k.KeyFile}
	cfg.Kafka.SASL = saslConfig{Mechanism: ingest.SASLScramSHA512, Username: k.User, PasswordFile: k.PasswordFile}
	cfg.ClickHouse.Addr = chs.Addr
	cfg.ClickHouse.Database = "tether_sec_e2e_" + suffix
	cfg.ClickHouse.TLS = tlsConfig{Enabled: true, CAFile: chs.CAFile}
	cfg.Inventory.File = "../../testdata/inventory.example.yaml"
	cfg.HTTP.Listen = ""
	cfg.ShutdownTimeout = 10 * time.Second
	cfg.Control.AckTopic = "sec-e2e.acks." + suffix
	signer := testSigningKey(t, &cfg)
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	sec, err := cfg.kafkaSecurity()
	if err != nil {
		t.Fatal(err)
	}
	kopts, err := ingest.ClientOptions(sec)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	prod, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(k.Addr), kgo.AllowAutoTopicCreation()}, kopts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	base := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	mk := func(id, agent string, step int, kind models.Kind, tool string) *kgo.Record {
		ev := models.Event{SchemaVersion: 1, ID: id, Kind: kind, Time: base.Add(time.Duration(step) * time.Second),
			AgentID: agent, SessionID: "s-" + agent, ToolName: tool, Step: step, Principal: "alice@example.com"}
		if tool != "" {
			ev.Arguments = json.RawMessage(`{"q":"x"}`)
		}
		b, _ := json.Marshal(ev)
		return &kgo.Record{Topic: cfg.Kafka.EventsTopic, Key: ev.Key(), Value: b}
	}
	if err := prod.ProduceSync(ctx,
		mk("ev-1", "support-bot", 0, models.KindSessionStart, ""),
		mk("ev-2", "support-bot", 1, models.KindToolCall, "shell.exec"), // outside its manifest
		mk("ev-3", "shadow-agent", 0, models.KindSessionStart, ""),      // not in the inventory
	).FirstErr(); err != nil {
		t.Fatal(err)
	}

	chOpts := clickhouse.DefaultOptions()
	chOpts.Addr, chOpts.Database = chs.Addr, cfg.ClickHouse.Database
	if chOpts.TLS, err = cfg.ClickHouse.TLS.build("clickhouse.tls"); err != nil {
		t.Fatal(err)
	}
	qw, err := clickhouse.Open(ctx, chOpts, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := qw.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.ClickHouse.Database); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		qw.Close()
	}()
	findings := func() uint64 {
		var n uint64
		if err := qw.Conn().QueryRow(ctx, "SELECT count() FROM "+cfg.ClickHouse.Database+".findings FINAL").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	var logs syncBuffer
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- serve(rctx, cfg, zerolog.New(&logs)) }()
	deadline := time.Now().Add(90 * time.Second)
	for findings() < 2 && time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v\n%s", err, logs.String())
	}
	if n := findings(); n < 2 {
		t.Fatalf("%d findings in ClickHouse over TLS, want >= 2\n%s", n, logs.String())
	}

	// The containment-consumer library reaches the control topic with the
	// same client options.
	seen := map[string]bool{}
	cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
	defer ccancel()
	cons, err := control.NewConsumer(control.Brokers(k.Addr), control.Topic(cfg.Kafka.ControlTopic),
		control.Group("sec-e2e-control-"+suffix), control.KafkaOpts(kopts...),
		control.TrustKey(signer.Public()), control.AckTopic(cfg.Control.AckTopic),
		control.Handler(func(_ context.Context, c models.ContainmentCommand) error {
			seen[c.ID] = true
			if len(seen) >= 1 {
				ccancel()
			}
			return nil
		}))
	if err != nil {
		t.Fatal(err)
	}
	_ = cons.Run(cctx)
	cons.Close()
	if len(seen) == 0 {
		t.Error("no containment command read over SASL_SSL")
	}
	if got := readTopic(t, k.Addr, cfg.Kafka.FindingsTopic, 2, kopts...); len(got) < 2 {
		t.Errorf("%d OCSF findings over SASL_SSL, want >= 2", len(got))
	}
	if got := readTopic(t, k.Addr, cfg.Kafka.StateTopic, 1, kopts...); len(got) == 0 {
		t.Error("no checkpoint on the state topic over SASL_SSL")
	}

	out := logs.String()
	if pw := strings.TrimSpace(string(password)); strings.Contains(out, pw) {
		t.Errorf("the daemon's log contains the SASL password")
	}
	if !strings.Contains(out, `"password_file":"`+k.PasswordFile+`"`) || !strings.Contains(out, `"mechanism":"SCRAM-SHA-512"`) {
		t.Errorf("configuration line missing from the log:\n%s", out)
	}
}
