// Package semantic scores each tool call and reasoning step of a registered
// agent against its inventory entry — the declared purpose, the declared
// tools' labels and data classes — and against the user's request of the
// session, and reports semantic deviation from the declared purpose:
//
//   - data_class_outside_manifest: an event touches a data class
//     (Event.DataClasses) that no tool of the agent's manifest declares.
//     Like tool_outside_manifest this breaches a declaration, so it needs no
//     warm-up (severity 55, at the alert threshold). Reported once per
//     session and class. A manifest that declares no data class at all has
//     made no declaration to breach, and is not judged.
//   - action_beyond_purpose: a call of a tool labelled public_sink or
//     destructive although the declared purpose contains none of that
//     label's verbs (see actionVerbs: a generic lexicon of kinds of action,
//     e.g. send/post/share for sinks, delete/pay/update for destructive
//     tools). The purpose text is a coarse declaration and the lexicon
//     cannot be complete, so this is weak evidence (severity 35), once per
//     session and tool.
//   - off_task_action: a public_sink or destructive call whose arguments
//     (their string values) are lexically unrelated to both the user's
//     request and the declared purpose: TF-IDF cosine below OffTaskFloor to
//     each, with at least MinTokens tokens to judge. Injected goals tend to
//     carry their own vocabulary; but legitimate calls also compose new text,
//     so this is sub-threshold (severity 40), once per session and tool.
//   - semantic_unknown: a sink or destructive call could not be judged (no
//     declared purpose, no user request, or too little argument text). An
//     unjudged call is "unknown", never "fine": every finding carries the
//     feature semantic_known (1 judged, 0 not), unknown calls are counted per
//     session, and the first unknown risky call of a session yields one
//     informational finding (severity 5).
//
// The text model is a hashed term-frequency vector (feature hashing into
// 2^DimBits buckets) with IDF weights learned online from every text the
// engine's partition vectorises (requests, tool arguments, reasoning), and
// cosine similarity (see Vectoriser). Reasoning steps are scored against
// purpose and request too; their similarities are kept as session
// statistics and reported as features, not as findings of their own.
//
// Events of unregistered agents are not judged (identity reports them).
//
// Memory is bounded: the vectoriser holds 4·2^DimBits bytes (16 KiB by
// default); per agent the purpose vector (≤ MaxTerms·8 bytes) and its
// declared data classes, about 2 KiB, for at most MaxAgents agents; per
// session the request vector (≤ MaxTerms·8 = 2 KiB by default), a few
// counters and the set of reported tools/classes (≤ 64 entries), about
// 2.5 KiB at most, for at most MaxSessions sessions (a session is dropped at
// session_end). Both tables evict their least recently active entry when
// full, count it (Evictions), and their bytes are accounted to the memory
// budget (SetMeter), which evicts the least recently active when exceeded.
package semantic

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/tetherhq/tether/detector/internal/lru"
	"github.com/tetherhq/tether/models"
)

// Name is the detector name recorded on findings.
const Name = "semantic"

// Finding kinds.
const (
	KindDataClassOutsideManifest = "data_class_outside_manifest"
	KindActionBeyondPurpose      = "action_beyond_purpose"
	KindOffTaskAction            = "off_task_action"
	KindUnknown                  = "semantic_unknown"
)

// Options configures the semantic detector.
type Options struct {
	// DimBits is log2 of the hashed vector dimension.
	DimBits int
	// MaxTerms bounds the distinct buckets of one vector.
	MaxTerms int
	// MaxDocs is the document count at which learned document frequencies
	// are halved, so IDF follows recent traffic.
	MaxDocs uint32
	// MaxScanBytes bounds how much argument or message text is read.
	MaxScanBytes int
	// MaxSessions and MaxAgents bound the state tables.
	MaxSessions int
	MaxAgents   int
	// MaxReported bounds the per-session set of tools and classes already
	// reported (later ones are still judged but not de-duplicated).
	MaxReported int
	// MinTokens is the fewest argument tokens a call needs to be judged for
	// off_task_action: below it a cosine is dominated by chance.
	MinTokens int
	// OffTaskFloor is the cosine below which arguments count as unrelated.
	// 0.05 means essentially no shared weighted vocabulary: one shared
	// common term among ~20 already lifts the cosine above it, and random
	// hash collisions among 2^12 buckets stay well below it.
	OffTaskFloor float64
	// Severities. DataClass is a declaration breach (at the alert
	// threshold, like tool_outside_manifest but weaker: data classes are
	// tagged by the runtime, less reliably than tool names). BeyondPurpose
	// and OffTask are lexical judgements, sub-threshold; OffTask is the
	// stronger because it is about this session's own text. Unknown is
	// informational.
	SeverityDataClass     uint8
	SeverityBeyondPurpose uint8
	SeverityOffTask       uint8
	SeverityUnknown       uint8
	// Lexicon is the purpose verb lexicon (nil: the default ruleset's).
	Lexicon *Lexicon
}

