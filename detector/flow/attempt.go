package flow

// Attempted injections.
//
// An injection is an attempt before it is a success: the content that tries
// to steer the agent is visible when the agent reads it, whether or not the
// agent obeys. A value of an untrusted_content or private_data result is
// "planted" when it is a contact point (an address: e-mail, URL, host,
// phone/account number, IBAN-shaped id — isAddress) that
//
//   - is new to the session (neither the user's nor seen in an earlier
//     result),
//   - sits in free text rather than as a record's own field value (a
//     "recipient: X" or "- X" line is the record's own entity; an address
//     inside prose, or on a bare line inside a text field, is not — see
//     isStructured), and
//   - sits in a record the user's request does not describe (request.go),
//
// or has instruction cues near it (instruct.go; cues add confidence but are
// not needed). The first result of a session with a planted value raises an
// injection_attempt finding (SeverityAttempt, 30: below the alert threshold,
// excluded from session compounding by the engine) naming up to three
// planted values, so analysts see attempts that did not take effect. It is
// reported once per session. No wording of any attack is looked for: the
// mark is the shape of the content (a new contact point dropped into text
// unrelated to the request), and the same value then used by a call raises
// the call's severity (judge.go).

import (
	"slices"
	"strconv"

	"github.com/tetherhq/tether/models"
)

// recordCache remembers the last record judged by describes, so the values
// of one record are compared with the request once.
type recordCache struct {
	start, end int
	ok         bool
	valid      bool
}

func (r *recordCache) reset() { r.valid = false }

// describes reports whether the request words describe the record around
// byte at of text (see recordBounds).
func (r *recordCache) describes(req *requestIndex, text string, at int) bool {
	if req == nil || len(req.words) == 0 {
		return false
	}
	start, end := recordBounds(text, at)
	if r.valid && r.start == start && r.end == end {
		return r.ok
	}
	r.start, r.end, r.valid = start, end, true
	r.ok = describes(req, []byte(text[start:end]))
	return r.ok
}

// recordBounds returns the record around byte at of text: from the last
// record boundary before it to the next after it (a blank line, or a line
// that opens a list item "- " or an object "{"), at most recordWindow bytes
// each side. A literal "\n" (an escaped line break in a serialised result)
// breaks lines too.
func recordBounds(text string, at int) (start, end int) {
	lo := max(0, at-recordWindow)
	start = lo
	for i := at - 1; i > lo; i-- {
		if lineStart(text, i) && isRecordOpen(text, i) {
			start = i
			break
		}
	}
	hi := min(len(text), at+recordWindow)
	end = hi
	for i := at + 1; i < hi; i++ {
		if lineStart(text, i) && isRecordOpen(text, i) {
			end = i
			break
		}
	}
	return start, end
}

// lineStart reports whether a line starts at byte i: after '\n' or after a
// literal "\n".
func lineStart(text string, i int) bool {
	return text[i-1] == '\n' || (i >= 2 && text[i-1] == 'n' && text[i-2] == '\\')
}

// isRecordOpen reports whether the line starting at i opens a record: it is
// blank, or (after indentation) starts with "- " or "{".
func isRecordOpen(text string, i int) bool {
	for i < len(text) && (text[i] == ' ' || text[i] == '\t') {
		i++
	}
	if i >= len(text) || text[i] == '\n' || text[i] == '\r' || (text[i] == '\\' && i+1 < len(text) && text[i+1] == 'n') {
		return true
	}
	if text[i] == '{' {
		return true
	}
	return text[i] == '-' && i+1 < len(text) && text[i+1] == ' '
}

