// Package detector runs Tether's detectors over a stream of agent events.
//
// An Engine owns the detector state of one Kafka partition (one agent
// lineage lives on one partition because records are keyed by root agent
// id). It is driven by exactly one goroutine, in partition order, and is not
// safe for concurrent use. Detectors live in sub-packages by concern
// (identity, baseline, …); detector/session compounds the findings of one
// session into a compound_deviation finding when several small deviations
// add up; the containment policy that turns findings into commands lives in
// detector/containment.
package detector

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tetherhq/tether/detector/containment"
	"github.com/tetherhq/tether/detector/flow"
	"github.com/tetherhq/tether/detector/internal/lru"
	"github.com/tetherhq/tether/detector/rules"
	"github.com/tetherhq/tether/detector/session"
	"github.com/tetherhq/tether/detector/toolcap"
	"github.com/tetherhq/tether/models"
)

// Emit receives a finding from a detector. The detector fills Kind,
// Severity, Confidence, Explanation, EvidenceIDs and Features; the engine
// fills the rest (agent, session, time, step, detector name, ID). A
// finding about other events than the current one (an aggregate such as
// unregistered_agent_burst) may set its agent, root agent, session and
// principal itself; the engine keeps them.
type Emit = func(models.Finding)

// Detector is one concern's stateful judgement over a partition's events.
type Detector interface {
	// Name is the detector's stable name, recorded on its findings.
	Name() string
	// Observe judges ev. agent is the inventory entry of ev.AgentID, or nil
	// for an unregistered agent. Observe must not retain ev after returning.
	Observe(ev *models.Event, agent *models.AgentSpec, emit Emit)
}

// Output collects what processing produced. Callers reset it between
// batches with Reset; the engine only appends.
type Output struct {
	Findings []models.Finding
	Commands []models.ContainmentCommand
}

// Reset empties o, keeping its capacity.
func (o *Output) Reset() {
	o.Findings = o.Findings[:0]
	o.Commands = o.Commands[:0]
}

// Factory builds a fresh detector for one engine.
type Factory func(inv *models.Inventory) Detector

// Options configures an Engine.
type Options struct {
	// Inventory declares the known agents; nil means none are registered.
	Inventory *models.Inventory
	// Detectors build the detectors, run in order on every event.
	Detectors []Factory
	// Session compounds the findings of one session (zero: disabled).
	Session session.Options
	// Containment decides commands from findings.
	Containment containment.Options
	// MemoryBudget bounds the state of every engine built from these
	// Options together (see Budget); nil leaves each detector to its own
	// Max… options.
	MemoryBudget *Budget
	// Rules holds the ruleset (detector/rules) applied to every finding:
	// rule id and version stamps, enabled flags, overrides, exceptions. A
	// reload stores a new ruleset in it; nil: the default ruleset.
	Rules *rules.Holder
	// ListReaders names the detectors that read the ruleset's lists when
	// built (Registration.Lists): when Rules holds a new ruleset, a running
	// engine rebuilds them before its next event, their state carried over
	// through MarshalState/UnmarshalState (as a checkpoint restore would).
	ListReaders []string
}

// DefaultOptions returns the production detector set (Registry, in
// order) and policy, with the default ruleset.
func DefaultOptions() Options { return build(nil, nil, rules.Default()) }

// build assembles Options from the registry: every detector not disabled,
// with its tuned options (else its defaults); the ones that do not
// compound are excluded from the session compounder. Detectors read their
// lists from the ruleset held in Options.Rules when they are built.
func build(disabled []string, tuned map[string]any, rs *rules.Ruleset) Options {
	so := session.DefaultOptions()
	// an attempted injection is evidence for analysts, not a deviation
	so.ExcludeKinds = slices.Clone(EvidenceKinds)
	// informational findings (the info band) are not deviations
	so.MinSeverity = models.SeverityLow
	h := rules.NewHolder(rs)
	var factories []Factory
	var readers []string
	for _, r := range Registry {
		if !r.Compounds {
			so.ExcludeDetectors = append(so.ExcludeDetectors, r.Name)
		}
		if slices.Contains(disabled, r.Name) {
			continue
		}
		if r.Lists {
			readers = append(readers, r.Name)
		}
		opts := tuned[r.Name]
		factories = append(factories, func(inv *models.Inventory) Detector {
			o := opts
			if o == nil {
				o = r.Defaults()
			}
			return r.Build(inv, o, h)
		})
	}
	return Options{
		Detectors:    factories,
		Session:      so,
		Containment:  containment.DefaultOptions(),
		MemoryBudget: NewBudget(DefaultMemoryBudget()),
		Rules:        h,
		ListReaders:  readers,
	}
}

