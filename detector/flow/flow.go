// Package flow tracks where the values of agent tool calls come from
// ("provenance") and reports calls whose consequential values only
// outsider-written content supplied, for actions the user did not ask for —
// however that content is worded.
//
// Values are the distinctive tokens Extract finds (addresses, URLs and
// hosts, account numbers and IBAN-shaped ids, record ids, file names; see
// Class). Each value of a session is recorded with its provenance: trusted
// (in the user's or system messages), or read from the result of a tool
// labelled untrusted_content (text outsiders write) or private_data (the
// user's stores, which also hold outsider-written text: mail, shared files,
// transaction subjects), with
//
//   - directed: the call that read it named something the user named (a
//     user value, a whole argument found in the user's text, or a value
//     from a record the request describes);
//   - described: the record it sat in (the list item or paragraph around
//     it) shares a name or two distinctive words with the user's request
//     (request.go);
//   - planted: it is a contact point new to the session, in free text of a
//     record the request does not describe, and neither a field value of
//     the result's own records nor the fetched page's own address
//     (attempt.go);
//   - instructed: instruction cues surround it (instruct.go). Cues raise
//     confidence; no judgement needs them.
//
// The request (the user's own messages, not the system prompt) is also read
// for what it asks: callFor (request.go) decides whether it asks for a
// tool's kind of action (send, pay, invite, fetch a web page, …), and a
// request that delegates ("follow the instructions in", "my TODO list at")
// adds the text of the sources the user's own words name to the request
// (one hop: not the pages a task on that list points at; entry.unnamed).
//
// Findings (severities are Options; the defaults below):
//
//   - untrusted_to_sink / private_to_sink: an untrusted or private value
//     reaches a public_sink (untrusted also a destructive) tool. Graded by
//     the request and provenance: 80 (untrusted) / 75 (private destination)
//     when instruction cues surround it; 75 untrusted, 70 private
//     destination, 65 private payload when the request does not ask for the
//     action; at least 70 when the destination was planted and the request
//     does not account for it; 25 (informational) when the request asks
//     for the action and the user pointed at or described the source of
//     every value ("pay the bill in bill.txt") — and, for a call carrying
//     an amount, the request or a result the user directed the agent to
//     holds that amount (judge.go strayAmount); otherwise 65 untrusted,
//     55 private destination, 60 private payload; 40 when the request asks
//     for the action and the destination is a counterparty of the user's own
//     records (the whole argument, and the whole value of a field that the
//     records of a private, not untrusted, store share: isSchemaField).
//     Destructive sinks add 10
//     except when authorised. A private destination the user supplied
//     lowers private flows to 40. A declared designed flow
//     ("private_data->public_sink", "untrusted_content->public_sink",
//     "untrusted_content->destructive") is informational (10).
//   - untrusted_fetch: a call of any tool without sink or destructive
//     labels whose whole argument is a URL or host that only outsider
//     content supplied (or any planted address: searching the mailbox for
//     an address a note dropped in a file), when the request does not
//     account for it:
//     it does not ask for reading web content (or names a location itself,
//     or the location was planted), does not speak of several web
//     locations, does not describe the record, and does not delegate to the
//     source. 60; 70 when the location was planted. Reading tools are how
//     an injection makes an agent visit an attacker's link.
//   - instructed_call: any call carrying a value with instruction cues in
//     its source that the user did not supply: 70, or 40 when the request
//     accounts for every such value (describes its record, or delegates to
//     the user-named source). Pointing at a source authorises reading it,
//     not obeying it. Reported once per session per (tool, value); when
//     the call also yields a flow finding only the stronger is emitted
//     (ties keep the flow finding; a designed flow suppresses it).
//   - unexplained_destination: a recipient-like value of a sink or
//     destructive call found in no user message and no tool result (40;
//     needs user or system input in the session).
//   - unrequested_action: a destructive call, or one that acts (a
//     non-reading name verb, neither a source nor a sink: judge.go acts),
//     the request does not ask for (nor delegate; nor ask for its action
//     whatever the object, asksVerb), carrying an argument the user did
//     not supply, in a session that read outsider-written content (an
//     untrusted result with words, whatever its wording, or for a
//     destructive call also a tracked value of a private store), when the
//     call raised no finding as strong: 60. An action the request does
//     ask for is raised when its date arguments fall on days the request,
//     which names its days, does not name (dates.go: the review's dates
//     on the asked-for reservation). It covers values the extractor does not track
//     (a hotel name, a file number, a password).
//   - task_abandoned (abandon.go): the session ends right after the agent
//     read outsider-written content, with no call after it, without the
//     action the request asks for, and with a reply that carries nothing of
//     the request's subject nor anything specific (a value not planted, a
//     number, a name): a denial-of-service injection taking effect without
//     a call. 55; 65 when that content carried an injection mark (a planted
//     value, instruction cues, an out-of-shape part). Judged at
//     session_end, only for sessions whose start the detector saw.
//   - injection_attempt: a result carrying a planted value (attempt.go),
//     graded by its evidence: 30 for a new contact point in free text alone
//     (a link in a message), 32 when it is a destination the agent's tools
//     can send to or pay, 34 with instruction cues near it or in a part of
//     the result out of its tool's usual shape, 46 when both marks agree
//     (cues or an out-of-shape part, and an actionable destination: above
//     the one-off novelty findings); reported once per session and grade
//     (again when a later result carries stronger evidence). All grades
//     stay below the alert threshold, the engine excludes them from session
//     compounding and the containment policy never commands on them
//     (detector.EvidenceKinds), so analysts see attempts the agent did not
//     follow, ranked by evidence.
//
// Events of unregistered agents are not judged. Without a user request
// there is no basis to call an action unrequested: calls are then graded as
// requested.
//
// Delegation: an agent_spawn links the child session to the parent session.
// A child sees its ancestors' trusted and tainted values and request, and
// values the child reads are also recorded in its ancestors, so a path
// split across a parent and a sub-agent is found. A child's own user/system
// messages are written by its parent agent, so they are not trusted.
//
// Memory is bounded: per session at most MaxValues observed values and
// MaxTrusted trusted values (oldest evicted first), each at most
// MaxValueLen bytes, MaxTrustedText bytes of user/system text and as much
// request text, at most 256 request words. The sessions' bytes are
// accounted to the memory budget (SetMeter; least recently active evicted
// first when it is exceeded, counted), MaxSessions is an optional ceiling;
// a session is dropped at session_end. With the defaults a session holds at most (512+256) values
// of ≤ 96 bytes plus about 120 bytes of overhead each and 16 KiB of text:
// ≤ 190 KiB, typically a few KiB. The cost per result is linear in its size
// (each value looks at a bounded window around it).
package flow

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/tetherhq/tether/detector/internal/lru"
	"github.com/tetherhq/tether/detector/values"
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
	KindUnrequestedAction      = "unrequested_action"
)

