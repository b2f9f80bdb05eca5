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
//     inside prose, on a bare line inside a text field, or in a notice
//     pasted into a field is not — see isStructured), is not of the
//     domain of one of the result's own addresses (a password-reset link
//     from the sender's domain), and, on a page fetched from a host, is not
//     that host's own (ownOf), and
//   - sits in a record the user's request does not describe (request.go),
//
// or has instruction cues near it (instruct.go; cues add confidence but are
// not needed). A result with a planted value raises an injection_attempt
// finding naming up to three planted values, strongest evidence first, so
// analysts see attempts that did not take effect. It is graded by the
// evidence (grade, gradeOf):
//
//   - weak (SeverityAttempt, 30): the contact point alone — a link in a
//     chat message is common and following it moves nothing by itself;
//   - actionable (SeverityAttemptActionable, 32): the value is a
//     destination the agent's tools can act on — an e-mail address and a
//     sending tool, an account or phone number and a paying or sending
//     tool (the inventory's labels);
//   - strong (SeverityAttemptStrong, 34): instruction cues near the value,
//     or the value sits in a part of the result that departs from its
//     tool's usual output (outputs.go) — evidence whatever the wording;
//   - corroborated (SeverityAttemptCorroborated, 46): strong and
//     actionable at once — two independent pieces of evidence about the
//     content (it is marked as aimed at the agent, and what it plants is
//     something the agent's tools can send to or pay), ranked above the
//     novelty findings (at most 45: one piece of evidence about the agent).
//
// It is reported once per session and grade: again when a later result
// carries stronger evidence than the one reported (a link in the channel
// the user asked about, then a notice on the page it leads to), never for
// weaker evidence. Every grade is below the alert threshold, the engine
// excludes the kind from session compounding, and the containment policy
// never commands on it (containment.Options.EvidenceKinds): an attempt the
// agent has not acted on is evidence for the analyst, not a deviation of
// the agent — it ranks a session above clean ones without issuing commands.
// The agent's own calls that use a planted value are judged as calls
// (judge.go) and contained as such. No wording of
// any attack is looked for: the mark is the shape of the content (a new
// contact point dropped into text unrelated to the request), and the same
// value then used by a call raises the call's severity (judge.go).

import (
	"slices"
	"strconv"
	"strings"

	"github.com/tetherhq/tether/detector/values"
	"github.com/tetherhq/tether/models"
)

// recordCache remembers the last record judged by describes, so the values
// of one record are compared with the request once.
type recordCache struct {
	start, end int
	exact      bool // both bounds are record boundaries, not the window
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
	if r.valid && r.exact && r.start <= at && at < r.end {
		return r.ok
	}
	start, end, exact := recordBounds(text, at)
	if r.valid && r.start == start && r.end == end {
		return r.ok
	}
	r.start, r.end, r.exact, r.valid = start, end, exact, true
	r.ok = describes(req, text[start:end])
	return r.ok
}

// recordBounds returns the record around byte at of text: from the last
// record boundary before it to the next after it (a blank line, or a line
// that opens a list item "- " or an object "{"), at most recordWindow bytes
// each side; exact reports that both bounds are boundaries. A literal "\n"
// (an escaped line break in a serialised result) breaks lines too. Only
// line starts are examined.
func recordBounds(text string, at int) (start, end int, exact bool) {
	lo := max(0, at-recordWindow)
	start, end = lo, min(len(text), at+recordWindow)
	sExact, eExact := lo == 0, end == len(text)
	for i := at; i > lo; {
		j := lastLineBreak(text[lo:i])
		if j < 0 {
			break
		}
		i = lo + j
		ls := i + 1
		if text[i] == '\\' {
			ls = i + 2
		}
		if ls <= at && isRecordOpen(text, ls) {
			start, sExact = ls, true
			break
		}
	}
	for i := at; i < end; {
		j := nextLineBreak(text[i:end])
		if j < 0 {
			break
		}
		i += j
		ls := i + 1
		if text[i] == '\\' {
			ls = i + 2
		}
		if ls < len(text) && isRecordOpen(text, ls) {
			end, eExact = ls, true
			break
		}
		i = ls
	}
	return start, end, sExact && eExact
}

// lastLineBreak returns the index in s of the last '\n' or of the '\\' of
// the last literal "\n", or -1.
func lastLineBreak(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		switch s[i] {
		case '\n':
			return i
		case 'n':
			if i > 0 && s[i-1] == '\\' {
				return i - 1
			}
		}
	}
	return -1
}

