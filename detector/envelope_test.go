package detector

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	for name, env := range map[string]envelope{
		"full":       {Detectors: map[string][]byte{"b": []byte("2"), "a": []byte("1"), "c": {}}, Session: []byte("s"), Containment: []byte("{}")},
		"no session": {Detectors: map[string][]byte{"a": []byte("1")}, Containment: []byte("{}")},
		"empty":      {Detectors: map[string][]byte{}, Session: []byte{}, Containment: []byte{}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := env.marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := unmarshalEnvelope(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, env) {
				t.Fatalf("round trip: %+v, want %+v", got, env)
			}
			again, _ := got.marshal()
			if !bytes.Equal(again, b) {
				t.Fatal("encoding is not canonical")
			}
		})
	}
	if _, err := (&envelope{Detectors: map[string][]byte{"": nil}}).marshal(); !errors.Is(err, ErrState) {
		t.Fatalf("empty detector name: %v", err)
	}
}

// FuzzEnvelope: decoding never panics, errors wrap ErrState, and a decoded
// envelope re-encodes to a canonical form that decodes to the same parts.
func FuzzEnvelope(f *testing.F) {
	env := envelope{Detectors: map[string][]byte{"identity": []byte("{}"), "flow": {1, 2, 3}}, Session: []byte("s"), Containment: []byte("{}")}
	b, _ := env.marshal()
	f.Add(b)
	f.Add([]byte("TS\x02\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("TS\x02\x00\x01\x01x\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := unmarshalEnvelope(b)
		if err != nil {
			if !errors.Is(err, ErrState) {
				t.Fatalf("error does not wrap ErrState: %v", err)
			}
			return
		}
		c, err := env.marshal()
		if err != nil {
			t.Fatal(err)
		}
		env2, err := unmarshalEnvelope(c)
		if err != nil || !reflect.DeepEqual(env, env2) {
			t.Fatalf("re-encoded envelope differs (err %v)", err)
		}
	})
}
