// Package profile learns each agent's behavioural profile from its completed
// sessions and reports sessions that depart from it:
//
//   - unusual_sequence: a first-order Markov model over the agent's tool
//     names (with a START state at session start, add-k smoothing) gives
//     every tool-to-tool transition a surprise −ln p. A session's sequence
//     surprise is the mean surprise of its transitions. At session_end,
//     after Options.WarmupSessions completed sessions, a session whose mean
//     surprise lies Options.SequenceZ or more standard deviations above the
//     agent's exponentially weighted mean of past sessions' mean surprise is
//     reported below models.AlertThreshold (30 at SequenceZ, rising to 45 at
//     twice SequenceZ): an unusual order of tools is a deviation to combine
//     with others in the session, not an alert by itself. The explanation
//     lists the rarest transitions with their probabilities.
//   - session_outlier: each session is summarised as a feature vector
//     (events, tool calls, tool errors, bytes, reasoning steps per tool
//     call, distinct tools, mean transition surprise; counts and bytes on a
//     log1p scale). At session_end, after warm-up, its squared Mahalanobis
//     distance against the agent's last Options.History completed session
//     vectors (covariance shrunk toward its diagonal by Options.Shrinkage)
//     is read on the chi-square scale with k = 7 degrees of freedom; see
//     outlierSeverity for the severity calibration.
//
// The model learns online: each transition is scored before it is counted.
// The inverse covariance is recomputed only when a session completes.
//
// Memory is bounded: the agents' and sessions in flight's bytes are
// accounted to the memory budget (SetMeter; least recently active evicted
// when it is exceeded, a session without judgement, counted in Evictions),
// Options.MaxAgents and MaxSessions are optional ceilings; a session is forgotten at its
// session_end. An agent holds at most Options.MaxToolsPerAgent tool states
// (START included; later tools share one overflow state). Per agent: 320 B
// (feature statistics 170 B included) plus a history row of 7×8 B per
// completed session up to History (3.5 KiB at 64), the inverse covariance
// and mean (456 B) from the second session on, and about 40 B per
// distinct tool name and 16 B per distinct transition seen (at most
// 64×64 transitions, 64 KiB worst case). Per session in flight: about 300 B.
package profile

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync/atomic"
	"unsafe"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/tetherhq/tether/detector/internal/ewstats"
	"github.com/tetherhq/tether/detector/internal/lru"
	"github.com/tetherhq/tether/models"
)

// Name is the detector name recorded on findings.
const Name = "profile"

// Finding kinds.
const (
	KindUnusualSequence = "unusual_sequence"
	KindSessionOutlier  = "session_outlier"
)

// Dims is the number of session features.
const Dims = 7

// featureNames names the session features, in vector order.
var featureNames = [Dims]string{
	"events", "tool_calls", "tool_errors", "bytes",
	"reasoning_per_tool_call", "distinct_tools", "mean_transition_surprise",
}

// logScaled marks features compared on a log1p scale (heavy-tailed counts).
var logScaled = [Dims]bool{true, true, true, true, false, true, false}

// Options configures the profile detector.
type Options struct {
	// WarmupSessions is how many completed sessions an agent needs before
	// any session of it is judged.
	WarmupSessions int
	// Alpha is the smoothing factor of the per-agent EW statistics of
	// session features (and of the mean transition surprise).
	Alpha float64
	// SmoothK is the add-k pseudo-count of the transition model.
	SmoothK float64
	// MinTransitions is how many transitions a session needs before its
	// sequence is judged.
	MinTransitions int
	// SequenceZ is the z-score of a session's mean surprise at which
	// unusual_sequence is reported.
	SequenceZ float64
	// SequenceMinSD floors the standard deviation of past sessions' mean
	// surprise (nats), so an agent with perfectly regular sessions does not
	// report trivially small differences.
	SequenceMinSD float64
	// SequenceSeverity is the severity at SequenceZ; it rises linearly to
	// SequenceMaxSeverity at 2·SequenceZ.
	SequenceSeverity, SequenceMaxSeverity uint8
	// History is the number of completed session vectors kept per agent for
	// the covariance.
	History int
	// Shrinkage is λ in Σ' = (1−λ)Σ + λ·diag(Σ).
	Shrinkage float64
	// MinVariance floors each feature's variance (in its scaled units).
	MinVariance float64
	// OutlierP is the chi-square tail probability below which a session is
	// reported as session_outlier.
	OutlierP float64
	// OutlierMaxSeverity caps session_outlier (see outlierSeverity).
	OutlierMaxSeverity uint8
	// MaxAgents bounds the tracked agents (least recently active evicted).
	MaxAgents int
	// MaxToolsPerAgent bounds the tool states per agent, START included.
	// At most 64 (a session's distinct tools are a 64-bit mask).
	MaxToolsPerAgent int
	// MaxSessions bounds the sessions in flight (least recently active
	// evicted, without judgement).
	MaxSessions int
}

