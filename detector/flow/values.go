package flow

// The value store: what a session knows about each value that entered it
// (trusted user input, tool results by source label, instruction cues and
// user direction), bounded per session, and the user text kept to decide
// what the user asked for.

import (
	"bytes"
	"strings"

	"github.com/tetherhq/tether/detector/values"
	"github.com/tetherhq/tether/models"
)

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
	class     values.Class
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
	// described: some untrusted or private occurrence sat in a record that
	// the user's request describes (request.go). planted: some such
	// occurrence was a contact point new to the session, in free text, in a
	// record the request does not describe, or had instruction cues nearby:
	// content aimed at the agent (attempt.go).
	described, planted bool
	// unnamed: some untrusted or private occurrence came from a call whose
	// arguments named nothing of the user's own messages (a trusted value or
	// a whole argument found in the user's text) — at most a value from a
	// record the request describes. A request that delegates ("do the tasks
	// on my TODO list at …") hands the choice of actions to the source the
	// user named, not to content reached through it (the article a task on
	// the list points at).
	unnamed bool
	// namedPage: some occurrence was on a page fetched from a location
	// (a URL or host argument) by a call that named the user's own words:
	// the request asks to read that page, and a link planted in it is not
	// one of the links it asks for.
	namedPage bool
	// counterparty: some occurrence was a field value of the records of a
	// result of the user's own store (a private_data tool that is not
	// untrusted_content) that the store's schema holds: the result alone
	// (the user's own IBAN) or a field whose key recurs, at the same
	// indentation, in the result's other records (the "recipient" of a
	// past transaction; isSchemaField). Outsiders write free text into
	// such stores (a subject, a note, a document's lines), not the
	// schema's fields.
	counterparty bool
	// anomalous: some occurrence sat in a part of its result that departs
	// from the tool's usual output (outputs.go).
	anomalous bool
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
	// bytes is the set's heap as of the last heapBytes (budget.go), valid
	// while sized (put clears it).
	bytes int
	sized bool
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
	s.sized = false
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
	values  valueSet[entry]
	trusted valueSet[struct{}]
	// text is the lower-cased user/system text (bounded by MaxTrustedText).
	text []byte
	// request is the text of the user's own messages (not the system
	// prompt), bounded by MaxTrustedText; req holds its derived forms
	// (request.go), rebuilt when its length changes (not part of the
	// state).
	request []byte
	req     requestIndex
	// attempt: the grade of the strongest injection_attempt reported for
	// the session (gradeNone: none).
	attempt grade
	// amounts holds the amounts (eachAmount) of results read by calls
	// directed at something the user named, at most maxAmounts, oldest
	// first out: what a source the user pointed at bills (judge.go
	// strayAmount).
	amounts valueSet[struct{}]
	// directed records, per pending tool call (by call id, else by tool
	// name), whether its arguments named a trusted value; at most
	// maxPending entries.
	directed map[pendingKey]pending
	// reported holds the (tool, value) pairs already reported as
	// instructed_call (key: tool + "\x00" + value), at most maxReported,
	// oldest first out.
	reported valueSet[struct{}]
	// hasInstructed: some value of the session was instructed (not part
	// of the state; recomputed on restore). Lets non-sink calls of
	// sessions without instructions skip argument parsing.
	hasInstructed bool
	// hasOutsider: the session read an untrusted_content result with an
	// instruction cue, or some value of it came from an untrusted or
	// private result (state flag 8).
	// Lets calls of sessions without such content skip the fetch
	// judgement; unrequested_action needs it.
	hasOutsider bool
	// readUntrusted: the session read an untrusted_content result with
	// words in it (state flag 64). unrequested_action of a call that acts
	// without being destructive (judge.go acts) needs it: private records
	// alone (a calendar the agent searched) do not make the session's
	// actions outsider-driven.
	readUntrusted bool
	// readMarked: an untrusted_content result of the session carried an
	// injection mark — a planted value, instruction cues or a part out of
	// its tool's usual shape (state flag 128). unrequested_action of a
	// call that only acts needs it: an agent whose workflow writes notes
	// or reports after reading the web does so by design, and only
	// content that departs from its source's shape or speaks to the
	// agent makes such a write suspect.
	readMarked bool
	// heard: word pairs of the session's untrusted results (heard.go).
	heard heardRing
	// end: how the session is ending (abandon.go; not part of the state:
	// a restored session is not judged).
	end endState
}

// maxReported bounds the instructed_call (tool, value) pairs remembered per
// session.
const maxReported = 64

