// Package statetest checks that a detector's serialized state round-trips
// byte for byte and that a restored detector judges later events exactly as
// the original does. It is used by the detector packages' tests.
package statetest

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/models"
)

// Detector is what RoundTrip drives: a detector with checkpointable state.
type Detector interface {
	Observe(ev *models.Event, agent *models.AgentSpec, emit func(models.Finding))
	MarshalState() ([]byte, error)
	UnmarshalState([]byte) error
}

// Fleet returns the deterministic fleet traffic the round-trip tests use.
func Fleet(agents int) *fleet.Fleet {
	o := fleet.DefaultOptions()
	o.Agents = agents
	o.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return fleet.New(o)
}

// RoundTrip feeds the first n fleet events to a detector built by mk,
// checks that its state survives Marshal → Unmarshal → Marshal byte for
// byte in a fresh detector, feeds the next m events to both and requires
// identical findings and identical final states. It returns the size of
// the snapshot after n events.
func RoundTrip(t *testing.T, f *fleet.Fleet, n, m int, mk func(inv *models.Inventory) Detector) int {
	t.Helper()
	inv := f.Inventory()
	orig := mk(inv)
	run := func(d Detector, evs []*models.Event) []models.Finding {
		var out []models.Finding
		for _, ev := range evs {
			d.Observe(ev, inv.Agent(ev.AgentID), func(fd models.Finding) { out = append(out, fd) })
		}
		return out
	}
	warm := run(orig, f.Take(n))
	snap, err := orig.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	again, err := orig.MarshalState()
	if err != nil || !bytes.Equal(snap, again) {
		t.Fatalf("MarshalState is not deterministic (err %v)", err)
	}
	restored := mk(inv)
	if err := restored.UnmarshalState(snap); err != nil {
		t.Fatal(err)
	}
	snap2, err := restored.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap, snap2) {
		t.Fatalf("restored state encodes differently: %d vs %d bytes", len(snap), len(snap2))
	}
	next := f.Take(m)
	a, b := run(orig, next), run(restored, next)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("restored detector judged the next %d events differently: %d vs %d findings", m, len(a), len(b))
	}
	s1, err1 := orig.MarshalState()
	s2, err2 := restored.MarshalState()
	if err1 != nil || err2 != nil || !bytes.Equal(s1, s2) {
		t.Fatalf("final states differ (errors %v, %v)", err1, err2)
	}
	t.Logf("%d+%d events: %d findings before, %d after the snapshot; state %d bytes after warm-up", n, m, len(warm), len(a), len(snap))
	// Garbage must be rejected, not panic.
	for _, bad := range [][]byte{nil, []byte("{"), []byte(`[]`), snap[:len(snap)/2]} {
		if err := mk(inv).UnmarshalState(bad); err == nil {
			t.Errorf("UnmarshalState(%.20q) succeeded", bad)
		}
	}
	return len(snap)
}
