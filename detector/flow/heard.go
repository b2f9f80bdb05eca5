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
// (pairs with a word of four letters or more; an argument's pair counts only
// with a distinctive word, commonwords.go) and of the calendar days they
// name, at most
// maxHeard of them, the newest kept (a FIFO ring): 4 bytes each, allocated
// only when the session reads untrusted content with words. The cost is
// linear in the result's (scan-capped) length; the check at an acting
// call is linear in the argument and in the ring.

import "strings"

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

// pairHash combines the hashes of two consecutive words (order matters).
func pairHash(a, b uint32) uint32 {
	h := (a ^ 0x9e3779b9) * 0x85ebca6b
	h ^= b + 0xc2b2ae35 + (h << 6) + (h >> 2)
	return h*0x27d4eb2d ^ h>>15
}

// eachPair calls fn for each pair of consecutive words of text (lower-cased
// runs of letters and apostrophes, at most 32 bytes, as eachWord reads
// them), with the pair's hash and both words (valid during the call); fn
// reports whether to go on. Each word is lower-cased and hashed once, with
// no allocation.
func eachPair(text string, fn func(h uint32, a, b []byte) bool) {
	var bufs [2][32]byte
	cur, prevLen := 0, 0
	var ph uint32
	for i := 0; i < len(text); {
		if !isWordByte(text[i]) {
			i++
			continue
		}
		j := i
		for j < len(text) && isWordByte(text[j]) {
			j++
		}
		if n := j - i; n <= len(bufs[cur]) {
			w := bufs[cur][:n]
			h := uint32(2166136261)
			for k := range w {
				c := text[i+k] | 0x20
				w[k] = c
				h = (h ^ uint32(c)) * 16777619
			}
			if prevLen > 0 && !fn(pairHash(ph, h), bufs[1-cur][:prevLen], w) {
				return
			}
			prevLen, ph, cur = n, h, 1-cur
		}
		i = j
	}
}

// dayHash hashes a calendar day named in content (no word pair hashes to
// it but by chance).
func dayHash(dm dayMonth) uint32 {
	return pairHash(0x64617921, uint32(dm.month)<<8|uint32(dm.day))
}

// hear records the word pairs and named days of untrusted text in s. Pairs
// of two words of at most three letters ("of the") are not kept: no
// argument is judged on them (heardIn needs a distinctive word). The days
// are read only from text that holds a month name or an ISO date.
func (d *Detector) hear(s *session, text string) {
	if cap(s.heard.keys) < maxHeard {
		// about one pair per six bytes of text: grow once, not by doubling
		if want := min(maxHeard, len(s.heard.keys)+len(text)/5); want > cap(s.heard.keys) {
			s.heard.keys = append(make([]uint32, 0, want), s.heard.keys...)
		}
	}
	month := false
	eachPair(text, func(h uint32, a, b []byte) bool {
		if len(a) > 3 || len(b) > 3 {
			s.heard.put(h)
		}
		month = month || isMonthName(b)
		return true
	})
	if !month && !hasISODate(text) {
		return
	}
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

// isMonthName reports whether the lower-cased word names a month
// (monthNames), without a map lookup for the words that cannot.
func isMonthName(w []byte) bool {
	if len(w) < 3 || len(w) > 9 {
		return false
	}
	switch w[0] {
	case 'j', 'f', 'm', 'a', 's', 'o', 'n', 'd':
		return monthNames[string(w)] != 0
	}
	return false
}

// hasISODate reports whether text holds a yyyy-mm-dd date.
func hasISODate(text string) bool {
	for i := 4; i < len(text); {
		j := strings.IndexByte(text[i:], '-')
		if j < 0 {
			return false
		}
		i += j
		var b [11]byte
		if _, _, ok := isoDate(b[:copy(b[:], text[i-4:])]); ok {
			return true
		}
		i++
	}
	return false
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
	eachPair(value, func(h uint32, a, b []byte) bool {
		if isDistinctive(string(a)) || isDistinctive(string(b)) {
			check(h)
		}
		return !found
	})
	return found
}