// Designed flow names matched against models.AgentSpec.DesignedFlows.
const (
	FlowPrivateToSink        = "private_data->public_sink"
	FlowUntrustedToSink      = "untrusted_content->public_sink"
	FlowUntrustedDestructive = "untrusted_content->destructive"
)

// Options configures the flow detector.
type Options struct {
	// Cues is the instruction-cue lexicon (nil: DefaultCues, from the
	// default ruleset).
	Cues *Cues
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
	// when the request does not itself ask for the action but delegates to
	// the user-named source every value came from ("follow the
	// instructions in …"), and no instruction cues surround the values.
	SeverityDirected uint8
	// SeverityPrivateToTrusted replaces SeverityPrivate when the sink
	// call's destination is a value the user supplied.
	SeverityPrivateToTrusted uint8
	// Severities of a private value that is the sink call's destination
	// (see the package comment), replacing SeverityPrivate (payload): from
	// a user-named source the request delegates to, from a source with
	// instruction cues near the value, and otherwise.
	SeverityPrivateDestDirected   uint8
	SeverityPrivateDestInstructed uint8
	SeverityPrivateDest           uint8
	// InstructedCall enables the instructed_call finding (see the package
	// comment); SeverityInstructedCall is its severity, and
	// SeverityInstructedCallDirected when the request accounts for every
	// instructed value (describes its record, or delegates to its
	// user-named source).
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
	// outsider-written content supplied, or a planted address, when the
	// request does not account for it (see the package comment);
	// SeverityFetch is its severity (SeverityPlanted when planted).
	Fetch         bool
	SeverityFetch uint8
	// Attempts enables injection_attempt (attempt.go), graded by its
	// evidence: SeverityAttempt for a new contact point in free text alone,
	// SeverityAttemptActionable when it is a destination of a kind the
	// agent's tools can send to or pay, SeverityAttemptStrong with
	// instruction cues near it or in a part of the result out of its
	// tool's usual shape, SeverityAttemptCorroborated when both hold: the
	// value is actionable and cues or an out-of-shape part mark it (two
	// independent pieces of evidence about the content, ranked above the
	// novelty findings, which are one piece about the agent). Reported
	// once per session and grade, when a result carries stronger evidence
	// than the one reported. Validate keeps them ordered and below the
	// alert threshold: an attempt that was not acted on is evidence for
	// analysts, never an alert (and the containment policy never commands
	// on it: engine.go sets containment.Options.EvidenceKinds).
	Attempts                    bool
	SeverityAttempt             uint8
	SeverityAttemptActionable   uint8
	SeverityAttemptStrong       uint8
	SeverityAttemptCorroborated uint8
	// Unrequested enables unrequested_action at SeverityUnrequested: a
	// destructive or acting call the user's request does not ask for (nor delegate),
	// carrying an argument the user did not supply, in a session that read
	// outsider-written content, when the call raised no finding as strong
	// (the values that drive it — a hotel name, a file number, a password —
	// are not ones the extractor tracks).
	Unrequested         bool
	SeverityUnrequested uint8
	// SeverityAbandoned is the severity of task_abandoned (abandon.go): the
	// session ended right after the agent read outsider-written content,
	// without the action the request asks for and with a reply that carries
	// nothing of the request's subject nor anything specific (0: off);
	// SeverityAbandonedMarked when that content carried an injection mark
	// (a planted value, instruction cues, an out-of-shape part).
	SeverityAbandoned       uint8
	SeverityAbandonedMarked uint8
	// SeverityAnomalous is the least severity of an untrusted_to_sink,
	// private_to_sink or untrusted_fetch finding whose destination or
	// fetched location sat in a part of its result that departs from the
	// tool's usual output (outputs.go; 0: off).
	SeverityAnomalous uint8
}