// nextLineBreak returns the index in s of the first '\n' or of the '\\' of
// the first literal "\n", or -1.
func nextLineBreak(s string) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\n':
			return i
		case '\\':
			if i+1 < len(s) && s[i+1] == 'n' {
				return i
			}
		}
	}
	return -1
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

// shape describes the lines of one result for isStructured: whether it is
// record-shaped (at least two thirds of its non-empty lines are "key: value"
// lines) and how many "key: value" lines each indentation holds. It is
// computed once per result, when the first address needs it.
type shape struct {
	valid        bool
	recordShaped bool
	kvLines      int
	byIndent     [9]int // index min(indent, 8)
}

// measure fills s from text (one pass over its lines).
func (s *shape) measure(text string) {
	*s = shape{valid: true}
	lines := 0
	for i := 0; i < len(text); {
		j := i
		for j < len(text) && text[j] != '\n' {
			j++
		}
		line := text[i:j]
		ind := 0
		for ind < len(line) && (line[ind] == ' ' || line[ind] == '\t') {
			ind++
		}
		if ind < len(line) {
			lines++
			if _, ok := lineKey(line[ind:]); ok {
				s.kvLines++
				s.byIndent[min(ind, 8)]++
			}
		}
		i = j + 1
	}
	s.recordShaped = lines > 0 && 3*s.kvLines >= 2*lines
}

// lineKey returns the key of a "key: value" line (after indentation and an
// optional list marker "- "): one to three words before a ':' that is
// followed by a space or the end of the line.
func lineKey(line string) (string, bool) {
	if len(line) > 1 && line[0] == '-' && line[1] == ' ' {
		line = line[2:]
	}
	words := 0
	for i := 0; i < len(line) && i < 40; i++ {
		c := line[i]
		switch {
		case isAlpha(c) || isDigit(c) || c == '_' || c == '-':
			if i == 0 || line[i-1] == ' ' {
				words++
			}
		case c == ' ':
			if i == 0 || words >= 3 {
				return "", false
			}
		case c == ':':
			if words > 0 && (i+1 == len(line) || line[i+1] == ' ') {
				return line[:i], true
			}
			return "", false
		default:
			return "", false
		}
	}
	return "", false
}

// isStructured reports whether the token at byte at of text is a field
// value of the result's own records, not text dropped into a field:
//
//   - the result is the token alone, or the token is a name-addr
//     ("Dora Stone <dora@example.com>"), or the key of a "key: value"
//     line (a mapping keyed by address: "shared_with:" then
//     "  dora@example.com: rw");
//   - or the token is the whole value of its field: a key ("key:", "key =",
//     a JSON member), a list marker or a field separator (',', '|') before
//     it on its line, nothing but quotes, closing punctuation or the next
//     separator after it, and — for a "key: value" line — the line belongs
//     to the result's records: its key occurs on another line too, the
//     result is not record-shaped and the line is not indented (a
//     document's own "IBAN: …" line), or
//     other "key: value" lines share the line's indentation (all of them,
//     or at least 3 and a fifth of them). A notice pasted inside a field of a list of records
//     ("Location: www.x.example" once, at its own indentation) is not the
//     result's structure.
//
// A token inside prose, or alone on a line inside a text field, is not.
func isStructured(text string, at int, sh *shape) bool {
	end := at
	for end < len(text) && !values.IsDelim(text[end]) {
		end++
	}
	if trimmedIs(text, at, end) {
		return true
	}
	if at > 0 && text[at-1] == '<' && end < len(text) && text[end] == '>' {
		return true // a name-addr: "Dora Stone <dora@example.com>"
	}
	ls := at
	for ls > 0 && !lineStart(text, ls) {
		ls--
	}
	after := text[end:]
	for len(after) > 0 && (after[0] == '"' || after[0] == '\'' || after[0] == ')' || after[0] == ' ') {
		after = after[1:]
	}
	if isKeyPosition(text, ls, at, end) {
		return true
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
	case ':':
		return ownKeyLine(text, ls, before, sh)
	case '=', '[', '{', ',', '|':
		return true
	case '-':
		return len(before) == 1 || before[len(before)-2] == ' ' || before[len(before)-2] == '\t'
	}
	return false
}