// Engine runs the detectors and the containment policy.
type Engine struct {
	inv       *models.Inventory
	detectors []Detector
	sessions  *session.Tracker
	policy    *containment.Policy

	rules     *rules.Holder
	ruleset   *rules.Ruleset // the ruleset the list readers were built with
	factories []Factory      // per detector, to rebuild list readers
	readers   []string
	// mu guards detectors and evictBase against Stats while a reload
	// replaces list readers (the engine's goroutine reads them unlocked).
	mu        sync.Mutex
	evictBase map[string]uint64 // evictions of replaced detectors
	// reloadFailures counts list readers that kept their old lists.
	reloadFailures atomic.Uint64
	budget         *Budget
	meter          *lru.Meter // accounts every bounded table's bytes (nil without a budget)
	closed         bool

	// per-Observe scratch, so emit needs no closure allocation
	cur    *models.Event
	curDet string
	curOut *Output
	emitFn Emit
}

// EvidenceKinds are the finding kinds ("detector/kind") about what an
// agent was exposed to rather than what it did: an attempted injection the
// agent has not acted on (flow's injection_attempt). They rank a session
// for analysts; the session compounder leaves them out (DefaultOptions)
// and the containment policy never commands on them (New adds them to
// containment.Options.EvidenceKinds whatever the configured policy). The
// agent's own calls that follow such content are judged, and contained,
// as calls.
var EvidenceKinds = []string{flow.Name + "/" + flow.KindInjectionAttempt}

// New builds an Engine. Inventory tools without labels get the labels
// detector/toolcap infers from their declaration (toolcap.LabelInventory),
// so every detector sees them. With a MemoryBudget the engine accounts
// its tables' bytes to it (an lru.Meter) until Close. The containment
// policy never commands on EvidenceKinds.
func New(opts Options) *Engine {
	inv := toolcap.LabelInventory(opts.Inventory)
	copts := opts.Containment
	copts.EvidenceKinds = append(slices.Clip(copts.EvidenceKinds), EvidenceKinds...)
	e := &Engine{inv: inv, sessions: session.New(opts.Session), policy: containment.New(copts),
		budget: opts.MemoryBudget, rules: opts.Rules}
	if e.rules == nil {
		e.rules = rules.NewHolder(nil)
	}
	e.ruleset, e.factories, e.readers = e.rules.Load(), opts.Detectors, opts.ListReaders
	for _, f := range opts.Detectors {
		e.detectors = append(e.detectors, f(inv))
	}
	link(e.detectors)
	e.emitFn = func(f models.Finding) { e.emit(f) }
	if e.budget != nil {
		e.budget.engines.Add(1)
		e.meter = lru.NewMeter(e.budget.bytes, &e.budget.used)
		for _, d := range e.detectors {
			if b, ok := d.(Bounded); ok {
				b.SetMeter(e.meter)
			}
		}
		if e.sessions != nil {
			e.sessions.SetMeter(e.meter)
		}
		e.policy.SetMeter(e.meter)
	}
	return e
}

// Close withdraws the engine's bytes from the memory budget, so the other
// engines may grow into them (a consumer closes the engine of a revoked
// partition). The engine must not be used afterwards. Close is idempotent.
func (e *Engine) Close() {
	if e.closed {
		return
	}
	e.closed = true
	if e.budget != nil {
		e.budget.engines.Add(-1)
		e.meter.Close()
	}
}

// StateBytes returns the bytes the engine's bounded tables hold, as
// accounted for the memory budget, by "<detector>/<table>" (nil without a
// budget). Not safe concurrently with Process.
func (e *Engine) StateBytes() map[string]int64 {
	if e.meter == nil {
		return nil
	}
	return e.meter.Tables()
}

