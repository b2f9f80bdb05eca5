// Command e2e is the end-to-end throughput and latency benchmark behind
// `make bench-e2e`. Against a running Kafka (and ClickHouse) it:
//
//  1. produces -events fleet events (about 1 KB each, like AgentDojo's,
//     -agents agents, keyed by root agent) into a fresh topic;
//  2. reads the topic with a plain franz-go consumer (the ceiling);
//  3. runs `tether run` (-tether) over the whole backlog with ClickHouse on,
//     then with Parquet only, each in a fresh consumer group; the rate is
//     measured from the first to the last offset commit (start-up and the
//     group join excluded), with the daemon's CPU time and peak RSS;
//  4. with the ClickHouse-on daemon caught up, produces background events at
//     half its measured rate plus probe events from unregistered agents and
//     measures probe → containment command on the control topic.
//
// It writes the figures as JSON (-out). It starts no services itself.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/models"
)

// result is the JSON written to -out.
type result struct {
	Events                         int     `json:"events"`
	MeanRecordBytes                int     `json:"mean_record_bytes"`
	Agents                         int     `json:"agents"`
	Partitions                     int     `json:"partitions"`
	PlainConsumerEventsPerSec      float64 `json:"plain_consumer_events_per_sec"`
	TetherEventsPerSec             float64 `json:"tether_events_per_sec"`
	TetherEventsPerSecNoClickHouse float64 `json:"tether_events_per_sec_no_clickhouse"`
	Ratio                          float64 `json:"ratio"`
	RatioNoClickHouse              float64 `json:"ratio_no_clickhouse"`
	CPUCoresUsed                   float64 `json:"cpu_cores_used"`
	CPUCoresUsedNoClickHouse       float64 `json:"cpu_cores_used_no_clickhouse"`
	PeakRSSBytes                   int64   `json:"peak_rss_bytes"`
	LatencyLoadEventsPerSec        float64 `json:"latency_load_events_per_sec"`
	LatencyProbes                  int     `json:"latency_probes"`
	// LatencyProbesMissing are probes whose command did not arrive within
	// 5 s of the end of the latency phase (not in the quantiles).
	LatencyProbesMissing int     `json:"latency_probes_missing"`
	P50EventToCommandMs  float64 `json:"p50_event_to_command_ms"`
	P99EventToCommandMs  float64 `json:"p99_event_to_command_ms"`
	// The probes' path split at the command's tether-alerted-at header
	// (set when the daemon starts publishing, after the stores): probe
	// produced → alerted (fetch, queue, judge, urgent store writes) and
	// alerted → command read (control produce, acks, the harness's fetch).
	P50ProbeToAlertedMs float64 `json:"p50_probe_to_alerted_ms"`
	P99ProbeToAlertedMs float64 `json:"p99_probe_to_alerted_ms"`
	P50AlertedToReadMs  float64 `json:"p50_alerted_to_read_ms"`
	P99AlertedToReadMs  float64 `json:"p99_alerted_to_read_ms"`
	// StageMeanMs is the mean per batch (per write for sinks) of the
	// daemon's tether_pipeline_stage_seconds and tether_sink_write_seconds
	// over the latency phase, and StageCount how many it averaged.
	StageMeanMs map[string]float64 `json:"stage_mean_ms,omitempty"`
	StageCount  map[string]float64 `json:"stage_count,omitempty"`
	// BacklogStageMeanMs is the same over the ClickHouse-on backlog run
	// (from the daemon's start to its last commit).
	BacklogStageMeanMs map[string]float64 `json:"backlog_stage_mean_ms,omitempty"`
	// StageP99Ms is, per series, the upper bound of the histogram bucket
	// holding the 99th percentile over the latency phase.
	StageP99Ms                map[string]float64 `json:"stage_p99_ms,omitempty"`
	MachineCPUs               int                `json:"machine_cpus"`
	LoadAverage               string             `json:"load_average"`
	TetherBinary              string             `json:"tether_binary"`
	ClickHouseDatabase        string             `json:"clickhouse_database"`
	EventsTopic               string             `json:"events_topic"`
	MaxPollRecords            int                `json:"max_poll_records,omitempty"`
	PipelineDepth             int                `json:"pipeline_depth,omitempty"`
	TetherSecondsClickHouse   float64            `json:"tether_seconds"`
	TetherSecondsNoClickHouse float64            `json:"tether_seconds_no_clickhouse"`
	PlainConsumerSeconds      float64            `json:"plain_consumer_seconds"`
	MeanBatchRecords          float64            `json:"mean_batch_records"`
}

