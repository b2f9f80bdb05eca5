// Package capability reports the static privilege composition ("posture")
// of registered agents: which dangerous capability paths an agent could
// take with the tools it is granted, whether or not it ever takes them.
//
// An agent's effective capability set is the union of its tools' labels
// plus the effective sets of the registered sub-agents it has been seen to
// spawn (agent_spawn events naming a ChildAgentID are delegation edges). A
// toxic path is a chain of labels the effective set makes possible:
//
//   - untrusted_content->private_data->public_sink, the "lethal trifecta":
//     text an outsider wrote can steer the agent into sending private data
//     out;
//   - untrusted_content->destructive: outsider text can trigger an
//     irreversible action;
//   - private_data->public_sink: private data can leave the organisation.
//
// A path is designed when the agent's DesignedFlows lists it (the trifecta
// also counts as designed when both "untrusted_content->public_sink" and
// "private_data->public_sink" are listed), otherwise emergent. Each path is
// reported once per agent as a toxic_path finding, when the agent is first
// seen and again when delegation adds a path; severities are posture-level
// (emergent trifecta 20, other emergent 15, designed 5), far below
// models.AlertThreshold. Posture is not run-time evidence: the Engine's
// session compounder must exclude this detector (see DefaultOptions of
// package detector and session.Options.ExcludeDetectors).
//
// Memory is bounded: at most MaxAgents agents are tracked (least recently
// active evicted when full, counted; an evicted agent's paths may be
// reported again), each with at most MaxDelegates remembered sub-agents.
package capability

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/tetherhq/tether/detector/internal/lru"
	"github.com/tetherhq/tether/models"
)

// Name is the detector name recorded on findings.
const Name = "capability"

// KindToxicPath is the kind of posture findings.
const KindToxicPath = "toxic_path"

// Toxic path names, as written in models.AgentSpec.DesignedFlows.
const (
	PathTrifecta             = "untrusted_content->private_data->public_sink"
	PathUntrustedDestructive = "untrusted_content->destructive"
	PathPrivateToSink        = "private_data->public_sink"
	// flowUntrustedToSink is the pairwise flow that, with PathPrivateToSink,
	// makes the trifecta designed.
	flowUntrustedToSink = "untrusted_content->public_sink"
)

// Options configures the detector.
type Options struct {
	// MaxAgents bounds the agents tracked (≤ 0: unbounded but for the
	// memory budget); the least recently active is evicted when full.
	MaxAgents int
	// MaxDelegates bounds the sub-agents remembered per agent (for naming
	// the tools on each hop); labels of further sub-agents still count.
	MaxDelegates int
	// Severities: an emergent lethal trifecta, any other emergent path, and
	// a designed path. All must stay below models.AlertThreshold.
	SeverityTrifecta uint8
	SeverityEmergent uint8
	SeverityDesigned uint8
}

// DefaultOptions returns the production settings.
func DefaultOptions() Options {
	return Options{MaxAgents: 0, MaxDelegates: 8, SeverityTrifecta: 20, SeverityEmergent: 15, SeverityDesigned: 5}
}

// labelSet is a bit set of models.Labels (bit i is models.Labels[i]).
type labelSet uint8

func bit(l models.Label) labelSet {
	if i := slices.Index(models.Labels, l); i >= 0 {
		return 1 << i
	}
	return 0
}

func (s labelSet) has(l models.Label) bool { return s&bit(l) != 0 }

// path is one toxic path: its name and the label on each hop.
type path struct {
	name string
	hops []models.Label
}

// paths lists the toxic paths in report order; bit i of a pathSet is paths[i].
var paths = []path{
	{PathTrifecta, []models.Label{models.LabelUntrustedContent, models.LabelPrivateData, models.LabelPublicSink}},
	{PathUntrustedDestructive, []models.Label{models.LabelUntrustedContent, models.LabelDestructive}},
	{PathPrivateToSink, []models.Label{models.LabelPrivateData, models.LabelPublicSink}},
}

type pathSet uint8

func pathsOf(s labelSet) pathSet {
	var p pathSet
	for i, pt := range paths {
		ok := true
		for _, l := range pt.hops {
			ok = ok && s.has(l)
		}
		if ok {
			p |= 1 << i
		}
	}
	return p
}

// agentState is one tracked agent's posture.
type agentState struct {
	labels    labelSet
	reported  pathSet
	delegates []string // registered sub-agents seen spawned, at most MaxDelegates
}

// Detector reports toxic capability paths. It is not safe for concurrent
// use (one engine goroutine drives it).
//
// Memory: the tracked agents (state, id and delegate ids) are an LRU
// whose bytes the memory budget accounts (SetMeter; least recently active
// evicted when it is exceeded, counted in Evictions); MaxAgents is an
// optional ceiling.
type Detector struct {
	opts      Options
	inv       *models.Inventory
	agents    *lru.LRU[*agentState] // pointers: a spawn holds the parent's across the child's lookup
	evictions *atomic.Uint64
}

// New returns a Detector over inv (nil: no agents are registered, nothing
// is reported).
func New(inv *models.Inventory, opts Options) *Detector {
	d := &Detector{opts: opts, inv: inv, evictions: new(atomic.Uint64)}
	d.agents = d.table(limit(opts.MaxAgents))
	return d
}