// rebuildListReaders rebuilds the detectors that read the ruleset's lists
// from rs, each with its state carried over. A detector whose state does
// not carry over (an error) keeps running with the lists it was built
// with; ReloadFailures counts it.
func (e *Engine) rebuildListReaders(rs *rules.Ruleset) {
	e.ruleset = rs
	for i, d := range e.detectors {
		if !slices.Contains(e.readers, d.Name()) || i >= len(e.factories) {
			continue
		}
		old, ok := d.(Stateful)
		if !ok {
			e.reloadFailures.Add(1)
			continue
		}
		st, err := old.MarshalState()
		nd := e.factories[i](e.inv)
		if n, ok := nd.(Stateful); err != nil || !ok || n.UnmarshalState(st) != nil {
			e.reloadFailures.Add(1)
			continue
		}
		e.mu.Lock()
		if b, ok := d.(Bounded); ok {
			if e.evictBase == nil {
				e.evictBase = map[string]uint64{}
			}
			e.evictBase[d.Name()] += b.Evictions()
			if e.meter != nil {
				e.meter.Remove(d.Name() + "/") // the old tables leave the accounting
				nd.(Bounded).SetMeter(e.meter)
			}
		}
		e.detectors[i] = nd
		e.mu.Unlock()
	}
	link(e.detectors) // a rebuilt flow detector reads the outputs baselines again
}

// ReloadFailures counts list readers that kept their old lists after a
// reload because their state did not carry over. Safe from any goroutine.
func (e *Engine) ReloadFailures() uint64 { return e.reloadFailures.Load() }

// Stats returns the engine's counters: evictions per detector (for the
// metric tether_detector_evictions_total{detector=...}) and containment
// commands held back by the rate limits. Unlike the other methods it may be
// called from any goroutine while the engine processes events.
func (e *Engine) Stats() Stats {
	s := Stats{Evictions: make(map[string]uint64, len(e.detectors)+2)}
	e.mu.Lock()
	for _, d := range e.detectors {
		if b, ok := d.(Bounded); ok {
			s.Evictions[d.Name()] += b.Evictions()
		}
	}
	for name, n := range e.evictBase {
		s.Evictions[name] += n
	}
	e.mu.Unlock()
	if e.sessions != nil {
		s.Evictions[session.Name] = e.sessions.Evictions()
	}
	s.Evictions[containment.Name] = e.policy.Evictions()
	s.CommandsHeld = e.policy.Held()
	return s
}

// Process runs every detector on ev and appends findings and commands to
// out. ev must already be validated (models.Decoder). Every finding is then
// folded into its session's compounding state, and a compound_deviation
// finding (detector "session") is emitted through the same path when the
// session's combined score crosses the alert threshold; the containment
// policy sees it like any other finding.
func (e *Engine) Process(ev *models.Event, out *Output) {
	if rs := e.rules.Load(); rs != e.ruleset {
		e.rebuildListReaders(rs)
	}
	agent := e.inv.Agent(ev.AgentID)
	e.cur, e.curOut = ev, out
	start := len(out.Findings)
	for _, d := range e.detectors {
		e.curDet = d.Name()
		d.Observe(ev, agent, e.emitFn)
	}
	if e.sessions != nil {
		e.compound(start)
	}
	if c, ok := e.policy.Observe(ev); ok {
		out.Commands = append(out.Commands, c)
	}
	for i := start; i < len(out.Findings); i++ {
		if out.Findings[i].Exception != "" {
			continue // suppressed: recorded, never commanded
		}
		if c, ok := e.policy.Decide(&out.Findings[i], ev, agent); ok {
			out.Commands = append(out.Commands, c)
		}
		if c, ok := e.policy.Escalate(&out.Findings[i], ev, agent); ok {
			out.Commands = append(out.Commands, c)
		}
	}
	if f, ok := e.policy.BreakerFinding(); ok {
		e.curDet = containment.Name
		e.emit(f)
	}
	// Commands held back by the rate limits are summarised, once per
	// window, in a containment_rate_limited finding (never compounded,
	// never commanded: the policy ignores its own findings).
	if f, ok := e.policy.HeldSummary(ev.Time); ok {
		e.curDet = containment.Name
		e.emit(f)
	}
	if ev.Kind == models.KindSessionEnd {
		e.policy.Forget(ev.SessionID)
		e.sessions.End(ev.SessionID)
	}
	if e.meter != nil {
		e.meter.Settle()
	}
	e.cur, e.curOut = nil, nil
}