// maxAmounts bounds the amounts of user-directed results remembered per
// session.
const maxAmounts = 64

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

func (d *Detector) observeResult(s *session, ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
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
	var directed, named bool
	d.fetchedFrom = ""
	if flags != 0 {
		// untrusted and private results alike: outsider-written text also
		// sits in private stores (a transaction subject, a shared file).
		key := pendingKeyOf(ev)
		p := s.directed[key]
		directed, named, d.fetchedFrom = p.directed, p.named, p.location
		delete(s.directed, key)
		d.cues = d.opts.Cues.instructionCues(text, d.cues)
	}
	if flags&fromUntrusted != 0 && hasWords(text) {
		// outsider-written content, whether or not it carries a value the
		// extractor tracks or words addressed to the agent (a review
		// telling the assistant to book a hotel, in whatever words):
		// what follows is judged on provenance, not on how the content
		// is worded. An empty record ("{}", "[]") carries no content.
		// A destructive or acting call is then judged on whether its
		// arguments repeat the content's words (heard.go) unless the
		// content spoke to the agent (an instruction cue: hasOutsider) or
		// carried an injection mark (readMarked).
		cued := len(d.cues) > 0
		d.chain(s, func(a *session) bool { a.hasOutsider, a.readUntrusted = a.hasOutsider || cued, true; return true })
	}
	if d.opts.MaxScanBytes > 0 && len(text) > d.opts.MaxScanBytes {
		text = text[:d.opts.MaxScanBytes]
	}
	if flags&fromUntrusted != 0 && hasWords(text) {
		d.hear(s, text) // heard.go
	}
	var req *requestIndex
	if r := d.requestOf(s); r != nil {
		if named && flags != 0 && r.req.delegated {
			// the user handed the choice of actions to this content ("do
			// the tasks on my TODO list at …"): what it asks for is asked
			// for, and the records it names are described. Only a source
			// the user's own words name: content reached through it (the
			// page a task on the list points at) is read on the user's
			// behalf, not obeyed.
			if room := d.opts.MaxTrustedText - len(r.request); room > 0 {
				r.request = append(r.request, '\n')
				r.request = append(r.request, text[:min(len(text), room)]...)
				r = d.requestOf(s)
			}
		}
		req = &r.req
	}
	if directed && flags != 0 {
		eachAmount(text, func(a string) { s.amounts.put(a, struct{}{}) })
	}
	d.rec.reset()
	d.shape.valid = false
	d.attempt = d.attempt[:0]
	clear(d.own)
	d.outputs.load(ev, agent)
	d.ext.run(text, func(v string, c values.Class, at int) {
		anomalous := d.outputs.at(at)
		var near cueCat
		if flags != 0 {
			near = cuesNear(d.cues, at)
		}
		instructed := catCount(near) >= InstructMin
		described, counterparty := false, false
		if flags != 0 && (c == values.File || isAddress(v, c)) {
			// a file the request's record names is pointed at like an
			// address ("email the task in the minutes to each person":
			// the agenda file the task names)
			described = d.rec.describes(req, text, at)
		}
		if flags != 0 && isAddress(v, c) {
			switch {
			case d.fetchedFrom == "" && isStructured(text, at, &d.shape), ownOf(d.fetchedFrom, v, c):
				// the result's own entity; on a page fetched from a host,
				// only that host's own addresses are the page's
				counterparty = flags == fromPrivate && d.fetchedFrom == "" && isSchemaField(text, at)
				d.own[v] = struct{}{} // one of the result's own entities
				if c == values.Email {
					d.own[v[strings.LastIndexByte(v, '@')+1:]] = struct{}{} // its domain
				}
			case (!described || instructed || anomalous) && len(d.attempt) < maxCandidates:
				// a candidate planted value, if new to the session; in a
				// record the request describes (or content the user
				// delegated to) only with evidence of an attempt
				// (pointed: reported, not marked planted — the user asked
				// for the record; attempt.go)
				if _, seen, trusted := d.lookup(s, v); !seen && !trusted {
					d.attempt = append(d.attempt, hit{kind: KindInjectionAttempt, value: v, class: c, src: src, instructed: instructed, cues: near, anomalous: anomalous, pointed: described})
				}
			}
		}
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
			e.described = e.described || described
			e.unnamed = e.unnamed || (flags != 0 && !named)
			e.namedPage = e.namedPage || (flags != 0 && named && d.fetchedFrom != "")
			e.counterparty = e.counterparty || counterparty
			e.anomalous = e.anomalous || (anomalous && !d.isOwn(v))
			a.hasOutsider = a.hasOutsider || flags != 0
			e.flags |= flags
			a.values.put(v, e)
			return true
		})
	})
	if len(d.attempt) > 0 {
		d.plant(s, ev, agent, directed, emit)
	}
	if flags&fromUntrusted != 0 && (len(d.attempt) > 0 || cuedAnywhere(d.cues) || len(d.outputs.spans) > 0) {
		d.chain(s, func(a *session) bool { a.readMarked = true; return true })
	}
	d.noteEndResult(s, ev, flags != 0, len(d.attempt) > 0) // abandon.go
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
			e.described = e.described || x.described
			e.planted = e.planted || x.planted
			e.counterparty = e.counterparty || x.counterparty
			e.unnamed = e.unnamed || x.unnamed
			e.namedPage = e.namedPage || x.namedPage
			e.anomalous = e.anomalous || x.anomalous
			e.flags |= x.flags
		}
		return true
	})
	return e, seen, trusted
}

