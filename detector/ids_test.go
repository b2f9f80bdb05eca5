package detector_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/detector"
	"github.com/tetherhq/tether/ingest/agentdojo"
	"github.com/tetherhq/tether/models"
)

// findingContent is what makes a finding distinct: every field except its
// ID (detector, kind, agent, root agent, session, principal, time, step,
// subject, severity, confidence, explanation, evidence event ids and
// features), canonically encoded. Two findings with the same content are
// the same finding (a replay); two findings with different content must
// have different ids.
func findingContent(f models.Finding) string {
	f.ID = ""
	b, err := json.Marshal(f)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// commandContent is the same for a containment command: every field but
// its ID.
func commandContent(c models.ContainmentCommand) string {
	c.ID = ""
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// idAudit counts findings (or commands) whose id is shared with a
// different content.
type idAudit struct {
	content   map[string]string // id → first content seen
	key       map[string]string // id → detector/kind of the first
	n         int
	colliding int            // items whose id was first used by a different content
	byKind    map[string]int // detector/kind → colliding items
	example   string
}

func newIDAudit() *idAudit {
	return &idAudit{content: map[string]string{}, key: map[string]string{}, byKind: map[string]int{}}
}

func (a *idAudit) add(id, kind, content string) {
	a.n++
	prev, ok := a.content[id]
	if !ok {
		a.content[id], a.key[id] = content, kind
		return
	}
	if prev != content {
		a.colliding++
		a.byKind[kind]++
		if a.example == "" {
			a.example = fmt.Sprintf("id %s:\n  %s\n  %s", id, prev, content)
		}
	}
}

func (a *idAudit) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(a.byKind)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, a.byKind[k]))
	}
	return fmt.Sprintf("%d of %d share an id with a different content (%.2f %%) [%s]", a.colliding, a.n, 100*float64(a.colliding)/float64(max(a.n, 1)), strings.Join(parts, " "))
}

// idStream is one event stream the id properties are checked on.
type idStream struct {
	name   string
	inv    *models.Inventory
	events []*models.Event
}

// fleetIDStream is a fleet of agents (3 rogue, seed 1) and its first n
// events; 24 agents and 10,000 events is the demo's size (`tether demo`
// produces 500 events/s for 20 s).
func fleetIDStream(agents, n int) idStream {
	o := fleet.DefaultOptions()
	o.Agents = agents
	o.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := fleet.New(o)
	return idStream{name: fmt.Sprintf("fleet-%d-agents", agents), inv: f.Inventory(), events: f.Take(n)}
}

// agentDojoDir is the shared AgentDojo data set (read-only).
const agentDojoDir = "../../shared/datasets/agentdojo"

// agentDojoIDStream converts the AgentDojo runs as `tether import
// agentdojo` does.
func agentDojoIDStream(t *testing.T) idStream {
	dir := agentDojoDir
	if v := os.Getenv("TETHER_AGENTDOJO"); v != "" {
		dir = v
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("AgentDojo data set not found at %s (set TETHER_AGENTDOJO): %v", filepath.Clean(dir), err)
	}
	im := agentdojo.New(agentdojo.DefaultOptions())
	if err := im.AddPath(dir); err != nil {
		t.Fatal(err)
	}
	res, err := im.Convert()
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]*models.Event, len(res.Events))
	for i := range res.Events {
		evs[i] = &res.Events[i]
	}
	return idStream{name: "agentdojo", inv: res.Inventory, events: evs}
}

// runIDs runs a fresh default engine over evs and returns its output.
func runIDs(inv *models.Inventory, evs []*models.Event) detector.Output {
	o := detector.DefaultOptions()
	o.Inventory = inv
	e := detector.New(o)
	var out detector.Output
	for _, ev := range evs {
		e.Process(ev, &out)
	}
	return out
}

func auditIDs(out detector.Output) (findings, commands *idAudit) {
	findings, commands = newIDAudit(), newIDAudit()
	for _, f := range out.Findings {
		findings.add(f.ID, f.Detector+"/"+f.Kind, findingContent(f))
	}
	for _, c := range out.Commands {
		commands.add(c.ID, string(c.Action), commandContent(c))
	}
	return findings, commands
}

// idStreams returns the streams the id properties are checked on: the
// demo-sized fleet, a larger fleet (not in -short) and AgentDojo.
func idStreams(t *testing.T) []func(*testing.T) idStream {
	out := []func(*testing.T) idStream{
		func(*testing.T) idStream { return fleetIDStream(24, 10_000) },
	}
	if !testing.Short() {
		out = append(out, func(*testing.T) idStream { return fleetIDStream(200, 60_000) })
	}
	return append(out, agentDojoIDStream)
}