// DefaultOptions returns the production settings.
func DefaultOptions() Options {
	return Options{
		DimBits:               12,
		MaxTerms:              256,
		MaxDocs:               1 << 20,
		MaxScanBytes:          16 << 10,
		MaxSessions:           0,
		MaxAgents:             0,
		MaxReported:           64,
		MinTokens:             6,
		OffTaskFloor:          0.05,
		SeverityDataClass:     55,
		SeverityBeyondPurpose: 35,
		SeverityOffTask:       40,
		SeverityUnknown:       5,
	}
}

// agentState caches what the detector derives from an inventory entry.
type agentState struct {
	purpose      string // the purpose text the cache was built from
	vec          Vector
	classes      []string // declared data classes, sorted, distinct
	sink, destr  bool     // the purpose calls for public_sink / destructive tools
	anyDeclClass bool     // (the flags together: a table entry of 112 B, not 128)
}

// declares reports whether the agent's manifest declares data class c.
func (a *agentState) declares(c string) bool {
	_, ok := slices.BinarySearch(a.classes, c)
	return ok
}

// sessionState is one session's request and statistics.
type sessionState struct {
	request        Vector
	hasRequest     bool
	calls          int     // tool calls scored against the request
	sumReq, minReq float64 // their similarity to the request
	reasoning      int
	sumReasonPurp  float64
	unknown        int // risky calls that could not be judged
	unknownEmitted bool
	reported       map[string]struct{}
}

// Detector is the semantic detector of one engine (one partition).
type Detector struct {
	opts      Options
	z         *Vectoriser
	agents    *lru.LRU[agentState]
	sessions  *lru.LRU[sessionState]
	evictions *atomic.Uint64
	text      []byte // scratch: extracted argument text
	vec       Vector // scratch: the current event's vector
	// purposes interns purpose vectors: the agents of one purpose share
	// one (vectors are never modified once stored). A cache, not state:
	// an agent keeps its vector when the purpose leaves it.
	purposes *lru.LRU[Vector]
}

// maxPurposes bounds the interned purpose vectors.
const maxPurposes = 1024

// purposeVector returns the stored vector of purpose, equal to v (the
// purpose's vector, built in scratch space), interning a copy of v.
func (d *Detector) purposeVector(purpose string, v Vector) Vector {
	if len(v) == 0 {
		return nil
	}
	pv, created := d.purposes.Put(purpose)
	if created || !slices.Equal(*pv, v) {
		*pv = slices.Clone(v)
	}
	return *pv
}

// New returns a Detector.
func New(opts Options) *Detector {
	def := DefaultOptions()
	if opts.DimBits == 0 {
		opts = def
	}
	if opts.Lexicon == nil {
		opts.Lexicon = defaultLexicon
	}
	d := &Detector{opts: opts, z: NewVectoriser(opts.DimBits, opts.MaxTerms, opts.MaxDocs), evictions: new(atomic.Uint64),
		purposes: lru.New[Vector](maxPurposes)}
	d.agents, d.sessions = d.tables(opts.MaxAgents, opts.MaxSessions)
	return d
}

func (d *Detector) tables(agents, sessions int) (*lru.LRU[agentState], *lru.LRU[sessionState]) {
	a, s := lru.New[agentState](agents), lru.New[sessionState](sessions)
	a.CountInto(d.evictions)
	s.CountInto(d.evictions)
	return a, s
}