// isStructured reports whether the token at byte at of text is a field
// value: a key ("key:", "key =", a JSON member), a list marker or a field
// separator (',', '|', tab) before it on its line, and nothing but quotes,
// closing punctuation or the next field's separator after it. A token inside
// prose, or alone on a line inside a text field, is not.
func isStructured(text string, at int) bool {
	ls := at
	for ls > 0 && !lineStart(text, ls) {
		ls--
	}
	end := at
	for end < len(text) && !isDelim(text[end]) {
		end++
	}
	if at > 0 && text[at-1] == '<' && end < len(text) && text[end] == '>' {
		return true // a name-addr: "Dora Stone <dora@example.com>"
	}
	after := text[end:]
	for len(after) > 0 && (after[0] == '"' || after[0] == '\'' || after[0] == ')' || after[0] == ' ') {
		after = after[1:]
	}
	switch {
	case after == "", after[0] == '\n', after[0] == '\r', after[0] == ',', after[0] == '|', after[0] == ';',
		after[0] == '\t', after[0] == '}', after[0] == ']':
	case after[0] == '\\' && len(after) > 1 && after[1] == 'n':
	case after[0] == '.' && (len(after) == 1 || after[1] == '\n'):
	default:
		return false
	}
	before := text[ls:at]
	for len(before) > 0 {
		switch before[len(before)-1] {
		case ' ', '\t', '"', '\'', '<', '(':
			before = before[:len(before)-1]
			continue
		}
		break
	}
	if before == "" {
		return false // a bare line: text inside a field
	}
	switch before[len(before)-1] {
	case ':', '=', '[', '{', ',', '|':
		return true
	case '-':
		return len(before) == 1 || before[len(before)-2] == ' ' || before[len(before)-2] == '\t'
	}
	return false
}

// maxCandidates bounds the candidate planted values judged per result.
const maxCandidates = 16

// plant keeps the candidate planted values of result ev (d.attempt) that
// are not also one of the result's own entities (d.own), marks them planted
// in the session and its ancestors, and emits the session's
// injection_attempt finding (once per session).
func (d *Detector) plant(s *session, ev *models.Event, directed bool, emit func(models.Finding)) {
	kept := d.attempt[:0]
	for _, h := range d.attempt {
		if _, own := d.own[h.value]; own || slices.ContainsFunc(kept, func(k hit) bool { return k.value == h.value }) {
			continue
		}
		kept = append(kept, h)
		d.chain(s, func(a *session) bool {
			if e, ok := a.values.get(h.value); ok && !e.planted {
				e.planted = true
				a.values.put(h.value, e)
			}
			return true
		})
	}
	d.attempt = kept
	if len(kept) == 0 || !d.opts.Attempts || s.attempted {
		return
	}
	if len(d.attempt) > maxListed {
		d.attempt = d.attempt[:maxListed]
	}
	s.attempted = true
	cued := false
	for _, h := range d.attempt {
		cued = cued || h.instructed
	}
	conf := 0.4
	if cued {
		conf = 0.7
	}
	b := d.expl[:0]
	b = append(b, ev.ToolName...)
	b = append(b, " result "...)
	b = append(b, ev.ID...)
	b = append(b, " carries content aimed at the agent (not acted on yet): "...)
	for i, h := range d.attempt {
		if i > 0 {
			b = append(b, "; "...)
		}
		b = append(b, h.class.String()...)
		b = append(b, ' ')
		b = strconv.AppendQuote(b, Redact(h.value, h.class))
		if h.instructed {
			b = append(b, " with instruction cues ("...)
			b = appendCues(b, h.cues)
			b = append(b, ')')
		} else {
			b = append(b, " new to the session, in free text of a record the user's request does not describe"...)
		}
	}
	if directed {
		b = append(b, "; the user directed the agent to the source"...)
	}
	d.expl = b
	emit(models.Finding{
		Kind:        KindInjectionAttempt,
		Severity:    d.opts.SeverityAttempt,
		Confidence:  conf,
		Explanation: string(b),
		EvidenceIDs: []string{ev.ID},
		Features:    []models.Feature{{Name: "planted_values", Observed: float64(len(d.attempt))}},
	})
}
