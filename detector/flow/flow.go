// Package flow tracks run-time data flow ("taint") inside agent sessions and
// reports values that travel from a dangerous source into a dangerous sink:
//
//   - untrusted_to_sink: a value first seen in the result of a tool labelled
//     untrusted_content (text an outsider can write) is passed to a tool
//     labelled public_sink or destructive, and the user never supplied it.
//     This is the path of an injection-driven sink call. Its severity depends
//     on the source (destructive sinks add 10 except in the directed case):
//     80 when instruction cues surround the value in the source text
//     (instruct.go: text addressing an AI, directives, role claims,
//     imperatives; at least two kinds within ~one paragraph), because a
//     value delivered together with commands to the agent is the signature
//     of a prompt injection; otherwise 45 when the source is user-directed
//     (the tool call that fetched it carried a trusted value: the user named
//     the page, file or channel, so reading a value from it and acting on it
//     is what was asked); otherwise 65 (an outsider's value the user neither
//     supplied nor pointed to, still above the alert threshold).
//   - private_to_sink: a value from the result of a private_data tool is
//     passed to a public_sink tool, unless the agent's manifest declares the
//     flow "private_data->public_sink" in DesignedFlows; a designed flow is
//     recorded as an informational finding (severity 10, "designed=true").
//     The severity depends on the value's position in the call:
//   - PAYLOAD (the private value is carried by the call: in a body, a
//     subject, a list of fields): exfiltration, severity 60.
//   - DESTINATION (the private value is itself where the data or money
//     goes): an argument string that consists of that one value alone
//     and whose class is an address — an e-mail address, a URL or host,
//     a phone/account number, or an IBAN-shaped account id (two letters,
//     two digits, 11–30 more letters or digits). Classified by the
//     value's shape, never by the argument's name. A user asking the
//     agent to pay or reply to someone found in the user's own records
//     makes exactly this flow, so it is not exfiltration by itself:
//     severity 40 (below the alert threshold) when every private source
//     of the value was user-directed (its call named a user-supplied
//     value, as for untrusted sources) and no instruction cues surround
//     it; 75 when instruction cues surround the value in a private
//     source (outsider-written text — a transaction subject, a shared
//     file, a received e-mail — sits inside private stores too, so
//     instruct.go scans private_data results as well: an address planted
//     there next to commands is the signature of an injection steering a
//     payment or a mail); otherwise 55 (not user-directed, no cues).
//     A call with several private values takes the highest of these.
//     When the sink call's destination is a trusted value (a recipient-like
//     value of the call — address, account, URL, number — that the user
//     supplied), the user chose where the data goes and the severity is 40,
//     below the alert threshold, unless an instructed private destination
//     (75) is also present.
//   - unexplained_destination: a recipient-like value (e-mail, URL, host,
//     number, account id) in a sink or destructive call that appears neither
//     in the user's messages nor in any tool result of the session (severity
//     40: below models.AlertThreshold on its own). It needs user or system
//     input to have been seen in the session (or an ancestor): without the
//     request there is no basis to call a destination unexplained.
//   - instructed_call: instruction-following from data. On ANY tool call of
//     a registered agent (not only sinks and destructive tools, and tools
//     the manifest does not list), an argument carries a value that is
//     "instructed" — it entered the session in the result of an
//     untrusted_content or private_data tool with instruction cues
//     (instruct.go, at least InstructMin kinds within InstructWindow)
//     around it — and that is not trusted (the user's and system input do
//     not contain it). An agent acting on instructions embedded in data is
//     the definition of an indirect prompt injection taking effect, whether
//     or not the call moves data to a sink (fetching an attacker's link with
//     a reading tool, calling any tool with attacker-chosen values):
//     severity 70 when some instructed source of the value was not
//     user-directed; 40 (informational, below the alert threshold) when
//     every instructed source was (the user pointed the agent at that
//     content: "do the tasks on this page"). Reported once per session per
//     (tool, value). When the same call also yields untrusted_to_sink or
//     private_to_sink, only the stronger finding is emitted (ties keep the
//     flow finding; a declared designed flow keeps its informational
//     finding and suppresses instructed_call); unexplained_destination
//     findings of the call are kept. Evidence: the source result(s), then
//     the call; the explanation names the source tool and result, the cue
//     kinds near the value, the target tool, argument and redacted value.
//     Options.InstructedCall switches the finding off.
//
// Values are the distinctive tokens Extract finds (see Class). A session's
// trusted values are those in its user and system messages and its initial
// request (session_start content); a value the user supplied is accounted
// for and never tainted. Judgement needs capability labels: events of
// unregistered agents are not judged, and calls of tools without sink or
// destructive labels only for instructed_call.
//
// Delegation: an agent_spawn links the child session to the parent session.
// A child sees its ancestors' trusted and tainted values, and values the
// child reads are also recorded in its ancestors, so a path split across a
// parent and a sub-agent is found. A child's own user/system messages are
// written by its parent agent, so they are not trusted.
//
// Memory is bounded: per session at most MaxValues observed values and
// MaxTrusted trusted values (oldest evicted first), each at most
// MaxValueLen bytes; at most MaxSessions sessions (least recently active
// evicted first; a session is dropped at session_end). With the defaults a
// session holds at most (512+256) values of ≤ 96 bytes plus about 120 bytes
// of map and bookkeeping overhead each: ≤ 170 KiB, typically a few KiB.
package flow