// SetMeter implements detector.Bounded: an agent is its id and declared
// classes (its purpose vector is shared by the agents of one purpose and
// accounted once, in the purposes table, a cache of derived vectors), a
// session its id, request vector and reported set.
func (d *Detector) SetMeter(m *lru.Meter) {
	d.agents.Metered(m, Name+"/agents", func(id string, a *agentState) int {
		return lru.String(id) + lru.Slice(a.classes)
	})
	d.sessions.Metered(m, Name+"/sessions", func(id string, s *sessionState) int {
		n := lru.String(id) + lru.Slice(s.request) + lru.Map[string, struct{}](len(s.reported))
		for k := range s.reported {
			n += lru.String(k)
		}
		return n
	})
	d.purposes.Metered(m, Name+"/purposes", func(text string, v *Vector) int { return lru.String(text) + lru.Slice(*v) })
}

// Evictions implements detector.Bounded.
func (d *Detector) Evictions() uint64 { return d.evictions.Load() }

// Name implements detector.Detector.
func (d *Detector) Name() string { return Name }

func (d *Detector) agent(a *models.AgentSpec) *agentState {
	st, created := d.agents.Put(a.ID)
	if !created && st.purpose == a.Purpose {
		return st
	}
	*st = agentState{purpose: a.Purpose}
	// the purpose still counts as a document (IDF) every time an agent's
	// state is built; agents of one purpose share its vector
	d.vec = d.z.Vectorise(d.vec, truncate(a.Purpose, d.opts.MaxScanBytes), true)
	st.vec = d.purposeVector(a.Purpose, d.vec)
	st.sink, st.destr = d.opts.Lexicon.PurposeCalls(a.Purpose)
	for _, t := range a.Tools {
		for _, c := range t.DataClasses {
			st.classes = append(st.classes, c)
			st.anyDeclClass = true
		}
	}
	slices.Sort(st.classes)
	st.classes = slices.Clip(slices.Compact(st.classes))
	return st
}

func (d *Detector) session(id string) *sessionState {
	st, created := d.sessions.Put(id)
	if created {
		*st = sessionState{minReq: 1}
	}
	return st
}

// once reports whether key has not been reported in the session yet, and
// records it.
func (d *Detector) once(s *sessionState, key string) bool {
	if _, ok := s.reported[key]; ok {
		return false
	}
	if s.reported == nil {
		s.reported = map[string]struct{}{}
	}
	if len(s.reported) < d.opts.MaxReported {
		s.reported[key] = struct{}{}
	}
	return true
}

// Observe implements detector.Detector.
func (d *Detector) Observe(ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
	if ev.Kind == models.KindSessionEnd {
		d.sessions.Delete(ev.SessionID)
		return
	}
	if agent == nil {
		return
	}
	as := d.agent(agent)
	s := d.session(ev.SessionID)
	if len(ev.DataClasses) > 0 && as.anyDeclClass {
		d.checkClasses(ev, as, s, emit)
	}
	switch ev.Kind {
	case models.KindSessionStart, models.KindMessage:
		if !s.hasRequest && ev.Content != "" && (ev.Kind == models.KindSessionStart || ev.Role == models.RoleUser) {
			s.request = d.z.Vectorise(nil, truncate(ev.Content, d.opts.MaxScanBytes), true)
			s.hasRequest = len(s.request) > 0
		}
	case models.KindReasoning:
		if ev.Content == "" {
			return
		}
		d.vec = d.z.Vectorise(d.vec, truncate(ev.Content, d.opts.MaxScanBytes), true)
		if len(as.vec) > 0 {
			s.reasoning++
			s.sumReasonPurp += d.z.Cosine(d.vec, as.vec)
		}
	case models.KindToolCall:
		d.toolCall(ev, agent, as, s, emit)
	}
}

func (d *Detector) checkClasses(ev *models.Event, as *agentState, s *sessionState, emit func(models.Finding)) {
	for _, c := range ev.DataClasses {
		if as.declares(c) || !d.once(s, "class:"+c) {
			continue
		}
		declared := as.classes
		emit(models.Finding{
			Kind:       KindDataClassOutsideManifest,
			Subject:    c, // one event can touch several undeclared classes
			Severity:   d.opts.SeverityDataClass,
			Confidence: 0.8,
			Explanation: fmt.Sprintf("%s touches data class %q, which no tool in the agent's manifest declares (declared: %s)",
				describe(ev), c, strings.Join(declared, ", ")),
			Features: []models.Feature{
				{Name: "undeclared_data_class", Observed: 1, Baseline: 0},
				{Name: "declared_data_classes", Observed: float64(len(as.classes))},
			},
		})
	}
}

