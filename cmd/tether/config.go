package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/ingest"
)

// errConfig is wrapped by every configuration error.
var errConfig = errors.New("invalid configuration")

// Config is the daemon's configuration file. Every field has a default
// (defaultConfig); environment variables (TETHER_*) override the file.
// Credentials are ingest.Secret, so printing, marshalling or logging a
// Config (MarshalZerologObject) shows "[REDACTED]" in their place; a new
// credential field must use that type too.
type Config struct {
	Kafka struct {
		Brokers         []string `yaml:"brokers"`
		Group           string   `yaml:"group"`
		EventsTopic     string   `yaml:"events_topic"`
		DeadLetterTopic string   `yaml:"dead_letter_topic"`
		ControlTopic    string   `yaml:"control_topic"`
		// FindingsTopic receives every finding as an OCSF Detection
		// Finding (sink/ocsf) for SIEMs; empty disables.
		FindingsTopic  string `yaml:"findings_topic"`
		ClientID       string `yaml:"client_id"`
		MaxPollRecords int    `yaml:"max_poll_records"`
		// StateTopic is the compacted topic of detector checkpoints;
		// empty disables checkpointing (a new owner of a partition then
		// warms its baselines up again).
		StateTopic string `yaml:"state_topic"`
		// CheckpointEvery is the wall time between two checkpoints of a
		// partition; CheckpointMaxBytes bounds one checkpoint record (a
		// snapshot is written as chunks of at most this size plus a
		// manifest).
		CheckpointEvery    time.Duration `yaml:"checkpoint_every"`
		CheckpointMaxBytes int           `yaml:"checkpoint_max_bytes"`
		// TLS encrypts the connections to the brokers.
		TLS tlsConfig `yaml:"tls"`
		// SASL authenticates them.
		SASL saslConfig `yaml:"sasl"`
	} `yaml:"kafka"`
	// Consumer holds the group member's own settings (separate from the
	// Kafka client settings above).
	Consumer struct {
		// InstanceID makes this process a static group member: restarted
		// with the same id it takes its partitions back at once. Unique per
		// running instance; empty for a dynamic member.
		InstanceID string `yaml:"instance_id"`
		// SessionTimeout is how long the group waits for a silent member
		// before reassigning its partitions.
		SessionTimeout time.Duration `yaml:"session_timeout"`
		// LagInterval is how often consumer lag and broker reachability
		// (/readyz) are refreshed.
		LagInterval time.Duration `yaml:"lag_interval"`
		// PipelineDepth bounds the records judged but not yet durable to
		// pipeline_depth × max_poll_records (1..16): judging goes on while
		// earlier batches are written, each write takes every batch waiting
		// for it, and offsets are still committed in order, only once
		// durable. Containment commands are published apart from these
		// writes as soon as their batch is judged.
		PipelineDepth int `yaml:"pipeline_depth"`
	} `yaml:"consumer"`
	ClickHouse struct {
		Enabled  bool   `yaml:"enabled"`
		Addr     string `yaml:"addr"`
		Database string `yaml:"database"`
		Username string `yaml:"username"`
		// Password, or PasswordFile (read at start-up), authenticates
		// Username; prefer the file or TETHER_CLICKHOUSE_PASSWORD.
		Password     ingest.Secret `yaml:"password"`
		PasswordFile string        `yaml:"password_file"`
		// TLS connects to the secure native port (Addr names it).
		TLS tlsConfig `yaml:"tls"`
		// RetentionDays keeps findings and commands; EventRetentionDays the
		// audit events. 0 keeps forever.
		RetentionDays      int `yaml:"retention_days"`
		EventRetentionDays int `yaml:"event_retention_days"`
		// InsertRows is the most rows of one table in one insert: a larger
		// batch is cut into inserts of this size (bench/README.md,
		// "ClickHouse inserts").
		InsertRows int `yaml:"insert_rows"`
		// InsertWorkers is how many inserts of one batch run at once, each
		// on its own connection.
		InsertWorkers int `yaml:"insert_workers"`
	} `yaml:"clickhouse"`
	Parquet struct {
		// Dir, when set, also writes findings and commands as Parquet files.
		Dir string `yaml:"dir"`
	} `yaml:"parquet"`
	// SecurityLake writes findings as OCSF Parquet laid out for an Amazon
	// Security Lake custom source (sink/ocsf LakeWriter); Dir empty disables.
	SecurityLake struct {
		// Dir is synchronised to the lake's bucket (ext/<source>/region=…/accountId=…/eventDay=…).
		Dir string `yaml:"dir"`
		// Source is the custom source name; Region and AccountID its partition values.
		Source    string `yaml:"source"`
		Region    string `yaml:"region"`
		AccountID string `yaml:"account_id"`
	} `yaml:"security_lake"`
	Inventory struct {
		File string `yaml:"file"`
	} `yaml:"inventory"`
	Detector struct {
		// MemoryBudget bounds the detector state of the whole process in
		// bytes, shared by the engines of its partitions (detector.Budget:
		// state is evicted only when the accounted bytes exceed it); at
		// least 1 MiB; 0: detector.DefaultMemoryBudget (half of GOMEMLIMIT,
		// else an eighth of the machine's or cgroup's memory).
		MemoryBudget int64 `yaml:"memory_budget"`
	} `yaml:"detector"`
	// Detectors selects and tunes the detectors and names the operator's
	// ruleset files (detector.Config; validated by its Options method).
	Detectors detectorsConfig `yaml:"detectors"`
	// Control configures the signing of containment commands and the
	// acknowledgements Tether records.
	Control struct {
		// Signing is "required" (default: the daemon refuses to start
		// without a signing key) or "disabled" (commands are published
		// unsigned; consumers must opt in with control.AllowUnsigned).
		Signing string `yaml:"signing"`
		// SigningKeyFile is a PKCS #8 PEM Ed25519 private key (`tether
		// keygen` writes one); TETHER_CONTROL_SIGNING_KEY may carry the
		// PEM itself instead.
		SigningKeyFile string        `yaml:"signing_key_file"`
		SigningKey     ingest.Secret `yaml:"signing_key"`
		// AckTopic is where containment consumers acknowledge commands;
		// Tether records the acks and times-to-contain in ClickHouse.
		// Empty disables recording.
		AckTopic string `yaml:"ack_topic"`
		// AckDeadline: a command not acknowledged as applied within it
		// raises a containment_unacknowledged finding.
		AckDeadline time.Duration `yaml:"ack_deadline"`
		// Journal (default true) makes containment commands and the
		// findings they name durable in the compacted topic
		// "<kafka.control_topic>.journal" before the commands are
		// published, so that they do not wait for the ClickHouse and
		// Parquet writes, which follow with their batch before its offsets
		// are committed; a start-up writes journaled commands the stores
		// lack (DESIGN.md "Hot path"). false: commands are published after
		// every store has written their findings.
		Journal bool `yaml:"journal"`
	} `yaml:"control"`
	// Containment is the containment policy (detector/containment):
	// thresholds, rules, rate limits and circuit breaker. Reloaded on
	// SIGHUP.
	Containment containmentConfig `yaml:"containment"`
	Decode      struct {
		MaxRecordBytes int           `yaml:"max_record_bytes"`
		MaxFutureSkew  time.Duration `yaml:"max_future_skew"`
		MaxPastSkew    time.Duration `yaml:"max_past_skew"`
	} `yaml:"decode"`
	HTTP struct {
		// Listen is the address of the console (/), /metrics, /healthz and
		// /readyz; empty disables.
		Listen string `yaml:"listen"`
		// ConsoleToken is the bearer token the console's writes (triage)
		// need; empty accepts writes from loopback clients only.
		ConsoleToken ingest.Secret `yaml:"console_token"`
	} `yaml:"http"`
	Log struct {
		Level string `yaml:"level"`
	} `yaml:"log"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`

	// path is the file the configuration was read from ("" for none),
	// for the SIGHUP reload of the containment policy.
	path string
}

