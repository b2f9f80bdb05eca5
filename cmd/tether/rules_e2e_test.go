package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink/clickhouse"
)

// logHas reports whether one line of the daemon's log holds every sub.
func logHas(logs *syncBuffer, sub ...string) bool {
	for _, line := range strings.Split(logs.String(), "\n") {
		all := true
		for _, x := range sub {
			all = all && strings.Contains(line, x)
		}
		if all {
			return true
		}
	}
	return false
}

// TestDaemonRulesReload: on a running daemon (real Kafka and ClickHouse),
// an exception added to a rules file takes effect without a restart (the
// next finding is stamped with it and the new ruleset version), and a
// malformed file is rejected with its line and column while the previous
// ruleset keeps running.
func TestDaemonRulesReload(t *testing.T) {
	broker := testenv.Kafka(t)
	chAddr := testenv.ClickHouse(t)
	rulesFile := filepath.Join(t.TempDir(), "ops.yaml")
	write := func(body string) {
		t.Helper()
		// write-then-rename: the watcher never reads a half-written file
		tmp := rulesFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, rulesFile); err != nil {
			t.Fatal(err)
		}
	}
	write("version: ops-1\n")

	cfg := testDaemonConfig("rules", broker, chAddr)
	testSigningKey(t, &cfg)
	cfg.Detectors.RulesFiles = []string{rulesFile}
	cfg.Detectors.ReloadInterval = 50 * time.Millisecond

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	testenv.CreateTopics(t, broker, 1, nil, cfg.Kafka.EventsTopic, cfg.Kafka.DeadLetterTopic, cfg.Kafka.ControlTopic, cfg.Control.AckTopic)
	chOpts := clickhouse.DefaultOptions()
	chOpts.Addr, chOpts.Database = chAddr, cfg.ClickHouse.Database
	qw, err := clickhouse.Open(ctx, chOpts, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer qw.Close()
	t.Cleanup(func() { _ = qw.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.ClickHouse.Database) })

	logs := &syncBuffer{}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- serve(rctx, cfg, zerolog.New(logs)) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	base := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	// session produces support-bot's off-manifest call in session sid.
	session := func(sid string) {
		t.Helper()
		var recs []*kgo.Record
		for i, tool := range []string{"", "shell.exec"} {
			ev := models.Event{SchemaVersion: 1, ID: sid + "-" + fmt.Sprint(i), Kind: models.KindSessionStart, Time: base.Add(time.Duration(i) * time.Second),
				AgentID: "support-bot", SessionID: sid, Step: i, Principal: "alice@example.com"}
			if tool != "" {
				ev.Kind, ev.ToolName, ev.Arguments = models.KindToolCall, tool, json.RawMessage(`{"cmd":"ls"}`)
			}
			b, _ := json.Marshal(ev)
			recs = append(recs, &kgo.Record{Topic: cfg.Kafka.EventsTopic, Key: ev.Key(), Value: b})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// finding waits for session sid's tool_outside_manifest finding and
	// returns its exception and ruleset version.
	finding := func(sid string) (exception, version string) {
		t.Helper()
		q := "SELECT exception, ruleset_version FROM " + cfg.ClickHouse.Database +
			".findings FINAL WHERE kind = 'tool_outside_manifest' AND session_id = ? AND rule_id = 'TTH-baseline-tool_outside_manifest'"
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case err := <-done:
				done <- err // for the deferred stop
				t.Fatalf("daemon stopped: %v", err)
			default:
			}
			if err := qw.Conn().QueryRow(ctx, q, sid).Scan(&exception, &version); err == nil {
				return exception, version
			}
			time.Sleep(100 * time.Millisecond) // polling ClickHouse for the asserted row, with a deadline
		}
		t.Fatalf("no tool_outside_manifest finding for session %s in 60s", sid)
		return "", ""
	}
	waitLog := func(sub ...string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !logHas(logs, sub...) {
			if time.Now().After(deadline) {
				t.Fatalf("no log line with %q in 30s", sub)
			}
			time.Sleep(20 * time.Millisecond) // polling the log for the asserted line, with a deadline
		}
	}

	session("s-1")
	exc, v1 := finding("s-1")
	if exc != "" || !strings.HasSuffix(v1, "+ops-1") {
		t.Fatalf("before the exception: exception %q version %q, want none and ...+ops-1", exc, v1)
	}

	write(`version: ops-2
rules:
  - id: OPS-SHELL
    kind: shell_call
    severity: 40
    description: a shell tool was called
    condition: event.kind == "tool_call" && event.tool.startsWith("shell.") && session.calls == 0
exceptions:
  - id: EXC-support-shell
    rule: TTH-baseline-tool_outside_manifest
    fields: {agent_id: support-bot}
    comment: shell access approved for the migration (test)
`)
	waitLog("ruleset reloaded", "ops-2")
	session("s-2")
	exc, v2 := finding("s-2")
	if exc != "EXC-support-shell" || !strings.HasSuffix(v2, "+ops-2") {
		t.Fatalf("after the reload: exception %q version %q, want EXC-support-shell and ...+ops-2", exc, v2)
	}
	custom := func(sid string) uint64 {
		var n uint64
		q := "SELECT count() FROM " + cfg.ClickHouse.Database + ".findings FINAL WHERE detector = 'custom' AND kind = 'shell_call' AND rule_id = 'OPS-SHELL' AND session_id = ?"
		if err := qw.Conn().QueryRow(ctx, q, sid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// the CEL rule's finding is written in the same batch as s-2's other one
	if n1, n2 := custom("s-1"), custom("s-2"); n1 != 0 || n2 != 1 {
		t.Errorf("CEL rule findings: s-1 %d, s-2 %d; want 0 (before the reload) and 1", n1, n2)
	}

	write("version: ops-3\noverrides:\n  - rule: TTH-baseline-tool_outside_manifest\n    severity: high\n")
	waitLog("ruleset reload rejected", filepath.Base(rulesFile)+":4:15: severity")
	session("s-3")
	exc, v3 := finding("s-3")
	if exc != "EXC-support-shell" || v3 != v2 {
		t.Fatalf("after a malformed file: exception %q version %q, want the previous ruleset (EXC-support-shell, %s)", exc, v3, v2)
	}
}