func describe(ev *models.Event) string {
	if ev.ToolName != "" {
		return fmt.Sprintf("%s of %s", ev.Kind, ev.ToolName)
	}
	return string(ev.Kind)
}

func (d *Detector) toolCall(ev *models.Event, agent *models.AgentSpec, as *agentState, s *sessionState, emit func(models.Finding)) {
	d.text = appendStringValues(d.text[:0], ev.Arguments, d.opts.MaxScanBytes)
	d.vec = d.z.Vectorise(d.vec, string(d.text), true) // string(): no escape, no alloc
	simReq, simPurp := -1.0, -1.0
	if s.hasRequest && len(d.vec) > 0 {
		simReq = d.z.Cosine(d.vec, s.request)
		s.calls++
		s.sumReq += simReq
		s.minReq = min(s.minReq, simReq)
	}
	if len(as.vec) > 0 && len(d.vec) > 0 {
		simPurp = d.z.Cosine(d.vec, as.vec)
	}
	spec := agent.Tool(ev.ToolName)
	if spec == nil {
		return // undeclared tools are baseline's tool_outside_manifest
	}
	sink, destr := spec.Has(models.LabelPublicSink), spec.Has(models.LabelDestructive)
	if !sink && !destr {
		return
	}
	tokens := d.vec.Tokens()
	purposeKnown := strings.TrimSpace(agent.Purpose) != ""

	// Manifest: risky label the purpose does not call for.
	if purposeKnown {
		var beyond []string
		if sink && !as.sink {
			beyond = append(beyond, string(models.LabelPublicSink))
		}
		if destr && !as.destr {
			beyond = append(beyond, string(models.LabelDestructive))
		}
		if len(beyond) > 0 && d.once(s, "beyond:"+ev.ToolName) {
			emit(models.Finding{
				Kind:       KindActionBeyondPurpose,
				Severity:   d.opts.SeverityBeyondPurpose,
				Confidence: 0.4,
				Explanation: fmt.Sprintf("call of %s (%s) although the declared purpose %q names no %s action",
					ev.ToolName, strings.Join(beyond, ", "), clip(agent.Purpose, 120), strings.Join(beyond, " or ")),
				Features: append(d.features(s, simReq, simPurp, tokens, true),
					models.Feature{Name: "purpose_calls_for_label", Observed: 0, Baseline: 1}),
			})
		}
	}

	// Text drift: judged only with enough text and both references.
	judgeable := tokens >= d.opts.MinTokens && simReq >= 0 && simPurp >= 0
	if !judgeable {
		s.unknown++
		if !s.unknownEmitted {
			s.unknownEmitted = true
			emit(models.Finding{
				Kind:       KindUnknown,
				Severity:   d.opts.SeverityUnknown,
				Confidence: 1,
				Explanation: fmt.Sprintf("risky call of %s could not be judged against the declared purpose and the user's request (%s); unknown, not benign",
					ev.ToolName, d.unknownReason(s, agent, tokens)),
				Features: d.features(s, simReq, simPurp, tokens, false),
			})
		}
		return
	}
	if simReq < d.opts.OffTaskFloor && simPurp < d.opts.OffTaskFloor && d.once(s, "offtask:"+ev.ToolName) {
		emit(models.Finding{
			Kind:       KindOffTaskAction,
			Severity:   d.opts.SeverityOffTask,
			Confidence: 0.5,
			Explanation: fmt.Sprintf("arguments of risky call %s are lexically unrelated to the user's request (cosine %.3f) and to the declared purpose (cosine %.3f), both below %.2f; top terms: %s",
				ev.ToolName, simReq, simPurp, d.opts.OffTaskFloor, strings.Join(d.topTerms(string(d.text), s.request, as.vec, 5), ", ")),
			Features: d.features(s, simReq, simPurp, tokens, true),
		})
	}
}

