package flow

// What the session heard from untrusted sources.
//
// An acting call (judge.go acts: a tool that changes state without being a
// sink or destructive — create_calendar_event, notes.write) is an agent's
// ordinary output: a research agent writes its notes after reading the
// web. Such a call is suspect when the user's request does not ask for it
// and either the untrusted content carried an injection mark (readMarked),
// or its own words come from that content: an argument whose wording
// repeats a phrase of a review ("Booking a room at the Riverside View
// Hotel") was chosen by whoever wrote the review, however the review was
// worded. An identifier the agent made up (a note id) repeats none. A date
// argument repeats the content when the content names its day in any
// wording ("from the 1st to the 5th of May 2024" for 2024-05-03; dates.go).
//
// The session keeps hashes of the word pairs of its untrusted results
// (pairs with at least one distinctive word, commonwords.go) and of the
// calendar days they name, at most
// maxHeard of them, the newest kept (a FIFO ring): 4 bytes each, allocated
// only when the session reads untrusted content with words. The cost is
// linear in the result's (scan-capped) length; the check at an acting
// call is linear in the argument and in the ring.

// maxHeard bounds the word-pair hashes a session keeps (4 B each).
const maxHeard = 512

// heardRing is a FIFO ring of word-pair hashes.
type heardRing struct {
	keys []uint32
	next int
}

// put adds h, evicting the oldest when full.
func (r *heardRing) put(h uint32) {
	if len(r.keys) < maxHeard {
		r.keys = append(r.keys, h)
		return
	}
	r.keys[r.next] = h
	r.next = (r.next + 1) % maxHeard
}

// has reports whether h is in the ring.
func (r *heardRing) has(h uint32) bool {
	for _, k := range r.keys {
		if k == h {
			return true
		}
	}
	return false
}

// pairHash hashes the word pair (a, b), both lower-cased, with FNV-1a (a
// stable hash: the ring is checkpointed).
func pairHash(a, b string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(a); i++ {
		h = (h ^ uint32(a[i])) * 16777619
	}
	h = (h ^ ' ') * 16777619
	for i := 0; i < len(b); i++ {
		h = (h ^ uint32(b[i])) * 16777619
	}
	return h
}

// eachPair calls fn for each pair of consecutive words of text (lower-cased
// runs of letters and apostrophes, at most 32 bytes) of which at least one
// is distinctive.
func eachPair(text string, fn func(h uint32)) {
	var prev [32]byte
	n := 0
	prevDistinct := false
	eachWord(text, func(w string) {
		distinct := isDistinctive(w)
		if n > 0 && (distinct || prevDistinct) {
			fn(pairHash(string(prev[:n]), w))
		}
		n = copy(prev[:], w)
		prevDistinct = distinct
	})
}

// dayHash hashes a calendar day named in content (no word pair hashes to
// it but by a 2^-32 chance).
func dayHash(dm dayMonth) uint32 {
	return pairHash("\x00day", string([]byte{byte(dm.month), byte(dm.day)}))
}

// hear records the word pairs and named days of untrusted text in s.
func (d *Detector) hear(s *session, text string) {
	eachPair(text, s.heard.put)
	d.lowerBuf = appendLower(d.lowerBuf[:0], text)
	days := scanRequestDays(d.lowerBuf)
	if !days.named {
		return
	}
	for m := 1; m <= 12; m++ {
		if days.months[m] == 0 {
			continue
		}
		for day := 1; day <= 31; day++ {
			if dm := (dayMonth{m, day}); days.has(dm) {
				s.heard.put(dayHash(dm))
			}
		}
	}
	for _, dm := range days.exact {
		s.heard.put(dayHash(dm))
	}
}

// heardIn reports whether value repeats a word pair s or an ancestor heard
// from untrusted content or, for a value opening with an ISO date, whether
// such content named its day.
func (d *Detector) heardIn(s *session, value string) bool {
	found := false
	check := func(h uint32) {
		d.chain(s, func(a *session) bool {
			found = found || a.heard.has(h)
			return !found
		})
	}
	if dm, _, ok := isoDate([]byte(value)); ok {
		check(dayHash(dm))
		return found
	}
	eachPair(value, func(h uint32) {
		if !found {
			check(h)
		}
	})
	return found
}