// DefaultOptions returns the production settings: 20 sessions of warm-up
// (enough for a 7-dimensional shrunk covariance to be meaningful); α = 0.05
// (an effective memory of about 20 sessions, matching warm-up); add-½
// smoothing (Jeffreys prior); sequences of at least 3 transitions judged at
// z ≥ 3 with the spread floored at 0.1 nats, severity 30 → 45 at z = 6;
// a history of 64 session vectors with λ = 0.2 shrinkage (a fixed amount
// suited to 20–64 samples in 7 dimensions) and variances floored at 0.05
// (a 0.22 standard deviation on the log1p scale, about a quarter of a
// doubling); session_outlier below p = 1e-3, capped at 45 (informational:
// on the AgentDojo replay, capped at 60 and compounded, it raised hijacked
// FPR at the threshold 0.091 → 0.104 and lowered AUROC 0.736 → 0.731 —
// its findings fell almost only on benign sessions of agents whose tasks
// vary by design — so until a deployment shows otherwise a session
// profile outlier is a record for review, not alert evidence; the engine
// also excludes this detector from session compounding); 10 000 agents,
// 64 tools per agent, 100 000 sessions in flight.
func DefaultOptions() Options {
	return Options{
		WarmupSessions:      20,
		Alpha:               0.05,
		SmoothK:             0.5,
		MinTransitions:      3,
		SequenceZ:           3,
		SequenceMinSD:       0.1,
		SequenceSeverity:    30,
		SequenceMaxSeverity: 45,
		History:             64,
		Shrinkage:           0.2,
		MinVariance:         0.05,
		OutlierP:            1e-3,
		OutlierMaxSeverity:  45,
		MaxAgents:           0,
		MaxToolsPerAgent:    64,
		MaxSessions:         0,
	}
}

// startState is the transition-model state before a session's first tool.
const startState = 0

// agentState is one agent's learned profile, kept compact for the many
// agents that are idle most of the time: tool states are looked up in
// names (at most MaxToolsPerAgent, usually a handful), transition counts
// are a slice sorted by key, the history ring grows a row at a time up to
// History rows, and the covariance is allocated once two sessions exist.
type agentState struct {
	names    []string     // state index → tool name ("START" at 0)
	trans    []transCount // sorted by key
	rowTotal []uint32

	completed int
	surprise  ewstats.Stats // of past sessions' mean surprise
	feats     [Dims]ewstats.Stats

	ring   []float64 // ringN (up to History) rows of Dims, row-major
	ringN  int       // rows filled
	ringAt int       // next row to overwrite
	cov    *covState // nil until the ring has two rows
}

// transCount is the count of one transition, keyed from<<8|to.
type transCount struct {
	key uint16
	n   uint32
}

// covState is the mean and shrunk inverse covariance of an agent's ring.
type covState struct {
	mean  [Dims]float64
	inv   [Dims * Dims]float64
	invOK bool
}

type rareTransition struct {
	from, to uint8
	p        float64
	evID     string
}