func main() {
	var (
		brokers    = flag.String("brokers", envOr("TETHER_TEST_KAFKA", "127.0.0.1:9092"), "Kafka seed brokers (comma-separated)")
		ch         = flag.String("clickhouse", envOr("TETHER_TEST_CLICKHOUSE", "127.0.0.1:9000"), "ClickHouse native address")
		events     = flag.Int("events", 500_000, "events to produce")
		agents     = flag.Int("agents", 5_000, "fleet agents")
		partitions = flag.Int("partitions", 3, "partitions of the events topic")
		bin        = flag.String("tether", "bin/tether", "tether binary")
		out        = flag.String("out", "out/bench-e2e.json", "result file")
		latencyFor = flag.Duration("latency-for", 40*time.Second, "how long to measure event → command latency")
		skipNoCH   = flag.Bool("skip-no-clickhouse", false, "skip the Parquet-only run")
		maxPoll    = flag.Int("max-poll-records", 0, "the daemon's kafka.max_poll_records (0: its default)")
		depth      = flag.Int("pipeline-depth", 0, "the daemon's consumer.pipeline_depth (0: its default)")
	)
	flag.Parse()
	if err := run(strings.Split(*brokers, ","), *ch, *events, *agents, *partitions, *bin, *out, *latencyFor, *skipNoCH, *maxPoll, *depth); err != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func run(brokers []string, chAddr string, n, agents, partitions int, bin, out string, latencyFor time.Duration, skipNoCH bool, maxPoll, depth int) error {
	ctx := context.Background()
	suffix := strconv.FormatInt(time.Now().Unix(), 10)
	topic := "bench.e2e." + suffix + ".events"
	work := filepath.Join(filepath.Dir(out), "bench-e2e-"+suffix)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(work)
	admCl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return err
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	topics := []string{topic, topic + ".dlq", topic + ".control", topic + ".control.nc", topic + ".findings"}
	if _, err := adm.CreateTopics(ctx, int32(partitions), 1, nil, topics...); err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(dctx, append(topics, topic+".state", topic+".state.nc", topic+".dlq.nc",
			topic+".control.journal", topic+".control.nc.journal")...)
	}()

	// 1. The backlog.
	fl := fleet.New(fleet.Options{Agents: agents, Rogue: max(1, agents/500), Seed: 7, Start: time.Now().UTC().Add(-time.Hour)})
	inv := filepath.Join(work, "inventory.json")
	ib, err := json.Marshal(fl.Inventory())
	if err != nil {
		return err
	}
	if err := os.WriteFile(inv, ib, 0o644); err != nil {
		return err
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		return err
	}
	defer prod.Close()
	logf("producing %d events from %d agents into %s", n, agents, topic)
	var bytes int64
	var perr error
	var pmu sync.Mutex
	for i := 0; i < n; i++ {
		r, err := record(fl.Next())
		if err != nil {
			return err
		}
		bytes += int64(len(r.Value))
		prod.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				pmu.Lock()
				perr = errors.Join(perr, err)
				pmu.Unlock()
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		return err
	}
	if perr != nil {
		return fmt.Errorf("produce: %w", perr)
	}
	res := result{Events: n, MeanRecordBytes: int(bytes / int64(n)), Agents: agents, Partitions: partitions,
		MachineCPUs: runtime.NumCPU(), TetherBinary: bin, EventsTopic: topic}

	// 2. The ceiling.
	rate, secs, err := plainConsumer(brokers, topic, n)
	if err != nil {
		return err
	}
	res.PlainConsumerEventsPerSec, res.PlainConsumerSeconds = rate, secs
	logf("plain consumer: %.0f events/s", rate)

	// 3. tether run, ClickHouse on (kept running for 4).
	db := "bench_e2e_" + suffix
	res.ClickHouseDatabase = db
	res.MaxPollRecords, res.PipelineDepth = maxPoll, depth
	cfg := filepath.Join(work, "tether.yaml")
	cfgText := "{}\n"
	if maxPoll > 0 {
		cfgText = fmt.Sprintf("kafka:\n  max_poll_records: %d\n", maxPoll)
	}
	if depth > 0 {
		cfgText = strings.TrimPrefix(cfgText, "{}\n") + fmt.Sprintf("consumer:\n  pipeline_depth: %d\n", depth)
	}
	// Commands are signed, as in production: a fresh key for this run.
	key := filepath.Join(work, "control")
	if outp, err := exec.Command(bin, "keygen", "-out", key).CombinedOutput(); err != nil {
		return fmt.Errorf("tether keygen: %v: %s", err, outp)
	}
	if err := os.WriteFile(cfg, []byte(cfgText), 0o644); err != nil {
		return err
	}
	env := []string{
		"TETHER_KAFKA_BROKERS=" + strings.Join(brokers, ","), "TETHER_EVENTS_TOPIC=" + topic,
		"TETHER_DEAD_LETTER_TOPIC=" + topic + ".dlq", "TETHER_FINDINGS_TOPIC=" + topic + ".findings", "TETHER_INVENTORY=" + inv,
		"TETHER_LOG_LEVEL=warn", "TETHER_CONTROL_SIGNING_KEY_FILE=" + key + ".key",
	}
	onEnv := append(slices.Clone(env), "TETHER_KAFKA_GROUP=bench-ch-"+suffix, "TETHER_CONTROL_TOPIC="+topic+".control",
		"TETHER_STATE_TOPIC="+topic+".state", "TETHER_CLICKHOUSE_ENABLED=true", "TETHER_CLICKHOUSE_ADDR="+chAddr,
		"TETHER_CLICKHOUSE_DATABASE="+db, "TETHER_PARQUET_DIR=")
	httpAddr, err := freeAddr()
	if err != nil {
		return err
	}
	onEnv = append(onEnv, "TETHER_HTTP_LISTEN="+httpAddr)
	d, err := startDaemon(bin, cfg, onEnv, work, "ch")
	if err != nil {
		return err
	}
	defer d.stop()
	m, err := d.measure(adm, "bench-ch-"+suffix, topic, n)
	if err != nil {
		return fmt.Errorf("tether (ClickHouse on): %w", err)
	}
	res.TetherEventsPerSec, res.CPUCoresUsed, res.TetherSecondsClickHouse = m.rate, m.cores, m.secs
	res.PeakRSSBytes = m.peakRSS
	if batches := scrape(httpAddr, "tether_batches_total"); batches > 0 {
		res.MeanBatchRecords = float64(n) / batches
	}
	logf("tether, ClickHouse on: %.0f events/s, %.2f cores, peak RSS %d MiB", m.rate, m.cores, m.peakRSS>>20)

	// 4. Latency at half the maximum rate.
	load := m.rate / 2
	var lat []probe
	before := scrapeAll(httpAddr, stageSeries...)
	res.BacklogStageMeanMs, _ = stageMeans(map[string]float64{}, before)
	if latencyFor > 0 {
		res.LatencyLoadEventsPerSec = load
		if lat, res.LatencyProbesMissing, err = latency(brokers, topic, topic+".control", fl, load, latencyFor); err != nil {
			return fmt.Errorf("latency: %w", err)
		}
		after := scrapeAll(httpAddr, stageSeries...)
		res.StageMeanMs, res.StageCount = stageMeans(before, after)
		res.StageP99Ms = stageQuantiles(before, after, 0.99)
	}
	d.stop()
	res.LatencyProbes = len(lat)
	if len(lat) > 0 {
		total, toAlert, fromAlert := make([]float64, len(lat)), make([]float64, len(lat)), make([]float64, len(lat))
		for i, p := range lat {
			total[i], toAlert[i], fromAlert[i] = p.total, p.toAlerted, p.total-p.toAlerted
		}
		res.P50EventToCommandMs, res.P99EventToCommandMs = quantile(total, 0.50), quantile(total, 0.99)
		res.P50ProbeToAlertedMs, res.P99ProbeToAlertedMs = quantile(toAlert, 0.50), quantile(toAlert, 0.99)
		res.P50AlertedToReadMs, res.P99AlertedToReadMs = quantile(fromAlert, 0.50), quantile(fromAlert, 0.99)
		logf("probe → alerted p50 %.1f / p99 %.1f ms; alerted → read p50 %.1f / p99 %.1f ms",
			res.P50ProbeToAlertedMs, res.P99ProbeToAlertedMs, res.P50AlertedToReadMs, res.P99AlertedToReadMs)
	}
	logf("event → command at %.0f events/s: %d probes, p50 %.1f ms, p99 %.1f ms", load, len(lat), res.P50EventToCommandMs, res.P99EventToCommandMs)

	// 3b. Parquet only.
	if !skipNoCH {
		ncEnv := append(slices.Clone(env), "TETHER_KAFKA_GROUP=bench-nc-"+suffix, "TETHER_CONTROL_TOPIC="+topic+".control.nc",
			"TETHER_DEAD_LETTER_TOPIC="+topic+".dlq.nc", "TETHER_STATE_TOPIC="+topic+".state.nc",
			"TETHER_CLICKHOUSE_ENABLED=false", "TETHER_PARQUET_DIR="+filepath.Join(work, "parquet"), "TETHER_HTTP_LISTEN=")
		d2, err := startDaemon(bin, cfg, ncEnv, work, "nc")
		if err != nil {
			return err
		}
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return fmt.Errorf("end offsets: %w", err)
		}
		var total int64
		ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
		m2, err := d2.measure(adm, "bench-nc-"+suffix, topic, int(total))
		d2.stop()
		if err != nil {
			return fmt.Errorf("tether (Parquet only): %w", err)
		}
		res.TetherEventsPerSecNoClickHouse, res.CPUCoresUsedNoClickHouse, res.TetherSecondsNoClickHouse = m2.rate, m2.cores, m2.secs
		res.PeakRSSBytes = max(res.PeakRSSBytes, m2.peakRSS)
		logf("tether, Parquet only: %.0f events/s, %.2f cores", m2.rate, m2.cores)
	}
	res.Ratio = res.TetherEventsPerSec / res.PlainConsumerEventsPerSec
	res.RatioNoClickHouse = res.TetherEventsPerSecNoClickHouse / res.PlainConsumerEventsPerSec
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.LoadAverage = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

