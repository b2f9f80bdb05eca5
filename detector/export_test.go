package detector

import (
	"testing"

	"github.com/tetherhq/tether/detector/flow"
)

// Envelope exposes the snapshot envelope to the external tests.
type Envelope = envelope

// DecodeEnvelope decodes a snapshot's envelope.
func DecodeEnvelope(b []byte) (Envelope, error) { return unmarshalEnvelope(b) }

// Encode encodes env, failing t on error.
func (env *envelope) Encode(t testing.TB) []byte {
	t.Helper()
	b, err := env.marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FlowReadsOutputs reports whether e runs a flow detector linked to the
// outputs detector's baselines.
func FlowReadsOutputs(e *Engine) bool {
	for _, d := range e.detectors {
		if f, ok := d.(*flow.Detector); ok {
			return f.OutputBaseline() != nil
		}
	}
	return false
}