// sessState is one session in flight.
type sessState struct {
	key      sessKey
	prev     uint8
	events   int32
	calls    int32
	errors   int32
	reason   int32
	nTrans   int32
	bytes    int64
	toolMask uint64
	sumSurp  float64
	maxSurp  float64
	rare     [3]rareTransition
	lastID   string
	// owner is the agent state the session's tool-state indexes (prev,
	// rare) refer to. When the agent is evicted while the session is in
	// flight and then tracked afresh, the indexes are stale and are reset.
	owner *agentState
}

// evictedOwner is the owner of sessions restored from a snapshot whose
// agent state had already been replaced (see sessState.owner).
var evictedOwner = &agentState{}

type sessKey struct{ agent, session string }

// Detector is the profile detector. It is not safe for concurrent use.
type Detector struct {
	opts      Options
	agents    *lru.LRU[*agentState] // pointers: sessions compare their owner
	sessions  *lru.Cache[sessKey, sessState]
	evictions *atomic.Uint64
	chi       distuv.ChiSquared
	// scratch
	vec, diff, tmp [Dims]float64
	col            []float64 // one column of the history, reused
}

// New returns a profile detector.
func New(opts Options) *Detector {
	if opts.MaxToolsPerAgent > 64 || opts.MaxToolsPerAgent < 2 {
		opts.MaxToolsPerAgent = 64
	}
	if opts.History < 2 {
		opts.History = 2
	}
	d := &Detector{opts: opts, evictions: new(atomic.Uint64), chi: distuv.ChiSquared{K: Dims}}
	d.agents, d.sessions = d.tables(limit(opts.MaxAgents), limit(opts.MaxSessions))
	return d
}

// limit is the table cap of a Max… option (≤ 0: unbounded).
func limit(n int) int {
	if n <= 0 {
		return math.MaxInt
	}
	return n
}

func (d *Detector) tables(agents, sessions int) (*lru.LRU[*agentState], *lru.Cache[sessKey, sessState]) {
	a, s := lru.New[*agentState](agents), lru.NewKeyed[sessKey, sessState](sessions)
	a.CountInto(d.evictions)
	s.CountInto(d.evictions)
	return a, s
}

// SetMeter implements detector.Bounded: an agent is its state with the
// tool names, transition counts, history ring and covariance (each
// completed session adds a row to the ring up to History rows); a session
// in flight its ids.
func (d *Detector) SetMeter(m *lru.Meter) {
	d.agents.Metered(m, Name+"/agents", agentBytes)
	d.sessions.Metered(m, Name+"/sessions", func(k sessKey, s *sessState) int {
		return lru.String(k.agent) + lru.String(k.session) + lru.String(s.lastID)
	})
}

func agentBytes(id string, a **agentState) int {
	st := *a
	if st == nil || st == evictedOwner {
		return lru.String(id)
	}
	n := lru.Alloc(int(unsafe.Sizeof(*st))) + lru.String(id) + lru.Slice(st.names) + lru.Slice(st.trans) +
		lru.Slice(st.rowTotal) + lru.Slice(st.ring)
	for _, name := range st.names {
		n += lru.String(name)
	}
	if st.cov != nil {
		n += lru.Alloc(int(unsafe.Sizeof(*st.cov)))
	}
	return n
}

// Evictions implements detector.Bounded.
func (d *Detector) Evictions() uint64 { return d.evictions.Load() }

// Name implements detector.Detector.
func (d *Detector) Name() string { return Name }