// detectorsConfig is the detectors section (detector.Config, validated by
// its Options method) plus how often the ruleset files are checked.
type detectorsConfig struct {
	// Disabled names detectors that do not run (identity, baseline, flow, capability, profile, semantic, risk).
	Disabled []string `yaml:"disabled"`
	// Tune maps a detector name to fields of its Options (Go field names, lower-cased: {risk: {maxagents: 1000}}), decoded onto its defaults; unknown fields are errors.
	Tune map[string]yaml.Node `yaml:"tune"`
	// RulesFiles are operator ruleset files (detector/rules: list appends, rule overrides, exceptions) applied in order on top of the embedded default ruleset; `tether rules check` validates them.
	RulesFiles []string `yaml:"rules_files"`
	// ATRDir, when set, runs the Agent Threat Rules under it (bench/atr/setup.sh fetches them; off by default: on AgentDojo the stable lane added no detection and one false-alarm session, DESIGN.md).
	ATRDir string `yaml:"atr_dir"`
	// ATRLane selects ATR rules by maturity: stable, test (stable and test) or all.
	ATRLane string `yaml:"atr_lane"`
	// ReloadInterval is how often the rules files are checked for a change (size and modification time); 0 disables the check (SIGHUP still reloads).
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

// Config returns the detector package's view of the section.
func (d detectorsConfig) Config() detector.Config {
	return detector.Config{Disabled: d.Disabled, Tune: d.Tune, RulesFiles: d.RulesFiles, ATRDir: d.ATRDir, ATRLane: d.ATRLane}
}

// Options validates the section and returns the engine options.
func (d detectorsConfig) Options() (detector.Options, error) { return d.Config().Options() }

// tlsConfig is a TLS client section (kafka.tls, clickhouse.tls).
type tlsConfig struct {
	Enabled bool `yaml:"enabled"`
	// CAFile signs the server's certificate; empty trusts the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile: a client certificate, for servers that require
	// one.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `yaml:"server_name"`
}

// saslConfig is the kafka.sasl section (see ingest.SASL).
type saslConfig struct {
	// Mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER; empty
	// disables SASL.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// Password or PasswordFile for PLAIN and SCRAM; Token or TokenFile for
	// OAUTHBEARER. Files are read at every authentication (rotation).
	Password     ingest.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	Token        ingest.Secret `yaml:"token"`
	TokenFile    string        `yaml:"token_file"`
}

// build loads the TLS files; nil when disabled. section names the setting
// in errors.
func (t tlsConfig) build(section string) (*tls.Config, error) {
	if !t.Enabled {
		if t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "" {
			return nil, fmt.Errorf("%s: files or server_name set while %s.enabled is false", section, section)
		}
		return nil, nil
	}
	c, err := ingest.TLSFiles{CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile, ServerName: t.ServerName}.Config()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", section, err)
	}
	return c, nil
}

