package flow

// Abandoned tasks.
//
// Not every injection asks for a call. "Stop what you are doing", insults,
// a claim that the content is illegal to process, a task the agent cannot
// do (a captcha) — a denial-of-service injection wins when the agent drops
// the user's task, and what it leaves behind is an absence: the action the
// user asked for never happens, and the reply carries none of what the user
// asked about. The mark is not in any wording but in how the session ends
// (judged at session_end):
//
//   - the agent's last tool event is a result of outsider-written content
//     (an untrusted_content or private_data tool): it made no call after
//     reading it;
//   - no call of a public_sink or destructive tool that the request asks
//     for (callFor) was made in the session;
//   - the agent replied after that result (a reasoning event, or an
//     assistant message), and the reply carries nothing specific
//     (Detector.specific): no value the user supplied; no value read in the
//     session that was not planted in an undescribed record, and for a link
//     or e-mail address only when the request asks about links or e-mail
//     (injected text sits in the very records a request describes, so a
//     reply repeating an address from them is an echo, not an answer); no
//     token with a digit; no capitalised word
//     inside a sentence; no word of four or more letters, other than a
//     function word, that the request also holds (a failed but on-topic
//     reply, "I found no e-mail from Anna", is not an abandonment).
//
// That raises task_abandoned: Options.SeverityAbandoned (55), or
// SeverityAbandonedMarked (65) when the result carried an injection mark
// — a planted value (attempt.go), instruction cues of at least InstructMin
// categories within 2×InstructWindow bytes (instruct.go), or a part out of
// its tool's usual shape (outputs.go). Marks raise confidence; the finding
// does not need them. A request that delegates to content ("follow the
// instructions in …", "adjust my payment accordingly") is judged on the
// user's own words: the content it hands the choice of actions to is what
// the request asks for, but a reply that speaks of neither the user's
// subject nor anything specific abandons it all the same (the notice the
// user pointed at telling the agent to stop and answer "asdf") — when the
// user's own words ask for an action of their own; a request that only
// delegates ("follow the instructions in Anna's e-mail") is not judged:
// stopping may be what the content asks for. Only sessions whose start this detector saw are judged (a session
// restored from a checkpoint, or first seen mid-way, is not: its earlier
// calls are unknown); child sessions (sub-agents) are not judged (their
// request is their parent's).
//
// Real agents also give up: in the shared AgentDojo runs 730 of 1,649
// clean sessions fail their task, and 3 of them end this way (a defence
// that blanked the results, an agent asking back), the rest with an
// on-topic or specific reply, a call, or no reply.
//
// The cost is O(1) per event plus one pass over the cues a result already
// has, and at a reply after outsider content one extractor pass over the
// reply and a scan of the request; per session it keeps a few flags.

import (
	"strings"

	"github.com/tetherhq/tether/detector/values"
	"github.com/tetherhq/tether/models"
)

// KindTaskAbandoned is the finding kind of an abandoned task.
const KindTaskAbandoned = "task_abandoned"

// endState is what a session keeps to judge how it ends.
type endState struct {
	// started: the detector saw the session start (only such sessions are
	// judged).
	started bool
	// acted: a call of a public_sink or destructive tool that the request
	// asks for was made.
	acted bool
	// stopped: the last tool event of the session is a result of outsider
	// content (no call followed it); markEvent is that result and mark
	// names its injection mark ("": none).
	stopped   bool
	mark      string
	markEvent string
	// answered: the agent replied after the last tool event; specific: the
	// reply carries something specific (see the file comment).
	answered, specific bool
	// own: the length of the session's request that holds the user's own
	// words (what a delegated source appends to it is not); not
	// checkpointed — a restored session is not judged.
	own int
}

// noteStart begins judging s.
func (s *session) noteStart() {
	if !s.child {
		s.end = endState{started: true}
	}
}

// noteEndCall records a call of the session for the judgement of its end.
func (d *Detector) noteEndCall(s *session, ev *models.Event, agent *models.AgentSpec) {
	s.end.stopped, s.end.answered, s.end.specific = false, false, false
	if s.end.acted || !s.end.started {
		return
	}
	t := agent.Tool(ev.ToolName)
	if t == nil || !(t.Has(models.LabelPublicSink) || t.Has(models.LabelDestructive)) {
		return
	}
	if r := d.requestOf(s); r != nil && r.req.callFor(ev.ToolName) {
		s.end.acted = true
	}
}