// noteCall records whether a tool call's arguments name something the user
// named: a trusted extracted value, a value read from a record the request
// describes, or a whole short argument string (a page, file, channel or
// person name) found at word boundaries in the user's text. Its result is
// then "user-directed".
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
	directed, named := false, false
	location := ""
	for _, l := range leaves {
		v := l.text
		if location == "" && isSingleToken(v) {
			d.scan(v, func(x string, c values.Class) {
				if location == "" && (c == values.Host || c == values.URL) {
					if e := strings.IndexAny(x, "/?#"); e >= 0 {
						x = x[:e]
					}
					location = x
				}
			})
		}
		if named {
			continue
		}
		if len(v) >= 4 && len(v) <= 64 && !isDigits(v) && containsWordFold(text, v) {
			directed, named = true, true
			continue
		}
		d.scan(v, func(x string, _ values.Class) {
			if !named {
				// a user-supplied value (named), or one read from a record
				// the request describes (the user pointed at it by
				// description)
				e, _, trusted := d.lookup(s, x)
				named = trusted
				directed = directed || trusted || e.described
			}
		})
	}
	if !directed && location == "" {
		return
	}
	if s.directed == nil || len(s.directed) >= maxPending {
		s.directed = make(map[pendingKey]pending)
	}
	key.name = strings.Clone(key.name)
	s.directed[key] = pending{directed: directed, named: named, location: strings.Clone(location)}
}

// pending is what a tool call tells about its result: whether its
// arguments named something the user named (directed: a trusted value, a
// whole argument found in the user's text, or a value from a record the
// request describes; named: one of the first two, the user's own words),
// and the host it fetches (location: the first argument that is a URL or
// host alone).
type pending struct {
	directed, named bool
	location        string
}

// ownOf reports whether contact point v (of class c) belongs to the
// location a result was fetched from: the same host or a subdomain, or an
// e-mail address or host whose first label is one of the location's
// labels ("dora@mail.example" on dora-site.example). A page's own contact
// points are not planted.
func ownOf(location, v string, c values.Class) bool {
	if location == "" {
		return false
	}
	host, local := v, ""
	switch c {
	case values.Email:
		at := strings.LastIndexByte(v, '@')
		host, local = v[at+1:], v[:at]
	case values.URL:
		if e := strings.IndexAny(host, "/?#"); e >= 0 {
			host = host[:e]
		}
	case values.Host:
	default:
		return false
	}
	if host == location || strings.HasSuffix(host, "."+location) || strings.HasSuffix(location, "."+host) {
		return true
	}
	first := local
	if first == "" {
		first, _, _ = strings.Cut(host, ".")
	}
	if k := strings.IndexAny(first, ".+_"); k > 0 {
		first = first[:k]
	}
	if len(first) < 3 {
		return false
	}
	for _, lab := range strings.FieldsFunc(location, func(r rune) bool { return r == '.' || r == '-' }) {
		if lab == first {
			return true
		}
	}
	return false
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

// hasWords reports whether text holds a word: a run of at least three
// letters (any non-ASCII byte counts as a letter). A result of only
// punctuation, digits and short tokens ("{}", "[]", "ok") is no content
// anyone wrote.
func hasWords(text string) bool {
	run := 0
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c >= 0x80 || (c|0x20 >= 'a' && c|0x20 <= 'z') {
			if run++; run >= 3 {
				return true
			}
			continue
		}
		run = 0
	}
	return false
}
