package detector

import "testing"

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
