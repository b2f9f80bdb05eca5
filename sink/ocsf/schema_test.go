package ocsf_test

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/detector/baseline"
	"github.com/tetherhq/tether/detector/capability"
	"github.com/tetherhq/tether/detector/flow"
	"github.com/tetherhq/tether/detector/identity"
	"github.com/tetherhq/tether/detector/profile"
	"github.com/tetherhq/tether/detector/semantic"
	"github.com/tetherhq/tether/detector/session"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink/ocsf"
)

// allKinds is every finding kind the detectors define.
var allKinds = []struct{ detector, kind string }{
	{identity.Name, identity.KindUnregistered},
	{identity.Name, identity.KindExpiredCredential},
	{identity.Name, identity.KindPrincipalSessionEnded},
	{identity.Name, identity.KindSharedCredential},
	{identity.Name, identity.KindHumanIdentity},
	{identity.Name, identity.KindMissingIdentity},
	{identity.Name, identity.KindSessionAge},
	{flow.Name, flow.KindUntrustedToSink},
	{flow.Name, flow.KindPrivateToSink},
	{flow.Name, flow.KindUnexplainedDestination},
	{flow.Name, flow.KindInstructedCall},
	{profile.Name, profile.KindUnusualSequence},
	{profile.Name, profile.KindSessionOutlier},
	{capability.Name, capability.KindToxicPath},
	{semantic.Name, semantic.KindDataClassOutsideManifest},
	{semantic.Name, semantic.KindActionBeyondPurpose},
	{semantic.Name, semantic.KindOffTaskAction},
	{semantic.Name, semantic.KindUnknown},
	{baseline.Name, baseline.KindRateSpike},
	{baseline.Name, baseline.KindNewTool},
	{baseline.Name, baseline.KindToolOutsideManifest},
	{baseline.Name, baseline.KindModelChange},
	{baseline.Name, baseline.KindNewDestination},
	{"session", session.KindCompound},
}

// TestClassifyEveryKind checks that every detector kind has an OWASP
// category (and ATLAS entries that satisfy the attack object's constraint).
func TestClassifyEveryKind(t *testing.T) {
	for _, k := range allKinds {
		c := ocsf.Classify(k.kind)
		if !strings.HasPrefix(c.OWASP, "OWASP ASI") {
			t.Errorf("kind %s: no OWASP category", k.kind)
		}
		for _, a := range c.Attacks {
			if a.Technique == nil || a.Tactic == nil || !strings.HasPrefix(a.Technique.UID, "AML.T") || !strings.HasPrefix(a.Tactic.UID, "AML.TA") {
				t.Errorf("kind %s: attack %+v", k.kind, a)
			}
		}
	}
	if c := ocsf.Classify("no_such_kind"); c.OWASP != "" || c.Attacks != nil {
		t.Errorf("unknown kind classified: %+v", c)
	}
}

// syntheticFindings returns one finding per kind in several shapes: full,
// without principal or session, without evidence, with non-finite numbers.
func syntheticFindings() []models.Finding {
	var out []models.Finding
	t0 := time.Date(2026, 2, 2, 10, 0, 0, 0, time.UTC)
	for i, k := range allKinds {
		f := models.Finding{
			Time: t0.Add(time.Duration(i) * time.Second), AgentID: "agent-" + k.kind, RootAgentID: "root-1",
			SessionID: "sess-1", Principal: "alice@example.com", Detector: k.detector, Kind: k.kind,
			Severity: uint8(i * 100 / len(allKinds)), Confidence: float64(i) / float64(len(allKinds)),
			Explanation: "synthetic " + k.kind, EvidenceIDs: []string{"ev-a", "ev-b"},
			Features: []models.Feature{{Name: "x", Observed: 2, Baseline: 1, Spread: 0.5}}, Step: i,
		}
		f.SetID()
		out = append(out, f)
		bare := models.Finding{Time: f.Time, AgentID: f.AgentID, Detector: k.detector, Kind: k.kind, Severity: 95,
			Confidence: math.NaN(), Features: []models.Feature{{Name: "y", Observed: math.Inf(1), Baseline: math.NaN()}}}
		bare.SetID()
		out = append(out, bare)
	}
	empty := models.Finding{Time: t0, Detector: "d", Kind: "unknown_kind"}
	empty.SetID()
	return append(out, empty)
}

// fleetFindings runs the simulated fleet (with rogue agents) through the
// production detectors and returns the first finding of each kind.
func fleetFindings(t *testing.T) []models.Finding {
	fl := fleet.New(fleet.Options{Agents: 12, Rogue: 3, Seed: 7, Start: time.Date(2026, 2, 2, 9, 0, 0, 0, time.UTC), WarmupSessions: 4})
	opts := detector.DefaultOptions()
	opts.Inventory = fl.Inventory()
	eng := detector.New(opts)
	var out detector.Output
	seen := map[string]bool{}
	var fs []models.Finding
	for range 40_000 {
		out.Reset()
		eng.Process(fl.Next(), &out)
		for _, f := range out.Findings {
			if !seen[f.Kind] {
				seen[f.Kind] = true
				fs = append(fs, f)
			}
		}
	}
	kinds := make([]string, 0, len(seen))
	for k := range seen {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	t.Logf("fleet findings of %d kinds: %s", len(kinds), strings.Join(kinds, ", "))
	if len(fs) < 3 {
		t.Fatalf("fleet produced findings of %d kinds only", len(fs))
	}
	return fs
}

// TestOCSFChecker runs the strict OCSF 1.8.0 checker from ../shared/ocsf
// over the golden file and over findings of every kind (synthetic ones for
// each kind constant, and those the detectors emit on the simulated fleet):
// zero errors and zero attributes of undeclared profiles.
func TestOCSFChecker(t *testing.T) {
	if testing.Short() {
		t.Skip("runs python3 over ../shared/ocsf; run without -short")
	}
	checker := testenv.Shared(t, "ocsf/validate_event.py")
	schema := testenv.Shared(t, "ocsf/ocsf-schema-1.8.0.json")
	py := testenv.Python3(t)

	var buf bytes.Buffer
	fs := append(syntheticFindings(), fleetFindings(t)...)
	for _, f := range fs {
		b, err := ocsf.Marshal(f, ocsf.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	events := filepath.Join(t.TempDir(), "findings.jsonl")
	if err := os.WriteFile(events, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "detection_finding.golden.json")
	out, err := exec.Command(py, checker, schema, golden, events).CombinedOutput()
	checked := strings.Count(string(out), "--- ")
	if want := len(fs) + 1; checked != want {
		t.Errorf("checker reported on %d events, want %d:\n%s", checked, want, out)
	}
	var bad []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && (f[0] == "ERROR" || f[0] == "PROFILE" || f[0] == "WARN") {
			bad = append(bad, line)
		}
	}
	if err != nil || len(bad) > 0 {
		t.Fatalf("OCSF checker: %v; %d problems:\n%s", err, len(bad), strings.Join(bad, "\n"))
	}
	// the checker's verdict must rest on events that carry the declared profiles
	var d map[string]any
	if err := json.Unmarshal(bytes.SplitN(buf.Bytes(), []byte("\n"), 2)[0], &d); err != nil {
		t.Fatal(err)
	}
	if p := d["metadata"].(map[string]any)["profiles"]; len(p.([]any)) != len(ocsf.Profiles) {
		t.Fatalf("metadata.profiles = %v", p)
	}
}
