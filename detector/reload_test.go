package detector_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/detector/rules"
	"github.com/tetherhq/tether/models"
)

// TestReloadListsOnRunningEngine: a reload that appends a risk command
// pattern takes effect on an engine that is already running, and the
// rebuilt detectors keep their state: after a benign event their states
// equal those of an engine that never reloaded.
func TestReloadListsOnRunningEngine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ops.yaml")
	body := `patterns:
  - list: risk.command_patterns
    items:
      - {id: acme.vault_seal, severity: 80, why: seals the vault, keywords: [vault], expr: '(?i)\bvault\s+operator\s+seal\b'}
`
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ops, err := rules.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	inv := &models.Inventory{Agents: []models.AgentSpec{{ID: "ops-bot", Owner: "ops@example.com", Purpose: "operate the vault cluster",
		Autonomy: models.AutonomySenior, Tools: []models.ToolSpec{{Name: "terminal", Labels: []models.Label{models.LabelExecution}}}}}}
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	step := 0
	shell := func(session, cmd string) *models.Event {
		step++
		args, _ := json.Marshal(map[string]string{"cmd": cmd})
		return &models.Event{SchemaVersion: models.SchemaVersion, Kind: models.KindToolCall, AgentID: "ops-bot", SessionID: session,
			Step: step, Time: t0.Add(time.Duration(step) * time.Second), ToolName: "terminal", Arguments: args}
	}
	engine := func() (*detector.Engine, *rules.Holder) {
		o := detector.DefaultOptions()
		o.Inventory = inv
		return detector.New(o), o.Rules
	}
	run := func(e *detector.Engine, ev *models.Event) []models.Finding {
		var out detector.Output
		e.Process(ev, &out)
		return out.Findings
	}
	seal := func(fs []models.Finding) bool {
		for _, f := range fs {
			if f.Detector == "risk" && bytes.Contains([]byte(f.Explanation), []byte("acme.vault_seal")) {
				return true
			}
		}
		return false
	}
	kept, _ := engine()
	reloaded, h := engine()
	history := []*models.Event{shell("s1", "vault status"), shell("s1", "ls -la /etc/vault"), shell("s2", "systemctl status vault")}
	for _, ev := range history {
		run(kept, ev)
		run(reloaded, ev)
	}
	// the metrics goroutine reads Stats while the reload replaces detectors
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			default:
				_ = reloaded.Stats()
			}
		}
	}()
	h.Store(ops)
	benign := shell("s1", "vault status")
	run(kept, benign)
	run(reloaded, benign)
	close(done)
	<-stopped
	a, errA := kept.Snapshot()
	b, errB := reloaded.Snapshot()
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	// the rebuilt detectors' states (other detectors may hold a per-engine
	// random seed, so whole snapshots differ anyway)
	ea, eb := decode(t, a), decode(t, b)
	readers := 0
	for _, r := range detector.Registry {
		if !r.Lists {
			continue
		}
		readers++
		if sa, sb := ea.Detectors[r.Name], eb.Detectors[r.Name]; len(sa) == 0 || !bytes.Equal(sa, sb) {
			t.Errorf("detector %s: state differs after the reload (or is empty):\n%s\n%s", r.Name, sa, sb)
		}
	}
	if readers == 0 {
		t.Fatal("no detector reads ruleset lists")
	}
	ev := shell("s1", "vault operator seal")
	if seal(run(kept, ev)) {
		t.Error("the engine without the reload matched the operator's pattern")
	}
	if !seal(run(reloaded, ev)) {
		t.Error("the running engine did not apply the reloaded pattern")
	}
	if !detector.FlowReadsOutputs(reloaded) {
		t.Error("the rebuilt flow detector lost its link to the tool-output baselines")
	}
	if n := reloaded.ReloadFailures(); n != 0 {
		t.Errorf("%d list readers kept their old lists", n)
	}
}

func decode(t *testing.T, b []byte) detector.Envelope {
	t.Helper()
	env, err := detector.DecodeEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	return env
}