// isKeyPosition reports whether the token text[at:end] is the key of a
// "key: value" line or a JSON member (a mapping keyed by address:
// "shared_with:" then "  dora@example.com: rw"): a ':' ends it (inside
// the token, or after a closing quote) and is followed by a space or the
// end of the line, and before it on its line (starting at ls) there is
// nothing but indentation, a list marker, an opening quote, or the '{' or
// ',' of a JSON object.
func isKeyPosition(text string, ls, at, end int) bool {
	if end <= at {
		return false
	}
	colon := end - 1
	if text[colon] != ':' {
		colon = end
		for colon < len(text) && (text[colon] == '"' || text[colon] == '\'') {
			colon++
		}
		if colon >= len(text) || text[colon] != ':' || colon == end {
			return false
		}
	}
	if n := colon + 1; n < len(text) && text[n] != ' ' && text[n] != '\n' && text[n] != '\r' {
		return false
	}
	k := at
	for k > ls && (text[k-1] == '"' || text[k-1] == '\'' || text[k-1] == ' ' || text[k-1] == '\t') {
		k--
	}
	switch {
	case k == ls:
		return true
	case text[k-1] == '{' || text[k-1] == ',':
		return true
	case text[k-1] == '-':
		k--
		for k > ls && (text[k-1] == ' ' || text[k-1] == '\t') {
			k--
		}
		return k == ls
	}
	return false
}

// trimmedIs reports whether text, trimmed of white space and quotes, is
// text[at:end].
func trimmedIs(text string, at, end int) bool {
	for i := 0; i < at; i++ {
		if c := text[i]; c != ' ' && c != '\n' && c != '\t' && c != '\r' && c != '"' && c != '\'' {
			return false
		}
	}
	for i := end; i < len(text); i++ {
		if c := text[i]; c != ' ' && c != '\n' && c != '\t' && c != '\r' && c != '"' && c != '\'' && c != '.' {
			return false
		}
	}
	return true
}

// ownKeyLine reports whether the "key:" line starting at ls (before: the
// line up to the value) belongs to the result's records (see isStructured).
func ownKeyLine(text string, ls int, before string, sh *shape) bool {
	ind := 0
	for ind < len(before) && (before[ind] == ' ' || before[ind] == '\t') {
		ind++
	}
	key, ok := lineKey(before[ind:])
	if !ok {
		return true // "key: value" inside a JSON object or a one-line record
	}
	if keyRepeats(text, ls, key) {
		return true
	}
	if !sh.valid {
		sh.measure(text)
	}
	if !sh.recordShaped {
		// a document's own top-level "key: value" line (a bill's "IBAN:
		// …"); an indented one is text inside a field, and so is one
		// inside a serialised string value (its line breaks escaped) after
		// a blank line of that string: a paragraph of "key: value" lines
		// appended to a review or note, not the structure's own field
		return ind == 0 && !afterEscapedBlank(text, ls)
	}
	n := sh.byIndent[min(ind, 8)]
	return n == sh.kvLines || (n >= 3 && 5*n >= sh.kvLines)
}

// afterEscapedBlank reports whether the line starting at ls begins after a
// literal "\n" (a line break escaped inside a serialised string) and an
// escaped blank line ("\n\n") precedes it on the same physical line,
// within keyWindow bytes.
func afterEscapedBlank(text string, ls int) bool {
	if ls < 2 || text[ls-1] != 'n' || text[ls-2] != '\\' {
		return false
	}
	lo := max(0, ls-keyWindow)
	for i := ls - 1; i-3 >= lo; i-- {
		switch text[i] {
		case '\n':
			return false
		case '\'', '"':
			// the opening quote of the string value of a serialised
			// member ("'key': '", "\"key\": \"", "\"key\":\""): its start
			if text[i-1] == ':' && isQuote(text[i-2]) || text[i-1] == ' ' && text[i-2] == ':' && isQuote(text[i-3]) {
				return false
			}
		case 'n':
			if text[i-1] == '\\' && text[i-2] == 'n' && text[i-3] == '\\' {
				return true
			}
		}
	}
	return false
}

func isQuote(c byte) bool { return c == '\'' || c == '"' }

// keyRepeats reports whether another line of text near the one at ls
// (within keyWindow bytes) holds "key:" after its indentation and list
// marker. The window keeps the cost per value bounded.
func keyRepeats(text string, ls int, key string) bool {
	lo, hi := max(0, ls-keyWindow), min(len(text), ls+keyWindow)
	w := text[lo:hi]
	for off := 0; ; {
		i := strings.Index(w[off:], key)
		if i < 0 {
			return false
		}
		i += off
		off = i + 1
		j := i + len(key)
		if j >= len(w) || w[j] != ':' {
			continue
		}
		k := i
		for k > 0 && (w[k-1] == ' ' || w[k-1] == '\t' || w[k-1] == '-') {
			k--
		}
		if (k == 0 && lo == 0 || k > 0 && w[k-1] == '\n') && lo+k != ls {
			return true
		}
	}
}