// uniqueEventIDs fails the test when an event id repeats in the stream:
// the properties below assume distinct events have distinct ids (the
// producer's contract; a repeated id is a redelivery).
func uniqueEventIDs(t *testing.T, s idStream) {
	t.Helper()
	seen := make(map[string]struct{}, len(s.events))
	for _, ev := range s.events {
		if _, dup := seen[ev.ID]; dup {
			t.Fatalf("%s: event id %q repeats", s.name, ev.ID)
		}
		seen[ev.ID] = struct{}{}
	}
}

// TestFindingIDsDistinct: over the fleet and the AgentDojo streams, no two
// findings (or containment commands) with different content share an id.
func TestFindingIDsDistinct(t *testing.T) {
	for _, mk := range idStreams(t) {
		s := mk(t)
		t.Run(s.name, func(t *testing.T) {
			uniqueEventIDs(t, s)
			out := runIDs(s.inv, s.events)
			if len(out.Findings) == 0 || len(out.Commands) == 0 {
				t.Fatalf("%d findings, %d commands: the property is vacuous", len(out.Findings), len(out.Commands))
			}
			fa, ca := auditIDs(out)
			t.Logf("%s, %d events: findings: %s; commands: %s", s.name, len(s.events), fa, ca)
			if fa.colliding > 0 {
				t.Errorf("findings: %s\nfirst: %s", fa, fa.example)
			}
			if ca.colliding > 0 {
				t.Errorf("commands: %s\nfirst: %s", ca, ca.example)
			}
		})
	}
}

// TestFindingIDsStableOnReplay: a fresh engine over the same stream, and an
// engine restored from a snapshot taken mid-stream and fed the rest,
// reproduce the original findings and commands, ids included.
func TestFindingIDsStableOnReplay(t *testing.T) {
	for _, mk := range idStreams(t) {
		s := mk(t)
		t.Run(s.name, func(t *testing.T) {
			o := detector.DefaultOptions()
			o.Inventory = s.inv
			first := runIDs(s.inv, s.events)
			again := runIDs(s.inv, s.events)
			sameOutput(t, "fresh replay", first, again)

			// Snapshot after the first half, restore into a fresh engine and
			// replay the second half: the ids are those of the uninterrupted
			// run's second half.
			mid := len(s.events) / 2
			orig := detector.New(o)
			var head detector.Output
			for _, ev := range s.events[:mid] {
				orig.Process(ev, &head)
			}
			snap, err := orig.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			restored := detector.New(o)
			if err := restored.Restore(snap); err != nil {
				t.Fatal(err)
			}
			var tail detector.Output
			for _, ev := range s.events[mid:] {
				restored.Process(ev, &tail)
			}
			want := detector.Output{Findings: first.Findings[len(head.Findings):], Commands: first.Commands[len(head.Commands):]}
			if len(want.Findings) == 0 || len(want.Commands) == 0 {
				t.Fatalf("no findings (%d) or commands (%d) after the snapshot: the comparison is vacuous", len(want.Findings), len(want.Commands))
			}
			sameOutput(t, "restored replay", want, tail)
			t.Logf("%s: %d findings and %d commands reproduced by a fresh replay; %d findings and %d commands after a snapshot at event %d",
				s.name, len(first.Findings), len(first.Commands), len(tail.Findings), len(tail.Commands), mid)
		})
	}
}

// sameOutput requires got to equal want finding by finding and command by
// command, naming the first difference.
func sameOutput(t *testing.T, what string, want, got detector.Output) {
	t.Helper()
	if len(want.Findings) != len(got.Findings) || len(want.Commands) != len(got.Commands) {
		t.Fatalf("%s: %d findings, %d commands; want %d, %d", what, len(got.Findings), len(got.Commands), len(want.Findings), len(want.Commands))
	}
	for i := range want.Findings {
		if w, g := want.Findings[i], got.Findings[i]; w.ID != g.ID || findingContent(w) != findingContent(g) {
			t.Fatalf("%s: finding %d differs:\n got %s %s\nwant %s %s", what, i, g.ID, findingContent(g), w.ID, findingContent(w))
		}
	}
	for i := range want.Commands {
		if w, g := want.Commands[i], got.Commands[i]; w.ID != g.ID || commandContent(w) != commandContent(g) {
			t.Fatalf("%s: command %d differs:\n got %s %s\nwant %s %s", what, i, g.ID, commandContent(g), w.ID, commandContent(w))
		}
	}
}
