package detector_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/detector/internal/statetest"
	"github.com/tetherhq/tether/models"
)

// statefulOptions returns the default options over inv, leaving out any
// detector that does not implement detector.Stateful (returned by name).
func statefulOptions(inv *models.Inventory) (detector.Options, []string) {
	o := detector.DefaultOptions()
	o.Inventory = inv
	var keep []detector.Factory
	var dropped []string
	for _, f := range o.Detectors {
		d := f(inv)
		if _, ok := d.(detector.Stateful); ok {
			keep = append(keep, f)
		} else {
			dropped = append(dropped, d.Name())
		}
	}
	o.Detectors = keep
	return o, dropped
}

// TestSnapshotRestoreScoresIdentically runs the full default engine (every
// default detector must be Stateful) over fleet
// traffic, snapshots it, restores the snapshot into a fresh engine built
// with the same options and requires both to produce the same findings and
// commands on the following events and to end in byte-identical states.
func TestSnapshotRestoreScoresIdentically(t *testing.T) {
	const n, m = 60_000, 60_000
	f := statetest.Fleet(200)
	opts, dropped := statefulOptions(f.Inventory())
	if len(dropped) > 0 {
		t.Fatalf("default detectors without Stateful: %v", dropped)
	}
	orig := detector.New(opts)
	agents := map[string]bool{}
	var out detector.Output
	for _, ev := range f.Take(n) {
		agents[ev.AgentID] = true
		orig.Process(ev, &out)
	}
	warm := len(out.Findings)
	snap, err := orig.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	restored := detector.New(opts)
	if err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	snap2, err := restored.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(snap, snap2) {
		t.Fatalf("Snapshot(Restore(Snapshot)) differs: %d vs %d bytes", len(snap), len(snap2))
	}
	var a, b detector.Output
	for _, ev := range f.Take(m) {
		orig.Process(ev, &a)
		restored.Process(ev, &b)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("restored engine scored differently: %d findings/%d commands vs %d/%d", len(a.Findings), len(a.Commands), len(b.Findings), len(b.Commands))
	}
	if len(a.Findings) == 0 || len(a.Commands) == 0 {
		t.Fatalf("no findings (%d) or commands (%d) after the snapshot: the comparison is vacuous", len(a.Findings), len(a.Commands))
	}
	s1, err1 := orig.Snapshot()
	s2, err2 := restored.Snapshot()
	if err1 != nil || err2 != nil || !bytes.Equal(s1, s2) {
		t.Fatalf("final snapshots differ (errors %v, %v)", err1, err2)
	}
	sizes, err := detector.StateSizes(snap)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for name, s := range sizes {
		parts = append(parts, name+"="+itoa(s/len(agents)))
	}
	sort.Strings(parts)
	t.Logf("%d+%d events, %d agents: %d findings before, %d findings and %d commands after the snapshot; snapshot %d bytes = %d bytes/agent (%s)",
		n, m, len(agents), warm, len(a.Findings), len(a.Commands), len(snap), len(snap)/len(agents), strings.Join(parts, " "))
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// TestSnapshotNeedsStateful: a detector without Stateful makes Snapshot
// and Restore fail with an error naming it.
func TestSnapshotNeedsStateful(t *testing.T) {
	e := detector.New(detector.Options{Detectors: []detector.Factory{
		func(*models.Inventory) detector.Detector { return &scripted{name: "plain"} },
	}})
	_, err := e.Snapshot()
	if !errors.Is(err, detector.ErrState) || !strings.Contains(err.Error(), `"plain"`) {
		t.Fatalf("Snapshot: %v", err)
	}
	env := detector.Envelope{Detectors: map[string][]byte{"plain": nil}, Session: []byte{}, Containment: []byte("{}")}
	if err := e.Restore(env.Encode(t)); !errors.Is(err, detector.ErrState) || !strings.Contains(err.Error(), `"plain"`) {
		t.Fatalf("Restore: %v", err)
	}
}

// TestRestoreRejects: a wrong version, a missing or extra detector and a
// corrupt detector state are errors wrapping ErrState.
func TestRestoreRejects(t *testing.T) {
	f := statetest.Fleet(10)
	opts, _ := statefulOptions(f.Inventory())
	e := detector.New(opts)
	var out detector.Output
	for _, ev := range f.Take(2000) {
		e.Process(ev, &out)
	}
	snap, err := e.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	edit := func(fn func(*detector.Envelope)) []byte {
		env, err := detector.DecodeEnvelope(snap)
		if err != nil {
			t.Fatal(err)
		}
		fn(&env)
		return env.Encode(t)
	}
	for name, bad := range map[string][]byte{
		"version":   append([]byte{'T', 'S', 1}, snap[3:]...),
		"magic":     append([]byte{'{', '"', 'v'}, snap[3:]...),
		"missing":   edit(func(v *detector.Envelope) { delete(v.Detectors, "identity") }),
		"extra":     edit(func(v *detector.Envelope) { v.Detectors["zzz"] = nil }),
		"corrupt":   edit(func(v *detector.Envelope) { v.Detectors["identity"] = []byte("not json") }),
		"session":   edit(func(v *detector.Envelope) { v.Session = nil }),
		"policy":    edit(func(v *detector.Envelope) { v.Containment = []byte("e30") }),
		"truncated": snap[:len(snap)-1],
		"trailing":  append(append([]byte(nil), snap...), 0),
		"empty":     nil,
	} {
		if err := detector.New(opts).Restore(bad); !errors.Is(err, detector.ErrState) {
			t.Errorf("%s: Restore returned %v, want ErrState", name, err)
		}
	}
}

// FuzzRestore: Restore never panics; it either fails with ErrState or
// accepts a state whose snapshot is then a fixed point of Restore.
func FuzzRestore(f *testing.F) {
	fl := statetest.Fleet(2) // small seeds: the fuzzer minimises every interesting input
	opts, _ := statefulOptions(fl.Inventory())
	e := detector.New(opts)
	var out detector.Output
	for i, ev := range fl.Take(300) {
		e.Process(ev, &out)
		if i%100 == 0 {
			s, err := e.Snapshot()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(s)
		}
	}
	f.Add([]byte("TS\x03\x00\x00\x00\x00\x00\x00\x00"))
	f.Add([]byte("TS\x03\x00\x01\x01x\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e := detector.New(opts)
		defer e.Close() // engines share the budget: a leaked one shrinks the others
		if err := e.Restore(b); err != nil {
			if !errors.Is(err, detector.ErrState) {
				t.Fatalf("error does not wrap ErrState: %v", err)
			}
			return
		}
		s, err := e.Snapshot()
		if err != nil {
			t.Fatalf("restored engine cannot snapshot: %v", err)
		}
		e2 := detector.New(opts)
		defer e2.Close()
		if err := e2.Restore(s); err != nil {
			t.Fatalf("own snapshot rejected: %v", err)
		}
		if s2, err := e2.Snapshot(); err != nil || !bytes.Equal(s, s2) {
			t.Fatalf("snapshot is not a fixed point (err %v)", err)
		}
	})
}