// isSchemaField reports whether the token at byte at of text is a field
// value the records of the result share: the result is the token alone,
// or the token is the whole value of a "key: value" line whose key opens
// another line of the result at the same indentation (within keyWindow
// bytes: the same field of another record). A document's own single
// "IBAN: …" line, or a line of a notice pasted into a field, is not.
func isSchemaField(text string, at int) bool {
	end := at
	for end < len(text) && !values.IsDelim(text[end]) {
		end++
	}
	if trimmedIs(text, at, end) {
		return true
	}
	ls := at
	for ls > 0 && !lineStart(text, ls) {
		ls--
	}
	ind := ls
	for ind < at && (text[ind] == ' ' || text[ind] == '\t') {
		ind++
	}
	line := text[ind:at]
	if len(line) > 1 && line[0] == '-' && line[1] == ' ' {
		line = line[2:]
		ind += 2 // a list item's first field sits at its siblings' indentation
	}
	key, ok := lineKey(line)
	if !ok || strings.TrimRight(line[len(key)+1:], " '\"") != "" {
		return false
	}
	indent := ind - ls
	lo, hi := max(0, ls-keyWindow), min(len(text), ls+keyWindow)
	for i := lo; i < hi; {
		j := i
		for j < hi && text[j] != '\n' {
			j++
		}
		if i != ls {
			k := i
			for k < j && (text[k] == ' ' || text[k] == '\t') {
				k++
			}
			if k+1 < j && text[k] == '-' && text[k+1] == ' ' {
				k += 2
			}
			if k-i == indent && strings.HasPrefix(text[k:j], key) && len(text[k:j]) > len(key) && text[k+len(key)] == ':' {
				return true
			}
		}
		i = j + 1
	}
	return false
}

// keyWindow bounds the bytes on each side of a line searched for its key.
const keyWindow = 4 << 10

// ownEntity reports whether candidate v is one of the current result's own
// entities (d.own): the same value in a field of its records, or — for a
// link — a host whose domain is that of an address in those fields (a
// password-reset link of the sender's own domain).
func (d *Detector) ownEntity(v string, c values.Class) bool {
	if _, ok := d.own[v]; ok {
		return true
	}
	if c != values.URL && c != values.Host {
		return false
	}
	host := v
	if e := strings.IndexAny(host, "/?#"); e >= 0 {
		host = host[:e]
	}
	for {
		if _, ok := d.own[host]; ok {
			return true
		}
		dot := strings.IndexByte(host, '.')
		if dot < 0 || strings.IndexByte(host[dot+1:], '.') < 0 {
			return false // down to the registrable name
		}
		host = host[dot+1:]
	}
}

// maxCandidates bounds the candidate planted values judged per result.
const maxCandidates = 16