// kafkaSecurity is the client id, TLS and SASL shared by every Kafka client
// of the daemon.
func (c *Config) kafkaSecurity() (ingest.Security, error) {
	t, err := c.Kafka.TLS.build("kafka.tls")
	if err != nil {
		return ingest.Security{}, err
	}
	s := c.Kafka.SASL
	return ingest.Security{
		ClientID: c.Kafka.ClientID,
		TLS:      t,
		SASL: ingest.SASL{
			Mechanism: s.Mechanism, Username: s.Username,
			Password: s.Password, PasswordFile: s.PasswordFile,
			Token: s.Token, TokenFile: s.TokenFile,
		},
	}, nil
}

// clickHousePassword returns clickhouse.password or the content of
// clickhouse.password_file.
func (c *Config) clickHousePassword() (string, error) {
	if c.ClickHouse.PasswordFile == "" {
		return c.ClickHouse.Password.Reveal(), nil
	}
	if c.ClickHouse.Password != "" {
		return "", errors.New("clickhouse.password and clickhouse.password_file are both set (use one)")
	}
	p, err := ingest.ReadSecretFile(c.ClickHouse.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("clickhouse.password_file: %w", err)
	}
	return p, nil
}

// MarshalZerologObject logs the configuration under its YAML names, with
// every secret redacted (ingest.Secret marshals as "[REDACTED]").
func (c Config) MarshalZerologObject(e *zerolog.Event) {
	b, err := yaml.Marshal(c)
	var m map[string]any
	if err == nil {
		err = yaml.Unmarshal(b, &m)
	}
	if err != nil {
		e.Str("error", "config dump: "+err.Error())
		return
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		e.Interface(k, m[k])
	}
}

