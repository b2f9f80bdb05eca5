package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/ingest"
	"github.com/tetherhq/tether/models"
)

// runDaemon is `tether run`: consume events, detect, write findings and
// publish containment commands until SIGTERM/SIGINT.
func runDaemon(args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "YAML configuration file (defaults and TETHER_* environment overrides apply)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (give the configuration file with --config FILE)", errConfig, fs.Arg(0))
	}
	cfg, err := loadConfig(*cfgPath, os.Getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log.Level)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return serve(ctx, cfg, log)
}

func newLogger(level string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(os.Stderr).Level(lvl).With().Timestamp().Str("service", "tether").Logger()
}

// serve runs the daemon until ctx ends.
func serve(ctx context.Context, cfg Config, log zerolog.Logger) error {
	log.Info().Object("config", cfg).Msg("configuration (secrets redacted)")
	var inv *models.Inventory
	if cfg.Inventory.File != "" {
		var err error
		if inv, err = models.LoadInventoryFile(cfg.Inventory.File); err != nil {
			return err
		}
		log.Info().Str("file", cfg.Inventory.File).Int("agents", len(inv.Agents)).Msg("inventory loaded")
	} else {
		log.Warn().Msg("no inventory configured: every agent will be reported as unregistered")
	}

	opts := ingest.DefaultOptions()
	opts.Brokers = cfg.Kafka.Brokers
	sec, err := cfg.kafkaSecurity()
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	opts.Security = sec
	opts.Group = cfg.Kafka.Group
	opts.Topic = cfg.Kafka.EventsTopic
	opts.DeadLetterTopic = cfg.Kafka.DeadLetterTopic
	opts.MaxPollRecords = cfg.Kafka.MaxPollRecords
	opts.StateTopic = cfg.Kafka.StateTopic
	opts.CheckpointEvery = cfg.Kafka.CheckpointEvery
	opts.CheckpointMaxBytes = cfg.Kafka.CheckpointMaxBytes
	opts.Decode = models.DecodeOptions{MaxBytes: cfg.Decode.MaxRecordBytes, MaxFutureSkew: cfg.Decode.MaxFutureSkew, MaxPastSkew: cfg.Decode.MaxPastSkew}
	if opts.Detector, err = cfg.Detectors.Options(); err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	opts.Detector.Inventory = inv
	rs := opts.Detector.Rules.Load()
	log.Info().Str("ruleset", rs.ID).Str("version", rs.Version).Strs("files", rs.Files).Int("rules", len(rs.Rules())).
		Int("exceptions", len(rs.Exceptions())).Msg("ruleset loaded")
	wctx, wcancel := context.WithCancel(ctx)
	wdone := make(chan struct{})
	go func() { defer close(wdone); watchRules(wctx, cfg.Detectors, opts.Detector.Rules, log) }()
	defer func() { wcancel(); <-wdone }()
	if cfg.Detector.MemoryBudget > 0 {
		opts.Detector.MemoryBudget = detector.NewBudget(cfg.Detector.MemoryBudget)
	}
	log.Info().Int64("bytes", opts.Detector.MemoryBudget.Bytes()).Msg("detector memory budget (shared by the partitions' engines)")
	opts.ShutdownFlushTimeout = cfg.ShutdownTimeout
	opts.InstanceID = cfg.Consumer.InstanceID
	opts.SessionTimeout = cfg.Consumer.SessionTimeout
	opts.LagInterval = cfg.Consumer.LagInterval
	opts.Logger = log
	reg := newRegistry()
	if err := reg.Register(newRulesCollector(opts.Detector.Rules)); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	opts.KafkaHooks = kafkaMetrics(reg)

	out := &lateWriter{}
	cons, err := ingest.New(opts, out)
	if err != nil {
		return err
	}
	defer cons.Close()
	sinks, err := buildSinks(ctx, cfg, cons, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := sinks.CloseAll(); err != nil {
			log.Error().Err(err).Msg("closing sinks")
		}
	}()
	out.w = sinks

	if cfg.HTTP.Listen != "" {
		if err := reg.Register(cons.Metrics()); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		srv, err := startHTTP(cfg.HTTP.Listen, reg, cons.Metrics(), log)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	err = cons.Run(ctx)
	st := cons.Stats()
	log.Info().Int64("consumed", st.Consumed).Int64("dead_lettered", st.DeadLettered).Int64("findings", st.Findings).
		Int64("commands", st.Commands).Msg("daemon stopped")
	return err
}

// newRegistry returns the daemon's Prometheus registry with the Go
// runtime, process and build-information collectors and tether_build_info.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	b := currentBuild()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "tether_build_info",
			Help:        "Always 1; the labels identify the running build.",
			ConstLabels: prometheus.Labels{"version": b.Version, "commit": b.Commit, "go_version": b.GoVersion},
		}, func() float64 { return 1 }),
	)
	return reg
}

// kafkaMetrics returns hooks exposing each Kafka client's franz-go
// metrics (plugin/kprom: connections, bytes, request latency, buffered
// records) as tether_kafka_*, labelled by client.
func kafkaMetrics(reg *prometheus.Registry) func(client string) []kgo.Hook {
	return func(client string) []kgo.Hook {
		return []kgo.Hook{kprom.NewMetrics("tether", kprom.Subsystem("kafka"), kprom.Registry(reg),
			kprom.WithStaticLabel(prometheus.Labels{"client": client}))}
	}
}

// startHTTP serves /metrics (Prometheus), /healthz (liveness: the process
// serves HTTP) and /readyz (ingest.Readiness as JSON: 200 when ready, 503
// with the reasons otherwise).
func startHTTP(addr string, reg *prometheus.Registry, m *ingest.Metrics, log zerolog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: httpHandler(reg, m), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("http server")
		}
	}()
	log.Info().Str("addr", ln.Addr().String()).Msg("serving /metrics, /healthz, /readyz")
	return srv, nil
}

// httpHandler routes the daemon's HTTP endpoints (see startHTTP).
func httpHandler(reg *prometheus.Registry, m *ingest.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		r := m.Readiness(time.Now())
		w.Header().Set("Content-Type", "application/json")
		if !r.Ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(r)
	})
	return mux
}