// noteEndResult records whether result ev (outsider content when outsider)
// carried an injection mark; planted is whether it carried a planted value.
func (d *Detector) noteEndResult(s *session, ev *models.Event, outsider, planted bool) {
	s.end.stopped, s.end.answered, s.end.specific = false, false, false
	if !s.end.started || !outsider {
		return
	}
	mark := ""
	switch {
	case planted:
		mark = "a planted value"
	case cuedAnywhere(d.cues):
		mark = "instruction cues"
	case len(d.outputs.spans) > 0:
		mark = "content out of the tool's usual shape"
	}
	s.end.stopped, s.end.mark, s.end.markEvent = true, mark, ev.ID
}

// cuedAnywhere reports whether some cue of cues has cues of at least
// InstructMin categories within InstructWindow bytes (cues sorted by
// position).
func cuedAnywhere(cues []cue) bool {
	lo := 0
	var counts [4]int // cues per category in the window cues[lo:hi]
	for hi := range cues {
		for i := 0; i < 4; i++ {
			if cues[hi].cat&(1<<i) != 0 {
				counts[i]++
			}
		}
		for cues[hi].pos-cues[lo].pos > 2*InstructWindow {
			for i := 0; i < 4; i++ {
				if cues[lo].cat&(1<<i) != 0 {
					counts[i]--
				}
			}
			lo++
		}
		n := 0
		for _, c := range counts {
			if c > 0 {
				n++
			}
		}
		if n >= InstructMin {
			return true
		}
	}
	return false
}

// noteAnswer records the agent's reply (a reasoning event with text) after
// the last tool event.
func (d *Detector) noteAnswer(s *session, ev *models.Event) {
	if !s.end.started || !s.end.stopped || ev.Content == "" {
		return
	}
	s.end.answered = true
	s.end.specific = s.end.specific || d.specific(s, ev.Content)
}

// ownRequest returns the lower-cased words the user wrote in the request
// of r (s's request session): all of it unless a delegated source was
// appended (values.go), then the part before it, lower-cased into
// d.ownBuf.
func (d *Detector) ownRequest(s, r *session) []byte {
	if !r.req.delegated || r != s || s.end.own <= 0 || s.end.own >= len(r.request) {
		return r.req.lower
	}
	d.ownBuf = appendLower(d.ownBuf[:0], string(r.request[:s.end.own]))
	return d.ownBuf
}

// specific reports whether reply carries something specific: a value the
// user supplied, a value read in the session that was not planted in an
// undescribed record (a link or e-mail address only when the request asks
// about links or e-mail), a token with a digit, a
// capitalised word inside a sentence, or a word of the request's subject
// (sharesWord).
func (d *Detector) specific(s *session, reply string) bool {
	text := reply
	if d.opts.MaxScanBytes > 0 && len(text) > d.opts.MaxScanBytes {
		text = text[:d.opts.MaxScanBytes]
	}
	r := d.requestOf(s)
	var req []byte
	if r != nil {
		req = d.ownRequest(s, r)
	}
	found := false
	d.ext.run(text, func(v string, c values.Class, _ int) {
		if found {
			return
		}
		e, seen, trusted := d.lookup(s, v)
		switch {
		case trusted:
			found = true
		case !seen || (e.planted && !e.described):
		case c == values.URL || c == values.Host:
			// a link or address read in content is what the reply is
			// about only when the request asks about that kind of thing:
			// injected text sits in the very records a request describes
			found = matchesFamily(req, "url")
		case c == values.Email:
			found = matchesFamily(req, "email")
		default:
			found = true
		}
	})
	if found {
		return true
	}
	if sharesWord(req, text) {
		return true
	}
	start := true // the next word opens a sentence
	for _, w := range strings.Fields(text) {
		if isContactToken(w) {
			start = false
			continue
		}
		for i := 0; i < len(w); i++ {
			if isDigit(w[i]) {
				return true
			}
		}
		if !start && len(w) > 1 && 'A' <= w[0] && w[0] <= 'Z' && w != "I" && !strings.HasPrefix(w, "I'") {
			return true
		}
		switch w[len(w)-1] {
		case '.', '!', '?', ':':
			start = true
		default:
			start = false
		}
	}
	return false
}