func defaultConfig() Config {
	var c Config
	c.Kafka.Brokers = []string{"127.0.0.1:9092"}
	c.Kafka.Group = "tether"
	c.Kafka.EventsTopic = "tether.events"
	c.Kafka.DeadLetterTopic = "tether.events.dlq"
	c.Kafka.ControlTopic = "tether.control"
	c.Kafka.FindingsTopic = "tether.findings.ocsf"
	c.Kafka.ClientID = "tether"
	c.Kafka.MaxPollRecords = 5000
	c.Kafka.StateTopic = "tether.state"
	c.Kafka.CheckpointEvery = time.Minute
	c.Kafka.CheckpointMaxBytes = 1 << 20
	c.Consumer.SessionTimeout = 45 * time.Second
	c.Consumer.LagInterval = 5 * time.Second
	c.Consumer.PipelineDepth = ingest.DefaultPipelineDepth
	c.ClickHouse.Enabled = true
	c.ClickHouse.Addr = "127.0.0.1:9000"
	c.ClickHouse.Database = "tether"
	c.ClickHouse.Username = "default"
	c.ClickHouse.RetentionDays = 365
	c.ClickHouse.EventRetentionDays = 30
	c.ClickHouse.InsertRows = 20000
	c.ClickHouse.InsertWorkers = 2
	c.Detectors.ReloadInterval = 5 * time.Second
	c.Detectors.ATRLane = "stable"
	c.Detectors.Tune = map[string]yaml.Node{}
	c.Detectors.Disabled, c.Detectors.RulesFiles = []string{}, []string{}
	c.Control.Signing = "required"
	c.Control.AckTopic = "tether.control.acks"
	c.Control.AckDeadline = 30 * time.Second
	c.Control.Journal = true
	c.Containment = defaultContainmentConfig()
	c.Decode.MaxRecordBytes = 1 << 20
	c.Decode.MaxFutureSkew = 5 * time.Minute
	c.Decode.MaxPastSkew = 7 * 24 * time.Hour
	c.SecurityLake.Source = "tether"
	c.HTTP.Listen = "127.0.0.1:9464"
	c.Log.Level = "info"
	c.ShutdownTimeout = 30 * time.Second
	return c
}

// loadConfig reads path (empty: defaults only), applies environment
// overrides and validates.
func loadConfig(path string, getenv func(string) string) (Config, error) {
	c := defaultConfig()
	c.path = path
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && err.Error() != "EOF" {
			return c, fmt.Errorf("%w: %s: %v", errConfig, path, err)
		}
	}
	if err := c.applyEnv(getenv); err != nil {
		return c, err
	}
	return c, c.validate()
}