// limit is the table cap of MaxAgents (≤ 0: unbounded).
func limit(n int) int {
	if n <= 0 {
		return math.MaxInt
	}
	return n
}

func (d *Detector) table(n int) *lru.LRU[*agentState] {
	l := lru.New[*agentState](n)
	l.CountInto(d.evictions)
	return l
}

// SetMeter implements detector.Bounded.
func (d *Detector) SetMeter(m *lru.Meter) {
	d.agents.Metered(m, Name+"/agents", func(id string, a **agentState) int {
		n := lru.String(id)
		if st := *a; st != nil {
			n += lru.Alloc(int(unsafe.Sizeof(*st))) + lru.Slice(st.delegates)
			for _, s := range st.delegates {
				n += lru.String(s)
			}
		}
		return n
	})
}

// Evictions implements detector.Bounded.
func (d *Detector) Evictions() uint64 { return d.evictions.Load() }

// Name implements detector.Detector.
func (d *Detector) Name() string { return Name }

// Tracked returns how many agents are tracked.
func (d *Detector) Tracked() int { return d.agents.Len() }

func ownLabels(a *models.AgentSpec) labelSet {
	var s labelSet
	for _, t := range a.Tools {
		for _, l := range t.Labels {
			s |= bit(l)
		}
	}
	return s
}

// state returns the agent's state, creating it from the manifest.
func (d *Detector) state(a *models.AgentSpec) *agentState {
	st, created := d.agents.Put(a.ID)
	if created {
		*st = &agentState{labels: ownLabels(a)}
	}
	return *st
}

// Observe implements detector.Detector.
func (d *Detector) Observe(ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
	if agent == nil {
		return
	}
	st := d.state(agent)
	if ev.Kind == models.KindAgentSpawn && ev.ChildAgentID != "" && ev.ChildAgentID != agent.ID {
		if child := d.inv.Agent(ev.ChildAgentID); child != nil {
			st.labels |= d.state(child).labels
			if !slices.Contains(st.delegates, child.ID) && len(st.delegates) < d.opts.MaxDelegates {
				st.delegates = append(st.delegates, child.ID)
			}
		}
	}
	fresh := pathsOf(st.labels) &^ st.reported
	if fresh == 0 {
		return
	}
	st.reported |= fresh
	for i, pt := range paths {
		if fresh&(1<<i) != 0 {
			emit(d.finding(pt, agent, st))
		}
	}
}

// designed reports whether the owner declared path pt.
func designed(pt path, a *models.AgentSpec) bool {
	if slices.Contains(a.DesignedFlows, pt.name) {
		return true
	}
	return pt.name == PathTrifecta && slices.Contains(a.DesignedFlows, PathPrivateToSink) &&
		slices.Contains(a.DesignedFlows, flowUntrustedToSink)
}

// maxTools bounds the tools named per hop.
const maxTools = 4

// providers names the tools granting l: the agent's own, then its
// delegates' as "sub-agent/tool".
func (d *Detector) providers(l models.Label, a *models.AgentSpec, st *agentState) string {
	var names []string
	more := 0
	add := func(prefix string, spec *models.AgentSpec) {
		for i := range spec.Tools {
			if spec.Tools[i].Has(l) {
				if len(names) < maxTools {
					names = append(names, prefix+spec.Tools[i].Name)
				} else {
					more++
				}
			}
		}
	}
	add("", a)
	for _, id := range st.delegates {
		if c := d.inv.Agent(id); c != nil {
			add(id+"/", c)
		}
	}
	if len(names) == 0 {
		names = append(names, "a delegated sub-agent") // beyond MaxDelegates
	}
	if more > 0 {
		names = append(names, fmt.Sprintf("and %d more", more))
	}
	return strings.Join(names, ", ")
}

func (d *Detector) finding(pt path, a *models.AgentSpec, st *agentState) models.Finding {
	des := designed(pt, a)
	sev, what := d.opts.SeverityEmergent, "emergent"
	switch {
	case des:
		sev, what = d.opts.SeverityDesigned, "designed"
	case pt.name == PathTrifecta:
		sev = d.opts.SeverityTrifecta
	}
	hops := make([]string, len(pt.hops))
	for i, l := range pt.hops {
		hops[i] = fmt.Sprintf("%s via %s", l, d.providers(l, a, st))
	}
	expl := fmt.Sprintf("posture: %s toxic path %s", what, pt.name)
	if pt.name == PathTrifecta {
		expl += " (lethal trifecta)"
	}
	expl += " is possible with the agent's effective capabilities: " + strings.Join(hops, "; ")
	if len(st.delegates) > 0 {
		expl += fmt.Sprintf(" (including delegation to %s)", strings.Join(st.delegates, ", "))
	}
	if des {
		expl += "; designed=true (declared in designed_flows)"
	}
	return models.Finding{
		Kind:        KindToxicPath,
		Subject:     pt.name, // one event can open several paths
		Severity:    sev,
		Confidence:  0.9,
		Explanation: expl,
		Features:    []models.Feature{{Name: "capability_labels", Observed: float64(popcount(st.labels))}},
	}
}

func popcount(s labelSet) int {
	n := 0
	for ; s != 0; s &= s - 1 {
		n++
	}
	return n
}
