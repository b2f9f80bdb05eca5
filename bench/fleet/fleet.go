// Package fleet simulates a fleet of AI agents for the embedded demo and the
// benchmarks: support, finance, devops and research agents that open
// sessions for human principals, reason, call the tools of their
// purpose-specific workflow, occasionally delegate to a sub-agent, and end
// their sessions. Every agent is declared in an inventory with an owner, a
// purpose, an autonomy level and a labelled capability manifest.
//
// A few agents, chosen deterministically from the seed, are rogue: they
// behave like their peers through a warm-up and are then hijacked (a
// prompt injection in untrusted content, or a stale credential reused after
// it expired). From then on each of their sessions contains some of: a burst
// of calls, bulk reads of private data with tools they were granted but never
// used, sends of that data to destinations outside the organisation,
// destructive calls, all possibly under an expired credential.
//
// The simulator knows nothing about the detectors; it models what agents do.
// Output is deterministic for a seed: the same Options yield the same event
// sequence, with event-time timestamps starting at Options.Start.
package fleet

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/tetherhq/tether/models"
)

// Options configures a Fleet.
type Options struct {
	// Agents is the number of root agents (sub-agent workers are extra).
	Agents int
	// Rogue is how many of them go rogue after the warm-up (at most Agents).
	Rogue int
	// Seed makes the fleet deterministic.
	Seed int64
	// Start is the event time of the first event.
	Start time.Time
	// WarmupSessions is how many benign sessions a rogue agent runs before it
	// goes rogue.
	WarmupSessions int
	// MeanIdle is the mean event-time gap between an agent's sessions
	// (exponentially distributed).
	MeanIdle time.Duration
	// MaxLoops bounds the workflow iterations (tasks) per session; each
	// session runs 1..MaxLoops.
	MaxLoops int
	// SpawnRate is the probability that a session delegates to a sub-agent.
	SpawnRate float64
	// ErrorRate is the probability that a tool call fails (and is retried).
	ErrorRate float64
	// CredentialTTL is the lifetime of the credential issued per session.
	CredentialTTL time.Duration
}

// DefaultOptions returns a fleet of 24 agents, 3 of them rogue after 10
// warm-up sessions, starting now.
func DefaultOptions() Options {
	return Options{
		Agents:         24,
		Rogue:          3,
		Seed:           1,
		Start:          time.Now().UTC().Truncate(time.Millisecond),
		WarmupSessions: 10,
		MeanIdle:       40 * time.Second,
		MaxLoops:       3,
		SpawnRate:      0.12,
		ErrorRate:      0.03,
		CredentialTTL:  time.Hour,
	}
}

// Fleet generates the interleaved event stream of all agents, in event-time
// order. It is not safe for concurrent use.
type Fleet struct {
	opts   Options
	inv    *models.Inventory
	agents []*agent
	queue  agentHeap
	seq    uint64
}

// New builds a fleet. Zero or negative fields of opts fall back to
// DefaultOptions (Rogue and Seed are taken as given; Rogue is capped at
// Agents).
func New(opts Options) *Fleet {
	def := DefaultOptions()
	if opts.Agents <= 0 {
		opts.Agents = def.Agents
	}
	opts.Rogue = max(0, min(opts.Rogue, opts.Agents))
	if opts.Start.IsZero() {
		opts.Start = def.Start
	}
	if opts.WarmupSessions <= 0 {
		opts.WarmupSessions = def.WarmupSessions
	}
	if opts.MeanIdle <= 0 {
		opts.MeanIdle = def.MeanIdle
	}
	if opts.MaxLoops <= 0 {
		opts.MaxLoops = def.MaxLoops
	}
	if opts.SpawnRate < 0 {
		opts.SpawnRate = 0
	}
	if opts.ErrorRate < 0 {
		opts.ErrorRate = 0
	}
	if opts.CredentialTTL <= 0 {
		opts.CredentialTTL = def.CredentialTTL
	}
	f := &Fleet{opts: opts, inv: &models.Inventory{}}

	// Choose the rogue agents with a permutation of the seed.
	pick := rand.New(rand.NewPCG(uint64(opts.Seed), 0x7e7e7))
	rogue := make(map[int]bool, opts.Rogue)
	for _, i := range pick.Perm(opts.Agents)[:opts.Rogue] {
		rogue[i] = true
	}
	autonomies := []models.Autonomy{models.AutonomyIntern, models.AutonomyJunior, models.AutonomyJunior, models.AutonomySenior, models.AutonomySenior, models.AutonomyPrincipal}
	for i := 0; i < opts.Agents; i++ {
		p := &purposes[i%len(purposes)]
		rng := rand.New(rand.NewPCG(uint64(opts.Seed), uint64(i)+1))
		a := &agent{
			index:   i,
			purpose: p,
			id:      fmt.Sprintf("%s-%02d", shortName(p.name), i/len(purposes)+1),
			rng:     rng,
			rogue:   rogue[i],
			version: fmt.Sprintf("1.%d.%d", rng.IntN(6), rng.IntN(10)),
		}
		a.name = fmt.Sprintf("%s %02d", p.display, i/len(purposes)+1)
		a.autonomy = autonomies[rng.IntN(len(autonomies))]
		a.worker = a.id + ".worker"
		n := 1 + rng.IntN(3)
		for _, k := range rng.Perm(len(principals))[:n] {
			a.principals = append(a.principals, principals[k])
		}
		// Agents come online staggered over the first minute.
		a.next = opts.Start.Add(time.Duration(rng.Int64N(int64(time.Minute))))
		f.agents = append(f.agents, a)

		spec := models.AgentSpec{
			ID: a.id, Name: a.name, Owner: p.owner, Purpose: p.name, Autonomy: a.autonomy,
			DesignedFlows: p.flows,
		}
		for _, t := range p.tools {
			spec.Tools = append(spec.Tools, cloneSpec(t.spec))
		}
		worker := models.AgentSpec{
			ID: a.worker, Name: a.name + " worker", Owner: p.owner,
			Purpose: p.name + " (delegated worker)", Autonomy: models.AutonomyIntern,
			PeerGroup: p.name + "_worker",
		}
		for _, w := range p.worker {
			worker.Tools = append(worker.Tools, cloneSpec(p.tool(w).spec))
		}
		f.inv.Agents = append(f.inv.Agents, spec, worker)
	}
	if err := f.inv.Index(); err != nil {
		panic(fmt.Sprintf("fleet: generated inventory is invalid: %v", err)) // a bug in the catalogue
	}
	for _, a := range f.agents {
		f.fill(a)
		heap.Push(&f.queue, a)
	}
	return f
}

