package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// errConfig is wrapped by every configuration error.
var errConfig = errors.New("invalid configuration")

// Config is the daemon's configuration file. Every field has a default
// (defaultConfig); environment variables (TETHER_*) override the file.
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
	} `yaml:"kafka"`
	ClickHouse struct {
		Enabled  bool   `yaml:"enabled"`
		Addr     string `yaml:"addr"`
		Database string `yaml:"database"`
		Username string `yaml:"username"`
		Password string `yaml:"password"`
		// RetentionDays keeps findings and commands; EventRetentionDays the
		// audit events. 0 keeps forever.
		RetentionDays      int `yaml:"retention_days"`
		EventRetentionDays int `yaml:"event_retention_days"`
	} `yaml:"clickhouse"`
	Parquet struct {
		// Dir, when set, also writes findings and commands as Parquet files.
		Dir string `yaml:"dir"`
	} `yaml:"parquet"`
	Inventory struct {
		File string `yaml:"file"`
	} `yaml:"inventory"`
	Decode struct {
		MaxRecordBytes int           `yaml:"max_record_bytes"`
		MaxFutureSkew  time.Duration `yaml:"max_future_skew"`
		MaxPastSkew    time.Duration `yaml:"max_past_skew"`
	} `yaml:"decode"`
	HTTP struct {
		// Listen is the address of /metrics, /healthz and /readyz; empty disables.
		Listen string `yaml:"listen"`
	} `yaml:"http"`
	Log struct {
		Level string `yaml:"level"`
	} `yaml:"log"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
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
	c.ClickHouse.Enabled = true
	c.ClickHouse.Addr = "127.0.0.1:9000"
	c.ClickHouse.Database = "tether"
	c.ClickHouse.Username = "default"
	c.ClickHouse.RetentionDays = 365
	c.ClickHouse.EventRetentionDays = 30
	c.Decode.MaxRecordBytes = 1 << 20
	c.Decode.MaxFutureSkew = 5 * time.Minute
	c.Decode.MaxPastSkew = 7 * 24 * time.Hour
	c.HTTP.Listen = "127.0.0.1:9464"
	c.Log.Level = "info"
	c.ShutdownTimeout = 30 * time.Second
	return c
}

// loadConfig reads path (empty: defaults only), applies environment
// overrides and validates.
func loadConfig(path string, getenv func(string) string) (Config, error) {
	c := defaultConfig()
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
	str("TETHER_CLICKHOUSE_ADDR", &c.ClickHouse.Addr)
	str("TETHER_CLICKHOUSE_DATABASE", &c.ClickHouse.Database)
	str("TETHER_CLICKHOUSE_USER", &c.ClickHouse.Username)
	str("TETHER_CLICKHOUSE_PASSWORD", &c.ClickHouse.Password)
	str("TETHER_PARQUET_DIR", &c.Parquet.Dir)
	str("TETHER_INVENTORY", &c.Inventory.File)
	str("TETHER_HTTP_LISTEN", &c.HTTP.Listen)
	str("TETHER_LOG_LEVEL", &c.Log.Level)
	if v := getenv("TETHER_CLICKHOUSE_ENABLED"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%w: TETHER_CLICKHOUSE_ENABLED=%q: %v", errConfig, v, err)
		}
		c.ClickHouse.Enabled = b
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
	if c.ClickHouse.RetentionDays < 0 || c.ClickHouse.EventRetentionDays < 0 {
		errs = append(errs, "clickhouse retention days are negative")
	}
	if c.Decode.MaxRecordBytes <= 0 {
		errs = append(errs, "decode.max_record_bytes must be positive")
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
