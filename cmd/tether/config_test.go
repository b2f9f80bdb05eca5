package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/tetherhq/tether/detector/containment"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink/control"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		wantErr bool
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults", check: func(t *testing.T, c Config) {
			if c.Kafka.EventsTopic != "tether.events" || !c.ClickHouse.Enabled {
				t.Errorf("defaults not applied: %+v", c.Kafka)
			}
		}},
		{name: "file", file: "kafka:\n  brokers: [k1:9092, k2:9092]\n  group: g\nclickhouse:\n  database: sec\n", check: func(t *testing.T, c Config) {
			if len(c.Kafka.Brokers) != 2 || c.Kafka.Group != "g" || c.ClickHouse.Database != "sec" || c.Kafka.EventsTopic != "tether.events" {
				t.Errorf("file not merged over defaults: %+v %+v", c.Kafka, c.ClickHouse)
			}
		}},
		{name: "env overrides file", file: "kafka:\n  group: g\n", env: map[string]string{"TETHER_KAFKA_GROUP": "h", "TETHER_KAFKA_BROKERS": "a:1,b:2"}, check: func(t *testing.T, c Config) {
			if c.Kafka.Group != "h" || len(c.Kafka.Brokers) != 2 {
				t.Errorf("env not applied: %+v", c.Kafka)
			}
		}},
		{name: "state topic", file: "kafka:\n  state_topic: st\n  checkpoint_every: 30s\n", env: map[string]string{"TETHER_STATE_TOPIC": "st2"}, check: func(t *testing.T, c Config) {
			if c.Kafka.StateTopic != "st2" || c.Kafka.CheckpointEvery.Seconds() != 30 || c.Kafka.CheckpointMaxBytes != 1<<20 {
				t.Errorf("state topic settings: %+v", c.Kafka)
			}
		}},
		{name: "checkpointing disabled", file: "kafka:\n  state_topic: \"\"\n  checkpoint_every: 0s\n", check: func(t *testing.T, c Config) {
			if c.Kafka.StateTopic != "" {
				t.Errorf("state topic %q, want disabled", c.Kafka.StateTopic)
			}
		}},
		{name: "findings topic default", check: func(t *testing.T, c Config) {
			if c.Kafka.FindingsTopic != "tether.findings.ocsf" {
				t.Errorf("findings topic %q, want tether.findings.ocsf", c.Kafka.FindingsTopic)
			}
		}},
		{name: "findings topic from file and env", file: "kafka:\n  findings_topic: siem\n", env: map[string]string{"TETHER_FINDINGS_TOPIC": "siem2"}, check: func(t *testing.T, c Config) {
			if c.Kafka.FindingsTopic != "siem2" {
				t.Errorf("findings topic %q, want siem2", c.Kafka.FindingsTopic)
			}
		}},
		{name: "findings topic disabled", file: "kafka:\n  findings_topic: \"\"\n", check: func(t *testing.T, c Config) {
			if c.Kafka.FindingsTopic != "" {
				t.Errorf("findings topic %q, want disabled", c.Kafka.FindingsTopic)
			}
		}},
		{name: "findings topic = control", file: "kafka:\n  findings_topic: tether.control\n", wantErr: true},
		{name: "findings topic = events", env: map[string]string{"TETHER_FINDINGS_TOPIC": "tether.events"}, wantErr: true},
		{name: "state topic = control", file: "kafka:\n  state_topic: tether.control\n", wantErr: true},
		{name: "zero checkpoint interval", file: "kafka:\n  checkpoint_every: 0s\n", wantErr: true},
		{name: "unknown key", file: "kafka:\n  brokerz: [x]\n", wantErr: true},
		{name: "same topics", file: "kafka:\n  dead_letter_topic: tether.events\n", wantErr: true},
		{name: "no sink", env: map[string]string{"TETHER_CLICKHOUSE_ENABLED": "false"}, wantErr: true},
		{name: "bad bool", env: map[string]string{"TETHER_CLICKHOUSE_ENABLED": "maybe"}, wantErr: true},
		{name: "bad level", file: "log:\n  level: loud\n", wantErr: true},
		{name: "memory budget from file and env", file: "detector:\n  memory_budget: 1073741824\n", env: map[string]string{"TETHER_MEMORY_BUDGET": "536870912"}, check: func(t *testing.T, c Config) {
			if c.Detector.MemoryBudget != 512<<20 {
				t.Errorf("memory budget %d, want 512 MiB", c.Detector.MemoryBudget)
			}
		}},
		{name: "negative memory budget", file: "detector:\n  memory_budget: -1\n", wantErr: true},
		{name: "memory budget below 1 MiB", file: "detector:\n  memory_budget: 1048575\n", wantErr: true},
		{name: "memory budget of 1 MiB", file: "detector:\n  memory_budget: 1048576\n", check: func(t *testing.T, c Config) {
			if c.Detector.MemoryBudget != 1<<20 {
				t.Errorf("memory budget %d, want 1 MiB", c.Detector.MemoryBudget)
			}
		}},
		{name: "bad memory budget", env: map[string]string{"TETHER_MEMORY_BUDGET": "lots"}, wantErr: true},
		{name: "negative max_past_skew", file: "decode:\n  max_past_skew: -1h\n", wantErr: true},
		{name: "negative max_future_skew", file: "decode:\n  max_future_skew: -1s\n", wantErr: true},
		{name: "listen without port", file: "http:\n  listen: localhost\n", wantErr: true},
		{name: "listen port out of range", env: map[string]string{"TETHER_HTTP_LISTEN": "127.0.0.1:99999"}, wantErr: true},
		{name: "listen port not a number", file: "http:\n  listen: \"127.0.0.1:http-alt\"\n", wantErr: true},
		{name: "listen any interface", file: "http:\n  listen: \":9464\"\n", check: func(t *testing.T, c Config) {
			if c.HTTP.Listen != ":9464" {
				t.Errorf("listen %q", c.HTTP.Listen)
			}
		}},
		{name: "http disabled", file: "http:\n  listen: \"\"\n", check: func(t *testing.T, c Config) {
			if c.HTTP.Listen != "" {
				t.Errorf("listen %q, want disabled", c.HTTP.Listen)
			}
		}},
		{name: "static membership", file: "consumer:\n  instance_id: tether-0\n  session_timeout: 20s\n", env: map[string]string{"TETHER_INSTANCE_ID": "tether-1"}, check: func(t *testing.T, c Config) {
			if c.Consumer.InstanceID != "tether-1" || c.Consumer.SessionTimeout != 20*time.Second || c.Consumer.LagInterval != 5*time.Second {
				t.Errorf("consumer settings: %+v", c.Consumer)
			}
		}},
		{name: "session timeout from env", env: map[string]string{"TETHER_SESSION_TIMEOUT": "10s"}, check: func(t *testing.T, c Config) {
			if c.Consumer.SessionTimeout != 10*time.Second {
				t.Errorf("session timeout %s", c.Consumer.SessionTimeout)
			}
		}},
		{name: "bad session timeout env", env: map[string]string{"TETHER_SESSION_TIMEOUT": "soon"}, wantErr: true},
		{name: "zero session timeout", file: "consumer:\n  session_timeout: 0s\n", wantErr: true},
		{name: "zero lag interval", file: "consumer:\n  lag_interval: 0s\n", wantErr: true},
		{name: "pipeline depth 0", file: "consumer:\n  pipeline_depth: 0\n", wantErr: true},
		{name: "pipeline depth 17", file: "consumer:\n  pipeline_depth: 17\n", wantErr: true},
		{name: "pipeline depth 1", file: "consumer:\n  pipeline_depth: 1\n", check: func(t *testing.T, c Config) {
			if c.Consumer.PipelineDepth != 1 {
				t.Errorf("pipeline depth %d, want 1", c.Consumer.PipelineDepth)
			}
		}},
		{name: "no insert workers", file: "clickhouse:\n  insert_workers: 0\n", wantErr: true},
		{name: "no insert rows", file: "clickhouse:\n  insert_rows: 0\n", wantErr: true},
		{name: "zero shutdown timeout", file: "shutdown_timeout: 0s\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = write(tt.file)
			}
			c, err := loadConfig(path, func(k string) string { return tt.env[k] })
			if tt.wantErr {
				if !errors.Is(err, errConfig) {
					t.Fatalf("got %v, want errConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestExampleConfigAndReload: the example file loads (with its signing key
// in place) and its containment section is what SIGHUP puts in force; an
// invalid rule is refused and the policy in force stays.
func TestExampleConfigAndReload(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile("../../deploy/tether.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "control.key")
	s, err := control.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, s.PrivateKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), ".cache/keys/control.key", key)
	text = strings.ReplaceAll(text, "testdata/inventory.example.yaml", "../../testdata/inventory.example.yaml")
	path := filepath.Join(dir, "tether.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(string) string { return "" }
	c, err := loadConfig(path, env)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.signer(); err != nil || got.KeyID() != s.KeyID() {
		t.Fatalf("signer %v, %v; want key %s", got, err, s.KeyID())
	}
	def := defaultContainmentConfig()
	def.Rules = []containment.Rule{}
	if !reflect.DeepEqual(c.Containment, def) {
		t.Errorf("example containment section %+v differs from the defaults %+v", c.Containment, defaultContainmentConfig())
	}
	live := new(containment.Live)
	withRule := strings.Replace(text, "rules: []", "rules: [{kind: flow/exfiltration, min_severity: 60, autonomy: [junior], action: halt_agent}]", 1)
	if err := os.WriteFile(path, []byte(withRule), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := reloadPolicy(path, env, live); err != nil {
		t.Fatal(err)
	}
	if o := live.Load(); o == nil || len(o.Rules) != 1 || o.Rules[0].Action != models.ActionHaltAgent {
		t.Fatalf("reloaded policy %+v, want the rule", o)
	}
	bad := strings.Replace(text, "rules: []", "rules: [{kind: x, action: clear}]", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := reloadPolicy(path, env, live); err == nil {
		t.Fatal("a clear rule was accepted")
	}
	if o := live.Load(); len(o.Rules) != 1 {
		t.Fatal("a refused reload changed the policy in force")
	}
	// Without a key the daemon refuses to start.
	c.Control.SigningKeyFile = ""
	if err := serve(context.Background(), c, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "tether keygen") {
		t.Fatalf("serve without a signing key: %v", err)
	}
}

// TestSigningKeyFromEnv: the PEM in TETHER_CONTROL_SIGNING_KEY signs; a
// key and a key file together, a bad PEM and an unknown signing mode are
// refused without echoing the key.
func TestSigningKeyFromEnv(t *testing.T) {
	s, err := control.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	pem := string(s.PrivateKeyPEM())
	tests := []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"pem in the environment", map[string]string{"TETHER_CONTROL_SIGNING_KEY": pem}, true},
		{"key and file", map[string]string{"TETHER_CONTROL_SIGNING_KEY": pem, "TETHER_CONTROL_SIGNING_KEY_FILE": "/nonexistent"}, false},
		{"bad pem", map[string]string{"TETHER_CONTROL_SIGNING_KEY": "not-a-key-c0ffee"}, false},
		{"missing file", map[string]string{"TETHER_CONTROL_SIGNING_KEY_FILE": "/nonexistent/control.key"}, false},
		{"unknown mode", map[string]string{"TETHER_CONTROL_SIGNING": "optional"}, false},
		{"disabled with a key", map[string]string{"TETHER_CONTROL_SIGNING": "disabled", "TETHER_CONTROL_SIGNING_KEY": pem}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig("", func(k string) string { return tt.env[k] })
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if got, err := c.signer(); err != nil || got.KeyID() != s.KeyID() {
					t.Fatalf("signer %v, %v", got, err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if k := tt.env["TETHER_CONTROL_SIGNING_KEY"]; k != "" && strings.Contains(err.Error(), k) {
				t.Fatalf("error echoes the key: %v", err)
			}
		})
	}
}

func TestClearCommand(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	c := clearCommand("a", true, "investigated", now, time.Hour)
	if c.Action != models.ActionClear || c.Scope != models.ScopeLineage || c.ID != c.ComputeID() || !c.ExpiresAt.Equal(now.Add(time.Hour)) || c.Version != models.CommandVersion {
		t.Fatalf("clear %+v", c)
	}
	if d := clearCommand("a", false, "x", now, time.Hour); d.Scope != models.ScopeAgent || d.ID == c.ID {
		t.Fatalf("agent clear %+v shares the lineage clear's scope or id", d)
	}
}