// DefaultOptions returns the production settings.
func DefaultOptions() Options {
	return Options{
		MaxSessions:         0,
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
		// An attempt is evidence for analysts, not an incident: below the
		// alert threshold, excluded from compounding and from containment
		// by the engine (detector.EvidenceKinds), graded so that attempts
		// with more evidence rank above ones with less: a link alone 30,
		// a destination the agent's tools can act on 32, instruction cues
		// or content out of its tool's shape 34, both marks and an
		// actionable destination 46 (above every novelty finding, ≤ 45).
		Attempts:                  true,
		SeverityAttempt:           30,
		SeverityAttemptActionable: 32,
		SeverityAttemptStrong:     34,
		// above every novelty finding (new_tool, session_outlier,
		// unexplained_destination: at most 45), below the alert threshold
		SeverityAttemptCorroborated: 46,
		// An irreversible action nobody asked for, after reading content
		// outsiders write: above the alert threshold.
		Unrequested:         true,
		SeverityUnrequested: 60,
		// Content out of its tool's usual shape driving a consequential
		// call is injected content whatever its words: as strong as a
		// planted destination (70).
		SeverityAnomalous: 70,
		// The user's task dropped where the agent read content outsiders
		// write, the reply about something else: a denial-of-service
		// injection taking effect without a call (55, above the threshold,
		// below flows that move data; 65 when the content carried an
		// injection mark).
		SeverityAbandoned:       55,
		SeverityAbandonedMarked: 65,
	}
}

// ErrOptions reports flow options that contradict each other.
var ErrOptions = errors.New("flow: invalid options")

// Validate checks the attempt grades: ordered (weak ≤ actionable ≤
// strong) and, when attempts are on, below the alert threshold — an
// attempt is evidence for analysts, never an alert by itself.
func (o Options) Validate() error {
	if !o.Attempts {
		return nil
	}
	if o.SeverityAttempt > o.SeverityAttemptActionable || o.SeverityAttemptActionable > o.SeverityAttemptStrong ||
		o.SeverityAttemptStrong > o.SeverityAttemptCorroborated {
		return fmt.Errorf("%w: attempt severities %d, %d, %d, %d are not ordered weak <= actionable <= strong <= corroborated",
			ErrOptions, o.SeverityAttempt, o.SeverityAttemptActionable, o.SeverityAttemptStrong, o.SeverityAttemptCorroborated)
	}
	if o.SeverityAttemptCorroborated >= models.AlertThreshold {
		return fmt.Errorf("%w: SeverityAttemptCorroborated %d reaches the alert threshold %d", ErrOptions, o.SeverityAttemptCorroborated, models.AlertThreshold)
	}
	return nil
}