// record marshals ev as the daemon's producers do: keyed by root agent,
// the broker timestamp at the event time.
func record(ev *models.Event) (*kgo.Record, error) {
	v, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	key := ev.RootAgentID
	if key == "" {
		key = ev.AgentID
	}
	return &kgo.Record{Key: []byte(key), Value: v, Timestamp: ev.Time}, nil
}

// plainConsumer reads n records and returns the rate from the first
// record to the last.
func plainConsumer(brokers []string, topic string, n int) (float64, float64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	got := 0
	var t0 time.Time
	first := 0
	for got < n {
		f := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return 0, 0, fmt.Errorf("plain consumer: %d of %d records: %w", got, n, err)
		}
		k := f.NumRecords()
		if t0.IsZero() && k > 0 {
			t0, first = time.Now(), k
		}
		got += k
	}
	secs := time.Since(t0).Seconds()
	return float64(got-first) / secs, secs, nil
}

type daemon struct {
	cmd  *exec.Cmd
	done chan error
	once sync.Once
}

func startDaemon(bin, cfg string, env []string, dir, name string) (*daemon, error) {
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Env = append(os.Environ(), env...)
	logFile, err := os.Create(filepath.Join(dir, "tether-"+name+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	d := &daemon{cmd: cmd, done: make(chan error, 1)}
	go func() { d.done <- cmd.Wait(); logFile.Close() }()
	return d, nil
}

func (d *daemon) stop() {
	d.once.Do(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(60 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	})
}

type measurement struct {
	rate, cores, secs float64
	peakRSS           int64
}

// measure waits until the group has committed n offsets of topic and
// returns the rate between the first and the last commit it saw, the
// daemon's CPU time over that span in cores, and its peak RSS.
func (d *daemon) measure(adm *kadm.Client, group, topic string, n int) (measurement, error) {
	deadline := time.Now().Add(15 * time.Minute)
	var t0 time.Time
	var c0 int64
	var cpu0 float64
	for {
		select {
		case err := <-d.done:
			d.done <- err
			return measurement{}, fmt.Errorf("daemon exited: %v (see its log)", err)
		default:
		}
		if time.Now().After(deadline) {
			return measurement{}, errors.New("timed out")
		}
		c, err := committed(adm, group, topic)
		if err != nil {
			return measurement{}, err
		}
		now := time.Now()
		if c > 0 && t0.IsZero() {
			t0, c0, cpu0 = now, c, cpuSeconds(d.cmd.Process.Pid)
		}
		if c >= int64(n) {
			secs := now.Sub(t0).Seconds()
			m := measurement{secs: secs, peakRSS: peakRSS(d.cmd.Process.Pid)}
			if secs > 0 {
				m.rate = float64(c-c0) / secs
				m.cores = (cpuSeconds(d.cmd.Process.Pid) - cpu0) / secs
			}
			return m, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func committed(adm *kadm.Client, group, topic string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resps, err := adm.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) || errors.Is(err, kerr.CoordinatorLoadInProgress) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("fetch offsets of %s: %w", group, err)
	}
	var c int64
	resps.Each(func(r kadm.OffsetResponse) {
		if r.Topic == topic && r.At > 0 {
			c += r.At
		}
	})
	return c, nil
}

// cpuSeconds is the process's user + system time (/proc/<pid>/stat).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return math.NaN()
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}

// peakRSS is the process's VmHWM in bytes.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// probeEvery paces the latency probes: the identity detector reports at
// most 20 new unregistered agents per minute and partition one by one (the
// rest are aggregated), so probes stay well under that.
const probeEvery = 750 * time.Millisecond

// probe is one latency probe's times, in ms from producing it: its
// command read (total) and the command's tether-alerted-at header.
type probe struct{ total, toAlerted float64 }

// latency produces fleet events at rate per second for d, plus a probe
// every probeEvery: an event from an agent the inventory does not know,
// which the identity detector reports (unregistered_agent) and the
// containment policy turns into a review command. It returns, per probe, the time from
// producing it to reading its command on the control topic (ms).
func latency(brokers []string, topic, control string, fl *fleet.Fleet, rate float64, d time.Duration) ([]probe, int, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(control),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
	if err != nil {
		return nil, 0, err
	}
	defer cons.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
	if err != nil {
		return nil, 0, err
	}
	defer prod.Close()
	// Make sure the control consumer has its start offsets before probing.
	pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
	cons.PollFetches(pctx)
	pcancel()

	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []probe
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for ctx.Err() == nil {
			f := cons.PollFetches(ctx)
			now := time.Now()
			f.EachRecord(func(r *kgo.Record) {
				var c models.ContainmentCommand
				if json.Unmarshal(r.Value, &c) != nil {
					return
				}
				mu.Lock()
				if t, ok := sent[c.AgentID]; ok {
					p := probe{total: float64(now.Sub(t).Microseconds()) / 1000}
					if a, err := time.Parse(time.RFC3339Nano, header(r, "tether-alerted-at")); err == nil {
						p.toAlerted = float64(a.Sub(t).Microseconds()) / 1000
					}
					lat = append(lat, p)
					delete(sent, c.AgentID)
				}
				mu.Unlock()
			})
		}
	}()
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	produced := 0
	probes := 0
	lastProbe := time.Time{}
	for now := range tick.C {
		el := now.Sub(start)
		if el >= d {
			break
		}
		for float64(produced) < rate*el.Seconds() {
			r, err := record(fl.Next())
			if err != nil {
				return nil, 0, err
			}
			prod.Produce(ctx, r, nil)
			produced++
		}
		if now.Sub(lastProbe) >= probeEvery {
			lastProbe = now
			probes++
			id := fmt.Sprintf("probe-%d-%d", start.Unix(), probes)
			ev := models.Event{SchemaVersion: 1, ID: id + "-e1", Kind: models.KindReasoning, Time: now.UTC(),
				AgentID: id, SessionID: id + "-s1", Content: "probe"}
			r, err := record(&ev)
			if err != nil {
				return nil, 0, err
			}
			mu.Lock()
			sent[id] = time.Now()
			mu.Unlock()
			prod.Produce(ctx, r, nil)
		}
	}
	// Wait for the last commands (up to 5 s).
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		left := len(sent)
		mu.Unlock()
		if left == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-readDone
	mu.Lock()
	defer mu.Unlock()
	if len(sent) > 0 {
		logf("latency: %d of %d probes got no command within 5 s", len(sent), probes)
	}
	return slices.Clone(lat), len(sent), nil
}

// freeAddr returns a loopback address with a free port.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// scrape reads one unlabelled sample from the daemon's /metrics (0 when
// absent).
func scrape(addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}

// header returns the value of r's header k, or "".
func header(r *kgo.Record, k string) string {
	for _, h := range r.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

// stageSeries are the daemon's histograms whose means the latency phase
// reports.
var stageSeries = []string{"tether_pipeline_stage_seconds_", "tether_sink_write_seconds_"}

// scrapeAll reads every sample of the daemon's /metrics whose name starts
// with one of prefixes, keyed by the whole series (name and labels).
func scrapeAll(addr string, prefixes ...string) map[string]float64 {
	out := map[string]float64{}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return out
	}
	for _, l := range strings.Split(string(b), "\n") {
		i := strings.LastIndexByte(l, ' ')
		if i < 0 || strings.HasPrefix(l, "#") {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				v, _ := strconv.ParseFloat(l[i+1:], 64)
				out[l[:i]] = v
			}
		}
	}
	return out
}