import (
	"bytes"
	"container/list"
	"slices"
	"strconv"
	"strings"

	"github.com/tetherhq/tether/models"
)

// Name is the detector name recorded on findings.
const Name = "flow"

// Finding kinds.
const (
	KindUntrustedToSink        = "untrusted_to_sink"
	KindPrivateToSink          = "private_to_sink"
	KindUnexplainedDestination = "unexplained_destination"
	KindInstructedCall         = "instructed_call"
)

// Designed flow names matched against models.AgentSpec.DesignedFlows.
const (
	FlowPrivateToSink        = "private_data->public_sink"
	FlowUntrustedToSink      = "untrusted_content->public_sink"
	FlowUntrustedDestructive = "untrusted_content->destructive"
)

// Options configures the flow detector.
type Options struct {
	// MaxSessions bounds the sessions tracked; the least recently active is
	// evicted when a new one starts.
	MaxSessions int
	// MaxValues bounds the values observed in tool results per session
	// (oldest first out).
	MaxValues int
	// MaxTrusted bounds the trusted values per session (oldest first out).
	MaxTrusted int
	// MaxValueLen is the longest value kept, in bytes; longer tokens are
	// ignored.
	MaxValueLen int
	// MaxScanBytes bounds how much of one result, message or argument string
	// is scanned.
	MaxScanBytes int
	// MaxDepth bounds how many ancestor sessions are consulted and updated.
	MaxDepth int
	// Severities of the finding kinds. Untrusted-to-sink is the injection
	// path, the strongest evidence (above SeverityHigh); destructive sinks
	// add DestructiveBonus because their harm cannot be undone.
	// Private-to-sink is above the alert threshold because exfiltration needs
	// no injection to hurt, but below untrusted because private data often
	// flows to sinks on purpose. Unexplained destinations are weak evidence
	// (agents also compose addresses themselves), below the threshold.
	SeverityUntrusted   uint8
	DestructiveBonus    uint8
	SeverityPrivate     uint8
	SeverityDesigned    uint8
	SeverityUnexplained uint8
	// SeverityInstructed replaces SeverityUntrusted when instruction cues
	// surround the value in its untrusted source (see instruct.go).
	SeverityInstructed uint8
	// SeverityDirected replaces SeverityUntrusted (no destructive bonus)
	// when every untrusted source of the value was fetched by a call whose
	// arguments carried a trusted value, and no instruction cues surround
	// it: the user pointed the agent at that source.
	SeverityDirected uint8
	// SeverityPrivateToTrusted replaces SeverityPrivate when the sink
	// call's destination is a value the user supplied.
	SeverityPrivateToTrusted uint8
	// Severities of a private value that is the sink call's destination
	// (see the package comment), replacing SeverityPrivate (payload):
	// from user-directed sources without instruction cues, from a source
	// with instruction cues near the value, and otherwise.
	SeverityPrivateDestDirected   uint8
	SeverityPrivateDestInstructed uint8
	SeverityPrivateDest           uint8
	// InstructedCall enables the instructed_call finding (see the package
	// comment); SeverityInstructedCall is its severity when some source of
	// the value was not user-directed, SeverityInstructedCallDirected when
	// every instructed source was.
	InstructedCall                 bool
	SeverityInstructedCall         uint8
	SeverityInstructedCallDirected uint8
	// MaxTrustedText bounds the user/system text kept per session (bytes)
	// to decide whether a call's arguments name something the user named.
	MaxTrustedText int
}

// DefaultOptions returns the production settings.
func DefaultOptions() Options {
	return Options{
		MaxSessions:         4096,
		MaxValues:           512,
		MaxTrusted:          256,
		MaxValueLen:         96,
		MaxScanBytes:        256 << 10,
		MaxDepth:            4,
		DestructiveBonus:    10,
		SeverityPrivate:     60,
		SeverityDesigned:    models.SeverityInfo,
		SeverityUnexplained: 40,
		// Set once, with the reasons in the package comment: instruction
		// cues are the generic mark of an injection (80, above the old 75);
		// an un-cued, undirected flow stays above the threshold (65); a
		// user-directed source or a user-named destination explains the
		// flow and stays below it (45, 40).
		SeverityUntrusted:        65,
		SeverityInstructed:       80,
		SeverityDirected:         45,
		SeverityPrivateToTrusted: 40,
		// A private value as the call's destination: the user acting on
		// their own records (40, below the threshold), an address planted
		// next to instructions (75), neither (55, just below it).
		SeverityPrivateDestDirected:   40,
		SeverityPrivateDestInstructed: 75,
		SeverityPrivateDest:           55,
		MaxTrustedText:                8 << 10,
		// An agent acting on instructions embedded in data is an indirect
		// prompt injection taking effect (70, above the threshold); when
		// the user pointed the agent at that content it is what was asked
		// (40, informational).
		InstructedCall:                 true,
		SeverityInstructedCall:         70,
		SeverityInstructedCallDirected: 40,
	}
}