// Environment overrides, documented in the README.
func (c *Config) applyEnv(getenv func(string) string) error {
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	if v := getenv("TETHER_KAFKA_BROKERS"); v != "" {
		c.Kafka.Brokers = strings.Split(v, ",")
	}
	str("TETHER_KAFKA_GROUP", &c.Kafka.Group)
	str("TETHER_EVENTS_TOPIC", &c.Kafka.EventsTopic)
	str("TETHER_DEAD_LETTER_TOPIC", &c.Kafka.DeadLetterTopic)
	str("TETHER_CONTROL_TOPIC", &c.Kafka.ControlTopic)
	str("TETHER_FINDINGS_TOPIC", &c.Kafka.FindingsTopic)
	str("TETHER_STATE_TOPIC", &c.Kafka.StateTopic)
	str("TETHER_INSTANCE_ID", &c.Consumer.InstanceID)
	if v := getenv("TETHER_SESSION_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%w: TETHER_SESSION_TIMEOUT=%q: %v", errConfig, v, err)
		}
		c.Consumer.SessionTimeout = d
	}
	str("TETHER_CLICKHOUSE_ADDR", &c.ClickHouse.Addr)
	str("TETHER_CLICKHOUSE_DATABASE", &c.ClickHouse.Database)
	str("TETHER_CLICKHOUSE_USER", &c.ClickHouse.Username)
	secret := func(name string, dst *ingest.Secret) {
		if v := getenv(name); v != "" {
			*dst = ingest.Secret(v)
		}
	}
	secret("TETHER_CLICKHOUSE_PASSWORD", &c.ClickHouse.Password)
	str("TETHER_CLICKHOUSE_PASSWORD_FILE", &c.ClickHouse.PasswordFile)
	str("TETHER_KAFKA_CLIENT_ID", &c.Kafka.ClientID)
	str("TETHER_KAFKA_SASL_MECHANISM", &c.Kafka.SASL.Mechanism)
	str("TETHER_KAFKA_SASL_USERNAME", &c.Kafka.SASL.Username)
	secret("TETHER_KAFKA_SASL_PASSWORD", &c.Kafka.SASL.Password)
	str("TETHER_KAFKA_SASL_PASSWORD_FILE", &c.Kafka.SASL.PasswordFile)
	secret("TETHER_KAFKA_SASL_TOKEN", &c.Kafka.SASL.Token)
	str("TETHER_KAFKA_SASL_TOKEN_FILE", &c.Kafka.SASL.TokenFile)
	str("TETHER_KAFKA_TLS_CA_FILE", &c.Kafka.TLS.CAFile)
	str("TETHER_KAFKA_TLS_CERT_FILE", &c.Kafka.TLS.CertFile)
	str("TETHER_KAFKA_TLS_KEY_FILE", &c.Kafka.TLS.KeyFile)
	str("TETHER_CLICKHOUSE_TLS_CA_FILE", &c.ClickHouse.TLS.CAFile)
	str("TETHER_PARQUET_DIR", &c.Parquet.Dir)
	str("TETHER_CONTROL_SIGNING", &c.Control.Signing)
	str("TETHER_CONTROL_SIGNING_KEY_FILE", &c.Control.SigningKeyFile)
	secret("TETHER_CONTROL_SIGNING_KEY", &c.Control.SigningKey)
	str("TETHER_ACK_TOPIC", &c.Control.AckTopic)
	str("TETHER_INVENTORY", &c.Inventory.File)
	str("TETHER_HTTP_LISTEN", &c.HTTP.Listen)
	secret("TETHER_CONSOLE_TOKEN", &c.HTTP.ConsoleToken)
	str("TETHER_LOG_LEVEL", &c.Log.Level)
	if v := getenv("TETHER_MEMORY_BUDGET"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: TETHER_MEMORY_BUDGET=%q: %v", errConfig, v, err)
		}
		c.Detector.MemoryBudget = n
	}
	for name, dst := range map[string]*bool{
		"TETHER_CLICKHOUSE_ENABLED":     &c.ClickHouse.Enabled,
		"TETHER_CONTROL_JOURNAL":        &c.Control.Journal,
		"TETHER_KAFKA_TLS_ENABLED":      &c.Kafka.TLS.Enabled,
		"TETHER_CLICKHOUSE_TLS_ENABLED": &c.ClickHouse.TLS.Enabled,
	} {
		if v := getenv(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%w: %s=%q: %v", errConfig, name, v, err)
			}
			*dst = b
		}
	}
	return nil
}