// Observe implements detector.Detector.
func (d *Detector) Observe(ev *models.Event, _ *models.AgentSpec, emit func(models.Finding)) {
	a := d.agent(ev.AgentID)
	s := d.session(ev.AgentID, ev.SessionID)
	if s.owner != a {
		if s.owner != nil {
			// The agent was evicted and re-created mid-session: the
			// session's tool-state indexes belong to the old table.
			s.prev, s.rare = startState, [3]rareTransition{}
		}
		s.owner = a
	}
	s.events++
	s.lastID = ev.ID
	s.bytes += ev.Bytes + int64(len(ev.Arguments)) + int64(len(ev.Result))
	switch ev.Kind {
	case models.KindReasoning:
		s.reason++
	case models.KindToolResult:
		if ev.Error != "" {
			s.errors++
		}
	case models.KindToolCall:
		s.calls++
		to := a.toolIndex(ev.ToolName, d.opts.MaxToolsPerAgent)
		s.toolMask |= 1 << to
		p := a.prob(s.prev, to, d.opts.SmoothK)
		sur := -math.Log(p)
		s.sumSurp += sur
		s.nTrans++
		s.maxSurp = max(s.maxSurp, sur)
		s.noteRare(rareTransition{from: s.prev, to: to, p: p, evID: ev.ID})
		a.count(s.prev, to)
		s.prev = to
	case models.KindSessionEnd:
		d.end(a, s, emit)
	}
}

func (d *Detector) agent(id string) *agentState {
	a, created := d.agents.Put(id)
	if created {
		*a = &agentState{names: startNames, rowTotal: []uint32{0}}
	}
	return *a
}

func (d *Detector) session(agent, id string) *sessState {
	k := sessKey{agent, id}
	s, created := d.sessions.Put(k)
	if created {
		*s = sessState{key: k, prev: startState}
	}
	return s
}

// startNames is the tool-state table of a new agent, shared until its
// first tool is added (append copies it then: its capacity is 1).
var startNames = []string{"START"}

// toolIndex returns the state of a tool, adding it while there is room;
// once the table is full every new tool shares the last state.
func (a *agentState) toolIndex(name string, maxTools int) uint8 {
	for i, n := range a.names[1:] {
		if n == name {
			return uint8(i + 1)
		}
	}
	if len(a.names) >= maxTools {
		return uint8(maxTools - 1)
	}
	i := uint8(len(a.names))
	a.names = append(a.names, name)
	a.rowTotal = append(a.rowTotal, 0)
	return i
}

// toolState returns the state of a known tool, or false.
func (a *agentState) toolState(name string) (uint8, bool) {
	for i, n := range a.names[1:] {
		if n == name {
			return uint8(i + 1), true
		}
	}
	return 0, false
}

// findTrans returns the position of key in a.trans and whether it is there.
func (a *agentState) findTrans(key uint16) (int, bool) {
	return slices.BinarySearchFunc(a.trans, key, func(t transCount, k uint16) int { return int(t.key) - int(k) })
}

// prob is the add-k smoothed p(to | from) over the known states plus one
// slot for a state not yet seen.
func (a *agentState) prob(from, to uint8, k float64) float64 {
	c := 0.0
	if i, ok := a.findTrans(uint16(from)<<8 | uint16(to)); ok {
		c = float64(a.trans[i].n)
	}
	v := float64(len(a.names)) // known tool states (START excluded) + one unseen slot
	return (c + k) / (float64(a.rowTotal[from]) + k*v)
}

func (a *agentState) count(from, to uint8) {
	key := uint16(from)<<8 | uint16(to)
	i, ok := a.findTrans(key)
	if !ok {
		a.trans = slices.Insert(a.trans, i, transCount{key: key})
	}
	if a.trans[i].n < math.MaxUint32 {
		a.trans[i].n++
		a.rowTotal[from]++
	}
}

// noteRare keeps the three least probable transitions of the session.
func (s *sessState) noteRare(r rareTransition) {
	worst := 0
	for i := range s.rare {
		if s.rare[i].evID == "" {
			s.rare[i] = r
			return
		}
		if s.rare[i].p > s.rare[worst].p {
			worst = i
		}
	}
	if r.p < s.rare[worst].p {
		s.rare[worst] = r
	}
}

// vector fills d.vec with the session's scaled features.
func (d *Detector) vector(s *sessState) {
	meanSurp := 0.0
	if s.nTrans > 0 {
		meanSurp = s.sumSurp / float64(s.nTrans)
	}
	raw := [Dims]float64{float64(s.events), float64(s.calls), float64(s.errors), float64(s.bytes),
		float64(s.reason) / float64(max(s.calls, 1)), float64(bits.OnesCount64(s.toolMask)), meanSurp}
	for i, x := range raw {
		if logScaled[i] {
			x = math.Log1p(x)
		}
		d.vec[i] = x
	}
}