// compound folds the findings appended since start into their sessions'
// compounding state and emits at most one compound_deviation per session
// touched by the event (Compound only fires on new evidence: once emitted,
// a compound raises the session's maximum to its own score).
func (e *Engine) compound(start int) {
	end := len(e.curOut.Findings)
	for i := start; i < end; i++ {
		if e.curOut.Findings[i].Exception == "" { // suppressed: not a deviation
			e.sessions.Fold(&e.curOut.Findings[i])
		}
	}
	e.curDet = session.Name
	for i := start; i < end; i++ {
		sid, agent := e.curOut.Findings[i].SessionID, e.curOut.Findings[i].AgentID
		dup := false
		for j := start; j < i; j++ {
			if e.curOut.Findings[j].SessionID == sid {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		if c, ok := e.sessions.Compound(sid); ok {
			c.AgentID, c.SessionID = agent, sid
			if n := len(e.curOut.Findings); e.emit(c) && e.curOut.Findings[n].Exception == "" {
				e.sessions.Fold(&e.curOut.Findings[n])
			}
		}
	}
}

// emit completes f, applies the ruleset (stamps, overrides, exceptions)
// and appends it; it reports false when the finding's rule is disabled.
func (e *Engine) emit(f models.Finding) bool {
	ev := e.cur
	f.Detector = e.curDet
	f.Time = ev.Time
	if f.AgentID == "" {
		f.AgentID = ev.AgentID
	}
	if f.RootAgentID == "" { // aggregated findings name their own agent
		f.RootAgentID = ev.Root()
	}
	if f.SessionID == "" {
		f.SessionID = ev.SessionID
	}
	if f.Principal == "" {
		f.Principal = ev.Principal
	}
	f.Step = ev.Step
	if len(f.EvidenceIDs) == 0 {
		f.EvidenceIDs = []string{ev.ID}
	}
	if f.Severity > 100 {
		f.Severity = 100
	}
	if !e.rules.Load().Apply(&f) {
		return false
	}
	f.SetID()
	e.curOut.Findings = append(e.curOut.Findings, f)
	return true
}

// Stateful is implemented by detectors whose state can be checkpointed
// (issue 4: engine state is checkpointed to a compacted changelog topic).
//
// MarshalState must be deterministic: the same state always encodes to the
// same bytes, and MarshalState after UnmarshalState(MarshalState()) returns
// the same bytes. UnmarshalState replaces the detector's whole state; it
// validates its input (format, sizes within the detector's configured caps)
// and returns an error, never panics, on bad input. After an error the
// detector's state is unspecified and the detector should be discarded.
type Stateful interface {
	MarshalState() ([]byte, error)
	UnmarshalState([]byte) error
}

// OptionalState is implemented by Stateful detectors that start empty
// when a snapshot has no state for them (a snapshot taken by a build
// without the detector), instead of failing the restore.
type OptionalState interface {
	Stateful
	OptionalState()
}

// ErrState wraps every error of Engine.Snapshot and Engine.Restore.
var ErrState = errors.New("detector: engine state")

// StateVersion is the version of the envelope written by Engine.Snapshot
// (envelope.go).
//
// Version 2: the session compounder's and the containment policy's tables
// are listed in LRU order (most recently active first) instead of sorted by
// session, and the containment policy carries its rate-limit state.
// Version 3: the envelope is binary (envelope.go) instead of JSON with
// base64-encoded detector states.
const StateVersion = 3

// maxStateBytes bounds the snapshot Restore accepts (1 GiB).
const maxStateBytes = 1 << 30

// Snapshot encodes the state of every detector, the session compounder and
// the containment policy into one versioned, deterministic envelope: the
// same state always gives the same bytes. It fails, naming the detector,
// when a detector does not implement Stateful. The parts are encoded
// concurrently (they share no state); the engine must not be used
// meanwhile, as for every method.
func (e *Engine) Snapshot() ([]byte, error) {
	env := envelope{Detectors: make(map[string][]byte, len(e.detectors))}
	jobs := make([]func() ([]byte, error), 0, len(e.detectors)+2)
	for _, d := range e.detectors {
		name := d.Name()
		s, ok := d.(Stateful)
		if !ok {
			return nil, fmt.Errorf("%w: detector %q does not implement Stateful", ErrState, name)
		}
		if _, dup := env.Detectors[name]; dup {
			return nil, fmt.Errorf("%w: two detectors are named %q", ErrState, name)
		}
		env.Detectors[name] = nil
		jobs = append(jobs, s.MarshalState)
	}
	if e.sessions != nil {
		jobs = append(jobs, e.sessions.MarshalState)
	}
	jobs = append(jobs, e.policy.MarshalState)
	parts, errs := parallel(jobs)
	for i, d := range e.detectors {
		if errs[i] != nil {
			return nil, fmt.Errorf("%w: detector %q: %w", ErrState, d.Name(), errs[i])
		}
		env.Detectors[d.Name()] = parts[i]
	}
	if e.sessions != nil {
		i := len(e.detectors)
		if errs[i] != nil {
			return nil, fmt.Errorf("%w: session: %w", ErrState, errs[i])
		}
		env.Session = parts[i]
		if env.Session == nil {
			env.Session = []byte{} // present, even if empty
		}
	}
	if err := errs[len(errs)-1]; err != nil {
		return nil, fmt.Errorf("%w: containment: %w", ErrState, err)
	}
	env.Containment = parts[len(parts)-1]
	return env.marshal()
}

// Restore replaces the engine's state with a Snapshot taken from an engine
// built with the same options. The snapshot must name exactly this
// engine's detectors; their states are decoded concurrently. Errors wrap
// ErrState (the first part in detector order that failed); after an error
// the engine's state is unspecified and the engine should be discarded
// (build a fresh one with New).
func (e *Engine) Restore(b []byte) error {
	env, err := unmarshalEnvelope(b)
	if err != nil {
		return err
	}
	optional := 0 // detectors added after the snapshot was taken
	for _, d := range e.detectors {
		if _, ok := env.Detectors[d.Name()]; !ok {
			if _, opt := d.(OptionalState); opt {
				optional++
			}
		}
	}
	if len(env.Detectors)+optional != len(e.detectors) {
		return fmt.Errorf("%w: snapshot holds %d detectors, engine runs %d", ErrState, len(env.Detectors), len(e.detectors))
	}
	jobs := make([]func() ([]byte, error), 0, len(e.detectors)+2)
	unmarshal := func(s Stateful, b []byte) func() ([]byte, error) {
		return func() ([]byte, error) { return nil, s.UnmarshalState(b) }
	}
	for _, d := range e.detectors {
		name := d.Name()
		s, ok := d.(Stateful)
		if !ok {
			return fmt.Errorf("%w: detector %q does not implement Stateful", ErrState, name)
		}
		db, ok := env.Detectors[name]
		if !ok {
			if _, opt := d.(OptionalState); !opt {
				return fmt.Errorf("%w: snapshot has no state for detector %q", ErrState, name)
			}
			jobs = append(jobs, func() ([]byte, error) { return nil, nil }) // keeps its fresh state
			continue
		}
		jobs = append(jobs, unmarshal(s, db))
	}
	if e.sessions == nil {
		if env.Session != nil {
			return fmt.Errorf("%w: snapshot has session state, engine has compounding disabled", ErrState)
		}
	} else {
		jobs = append(jobs, unmarshal(e.sessions, env.Session))
	}
	jobs = append(jobs, unmarshal(e.policy, env.Containment))
	_, errs := parallel(jobs)
	for i, d := range e.detectors {
		if errs[i] != nil {
			return fmt.Errorf("%w: detector %q: %w", ErrState, d.Name(), errs[i])
		}
	}
	if e.sessions != nil && errs[len(e.detectors)] != nil {
		return fmt.Errorf("%w: session: %w", ErrState, errs[len(e.detectors)])
	}
	if err := errs[len(errs)-1]; err != nil {
		return fmt.Errorf("%w: containment: %w", ErrState, err)
	}
	if e.meter != nil {
		e.meter.Settle() // a snapshot larger than the budget is evicted down to it
	}
	return nil
}

// parallel runs jobs on up to GOMAXPROCS goroutines and returns their
// results by index.
func parallel(jobs []func() ([]byte, error)) ([][]byte, []error) {
	out, errs := make([][]byte, len(jobs)), make([]error, len(jobs))
	next := atomic.Int32{}
	var wg sync.WaitGroup
	for range min(len(jobs), runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < len(jobs); i = int(next.Add(1)) - 1 {
				out[i], errs[i] = jobs[i]()
			}
		})
	}
	wg.Wait()
	return out, errs
}