// origin flags of an observed value.
const (
	fromUntrusted uint8 = 1 << iota
	fromPrivate
)

// source is the tool_result a value was read from.
type source struct{ event, tool string }

// entry is one observed value.
type entry struct {
	flags     uint8
	class     Class
	untrusted source // first untrusted_content result carrying the value
	private   source // first private_data result carrying the value
	seen      source // first result of any tool carrying the value
	// instructed: some untrusted or private occurrence had instruction cues
	// nearby. undirected: some untrusted occurrence came from a call that
	// named no trusted value; privUndirected: the same for a private
	// occurrence.
	instructed, undirected, privUndirected bool
	// instr is the first untrusted or private result in which instruction
	// cues surround the value, cues the union of the cue categories found
	// near it in such results, and instrUndirected records that some such
	// result came from a call that named no trusted value.
	instr           source
	cues            cueCat
	instrUndirected bool
}

// valueSet is a FIFO-bounded map of values. keys is the insertion ring
// (next is the oldest slot once it is full) and vals runs parallel to it;
// the map gives a key's slot, so updating a value never touches the stored
// key (callers pass keys that alias scratch memory).
type valueSet[T any] struct {
	m    map[string]int32
	keys []string
	vals []T
	next int
	max  int
}

func (s *valueSet[T]) get(k string) (T, bool) {
	if i, ok := s.m[k]; ok {
		return s.vals[i], true
	}
	var z T
	return z, false
}

// put stores v under k, evicting the oldest key when full. k may alias
// scratch memory: it is cloned when new.
func (s *valueSet[T]) put(k string, v T) {
	if i, ok := s.m[k]; ok {
		s.vals[i] = v
		return
	}
	if s.max <= 0 {
		return
	}
	if s.m == nil {
		s.m = make(map[string]int32)
	}
	k = strings.Clone(k)
	if len(s.keys) < s.max {
		s.m[k] = int32(len(s.keys))
		s.keys = append(s.keys, k)
		s.vals = append(s.vals, v)
	} else {
		delete(s.m, s.keys[s.next])
		s.keys[s.next], s.vals[s.next] = k, v
		s.m[k] = int32(s.next)
		s.next = (s.next + 1) % s.max
	}
}

func (s *valueSet[T]) len() int { return len(s.m) }

// session is one tracked session's state.
type session struct {
	id      string
	parent  string
	child   bool // linked to a parent: its messages are not the user's
	context bool // user or system input was seen (a basis for "unexplained")
	elem    *list.Element
	values  valueSet[entry]
	trusted valueSet[struct{}]
	// text is the lower-cased user/system text (bounded by MaxTrustedText).
	text []byte
	// directed records, per pending tool call (by call id, else by tool
	// name), whether its arguments named a trusted value; at most
	// maxPending entries.
	directed map[pendingKey]bool
	// reported holds the (tool, value) pairs already reported as
	// instructed_call (key: tool + "\x00" + value), at most maxReported,
	// oldest first out.
	reported valueSet[struct{}]
	// hasInstructed: some value of the session was instructed (not part
	// of the state; recomputed on restore). Lets non-sink calls of
	// sessions without instructions skip argument parsing.
	hasInstructed bool
}

// maxReported bounds the instructed_call (tool, value) pairs remembered per
// session.
const maxReported = 64

// pendingKey identifies a tool call and its result: the call id when the
// runtime records one (byID), else the tool name (the latest call of that
// tool).
type pendingKey struct {
	byID bool
	name string
}

func pendingKeyOf(ev *models.Event) pendingKey {
	if ev.ToolCallID != "" {
		return pendingKey{true, ev.ToolCallID}
	}
	return pendingKey{false, ev.ToolName}
}

// maxPending bounds the pending tool calls remembered per session.
const maxPending = 64

// Detector tracks data flow per session. It is not safe for concurrent use
// (one engine goroutine drives it).
type Detector struct {
	opts     Options
	sessions map[string]*session
	lru      list.List // of *session, most recently active at the front
	budget   budgetCap // the memory budget's session cap and eviction count (budget.go)

	// Per-event scratch, reused (one goroutine drives the detector). ext's
	// arena backs the values extracted and the arguments decoded during one
	// event and is reset when the next begins; nothing that aliases it is
	// kept (valueSet clones new keys, findings copy what they name).
	ext      extractor
	parser   argParser
	leaves   []leaf // the current event's argument leaves
	parsed   bool   // leaves/argsOK hold the current event's arguments
	argsOK   bool
	hits     []hit
	hs       []hit
	expl     []byte
	key      []byte
	ihits    []hit
	cues     []cue
	seenVals map[string]struct{}
}

// hit is one tainted or unexplained value found in a sink call's arguments.
type hit struct {
	kind                   string
	arg                    string
	value                  string
	class                  Class
	src                    source
	instructed, undirected bool
	// dest: the value is the call's destination (a whole argument string of
	// an address class), not a payload it carries.
	dest bool
	// cues: the instruction-cue categories near the value (instructed_call).
	cues cueCat
}