func (d *Detector) unknownReason(s *sessionState, agent *models.AgentSpec, tokens int) string {
	var why []string
	if strings.TrimSpace(agent.Purpose) == "" {
		why = append(why, "no declared purpose")
	}
	if !s.hasRequest {
		why = append(why, "no user request seen")
	}
	if tokens < d.opts.MinTokens {
		why = append(why, fmt.Sprintf("%d argument tokens, fewer than %d", tokens, d.opts.MinTokens))
	}
	if len(why) == 0 {
		why = append(why, "no comparable text")
	}
	return strings.Join(why, "; ")
}

// features reports the event's similarities against the session's running
// statistics; an unknown similarity is reported as 0 with semantic_known=0.
func (d *Detector) features(s *sessionState, simReq, simPurp float64, tokens int, known bool) []models.Feature {
	k := 0.0
	if known {
		k = 1
	}
	mean := 0.0
	if s.calls > 0 {
		mean = s.sumReq / float64(s.calls)
	}
	minReq := 0.0
	if s.calls > 0 {
		minReq = s.minReq
	}
	reason := 0.0
	if s.reasoning > 0 {
		reason = s.sumReasonPurp / float64(s.reasoning)
	}
	return []models.Feature{
		{Name: "semantic_known", Observed: k, Baseline: 1},
		{Name: "similarity_to_request", Observed: max(simReq, 0), Baseline: mean},
		{Name: "min_similarity_to_request", Observed: minReq},
		{Name: "similarity_to_purpose", Observed: max(simPurp, 0), Baseline: d.opts.OffTaskFloor},
		{Name: "reasoning_similarity_to_purpose", Observed: reason},
		{Name: "argument_tokens", Observed: float64(tokens), Baseline: float64(d.opts.MinTokens)},
		{Name: "unknown_risky_calls", Observed: float64(s.unknown)},
	}
}

// topTerms returns up to n of text's tokens with the highest IDF weight
// whose buckets are in neither reference vector (for explanations only).
func (d *Detector) topTerms(text string, a, b Vector, n int) []string {
	type tw struct {
		t string
		w float64
	}
	seen := map[string]bool{}
	var ts []tw
	in := func(v Vector, bk uint32) bool {
		_, ok := slices.BinarySearchFunc(v, bk, func(t Term, k uint32) int { return int(t.Bucket) - int(k) })
		return ok
	}
	forEachToken(text, func(tok []byte) {
		s := string(tok)
		if seen[s] {
			return
		}
		seen[s] = true
		bk := hash(tok) & d.z.mask
		if in(a, bk) || in(b, bk) {
			return
		}
		ts = append(ts, tw{s, d.z.IDF(bk)})
	})
	slices.SortStableFunc(ts, func(x, y tw) int { return -cmpFloat(x.w, y.w) })
	out := make([]string, 0, n)
	for i := 0; i < len(ts) && i < n; i++ {
		out = append(out, ts[i].t)
	}
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b || (math.IsNaN(a) && !math.IsNaN(b)):
		return -1
	case a > b:
		return 1
	}
	return 0
}

func truncate(s string, n int) string {
	if n > 0 && len(s) > n {
		return s[:n]
	}
	return s
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// appendStringValues appends the string values (not the keys) of a JSON
// document to dst, separated by spaces, reading at most limit bytes of raw.
// Escape sequences become separators; the caller only tokenises the text.
// It never fails: malformed input yields whatever strings were found.
func appendStringValues(dst, raw []byte, limit int) []byte {
	if limit > 0 && len(raw) > limit {
		raw = raw[:limit]
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '"' {
			continue
		}
		start := len(dst)
		j := i + 1
		for ; j < len(raw) && raw[j] != '"'; j++ {
			if raw[j] == '\\' {
				dst = append(dst, ' ')
				j++
				if j < len(raw) && raw[j] == 'u' {
					j += 4
				}
				continue
			}
			dst = append(dst, raw[j])
		}
		k := j + 1
		for k < len(raw) && (raw[k] == ' ' || raw[k] == '\t' || raw[k] == '\n' || raw[k] == '\r') {
			k++
		}
		if k < len(raw) && raw[k] == ':' { // a key
			dst = dst[:start]
		} else {
			dst = append(dst, ' ')
		}
		i = j
	}
	return dst
}