// plant keeps the candidate planted values of result ev (d.attempt) that
// are not also one of the result's own entities (d.own), marks them planted
// in the session and its ancestors, and emits the session's
// injection_attempt finding (once per session).
func (d *Detector) plant(s *session, ev *models.Event, agent *models.AgentSpec, directed bool, emit func(models.Finding)) {
	kept := d.attempt[:0]
	for _, h := range d.attempt {
		if d.ownEntity(h.value, h.class) || slices.ContainsFunc(kept, func(k hit) bool { return k.value == h.value }) {
			continue
		}
		kept = append(kept, h)
		if h.pointed {
			// in a record the request describes: an attempt to report,
			// not a planted value (the user asked for the record; what
			// judge.go makes of its values is unchanged)
			continue
		}
		d.chain(s, func(a *session) bool {
			if e, ok := a.values.get(h.value); ok && !e.planted {
				e.planted = true
				a.values.put(h.value, e)
			}
			return true
		})
	}
	d.attempt = kept
	if len(kept) == 0 || !d.opts.Attempts {
		return
	}
	g := gradeNone
	for i := range kept {
		g = max(g, gradeOf(&kept[i], agent))
	}
	if g <= s.attempt {
		return // reported at this grade or a stronger one
	}
	s.attempt = g
	// the strongest evidence first
	slices.SortStableFunc(d.attempt, func(a, b hit) int { return int(gradeOf(&b, agent)) - int(gradeOf(&a, agent)) })
	if len(d.attempt) > maxListed {
		d.attempt = d.attempt[:maxListed]
	}
	conf := 0.4
	sev := d.opts.SeverityAttempt
	switch g {
	case gradeActionable:
		conf, sev = 0.5, d.opts.SeverityAttemptActionable
	case gradeStrong:
		conf, sev = 0.7, d.opts.SeverityAttemptStrong
	case gradeCorroborated:
		conf, sev = 0.8, d.opts.SeverityAttemptCorroborated
	}
	b := d.expl[:0]
	b = append(b, ev.ToolName...)
	b = append(b, " result "...)
	b = append(b, ev.ID...)
	b = append(b, " carries content aimed at the agent (not acted on yet): "...)
	for i := range d.attempt {
		h := &d.attempt[i]
		if i > 0 {
			b = append(b, "; "...)
		}
		b = append(b, h.class.String()...)
		b = append(b, ' ')
		b = strconv.AppendQuote(b, Redact(h.value, h.class))
		if h.pointed {
			b = append(b, " new to the session, in a record the user's request points at"...)
		} else {
			b = append(b, " new to the session, in free text of a record the user's request does not describe"...)
		}
		if h.instructed {
			b = append(b, ", with instruction cues ("...)
			b = appendCues(b, h.cues)
			b = append(b, ')')
		}
		if h.anomalous {
			b = append(b, ", in a part of the result that departs from the tool's usual output"...)
		}
		if g := gradeOf(h, agent); g == gradeActionable || g == gradeCorroborated {
			b = append(b, ", of a kind the agent's tools can send to or pay"...)
		}
	}
	if directed {
		b = append(b, "; the user directed the agent to the source"...)
	}
	d.expl = b
	emit(models.Finding{
		Kind:        KindInjectionAttempt,
		Severity:    sev,
		Confidence:  conf,
		Explanation: string(b),
		EvidenceIDs: []string{ev.ID},
		Features: []models.Feature{
			{Name: "planted_values", Observed: float64(len(d.attempt))},
			{Name: "attempt_grade", Observed: float64(g)},
		},
	})
}

// grade is the strength of the evidence that a planted value is
// aimed at the agent (see the package comment of this file).
type grade uint8

// The grades of an attempt, weakest first. A session's injection_attempt is
// reported again when a later result carries stronger evidence than the
// one reported, never twice at one grade.
const (
	gradeNone grade = iota
	// gradeWeak: a new contact point in free text, nothing more (a link in
	// a chat message: links are everywhere in messages and pages, and
	// following one moves nothing by itself).
	gradeWeak
	// gradeActionable: the value is a destination of a consequential call
	// the agent has a tool for: an e-mail address and a sending tool, an
	// account or phone number and a paying or sending tool.
	gradeActionable
	// gradeStrong: instruction cues near the value (instruct.go), or the
	// value sits in a part of its result that departs from the tool's
	// usual output (outputs.go) — whatever its words.
	gradeStrong
	// gradeCorroborated: strong and actionable at once — the content is
	// marked as aimed at the agent (cues or an out-of-shape part) and the
	// value it plants is a destination the agent's tools can send to or
	// pay: two independent pieces of evidence about the content.
	gradeCorroborated
)

// gradeOf grades one planted value of the current result.
func gradeOf(h *hit, agent *models.AgentSpec) grade {
	marked, act := h.instructed || h.anomalous, actionable(h.class, agent)
	switch {
	case marked && act:
		return gradeCorroborated
	case marked:
		return gradeStrong
	case act:
		return gradeActionable
	}
	return gradeWeak
}

// actionable reports whether agent has a tool that can use a value of
// class c as the destination of a consequential call: a public sink (send,
// post, share) for an e-mail address, a public sink or a money tool for a
// number or an account id. A link or host is not (reading it is not a
// consequence by itself); an unregistered agent's tools are unknown.
func actionable(c values.Class, agent *models.AgentSpec) bool {
	if agent == nil {
		return false
	}
	for i := range agent.Tools {
		t := &agent.Tools[i]
		switch c {
		case values.Email:
			if t.Has(models.LabelPublicSink) {
				return true
			}
		case values.Number, values.ID:
			if t.Has(models.LabelPublicSink) || t.Has(models.LabelMoney) {
				return true
			}
		}
	}
	return false
}
