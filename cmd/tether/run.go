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
	"github.com/tetherhq/tether/detector/containment"
	"github.com/tetherhq/tether/ingest"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink/control"
	"github.com/tetherhq/tether/sink/memstore"
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
	if cfg.Control.Signing != "disabled" {
		if _, err := cfg.signer(); err != nil {
			return fmt.Errorf("%w: %w", errConfig, err)
		}
	}
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
	copts, err := cfg.Containment.options()
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	live, breaker := new(containment.Live), containment.NewBreaker()
	copts.Live, copts.Breaker = live, breaker
	opts.Detector.Containment = copts
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
	opts.PipelineDepth = cfg.Consumer.PipelineDepth
	opts.JournalTopic = cfg.journalTopic()
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
	var store *memstore.Store
	if cfg.HTTP.Listen != "" {
		store = newConsoleStore(inv)
	}
	var rec *control.Recorder
	if cfg.Control.AckTopic != "" {
		var stopRec func()
		if rec, stopRec, err = startRecorder(ctx, cfg, sec, sinks, store, log); err != nil {
			return err
		}
		defer stopRec()
		sinks = append(sinks, rec)
	}
	chain := sinks
	if store != nil { // the console's view, last: it never fails a batch
		chain = append(chain[:len(chain):len(chain)], store)
	}
	sinkTimes := sinkSeconds()
	if err := reg.Register(sinkTimes); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	out.w, out.signer = consumerChain(chain, sinkTimes), signerOf(sinks)
	go reloadOnHUP(ctx, cfg.path, live, log)

	if cfg.HTTP.Listen != "" {
		if err := reg.Register(cons.Metrics()); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		if err := registerContainmentMetrics(reg, rec, breaker); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
		ui := consoleHandler(store, sinks, cfg.HTTP.ConsoleToken.Reveal(), "Tether")
		srv, err := startHTTP(cfg.HTTP.Listen, reg, cons.Metrics(), ui, breaker, log)
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
// serves HTTP), /readyz (ingest.Readiness as JSON: 200 when ready, 503
// with the reasons otherwise, the console ui at / (when not nil) and, with a breaker, POST
// /containment/breaker/clear (an operator clears a tripped containment
// circuit breaker; the address is loopback by default).
func startHTTP(addr string, reg *prometheus.Registry, m *ingest.Metrics, ui http.Handler, breaker *containment.Breaker, log zerolog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: httpHandler(reg, m, ui, breaker, log), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("http server")
		}
	}()
	log.Info().Str("addr", ln.Addr().String()).Msg("serving the console at /, /metrics, /healthz, /readyz")
	return srv, nil
}

// httpHandler routes the daemon's HTTP endpoints (see startHTTP).
func httpHandler(reg *prometheus.Registry, m *ingest.Metrics, ui http.Handler, breaker *containment.Breaker, log zerolog.Logger) http.Handler {
	mux := http.NewServeMux()
	if ui != nil {
		mux.Handle("/", ui)
	}
	if breaker != nil {
		mux.HandleFunc("/containment/breaker/clear", func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				http.Error(w, "POST to clear the containment circuit breaker", http.StatusMethodNotAllowed)
				return
			}
			was := breaker.Clear()
			log.Warn().Bool("was_tripped", was).Str("remote", r.RemoteAddr).Msg("containment circuit breaker cleared by an operator")
			fmt.Fprintf(w, "cleared (was tripped: %v)\n", was)
		})
	}
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
