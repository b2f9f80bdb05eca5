// Package deploy_test validates the deployment files: the Dockerfile
// (hadolint), the compose file, the Kubernetes manifests (strict decoding
// into the Kubernetes API types, deploy/k8s/validate), the systemd unit
// (systemd-analyze verify) and the Prometheus rules (promtool check rules
// and their unit tests). deploy/local/tools.sh installs hadolint and
// promtool; a missing tool skips its test, and fails it under CI=true.
package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tetherhq/tether/deploy/testenv"
)

// tool finds a linter: $env, then PATH, then where deploy/local/tools.sh
// puts it.
func tool(t *testing.T, env, name, cached string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	if name != "" {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	cache := os.Getenv("TETHER_CACHE")
	if cache == "" {
		cache = filepath.Join(testenv.RepoRoot(), ".cache")
	}
	p := filepath.Join(cache, "tools", cached)
	if _, err := os.Stat(p); err != nil {
		if testenv.CI() {
			t.Fatalf("CI=true: %s not found (set %s or run deploy/local/tools.sh)", cached, env)
		}
		t.Skipf("%s not found (set %s or run deploy/local/tools.sh)", cached, env)
	}
	return p
}

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestDockerfile(t *testing.T) {
	root := testenv.RepoRoot()
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	var user string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "FROM" {
			froms = append(froms, f[1])
		}
		if len(f) >= 2 && f[0] == "USER" {
			user = f[1]
		}
	}
	final := froms[len(froms)-1]
	if len(froms) < 2 || !(strings.HasPrefix(final, "gcr.io/distroless/static") || final == "scratch") {
		t.Errorf("want a multi-stage build onto distroless static or scratch, got %v", froms)
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("final USER %q is not a non-root user", user)
	}
	if !bytes.Contains(b, []byte("CGO_ENABLED=0")) {
		t.Error("the binary is not built static (CGO_ENABLED=0)")
	}
	hadolint := tool(t, "TETHER_HADOLINT", "hadolint", "venv/bin/hadolint")
	run(t, root, hadolint, "Dockerfile")
}

func TestPrometheusRules(t *testing.T) {
	promtool := tool(t, "TETHER_PROMTOOL", "promtool", "prometheus/usr/bin/promtool")
	dir := filepath.Join(testenv.RepoRoot(), "deploy", "prometheus")
	out := run(t, dir, promtool, "check", "rules", "tether.rules.yaml")
	if !strings.Contains(out, "SUCCESS: 7 rules found") {
		t.Errorf("promtool check rules: %s", out)
	}
	run(t, dir, promtool, "test", "rules", "tether.rules.test.yaml")
}

func TestKubernetesManifests(t *testing.T) {
	if testing.Short() {
		t.Skip("builds deploy/k8s/validate (a module with the Kubernetes API types); run without -short")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	out := run(t, filepath.Join(testenv.RepoRoot(), "deploy", "k8s", "validate"), gobin, "run", ".", "../tether.yaml")
	if n := strings.Count(out, " valid\n"); n != 5 {
		t.Errorf("%d valid documents, want 5:\n%s", n, out)
	}
}

func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if testenv.CI() {
			t.Fatal("CI=true: systemd-analyze not found")
		}
		t.Skip("systemd-analyze not found")
	}
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "systemd", "tether.service"))
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart exists: point it at this test binary.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "tether.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(b, []byte("/usr/local/bin/tether"), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("tether.service:")) {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestCompose(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "deploy", "compose", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image       string                               `yaml:"image"`
			Build       struct{ Context, Dockerfile string } `yaml:"build"`
			Environment map[string]string                    `yaml:"environment"`
			DependsOn   map[string]map[string]string         `yaml:"depends_on"`
			Healthcheck map[string]any                       `yaml:"healthcheck"`
		} `yaml:"services"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(false)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"kafka", "clickhouse", "tether"} {
		if _, ok := c.Services[s]; !ok {
			t.Fatalf("service %s missing", s)
		}
	}
	tt := c.Services["tether"]
	if _, err := os.Stat(filepath.Join(testenv.RepoRoot(), "deploy", "compose", tt.Build.Context, tt.Build.Dockerfile)); err != nil {
		t.Errorf("tether build: %v", err)
	}
	if !strings.HasPrefix(tt.Environment["TETHER_KAFKA_BROKERS"], "kafka:") || !strings.HasPrefix(tt.Environment["TETHER_CLICKHOUSE_ADDR"], "clickhouse:") {
		t.Errorf("tether environment %v", tt.Environment)
	}
	if tt.Environment["TETHER_CLICKHOUSE_PASSWORD"] != c.Services["clickhouse"].Environment["CLICKHOUSE_PASSWORD"] {
		t.Error("tether's ClickHouse password differs from the server's")
	}
	for _, dep := range []string{"kafka", "clickhouse"} {
		if tt.DependsOn[dep]["condition"] != "service_healthy" || c.Services[dep].Healthcheck == nil {
			t.Errorf("tether must wait for a healthy %s", dep)
		}
	}
}
