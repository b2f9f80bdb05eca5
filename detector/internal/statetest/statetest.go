// Package statetest checks that a detector's serialized state round-trips
// byte for byte and that a restored detector judges later events exactly as
// the original does. It is used by the detector packages' tests.
package statetest

import (
	"bytes"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/detector/internal/lru"
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

// Bounded is what EvictsAtBudget drives: a detector whose tables a memory
// meter accounts and bounds (detector.Bounded).
type Bounded interface {
	Observe(ev *models.Event, agent *models.AgentSpec, emit func(models.Finding))
	SetMeter(m *lru.Meter)
	Evictions() uint64
}

// EvictsAtBudget checks that a detector evicts exactly when its accounted
// bytes exceed the budget: it feeds n events of a fleet of agents agents
// to a detector built by mk under an unlimited meter, recording the
// accounted bytes after each event (they must grow, and nothing may be
// evicted), then feeds the same events to a fresh detector under a meter
// limited to the bytes after event n/2: nothing may be evicted until the
// first event after which the first run held more than that (the state
// shrinks too, when sessions end), an eviction
// must happen at that event, and the accounted bytes never exceed the
// limit. It returns the limit.
func EvictsAtBudget(t *testing.T, agents, n int, mk func(inv *models.Inventory) Bounded) int64 {
	t.Helper()
	run := func(limit int64, check func(i int, m *lru.Meter, evicted uint64) bool) {
		f := Fleet(agents)
		inv := f.Inventory()
		d := mk(inv)
		m := lru.NewMeter(limit, nil)
		d.SetMeter(m)
		for i, ev := range f.Take(n) {
			d.Observe(ev, inv.Agent(ev.AgentID), func(models.Finding) {})
			m.Settle()
			if !check(i, m, d.Evictions()) {
				return
			}
		}
	}
	used := make([]int64, n)
	run(0, func(i int, m *lru.Meter, evicted uint64) bool {
		used[i] = m.Bytes()
		if evicted != 0 {
			t.Fatalf("event %d: %d evictions without a limit", i, evicted)
		}
		return true
	})
	limit := used[n/2]
	if limit <= used[0] || limit <= 0 {
		t.Fatalf("accounted bytes did not grow: %d after the first event, %d after %d", used[0], limit, n/2)
	}
	over := slices.IndexFunc(used, func(u int64) bool { return u > limit })
	if over < 0 {
		t.Fatalf("the state never grew beyond %d bytes, its size after event %d: feed more events", limit, n/2)
	}
	run(limit, func(i int, m *lru.Meter, evicted uint64) bool {
		switch {
		case m.Bytes() > limit:
			t.Fatalf("event %d: %d bytes accounted above the limit %d", i, m.Bytes(), limit)
		case i < over && evicted != 0:
			t.Fatalf("event %d: %d evictions at %d bytes, below the limit %d", i, evicted, used[i], limit)
		case i == over && evicted == 0:
			t.Fatalf("event %d: no eviction, though %d bytes exceed the limit %d", i, used[i], limit)
		}
		return i < over+n/10
	})
	return limit
}