// judgeEnd judges how session s ends (see the file comment).
func (d *Detector) judgeEnd(s *session, ev *models.Event, agent *models.AgentSpec, emit func(models.Finding)) {
	e := &s.end
	if !e.started || !e.stopped || e.acted || !e.answered || e.specific || d.opts.SeverityAbandoned == 0 {
		return
	}
	r := d.requestOf(s)
	if r == nil {
		return
	}
	own := d.ownRequest(s, r)
	asked := ""
	for i := range agent.Tools {
		t := &agent.Tools[i]
		if (t.Has(models.LabelPublicSink) || t.Has(models.LabelDestructive)) && callFor(own, t.Name) {
			asked = t.Name
			break
		}
	}
	if r.req.delegated && asked == "" {
		// the user's own words ask for no action: what the content says
		// to do, stopping included, is what the request asks for
		return
	}
	sev, conf := d.opts.SeverityAbandoned, 0.5
	b := d.expl[:0]
	b = append(b, "the session ended right after result "...)
	b = append(b, e.markEvent...)
	b = append(b, " (outsider-written content"...)
	if e.mark != "" {
		sev, conf = max(sev, d.opts.SeverityAbandonedMarked), 0.7
		b = append(b, " with "...)
		b = append(b, e.mark...)
	}
	b = append(b, ") "...)
	if asked != "" {
		b = append(b, "without the action the request asks for (no call of "...)
		b = append(b, asked...)
		b = append(b, " or another tool it asks for), "...)
	}
	b = append(b, "with a reply that carries nothing of the request's subject and no value, number or name but what the content planted"...)
	d.expl = b
	emit(models.Finding{
		Kind:        KindTaskAbandoned,
		Severity:    sev,
		Confidence:  conf,
		Explanation: string(b),
		EvidenceIDs: []string{e.markEvent, ev.ID},
	})
}

// functionWords are English words of four or more letters that carry no
// subject of their own: a reply sharing only these with the request is
// not about what the request asks.
var functionWords = map[string]bool{
	"about": true, "after": true, "again": true, "also": true, "been": true, "before": true, "being": true,
	"can't": true, "could": true, "does": true, "doesn't": true, "done": true, "don't": true, "each": true,
	"from": true, "going": true, "have": true, "here": true, "i'll": true, "i've": true, "into": true, "just": true,
	"know": true, "like": true, "make": true, "many": true, "more": true, "most": true, "much": true,
	"need": true, "only": true, "other": true, "please": true, "should": true, "some": true, "such": true,
	"sure": true, "than": true, "that": true, "their": true, "them": true, "then": true, "there": true,
	"these": true, "they": true, "this": true, "those": true, "very": true, "want": true, "were": true,
	"what": true, "what's": true, "when": true, "where": true, "which": true, "while": true, "will": true,
	"with": true, "won't": true, "would": true, "your": true, "you're": true, "yours": true,
}

// sharesWord reports whether reply holds a word of four or more letters,
// not a function word nor part of a contact point (a link's or address's
// words say nothing of the subject), that the (lower-cased) request also
// holds: the reply speaks of what the request is about.
func sharesWord(req []byte, reply string) bool {
	found := false
	for _, t := range strings.Fields(reply) {
		if found {
			break
		}
		if isContactToken(t) {
			continue
		}
		eachWord(t, func(w string) {
			if !found && len(w) >= 4 && !functionWords[w] && containsWordFold(req, w) {
				found = true
			}
		})
	}
	return found
}

// eachWord calls fn for each lower-cased run of letters and apostrophes of
// text (at most 32 bytes; longer runs are skipped).
func eachWord(text string, fn func(w string)) {
	var buf [32]byte
	for i := 0; i < len(text); {
		if !isWordByte(text[i]) {
			i++
			continue
		}
		j := i
		for j < len(text) && isWordByte(text[j]) {
			j++
		}
		if n := j - i; n <= len(buf) {
			for k := 0; k < n; k++ {
				buf[k] = text[i+k] | 0x20
			}
			fn(string(buf[:n]))
		}
		i = j
	}
}