// Detector tracks data flow per session. It is not safe for concurrent use
// (one engine goroutine drives it).
type Detector struct {
	opts      Options
	sessions  *lru.LRU[*session] // most recently active first
	evictions atomic.Uint64      // sessions evicted (budget.go)

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
	ownBuf   []byte // ownRequest's scratch
	lowerBuf []byte // hear's scratch
	key      []byte
	ihits    []hit
	attempt  []hit
	own      map[string]struct{}
	rec      recordCache
	// fetchedFrom: the host the current result was fetched from ("": none)
	fetchedFrom string
	shape       shape
	cues        []cue
	seenVals    map[string]struct{}
	outputs     outputSpans // the current result's out-of-shape spans (outputs.go)
}

// New returns a Detector.
func New(opts Options) *Detector {
	if opts.Cues == nil {
		opts.Cues = DefaultCues
	}
	d := &Detector{opts: opts, seenVals: make(map[string]struct{}), own: make(map[string]struct{})}
	d.sessions = d.table()
	d.ext.maxLen = opts.MaxValueLen
	d.parser.x = &d.ext
	return d
}

// Name implements detector.Detector.
func (d *Detector) Name() string { return Name }

// Sessions returns how many sessions are tracked.
func (d *Detector) Sessions() int { return d.sessions.Len() }

// SessionValues returns how many observed and trusted values session id
// holds (0, 0 when it is not tracked).
func (d *Detector) SessionValues(id string) (observed, trusted int) {
	if s := d.sessions.Peek(id); s != nil {
		return (*s).values.len(), (*s).trusted.len()
	}
	return 0, 0
}

func (d *Detector) session(id string) *session {
	p, created := d.sessions.Put(id) // over MaxSessions: evicts the least recently active (counted)
	if !created {
		return *p
	}
	s := &session{id: id}
	s.values.max = d.opts.MaxValues
	s.trusted.max = d.opts.MaxTrusted
	s.reported.max = maxReported
	s.amounts.max = maxAmounts
	*p = s
	return s
}

func (d *Detector) drop(id string) { d.sessions.Delete(id) }

// tracked returns session id when it is tracked, nil otherwise, without
// creating it or changing its recency.
func (d *Detector) tracked(id string) *session {
	if p := d.sessions.Peek(id); p != nil {
		return *p
	}
	return nil
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
		p := d.sessions.Peek(s.parent)
		if p == nil {
			return
		}
		s = *p
	}
}

func (d *Detector) scan(text string, fn func(string, values.Class)) {
	if d.opts.MaxScanBytes > 0 && len(text) > d.opts.MaxScanBytes {
		text = text[:d.opts.MaxScanBytes]
	}
	d.ext.run(text, func(v string, c values.Class, _ int) { fn(v, c) })
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
		if s := d.tracked(ev.SessionID); s != nil && agent != nil {
			d.judgeEnd(s, ev, agent, emit) // abandon.go
		}
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
	d.noteTruncated(s, ev, emit) // scancap.go
	switch ev.Kind {
	case models.KindSessionStart:
		s.noteStart()
		d.trust(s, ev.Content, true)
	case models.KindMessage:
		// message events are user or system input by definition; an empty
		// role is read as such.
		if ev.Role == models.RoleUser || ev.Role == models.RoleSystem || ev.Role == "" {
			d.trust(s, ev.Content, ev.Role != models.RoleSystem)
		} else if ev.Role == models.RoleAssistant {
			d.noteAnswer(s, ev)
		}
	case models.KindReasoning:
		d.noteAnswer(s, ev)
	case models.KindToolResult:
		d.observeResult(s, ev, agent, emit)
	case models.KindToolCall:
		d.noteCall(s, ev)
		d.noteEndCall(s, ev, agent)
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
	d.scan(text, func(v string, _ values.Class) { s.trusted.put(v, struct{}{}) })
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
		s.end.own = len(s.request)
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