// New returns a Detector.
func New(opts Options) *Detector {
	d := &Detector{opts: opts, sessions: make(map[string]*session), seenVals: make(map[string]struct{})}
	d.ext.maxLen = opts.MaxValueLen
	d.parser.x = &d.ext
	d.lru.Init()
	return d
}

// Name implements detector.Detector.
func (d *Detector) Name() string { return Name }

// Sessions returns how many sessions are tracked.
func (d *Detector) Sessions() int { return len(d.sessions) }

// SessionValues returns how many observed and trusted values session id
// holds (0, 0 when it is not tracked).
func (d *Detector) SessionValues(id string) (observed, trusted int) {
	if s := d.sessions[id]; s != nil {
		return s.values.len(), s.trusted.len()
	}
	return 0, 0
}

func (d *Detector) session(id string) *session {
	if s := d.sessions[id]; s != nil {
		d.lru.MoveToFront(s.elem)
		return s
	}
	for n := d.sessionCap(); n > 0 && len(d.sessions) >= n; {
		old := d.lru.Back().Value.(*session)
		d.drop(old.id)
		d.budget.evictions.Add(1)
	}
	s := &session{id: id}
	s.values.max = d.opts.MaxValues
	s.trusted.max = d.opts.MaxTrusted
	s.reported.max = maxReported
	s.elem = d.lru.PushFront(s)
	d.sessions[id] = s
	return s
}

func (d *Detector) drop(id string) {
	if s := d.sessions[id]; s != nil {
		d.lru.Remove(s.elem)
		delete(d.sessions, id)
	}
}

// chain calls fn for s and its tracked ancestors, nearest first, until fn
// returns false.
func (d *Detector) chain(s *session, fn func(*session) bool) {
	for i := 0; s != nil && i <= d.opts.MaxDepth; i++ {
		if !fn(s) {
			return
		}
		if s.parent == "" || s.parent == s.id {
			return
		}
		s = d.sessions[s.parent]
	}
}

func (d *Detector) scan(text string, fn func(string, Class)) {
	if d.opts.MaxScanBytes > 0 && len(text) > d.opts.MaxScanBytes {
		text = text[:d.opts.MaxScanBytes]
	}
	d.ext.run(text, func(v string, c Class, _ int) { fn(v, c) })
}

// args returns the leaves of the current event's arguments, parsed once per
// event; ok is false when they are not valid JSON.
func (d *Detector) args(ev *models.Event) (_ []leaf, ok bool) {
	if !d.parsed {
		d.parsed = true
		d.leaves, d.argsOK = d.parser.parseArgs(ev.Arguments, d.leaves[:0])
	}
	return d.leaves, d.argsOK
}

// maxArena is the arena capacity kept between events.
const maxArena = 1 << 20

// Observe implements detector.Detector.
func (d *Detector) Observe(ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
	if cap(d.ext.buf) > maxArena {
		d.ext.buf = nil
	}
	d.ext.buf = d.ext.buf[:0]
	d.parsed = false
	switch ev.Kind {
	case models.KindSessionEnd:
		d.drop(ev.SessionID)
		return
	case models.KindAgentSpawn:
		if ev.ChildSessionID != "" && ev.ChildSessionID != ev.SessionID {
			d.session(ev.SessionID)
			c := d.session(ev.ChildSessionID)
			c.parent, c.child = ev.SessionID, true
		}
		return
	}
	if agent == nil {
		return
	}
	s := d.session(ev.SessionID)
	if ev.ParentSessionID != "" && s.parent == "" && ev.ParentSessionID != ev.SessionID {
		s.parent, s.child = ev.ParentSessionID, true
	}
	switch ev.Kind {
	case models.KindSessionStart:
		d.trust(s, ev.Content)
	case models.KindMessage:
		// message events are user or system input by definition; an empty
		// role is read as such.
		if ev.Role == models.RoleUser || ev.Role == models.RoleSystem || ev.Role == "" {
			d.trust(s, ev.Content)
		}
	case models.KindToolResult:
		d.observeResult(s, ev, agent)
	case models.KindToolCall:
		d.noteCall(s, ev)
		d.judgeCall(s, ev, agent, emit)
	}
}

// trust records the values of user-supplied text in a root session. A child
// session's messages come from its parent agent and are not trusted.
func (d *Detector) trust(s *session, text string) {
	if s.child || text == "" {
		return
	}
	s.context = true
	d.scan(text, func(v string, _ Class) { s.trusted.put(v, struct{}{}) })
	if room := d.opts.MaxTrustedText - len(s.text); room > 0 {
		if len(text) > room {
			text = text[:room]
		}
		s.text = append(s.text, '\n')
		s.text = appendLower(s.text, text)
	}
}

