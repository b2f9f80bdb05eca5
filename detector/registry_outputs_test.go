package detector

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tetherhq/tether/detector/flow"
	"github.com/tetherhq/tether/detector/outputs"
)

func TestConfigValidatesTunedOptions(t *testing.T) {
	tests := []struct {
		name, tune string
		ok         bool
	}{
		{"defaults", "minresults: 5", true},
		{"alpha out of range", "alpha: 0", false},
		{"adoption below rarity", "adoptfraction: 0.01", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(tt.tune), &n); err != nil {
				t.Fatal(err)
			}
			_, err := Config{Tune: map[string]yaml.Node{outputs.Name: *n.Content[0]}}.Options()
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if err != nil && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "detectors.tune.outputs")) {
				t.Fatalf("error %v does not name detectors.tune.outputs or wrap ErrConfig", err)
			}
		})
	}
}

func TestEngineLinksOutputsToFlow(t *testing.T) {
	e := New(DefaultOptions())
	defer e.Close()
	var f *flow.Detector
	var o *outputs.Detector
	for _, d := range e.detectors {
		switch d := d.(type) {
		case *flow.Detector:
			f = d
		case *outputs.Detector:
			o = d
		}
	}
	if f == nil || o == nil {
		t.Fatal("flow or outputs detector missing from the default set")
	}
	if !f.HasOutputBaseline() {
		t.Fatal("flow is not linked to the outputs detector")
	}
}