func (c *Config) validate() error {
	var errs []string
	if len(c.Kafka.Brokers) == 0 || c.Kafka.Brokers[0] == "" {
		errs = append(errs, "kafka.brokers is empty")
	}
	for name, v := range map[string]string{
		"kafka.group": c.Kafka.Group, "kafka.events_topic": c.Kafka.EventsTopic,
		"kafka.dead_letter_topic": c.Kafka.DeadLetterTopic, "kafka.control_topic": c.Kafka.ControlTopic,
	} {
		if v == "" {
			errs = append(errs, name+" is empty")
		}
	}
	if c.Kafka.EventsTopic == c.Kafka.DeadLetterTopic || c.Kafka.EventsTopic == c.Kafka.ControlTopic {
		errs = append(errs, "kafka topics must differ (events, dead letters, control)")
	}
	if s := c.Kafka.FindingsTopic; s != "" {
		if s == c.Kafka.EventsTopic || s == c.Kafka.DeadLetterTopic || s == c.Kafka.ControlTopic || s == c.Kafka.StateTopic {
			errs = append(errs, "kafka.findings_topic must differ from the events, dead-letter, control and state topics")
		}
	}
	if s := c.Kafka.StateTopic; s != "" {
		if s == c.Kafka.EventsTopic || s == c.Kafka.DeadLetterTopic || s == c.Kafka.ControlTopic {
			errs = append(errs, "kafka.state_topic must differ from the events, dead-letter and control topics")
		}
		if c.Kafka.CheckpointEvery <= 0 {
			errs = append(errs, "kafka.checkpoint_every must be positive")
		}
		if c.Kafka.CheckpointMaxBytes <= 0 || c.Kafka.CheckpointMaxBytes > 1<<30 {
			errs = append(errs, "kafka.checkpoint_max_bytes must be in 1..1073741824")
		}
	}
	if c.Kafka.MaxPollRecords <= 0 {
		errs = append(errs, "kafka.max_poll_records must be positive")
	}
	if c.ClickHouse.Enabled && c.ClickHouse.Addr == "" {
		errs = append(errs, "clickhouse.addr is empty while clickhouse.enabled")
	}
	if !c.ClickHouse.Enabled && c.Parquet.Dir == "" {
		errs = append(errs, "no findings sink: enable clickhouse or set parquet.dir")
	}
	if c.Detector.MemoryBudget < 0 {
		errs = append(errs, "detector.memory_budget is negative")
	} else if c.Detector.MemoryBudget > 0 && c.Detector.MemoryBudget < 1<<20 {
		errs = append(errs, fmt.Sprintf("detector.memory_budget %d is below 1 MiB (1048576 bytes)", c.Detector.MemoryBudget))
	}
	if _, err := c.Detectors.Options(); err != nil {
		errs = append(errs, err.Error())
	}
	if c.Detectors.ReloadInterval < 0 {
		errs = append(errs, "detectors.reload_interval is negative")
	}
	if c.ClickHouse.RetentionDays < 0 || c.ClickHouse.EventRetentionDays < 0 {
		errs = append(errs, "clickhouse retention days are negative")
	}
	if c.ClickHouse.InsertRows < 1 || c.ClickHouse.InsertWorkers < 1 || c.ClickHouse.InsertWorkers > 16 {
		errs = append(errs, fmt.Sprintf("clickhouse.insert_rows %d, insert_workers %d (want ≥ 1 and 1..16)", c.ClickHouse.InsertRows, c.ClickHouse.InsertWorkers))
	}
	// TLS files and secret files are read here, so that a typo fails at
	// start-up; errors name settings and files, never a secret.
	if sec, err := c.kafkaSecurity(); err != nil {
		errs = append(errs, err.Error())
	} else if _, err := ingest.ClientOptions(sec); err != nil {
		errs = append(errs, "kafka.sasl: "+err.Error())
	}
	if c.ClickHouse.Enabled {
		if _, err := c.ClickHouse.TLS.build("clickhouse.tls"); err != nil {
			errs = append(errs, err.Error())
		}
		if _, err := c.clickHousePassword(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	switch c.Control.Signing {
	case "required":
		// A configured key must load; a missing one is refused when the
		// daemon starts (serve), not by commands that only read the file.
		if c.Control.SigningKey != "" || c.Control.SigningKeyFile != "" {
			if _, err := c.signer(); err != nil {
				errs = append(errs, err.Error())
			}
		}
	case "disabled":
		if c.Control.SigningKeyFile != "" || c.Control.SigningKey != "" {
			errs = append(errs, "control.signing is disabled but a signing key is set")
		}
	default:
		errs = append(errs, fmt.Sprintf("control.signing %q (want required or disabled)", c.Control.Signing))
	}
	if a := c.Control.AckTopic; a != "" && (a == c.Kafka.EventsTopic || a == c.Kafka.ControlTopic || a == c.Kafka.DeadLetterTopic || a == c.Kafka.StateTopic || a == c.Kafka.FindingsTopic) {
		errs = append(errs, "control.ack_topic must differ from the other topics")
	}
	if j := c.journalTopic(); j != "" && (j == c.Kafka.EventsTopic || j == c.Kafka.DeadLetterTopic || j == c.Kafka.StateTopic || j == c.Kafka.FindingsTopic || j == c.Control.AckTopic) {
		errs = append(errs, fmt.Sprintf("control.journal: its topic %q must differ from the other topics", j))
	}
	if c.Control.AckDeadline <= 0 {
		errs = append(errs, "control.ack_deadline must be positive")
	}
	if _, err := c.Containment.options(); err != nil {
		errs = append(errs, err.Error())
	}
	if c.Decode.MaxRecordBytes <= 0 {
		errs = append(errs, "decode.max_record_bytes must be positive")
	}
	if c.Decode.MaxFutureSkew < 0 {
		errs = append(errs, fmt.Sprintf("decode.max_future_skew %s is negative", c.Decode.MaxFutureSkew))
	}
	if c.Decode.MaxPastSkew < 0 {
		errs = append(errs, fmt.Sprintf("decode.max_past_skew %s is negative", c.Decode.MaxPastSkew))
	}
	if s := c.Consumer.SessionTimeout; s < time.Second || s > 30*time.Minute {
		errs = append(errs, fmt.Sprintf("consumer.session_timeout %s (want 1s..30m, within the brokers' group.min/max.session.timeout.ms)", s))
	}
	if c.Consumer.LagInterval <= 0 {
		errs = append(errs, "consumer.lag_interval must be positive")
	}
	if d := c.Consumer.PipelineDepth; d < 1 || d > ingest.MaxPipelineDepth {
		errs = append(errs, fmt.Sprintf("consumer.pipeline_depth %d (want 1..%d)", d, ingest.MaxPipelineDepth))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, "shutdown_timeout must be positive")
	}
	if err := validListen(c.HTTP.Listen); err != nil {
		errs = append(errs, fmt.Sprintf("http.listen %q: %v", c.HTTP.Listen, err))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Sprintf("log.level %q (want debug, info, warn or error)", c.Log.Level))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", errConfig, strings.Join(errs, "; "))
	}
	return nil
}

// validListen checks a listen address: empty (disabled) or host:port with
// a numeric port (host may be empty for every interface).
func validListen(addr string) error {
	if addr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("invalid host %q", host)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("port %q is not a number in 0..65535", port)
	}
	return nil
}

// journalTopic is the command journal's topic ("" when control.journal is
// off): the control topic's name with ".journal".
func (c *Config) journalTopic() string {
	if !c.Control.Journal {
		return ""
	}
	return c.Kafka.ControlTopic + ".journal"
}