func (d *Detector) observeResult(s *session, ev *models.Event, agent *models.AgentSpec) {
	text := ev.Result
	if text == "" {
		text = ev.Content // runtimes that record result text as content
	}
	if text == "" {
		return
	}
	var flags uint8
	if t := agent.Tool(ev.ToolName); t != nil {
		if t.Has(models.LabelUntrustedContent) {
			flags |= fromUntrusted
		}
		if t.Has(models.LabelPrivateData) {
			flags |= fromPrivate
		}
	}
	src := source{event: ev.ID, tool: ev.ToolName}
	var directed bool
	if flags != 0 {
		// untrusted and private results alike: outsider-written text also
		// sits in private stores (a transaction subject, a shared file).
		key := pendingKeyOf(ev)
		directed = s.directed[key]
		delete(s.directed, key)
		d.cues = instructionCues(text, d.cues)
	}
	if d.opts.MaxScanBytes > 0 && len(text) > d.opts.MaxScanBytes {
		text = text[:d.opts.MaxScanBytes]
	}
	d.ext.run(text, func(v string, c Class, at int) {
		var near cueCat
		if flags != 0 {
			near = cuesNear(d.cues, at)
		}
		instructed := catCount(near) >= InstructMin
		d.chain(s, func(a *session) bool {
			e, ok := a.values.get(v)
			if !ok {
				e = entry{class: c, seen: src}
			}
			if flags&fromUntrusted != 0 {
				if e.flags&fromUntrusted == 0 {
					e.untrusted = src
				}
				e.instructed = e.instructed || instructed
				e.undirected = e.undirected || !directed
			}
			if flags&fromPrivate != 0 {
				if e.flags&fromPrivate == 0 {
					e.private = src
				}
				e.instructed = e.instructed || instructed
				e.privUndirected = e.privUndirected || !directed
			}
			if instructed {
				if e.instr.event == "" {
					e.instr = src
				}
				e.instructed = true
				e.cues |= near
				e.instrUndirected = e.instrUndirected || !directed
				a.hasInstructed = true
			}
			e.flags |= flags
			a.values.put(v, e)
			return true
		})
	})
}

// lookup merges what s and its ancestors know about v.
func (d *Detector) lookup(s *session, v string) (e entry, seen, trusted bool) {
	d.chain(s, func(a *session) bool {
		if _, ok := a.trusted.get(v); ok {
			trusted = true
			return false
		}
		if x, ok := a.values.get(v); ok {
			if !seen {
				e.seen, e.class = x.seen, x.class
			}
			seen = true
			if x.flags&fromUntrusted != 0 && e.flags&fromUntrusted == 0 {
				e.untrusted = x.untrusted
			}
			if x.flags&fromPrivate != 0 && e.flags&fromPrivate == 0 {
				e.private = x.private
			}
			e.instructed = e.instructed || x.instructed
			e.undirected = e.undirected || x.undirected
			e.privUndirected = e.privUndirected || x.privUndirected
			if x.instructed && e.instr.event == "" {
				e.instr = x.instr
			}
			e.cues |= x.cues
			e.instrUndirected = e.instrUndirected || x.instrUndirected
			e.flags |= x.flags
		}
		return true
	})
	return e, seen, trusted
}

func (d *Detector) judgeCall(s *session, ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
	if len(ev.Arguments) == 0 {
		return
	}
	tool := agent.Tool(ev.ToolName)
	var sink, destructive bool
	if tool != nil {
		sink, destructive = tool.Has(models.LabelPublicSink), tool.Has(models.LabelDestructive)
	}
	// instructed_call judges every call, but only sessions (or ancestors)
	// holding an instructed value can produce one.
	instr := false
	if d.opts.InstructedCall {
		d.chain(s, func(a *session) bool { instr = instr || a.hasInstructed; return !instr })
	}
	if !sink && !destructive && !instr {
		return
	}
	leaves, ok := d.args(ev)
	if !ok {
		return
	}
	d.hits = d.hits[:0]
	d.ihits = d.ihits[:0]
	context := false
	d.chain(s, func(a *session) bool { context = context || a.context; return !context })
	// seenVals holds the non-trusted values already judged in this call;
	// its keys alias the arena and it is cleared before the call returns.
	seenVal := d.seenVals
	trustedDest := false
	for _, l := range leaves {
		path := l.path
		whole := isSingleToken(l.text)
		d.scan(l.text, func(v string, c Class) {
			if _, dup := seenVal[v]; dup {
				return
			}
			e, seen, trusted := d.lookup(s, v)
			if trusted {
				trustedDest = trustedDest || c.RecipientLike()
				return
			}
			seenVal[v] = struct{}{}
			if instr && e.instructed && e.flags&(fromUntrusted|fromPrivate) != 0 && !d.wasReported(s, ev.ToolName, v) {
				d.ihits = append(d.ihits, hit{kind: KindInstructedCall, arg: path, value: v, class: c, src: e.instr,
					instructed: true, undirected: e.instrUndirected, cues: e.cues})
			}
			if !sink && !destructive {
				return
			}
			switch {
			case e.flags&fromUntrusted != 0:
				d.hits = append(d.hits, hit{KindUntrustedToSink, path, v, c, e.untrusted, e.instructed, e.undirected, false, 0})
			case e.flags&fromPrivate != 0 && sink:
				d.hits = append(d.hits, hit{KindPrivateToSink, path, v, c, e.private, e.instructed, e.privUndirected, whole && isAddress(v, c), 0})
			case !seen && context && c.RecipientLike():
				d.hits = append(d.hits, hit{KindUnexplainedDestination, path, v, c, source{}, false, false, false, 0})
			}
		})
	}
	clear(seenVal)
	if len(d.hits) == 0 && len(d.ihits) == 0 {
		return
	}
	// The sink findings of the call; the strongest flow finding
	// (untrusted_to_sink or private_to_sink) competes with instructed_call.
	var (
		fs       [3]models.Finding
		n        int
		flowSev  = -1
		designed bool
	)
	if len(d.hits) > 0 {
		labels := labelNames(tool)
		for _, kind := range [...]string{KindUntrustedToSink, KindPrivateToSink, KindUnexplainedDestination} {
			d.hs = d.hs[:0]
			for _, h := range d.hits {
				if h.kind == kind {
					d.hs = append(d.hs, h)
				}
			}
			if len(d.hs) == 0 {
				continue
			}
			f, des := d.finding(kind, d.hs, ev, agent, destructive, trustedDest, labels)
			if kind != KindUnexplainedDestination {
				flowSev = max(flowSev, int(f.Severity))
				designed = designed || des
			}
			fs[n] = f
			n++
		}
	}
	// A declared (designed) flow keeps its informational finding; otherwise
	// only the stronger of the flow finding and instructed_call is emitted.
	if len(d.ihits) > 0 && !designed {
		f := d.instructedFinding(d.ihits, ev)
		if int(f.Severity) > flowSev {
			for _, h := range d.ihits {
				d.markReported(s, ev.ToolName, h.value)
			}
			for _, g := range fs[:n] {
				if g.Kind == KindUnexplainedDestination {
					emit(g)
				}
			}
			emit(f)
			return
		}
	}
	for _, f := range fs[:n] {
		emit(f)
	}
}

