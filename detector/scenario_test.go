package detector_test

// TestScenarios runs every testdata/scenarios file through
// detector.DefaultOptions (harness: detector/scenario; also `tether rules test`).

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/detector/scenario"
)

func TestScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenarios in testdata/scenarios")
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".yaml"), func(t *testing.T) {
			sc, err := scenario.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			out, err := sc.Run(detector.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			errs := sc.Check(out)
			if fa, ca := auditIDs(*out); fa.colliding > 0 || ca.colliding > 0 {
				errs = append(errs, fmt.Sprintf("distinct findings or commands share an id: findings %s; commands %s; first: %s%s", fa, ca, fa.example, ca.example))
			}
			for _, e := range errs {
				t.Error(e)
			}
			if len(errs) > 0 || testing.Verbose() {
				for _, f := range out.Findings {
					t.Logf("finding %s/%s agent=%s session=%s sev=%d: %s", f.Detector, f.Kind, f.AgentID, f.SessionID, f.Severity, f.Explanation)
				}
				for _, c := range out.Commands {
					t.Logf("command %s agent=%s session=%s sev=%d", c.Action, c.AgentID, c.SessionID, c.Severity)
				}
			}
		})
	}
}
