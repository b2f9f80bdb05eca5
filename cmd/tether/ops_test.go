package main

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/rs/zerolog"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/tetherhq/tether/ingest"
)

// TestRunRejectsArguments: a configuration file given without --config
// (or any other stray argument) is an error before anything connects.
func TestRunRejectsArguments(t *testing.T) {
	for _, args := range [][]string{
		{"deploy.yaml"},
		{"--config", "deploy/tether.example.yaml", "extra"},
	} {
		err := runDaemon(args)
		if !errors.Is(err, errConfig) || !strings.Contains(err.Error(), "unexpected argument") {
			t.Errorf("runDaemon(%q) = %v, want an unexpected-argument configuration error", args, err)
		}
	}
}

// TestExampleConfigLoads keeps deploy/tether.example.yaml valid. Its
// signing key (written by services.sh up, relative to the repository) is
// replaced by a test key through the environment, as an operator would.
func TestExampleConfigLoads(t *testing.T) {
	var keyed Config
	testSigningKey(t, &keyed)
	env := map[string]string{"TETHER_CONTROL_SIGNING_KEY_FILE": keyed.Control.SigningKeyFile}
	c, err := loadConfig("../../deploy/tether.example.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := defaultConfig()
	want.Inventory.File = c.Inventory.File                     // the example points at the sample inventory
	want.Control.SigningKeyFile = keyed.Control.SigningKeyFile // and at a key that is not a default
	want.path = c.path
	if len(c.Containment.Rules) == 0 && len(want.Containment.Rules) == 0 {
		want.Containment.Rules = c.Containment.Rules // "rules: []" in the file, nil by default
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("the example's values differ from the defaults it says it shows:\n got %+v\nwant %+v", c, want)
	}
}

func TestVersion(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "", ""
	b := currentBuild()
	if b.Version == "" || b.Commit == "" || b.GoVersion != runtime.Version() {
		t.Fatalf("build info without link-time values: %+v", b)
	}
	version, commit = "v1.2.3", "0123abc"
	b = currentBuild()
	if got, want := b.String(), "tether v1.2.3 (commit 0123abc"; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, runtime.Version()+")") {
		t.Fatalf("version string %q, want prefix %q and the Go version", got, want)
	}
}

// TestHTTPEndpoints: /readyz answers 503 with the reasons as JSON while
// the consumer is not running; /metrics carries the consumer's metrics,
// the histograms, Go runtime, process and build information, and the
// franz-go client metrics of every client (kprom).
func TestHTTPEndpoints(t *testing.T) {
	reg := newRegistry()
	m := ingest.NewMetrics()
	reg.MustRegister(m)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	hooks := kafkaMetrics(reg)
	for _, name := range []string{"consumer", "checkpoint"} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.WithHooks(hooks(name)...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := cl.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	srv := httptest.NewServer(httpHandler(reg, m, nil, nil, zerolog.Nop()))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var rd ingest.Readiness
	err = json.NewDecoder(resp.Body).Decode(&rd)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || rd.Ready || len(rd.Reasons) == 0 {
		t.Fatalf("/readyz: %d %+v, want 503 with reasons", resp.StatusCode, rd)
	}

	resp, err = http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"tether_records_consumed_total 0", "tether_consumer_lag 0", "tether_consumer_group_lag 0",
		"tether_broker_reachable 0", "tether_checkpoint_age_seconds 0",
		"tether_batch_duration_seconds_bucket", "tether_event_to_finding_seconds_bucket",
		`tether_findings_by_severity_total{band="critical"} 0`,
		"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "go_build_info",
		`tether_build_info{commit=`,
		`tether_kafka_connects_total{client="consumer"`, `tether_kafka_connects_total{client="checkpoint"`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestMain checks that no test leaves goroutines behind (the daemon's
// lag refresher, HTTP server and Kafka clients included).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