func shortName(purpose string) string {
	switch purpose {
	case "customer_support":
		return "support"
	case "finance_reporting":
		return "finance"
	case "devops_assistant":
		return "devops"
	case "research_assistant":
		return "research"
	}
	return purpose
}

func cloneSpec(s models.ToolSpec) models.ToolSpec {
	s.Labels = append([]models.Label(nil), s.Labels...)
	s.DataClasses = append([]string(nil), s.DataClasses...)
	return s
}

// Options returns the effective options (defaults applied).
func (f *Fleet) Options() Options { return f.opts }

// Inventory returns the fleet's inventory: every root agent and its
// delegated worker. The caller must not modify it.
func (f *Fleet) Inventory() *models.Inventory { return f.inv }

// AgentIDs returns the root agent ids in creation order.
func (f *Fleet) AgentIDs() []string {
	ids := make([]string, len(f.agents))
	for i, a := range f.agents {
		ids[i] = a.id
	}
	return ids
}

// Rogues returns the ids of the root agents that go rogue (ground truth).
func (f *Fleet) Rogues() []string {
	var ids []string
	for _, a := range f.agents {
		if a.rogue {
			ids = append(ids, a.id)
		}
	}
	return ids
}

// IsRogue reports whether root agent id is one of the rogue agents.
func (f *Fleet) IsRogue(id string) bool {
	for _, a := range f.agents {
		if a.id == id || a.worker == id {
			return a.rogue
		}
	}
	return false
}

// RogueSince returns the event time at which rogue agent id started its
// first rogue session, and false when it has not (yet) gone rogue.
func (f *Fleet) RogueSince(id string) (time.Time, bool) {
	for _, a := range f.agents {
		if a.id == id && !a.rogueSince.IsZero() {
			return a.rogueSince, true
		}
	}
	return time.Time{}, false
}

// Next returns the next event in event-time order across the fleet. The
// stream is endless. Events are validated (derived fields filled) and are
// not reused by the Fleet.
func (f *Fleet) Next() *models.Event {
	a := f.queue[0]
	ev := a.pending[0]
	a.pending = a.pending[1:]
	if len(a.pending) == 0 {
		f.fill(a)
	}
	heap.Fix(&f.queue, 0)
	f.seq++
	return ev
}

// Take returns the next n events.
func (f *Fleet) Take(n int) []*models.Event {
	out := make([]*models.Event, n)
	for i := range out {
		out[i] = f.Next()
	}
	return out
}

// fill scripts a's next session into a.pending.
func (f *Fleet) fill(a *agent) {
	s := &session{f: f, a: a, rng: a.rng}
	s.script()
	a.pending = s.events
}

// agentHeap orders agents by the time of their next pending event, ties by
// creation order (determinism).
type agentHeap []*agent

func (h agentHeap) Len() int { return len(h) }
func (h agentHeap) Less(i, j int) bool {
	ti, tj := h[i].pending[0].Time, h[j].pending[0].Time
	if !ti.Equal(tj) {
		return ti.Before(tj)
	}
	return h[i].index < h[j].index
}
func (h agentHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *agentHeap) Push(x any)   { *h = append(*h, x.(*agent)) }
func (h *agentHeap) Pop() any     { old := *h; x := old[len(old)-1]; *h = old[:len(old)-1]; return x }