// stageMeans returns, per histogram series, the mean in ms of the
// observations between two scrapes and their number.
func stageMeans(before, after map[string]float64) (map[string]float64, map[string]float64) {
	means, counts := map[string]float64{}, map[string]float64{}
	for k, sum := range after {
		name, labels, ok := strings.Cut(k, "{")
		if !ok || !strings.HasSuffix(name, "_sum") {
			continue
		}
		base := strings.TrimSuffix(name, "_sum")
		ck := base + "_count{" + labels
		n := after[ck] - before[ck]
		if n <= 0 {
			continue
		}
		key := strings.TrimSuffix(strings.TrimPrefix(base, "tether_"), "_seconds") + "{" + labels
		means[key] = (sum - before[k]) / n * 1000
		counts[key] = n
	}
	return means, counts
}

// stageQuantiles returns, per histogram series, the upper bound (ms) of
// the bucket holding quantile q of the observations between two scrapes.
func stageQuantiles(before, after map[string]float64, q float64) map[string]float64 {
	type bucket struct{ le, n float64 }
	series := map[string][]bucket{}
	for k, v := range after {
		name, labels, ok := strings.Cut(k, "{")
		if !ok || !strings.HasSuffix(name, "_bucket") {
			continue
		}
		i := strings.Index(labels, `le="`)
		if i < 0 {
			continue
		}
		j := strings.IndexByte(labels[i+4:], '"')
		le, err := strconv.ParseFloat(labels[i+4:i+4+j], 64)
		if err != nil {
			le = math.Inf(1)
		}
		rest := strings.TrimSuffix(strings.TrimSuffix(labels[:i]+labels[i+4+j+1:], "}"), ",")
		key := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(name, "_bucket"), "tether_"), "_seconds") + "{" + rest + "}"
		series[key] = append(series[key], bucket{le, v - before[k]})
	}
	out := map[string]float64{}
	for k, bs := range series {
		slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
		total := bs[len(bs)-1].n // cumulative: +Inf holds all
		if total <= 0 {
			continue
		}
		for _, b := range bs {
			if b.n >= q*total {
				out[k] = b.le * 1000
				break
			}
		}
	}
	return out
}

func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}