// reportKey builds the reported-set key of (tool, value) in d.key.
func (d *Detector) reportKey(tool, v string) []byte {
	d.key = append(append(append(d.key[:0], tool...), 0), v...)
	return d.key
}

func (d *Detector) wasReported(s *session, tool, v string) bool {
	if s.reported.m == nil {
		return false
	}
	_, ok := s.reported.m[string(d.reportKey(tool, v))]
	return ok
}

func (d *Detector) markReported(s *session, tool, v string) {
	s.reported.put(string(d.reportKey(tool, v)), struct{}{})
}

// instructedFinding builds the instructed_call finding of a call from its
// instructed values: SeverityInstructedCall when some instructed source of
// some value was not user-directed, else SeverityInstructedCallDirected.
func (d *Detector) instructedFinding(hs []hit, ev *models.Event) models.Finding {
	undirected := false
	for _, h := range hs {
		undirected = undirected || h.undirected
	}
	sev, conf := d.opts.SeverityInstructedCallDirected, 0.4
	if undirected {
		sev, conf = d.opts.SeverityInstructedCall, 0.75
	}
	evidence := make([]string, 0, min(len(hs), maxListed)+1)
	for _, h := range hs {
		if h.src.event != "" && !slices.Contains(evidence, h.src.event) && len(evidence) < maxListed {
			evidence = append(evidence, h.src.event)
		}
	}
	evidence = append(evidence, ev.ID)
	b := d.expl[:0]
	b = append(b, ev.ToolName...)
	b = append(b, " call "...)
	b = append(b, ev.ID...)
	b = append(b, " carries a value the user did not supply that entered the session in tool-result content surrounded by instructions to the agent: "...)
	for i, h := range hs {
		if i >= maxListed {
			break
		}
		if i > 0 {
			b = append(b, "; "...)
		}
		b = append(b, h.class.String()...)
		b = append(b, ' ')
		b = strconv.AppendQuote(b, Redact(h.value, h.class))
		b = append(b, " in argument "...)
		b = strconv.AppendQuote(b, h.arg)
		b = append(b, ", from "...)
		b = append(b, h.src.tool...)
		b = append(b, " result "...)
		b = append(b, h.src.event...)
		b = append(b, " (cues: "...)
		b = appendCues(b, h.cues)
		b = append(b, ')')
	}
	if len(hs) > maxListed {
		b = append(b, "; and "...)
		b = strconv.AppendInt(b, int64(len(hs)-maxListed), 10)
		b = append(b, " more"...)
	}
	if !undirected {
		b = append(b, "; the user directed the agent to the source (its call named a user-supplied value)"...)
	}
	d.expl = b
	return models.Finding{
		Kind:        KindInstructedCall,
		Severity:    sev,
		Confidence:  conf,
		Explanation: string(b),
		EvidenceIDs: evidence,
		Features:    []models.Feature{{Name: "flow_values", Observed: float64(len(hs))}},
	}
}

// appendCues appends the names of the cue categories in c, "+"-separated.
func appendCues(b []byte, c cueCat) []byte {
	first := true
	for _, x := range [...]struct {
		c    cueCat
		name string
	}{{cueAddressee, "addressee"}, {cueDirective, "directive"}, {cueRole, "role"}, {cueImperative, "imperative"}} {
		if c&x.c == 0 {
			continue
		}
		if !first {
			b = append(b, '+')
		}
		b = append(b, x.name...)
		first = false
	}
	return b
}

