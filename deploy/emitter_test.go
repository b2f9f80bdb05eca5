package deploy_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/models"
)

// TestLangChainEmitter runs the Python emitter's offline tests (a scripted
// agent loop on LangChain's fake chat model), then decodes every record it
// emitted with Tether's decoder and runs them through the production
// detectors: the run whose agent followed instructions found in an e-mail
// must alert.
func TestLangChainEmitter(t *testing.T) {
	py := tool(t, "TETHER_EMITTER_PYTHON", "", "emitter-venv/bin/python")
	out := filepath.Join(t.TempDir(), "records.jsonl")
	dir := filepath.Join(testenv.RepoRoot(), "deploy", "emitter")
	t.Setenv("TETHER_EMITTER_OUT", out)
	run(t, dir, py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests")

	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	inv, err := models.LoadInventoryFile(filepath.Join(testenv.RepoRoot(), "testdata", "otlp", "inventory.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	opts := detector.DefaultOptions()
	opts.Inventory = inv
	eng := detector.New(opts)
	dec := models.NewDecoder(models.DefaultDecodeOptions())
	var n int
	maxSev := map[string]uint8{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Key   string          `json:"key"`
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		ev, err := dec.Decode(rec.Value, time.Time{})
		if err != nil {
			t.Fatalf("emitted record %s: %v", rec.Value, err)
		}
		if rec.Key != ev.Root() {
			t.Fatalf("record key %q, event root %q", rec.Key, ev.Root())
		}
		var o detector.Output
		eng.Process(ev, &o)
		for _, fd := range o.Findings {
			maxSev[fd.SessionID] = max(maxSev[fd.SessionID], fd.Severity)
		}
		n++
	}
	if n != 15 {
		t.Fatalf("%d records, want 15", n)
	}
	if maxSev["conv-1"] < models.AlertThreshold {
		t.Errorf("the hijacked run did not alert: max severity per session %v", maxSev)
	}
}
