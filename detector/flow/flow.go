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
	"container/list"

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
	KindUntrustedFetch         = "untrusted_fetch"
	KindInjectionAttempt       = "injection_attempt"
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
	// to decide whether a call's arguments name something the user named,
	// and separately the user's own text kept as the request.
	MaxTrustedText int
	// Severities when the user's request does not ask for the call's kind
	// of action (request.go) and no instruction cues surround the value:
	// an untrusted value in a sink call (destructive sinks add
	// DestructiveBonus), a private value as the destination, a private
	// value carried as payload.
	SeverityUncalled            uint8
	SeverityPrivateDestUncalled uint8
	SeverityPrivateUncalled     uint8
	// SeverityPlanted is the least severity of a flow the request does not
	// authorise whose destination (or fetched location) was planted in its
	// source (attempt.go): the attempt taking effect.
	SeverityPlanted uint8
	// SeverityAuthorised replaces the untrusted and private severities when
	// the request asks for the call's kind of action and the user pointed
	// at (or described) the source of every value (informational: what was
	// asked for is not a deviation, but analysts can follow the flow).
	SeverityAuthorised uint8
	// Fetch enables untrusted_fetch: a call (of any tool without sink or
	// destructive labels) whose whole argument is a URL or host that only
	// outsider-written content supplied, when the request neither asks for
	// the tool's kind of action nor describes the record the location sat
	// in; SeverityFetch is its severity.
	Fetch         bool
	SeverityFetch uint8
	// Attempts enables injection_attempt (attempt.go) at SeverityAttempt,
	// once per session.
	Attempts        bool
	SeverityAttempt uint8
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
		// Provenance against the request: an outsider's value driving an
		// action the user did not ask for is a deviation however the
		// content is worded (75/70/65: above the threshold, below
		// instruction-cued flows); fetching an outsider's link the request
		// neither asks for nor describes is one too, but moves no data by
		// itself (60).
		SeverityUncalled:            75,
		SeverityPrivateDestUncalled: 70,
		SeverityPrivateUncalled:     65,
		SeverityAuthorised:          25,
		SeverityPlanted:             70,
		Fetch:                       true,
		SeverityFetch:               60,
		// An attempt is evidence for analysts, not an incident (30: the
		// low band, excluded from compounding by the engine).
		Attempts:        true,
		SeverityAttempt: 30,
	}
}

// Detector tracks data flow per session. It is not safe for concurrent use
// (one engine goroutine drives it).
type Detector struct {
	opts     Options
	sessions map[string]*session
	lru      list.List // of *session, most recently active at the front

	// Per-event scratch, reused (one goroutine drives the detector). ext's
	// arena backs the values extracted and the arguments decoded during one
	// event and is reset when the next begins; nothing that aliases it is
	// kept (valueSet clones new keys, findings copy what they name).
	ext     extractor
	parser  argParser
	leaves  []leaf // the current event's argument leaves
	parsed  bool   // leaves/argsOK hold the current event's arguments
	argsOK  bool
	hits    []hit
	hs      []hit
	expl    []byte
	key     []byte
	ihits   []hit
	attempt []hit
	own     map[string]struct{}
	rec     recordCache
	// fetchedFrom: the host the current result was fetched from ("": none)
	fetchedFrom string
	shape       shape
	cues        []cue
	seenVals    map[string]struct{}
}

// New returns a Detector.
func New(opts Options) *Detector {
	d := &Detector{opts: opts, sessions: make(map[string]*session), seenVals: make(map[string]struct{}), own: make(map[string]struct{})}
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
	for d.opts.MaxSessions > 0 && len(d.sessions) >= d.opts.MaxSessions {
		old := d.lru.Back().Value.(*session)
		d.drop(old.id)
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
		d.trust(s, ev.Content, true)
	case models.KindMessage:
		// message events are user or system input by definition; an empty
		// role is read as such.
		if ev.Role == models.RoleUser || ev.Role == models.RoleSystem || ev.Role == "" {
			d.trust(s, ev.Content, ev.Role != models.RoleSystem)
		}
	case models.KindToolResult:
		d.observeResult(s, ev, agent, emit)
	case models.KindToolCall:
		d.noteCall(s, ev)
		d.judgeCall(s, ev, agent, emit)
	}
}

// trust records the values of user-supplied text in a root session; user
// (not system) text is also kept as the request. A child session's
// messages come from its parent agent and are not trusted.
func (d *Detector) trust(s *session, text string, user bool) {
	if s.child || text == "" {
		return
	}
	s.context = true
	d.scan(text, func(v string, _ Class) { s.trusted.put(v, struct{}{}) })
	if room := d.opts.MaxTrustedText - len(s.text); room > 0 {
		t := text
		if len(t) > room {
			t = t[:room]
		}
		s.text = append(s.text, '\n')
		s.text = appendLower(s.text, t)
	}
	if room := d.opts.MaxTrustedText - len(s.request); user && room > 0 {
		if len(text) > room {
			text = text[:room]
		}
		s.request = append(s.request, '\n')
		s.request = append(s.request, text...)
	}
}

// requestOf returns the request of s or of its nearest ancestor with one
// (a sub-agent acts on its root's request), its derived forms up to date.
func (d *Detector) requestOf(s *session) *session {
	var r *session
	d.chain(s, func(a *session) bool {
		if len(a.request) > 0 {
			r = a
			return false
		}
		return true
	})
	if r != nil && (r.req.words == nil || r.req.n != len(r.request)) {
		r.req.build(r.request)
	}
	return r
}

// requestText returns the lower-cased request of s or its nearest ancestor
// with one.
func (d *Detector) requestText(s *session) []byte {
	if r := d.requestOf(s); r != nil {
		return r.req.lower
	}
	return nil
}