func labelNames(t *models.ToolSpec) string {
	if t == nil {
		return ""
	}
	var parts []string
	for _, l := range t.Labels {
		if l == models.LabelPublicSink || l == models.LabelDestructive {
			parts = append(parts, string(l))
		}
	}
	return strings.Join(parts, "+")
}

// maxListed bounds the values named in one explanation and the sources in
// its evidence.
const maxListed = 3

func (d *Detector) finding(kind string, hs []hit, ev *models.Event, agent *models.AgentSpec, destructive, trustedDest bool, labels string) (models.Finding, bool) {
	var (
		sev        uint8
		conf       float64
		designed   bool
		srcLabel   string
		evidence   []string
		designedAs string
		note       string
	)
	switch kind {
	case KindUntrustedToSink:
		instructed, undirected := false, false
		for _, h := range hs {
			instructed = instructed || h.instructed
			undirected = undirected || h.undirected
		}
		srcLabel = string(models.LabelUntrustedContent)
		switch {
		case instructed:
			sev, conf, note = d.opts.SeverityInstructed, 0.85, "; instruction cues surround the value in its source"
		case !undirected:
			sev, conf, note = d.opts.SeverityDirected, 0.5, "; the user directed the agent to the source (its call named a user-supplied value)"
			destructive = false // the directed severity is a cap
		default:
			sev, conf = d.opts.SeverityUntrusted, 0.7
		}
		if destructive {
			sev += d.opts.DestructiveBonus
		}
		designedAs = FlowUntrustedToSink
		if destructive && !slices.Contains(agent.DesignedFlows, FlowUntrustedToSink) {
			designedAs = FlowUntrustedDestructive
		}
	case KindPrivateToSink:
		srcLabel = string(models.LabelPrivateData)
		sev, conf, note = d.privateSeverity(hs)
		if trustedDest && sev < d.opts.SeverityPrivateDestInstructed {
			sev, conf, note = d.opts.SeverityPrivateToTrusted, 0.4, "; the call's destination is a value the user supplied"
		}
		designedAs = FlowPrivateToSink
	default:
		sev, conf = d.opts.SeverityUnexplained, 0.4
	}
	if designedAs != "" && slices.Contains(agent.DesignedFlows, designedAs) {
		designed, sev, conf = true, d.opts.SeverityDesigned, 0.9
	}
	// The explanation is appended into one scratch buffer, byte for byte
	// what the fmt verbs it replaces (%s, %q, %d) produce.
	evidence = make([]string, 0, min(len(hs), maxListed)+1)
	for _, h := range hs {
		if h.src.event != "" && !slices.Contains(evidence, h.src.event) && len(evidence) < maxListed {
			evidence = append(evidence, h.src.event)
		}
	}
	evidence = append(evidence, ev.ID)
	b := d.expl[:0]
	switch kind {
	case KindUnexplainedDestination:
		b = append(b, ev.ToolName...)
		b = append(b, " call "...)
		b = append(b, ev.ID...)
		b = append(b, " ("...)
		b = append(b, labels...)
		b = append(b, ") names a destination found in no user message and no tool result of the session: "...)
		b = appendListed(b, hs)
	default:
		b = append(b, srcLabel...)
		b = append(b, " data reaches "...)
		b = append(b, ev.ToolName...)
		b = append(b, " call "...)
		b = append(b, ev.ID...)
		b = append(b, " ("...)
		b = append(b, labels...)
		b = append(b, ") without the user supplying it: "...)
		b = appendListed(b, hs)
		b = append(b, note...)
		if designed {
			b = append(b, "; designed=true ("...)
			b = append(b, designedAs...)
			b = append(b, " is a declared flow)"...)
		}
	}
	d.expl = b
	expl := string(b)
	return models.Finding{
		Kind:        kind,
		Severity:    sev,
		Confidence:  conf,
		Explanation: expl,
		EvidenceIDs: evidence,
		Features:    []models.Feature{{Name: "flow_values", Observed: float64(len(hs))}},
	}, designed
}

// privateSeverity grades a private_to_sink finding by the position and
// sources of its values (see the package comment): the highest of payload
// (SeverityPrivate), instructed destination, undirected destination and
// user-directed destination.
func (d *Detector) privateSeverity(hs []hit) (sev uint8, conf float64, note string) {
	first := true
	for _, h := range hs {
		var s uint8
		var c float64
		var n string
		switch {
		case !h.dest:
			s, c, n = d.opts.SeverityPrivate, 0.6, ""
		case h.instructed:
			s, c, n = d.opts.SeverityPrivateDestInstructed, 0.8, "; the destination is a private value surrounded by instruction cues in its source"
		case h.undirected:
			s, c, n = d.opts.SeverityPrivateDest, 0.5, "; the destination is a private value"
		default:
			s, c, n = d.opts.SeverityPrivateDestDirected, 0.4, "; the destination is a private value from a source the user directed the agent to"
		}
		if first || s > sev {
			sev, conf, note, first = s, c, n, false
		}
	}
	return sev, conf, note
}