// end judges a completed session, then folds it into the agent's profile.
func (d *Detector) end(a *agentState, s *sessState, emit func(models.Finding)) {
	d.sessions.Delete(s.key) // s stays valid: Delete does not reuse the entry
	d.vector(s)
	if a.completed >= d.opts.WarmupSessions {
		d.judgeSequence(a, s, emit)
		d.judgeOutlier(a, s, emit)
	}
	a.completed++
	if s.nTrans > 0 {
		a.surprise.Add(s.sumSurp/float64(s.nTrans), d.opts.Alpha)
	}
	for i := range Dims {
		a.feats[i].Add(d.vec[i], d.opts.Alpha)
	}
	d.push(a)
}

func (d *Detector) judgeSequence(a *agentState, s *sessState, emit func(models.Finding)) {
	if int(s.nTrans) < d.opts.MinTransitions || a.surprise.N == 0 {
		return
	}
	m := s.sumSurp / float64(s.nTrans)
	sd := max(a.surprise.StdDev(), d.opts.SequenceMinSD)
	z := (m - a.surprise.Mean) / sd
	if z < d.opts.SequenceZ {
		return
	}
	sev := float64(d.opts.SequenceSeverity) + float64(d.opts.SequenceMaxSeverity-d.opts.SequenceSeverity)*min(1, (z-d.opts.SequenceZ)/d.opts.SequenceZ)
	rare := slices.Clone(s.rare[:])
	rare = slices.DeleteFunc(rare, func(r rareTransition) bool { return r.evID == "" })
	slices.SortFunc(rare, func(x, y rareTransition) int {
		switch {
		case x.p < y.p:
			return -1
		case x.p > y.p:
			return 1
		}
		return 0
	})
	var b strings.Builder
	fmt.Fprintf(&b, "tool sequence mean surprise %.2f nats over %d transitions is z=%.1f above this agent's baseline %.2f±%.2f; rarest transitions:", m, s.nTrans, z, a.surprise.Mean, sd)
	ids := make([]string, 0, len(rare))
	for i, r := range rare {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %s→%s p=%.3f", a.names[r.from], a.names[r.to], r.p)
		ids = append(ids, r.evID)
	}
	emit(models.Finding{
		Kind:        KindUnusualSequence,
		Severity:    uint8(math.Round(sev)),
		Confidence:  d.confidence(a),
		Explanation: b.String(),
		EvidenceIDs: ids,
		Features: []models.Feature{
			{Name: "mean_transition_surprise", Observed: m, Baseline: a.surprise.Mean, Spread: sd},
			{Name: "max_transition_surprise", Observed: s.maxSurp},
		},
	})
}

// confidence grows with the agent's history, from 0.5 at warm-up to 0.9.
func (d *Detector) confidence(a *agentState) float64 {
	return 0.5 + 0.4*min(1, float64(a.ringN)/float64(d.opts.History))
}