// isSingleToken reports whether s, trimmed of surrounding white space, holds
// no white space: an argument string that is one value alone.
func isSingleToken(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r', '\v', '\f':
			return false
		}
	}
	return true
}

// isAddress reports whether value v of class c is an address data or money
// can be sent to: an e-mail address, a URL or host, a phone/account number,
// or an IBAN-shaped id (ISO 13616: two letters, two check digits, 11–30
// letters or digits; v is lower-cased). Other ids (record, file, order ids)
// are what a call carries, not where it goes.
func isAddress(v string, c Class) bool {
	switch c {
	case ClassEmail, ClassURL, ClassHost, ClassNumber:
		return true
	case ClassID:
		if len(v) < 15 || len(v) > 34 || !isAlpha(v[0]) || !isAlpha(v[1]) || !isDigit(v[2]) || !isDigit(v[3]) {
			return false
		}
		for i := 4; i < len(v); i++ {
			if !isAlpha(v[i]) && !isDigit(v[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// appendListed appends the values of hs as the explanation lists them:
// at most maxListed, "; "-separated, then how many more there are.
func appendListed(b []byte, hs []hit) []byte {
	for i, h := range hs {
		if i >= maxListed {
			break
		}
		if i > 0 {
			b = append(b, "; "...)
		}
		b = append(b, h.class.String()...)
		b = append(b, ' ')
		b = strconv.AppendQuote(b, Redact(h.value, h.class))
		b = append(b, " in argument "...)
		b = strconv.AppendQuote(b, h.arg)
		if h.src.event != "" {
			b = append(b, ", from "...)
			b = append(b, h.src.tool...)
			b = append(b, " result "...)
			b = append(b, h.src.event...)
		}
	}
	if len(hs) > maxListed {
		b = append(b, "; and "...)
		b = strconv.AppendInt(b, int64(len(hs)-maxListed), 10)
		b = append(b, " more"...)
	}
	return b
}

// Redact hides the middle of values that identify a person or an account
// (e-mail addresses, numbers, ids): the first 3 and last 2 characters stay.
// Hosts, URLs and file names are kept (truncated to 64 bytes).
func Redact(v string, c Class) string {
	switch c {
	case ClassEmail, ClassNumber, ClassID:
		if len(v) <= 6 {
			return strings.Repeat("*", len(v))
		}
		return v[:3] + "…" + v[len(v)-2:]
	}
	if len(v) > 64 {
		return v[:61] + "…"
	}
	return v
}

// noteCall records whether a tool call's arguments name something the user
// named: a trusted extracted value, or a whole short argument string (a
// page, file, channel or person name) found at word boundaries in the
// user's text. Its result is then "user-directed".
func (d *Detector) noteCall(s *session, ev *models.Event) {
	key := pendingKeyOf(ev)
	if s.directed != nil {
		delete(s.directed, key)
	}
	if len(ev.Arguments) == 0 {
		return
	}
	var text []byte
	d.chain(s, func(a *session) bool {
		if len(a.text) > 0 {
			text = a.text
			return false
		}
		return true
	})
	if len(text) == 0 {
		return
	}
	leaves, ok := d.args(ev)
	if !ok {
		return
	}
	directed := false
	for _, l := range leaves {
		v := l.text
		if len(v) >= 4 && len(v) <= 64 && !isDigits(v) && containsWordFold(text, v) {
			directed = true
			break
		}
		d.scan(v, func(x string, _ Class) {
			if !directed {
				_, _, directed = d.lookup(s, x)
			}
		})
		if directed {
			break
		}
	}
	if !directed {
		return
	}
	if s.directed == nil || len(s.directed) >= maxPending {
		s.directed = make(map[pendingKey]bool)
	}
	key.name = strings.Clone(key.name)
	s.directed[key] = true
}

// appendLower appends s lower-cased as strings.ToLower does, folding ASCII
// in place without a temporary copy.
func appendLower(b []byte, s string) []byte {
	if !isASCII(s) {
		return append(b, strings.ToLower(s)...)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	return b
}

// containsWordFold reports whether strings.ToLower(w) (len(w) <= 64) occurs
// in the lower-cased text at word boundaries; ASCII w is folded on the stack.
func containsWordFold(text []byte, w string) bool {
	var buf [64]byte
	if len(w) > len(buf) || !isASCII(w) {
		return containsWord(text, []byte(strings.ToLower(w)))
	}
	b := buf[:len(w)]
	for i := 0; i < len(w); i++ {
		c := w[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return containsWord(text, b)
}

// containsWord reports whether w occurs in text with no letter or digit
// immediately before or after it.
func containsWord(text, w []byte) bool {
	for off := 0; ; {
		i := bytes.Index(text[off:], w)
		if i < 0 {
			return false
		}
		i += off
		j := i + len(w)
		if (i == 0 || !isWordChar(text[i-1])) && (j == len(text) || !isWordChar(text[j])) {
			return true
		}
		off = i + 1
	}
}

func isWordChar(b byte) bool { return isAlpha(b) || isDigit(b) }