func (d *Detector) judgeOutlier(a *agentState, s *sessState, emit func(models.Finding)) {
	if a.cov == nil || !a.cov.invOK {
		return
	}
	for i := range Dims {
		d.diff[i] = d.vec[i] - a.cov.mean[i]
	}
	d2 := 0.0
	for i := range Dims {
		t := 0.0
		for j := range Dims {
			t += a.cov.inv[i*Dims+j] * d.diff[j]
		}
		d.tmp[i] = d.diff[i] * t // contribution of dimension i; sums to d2
		d2 += d.tmp[i]
	}
	p := d.chi.Survival(d2)
	sev, ok := outlierSeverity(p, d.opts.OutlierP, d.opts.OutlierMaxSeverity)
	if !ok {
		return
	}
	order := []int{0, 1, 2, 3, 4, 5, 6}
	slices.SortFunc(order, func(x, y int) int {
		switch {
		case d.tmp[x] > d.tmp[y]:
			return -1
		case d.tmp[x] < d.tmp[y]:
			return 1
		}
		return 0
	})
	var feats []models.Feature
	var b strings.Builder
	fmt.Fprintf(&b, "session profile is a multivariate outlier for this agent: Mahalanobis distance² %.1f (χ²₇ p=%.1e) against its last %d sessions; top dimensions:", d2, p, a.ringN)
	for _, i := range order[:3] {
		if d.tmp[i] <= 0 {
			break
		}
		obs, base, sd := d.vec[i], a.feats[i].Mean, a.feats[i].StdDev()
		name := featureNames[i]
		if logScaled[i] {
			name += "_log1p"
		}
		feats = append(feats, models.Feature{Name: name, Observed: obs, Baseline: base, Spread: sd})
		fmt.Fprintf(&b, " %s %.2f vs %.2f±%.2f (%.0f%% of distance);", name, obs, base, sd, 100*d.tmp[i]/d2)
	}
	emit(models.Finding{
		Kind:        KindSessionOutlier,
		Severity:    sev,
		Confidence:  d.confidence(a),
		Explanation: strings.TrimSuffix(b.String(), ";"),
		EvidenceIDs: []string{s.lastID},
		Features:    feats,
	})
}

// outlierSeverity maps a chi-square tail probability to a severity: nothing
// above pMin (1e-3 by default: about one benign session in a thousand under
// the Gaussian model), 30 at pMin, +20 per decade below it, so only
// p < 1e-4 could reach models.AlertThreshold (50); capped at maxSev
// (Options.OutlierMaxSeverity, 45 by default: informational, see
// DefaultOptions).
func outlierSeverity(p, pMin float64, maxSev uint8) (uint8, bool) {
	if p >= pMin || pMin <= 0 {
		return 0, false
	}
	decades := math.Log10(pMin) - math.Log10(max(p, 1e-300))
	sev := min(30+20*decades, float64(maxSev))
	return uint8(math.Round(sev)), true
}

// push adds d.vec to the agent's history ring and recomputes the shrunk
// inverse covariance (O(History·Dims² + Dims³), once per session).
func (d *Detector) push(a *agentState) {
	if a.ringN < d.opts.History {
		// still filling: ringAt == ringN, the new row is appended (one
		// row first: most agents of a fleet have few sessions; then grown
		// by doubling up to the full History rows)
		if len(a.ring)+Dims > cap(a.ring) {
			grown := make([]float64, len(a.ring), min(max(2*cap(a.ring), Dims), d.opts.History*Dims))
			copy(grown, a.ring)
			a.ring = grown
		}
		a.ring = a.ring[:len(a.ring)+Dims]
	}
	copy(a.ring[a.ringAt*Dims:], d.vec[:])
	a.ringAt = (a.ringAt + 1) % d.opts.History
	a.ringN = min(a.ringN+1, d.opts.History)
	if a.cov != nil {
		a.cov.invOK = false
	}
	if a.ringN < 2 {
		return
	}
	if a.cov == nil {
		a.cov = new(covState)
	}
	x := mat.NewDense(a.ringN, Dims, a.ring[:a.ringN*Dims])
	var cov mat.SymDense
	stat.CovarianceMatrix(&cov, x, nil)
	lam := d.opts.Shrinkage
	if cap(d.col) < a.ringN {
		d.col = make([]float64, a.ringN)
	}
	col := d.col[:a.ringN]
	for i := range Dims {
		a.cov.mean[i] = stat.Mean(mat.Col(col, i, x), nil)
		for j := i; j < Dims; j++ {
			v := cov.At(i, j)
			if i == j {
				v = max(v, d.opts.MinVariance)
			} else {
				v *= 1 - lam
			}
			cov.SetSym(i, j, v)
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(&cov) {
		return
	}
	var inv mat.SymDense
	if err := ch.InverseTo(&inv); err != nil {
		return
	}
	for i := range Dims {
		for j := range Dims {
			a.cov.inv[i*Dims+j] = inv.At(i, j)
		}
	}
	a.cov.invOK = true
}
