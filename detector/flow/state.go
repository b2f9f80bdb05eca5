package flow

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/tetherhq/tether/detector/values"
)

// ErrState wraps every error UnmarshalState returns.
var ErrState = errors.New("flow: invalid state")

// StateVersion is the version of the MarshalState encoding.
const StateVersion = 8

// stateMagic opens the encoding.
const stateMagic = "TFLW"

// State encoding (version 8; version 7 never set the session flags 16 and
// 32 together (an attempt graded corroborated) and is read as is; version 6 lacked the session flags 16 and 32
// and is still read, an attempt reported as a weak one; version 5 lacked the value marks 2 and 4,
// the pending calls' flag 4 and the amounts, and is still read, as values and calls without
// them; version 4 lacked the marks byte and the
// session flag 8; version 3 lacked the session flag 4, the
// request text, the value flags 64 and 128 and the pending calls' flag 2
// and host (it listed directed calls only); version 2 also lacked flag
// 32, the cue byte, the instructed source and the reported pairs; version 1
// also lacked flag 16). Binary, not JSON: values, ids and the user's
// text may hold invalid UTF-8, which JSON would rewrite. An integer is an
// unsigned varint (u), a string is u(length) + bytes (s), a flag set one
// byte (b):
//
//	"TFLW" b(version) u(sessions)
//	per session, most recently active first (the LRU order):
//	  s(id) s(parent) b(1 child | 2 context | 4 attempt reported | 8 read outsider content
//	    | 16 the attempt reported was graded actionable | 32 … strong (both: corroborated)
//	    | 64 read untrusted content with words | 128 … with an injection mark) s(text) s(request)
//	  u(values), oldest first (the eviction order):
//	    s(value) b(flags: 1 untrusted | 2 private | 4 instructed | 8 undirected | 16 private undirected
//	      | 32 instructed undirected | 64 described | 128 planted) b(class) b(cue categories: 1 addressee | 2 directive | 4 role | 8 imperative)
//	    b(marks: 1 counterparty | 2 unnamed | 4 on a user-named page | 8 anomalous output)
//	    s(untrusted event) s(untrusted tool) s(private event) s(private tool) s(seen event) s(seen tool)
//	    s(instructed event) s(instructed tool)
//	  u(trusted), oldest first: s(value)
//	  u(pending calls), sorted by (by id, name): b(1 by call id | 2 directed | 4 named) s(name) s(fetched host)
//	  u(reported instructed_call pairs), oldest first: s(tool + "\x00" + value)
//	  u(amounts of user-directed results), oldest first: s(amount) (new in version 6)
//	  u(heard word pairs of untrusted results, heard.go), oldest first: 4 bytes little-endian
//	    each (new in version 8)
//
// The same state always encodes to the same bytes. Per session the state
// takes about 12 bytes plus its id, parent, text and request (each ≤
// MaxTrustedText), and
// per observed value its length plus ~2 × (len(event id) + len(tool)) + 9
// bytes (typically ~60 bytes), per trusted value its length + 1: with the
// defaults at most ~16 KiB + 512 × ~140 B + 256 × 97 B ≈ 108 KiB per session,
// typically 1–5 KiB.

const (
	stChild     = 1
	stContext   = 2
	stAttempted = 4 // new in version 4
	// stOutsider: the session read outsider-written content, with or
	// without values (new in version 5).
	stOutsider = 8
	// stAttemptActionable, stAttemptStrong: the grade of the strongest
	// injection_attempt reported (attempt.go; with stAttempted, new in
	// version 7: a version 6 attempt reads as weak). Both set: graded
	// corroborated (new in version 8).
	stAttemptActionable = 16
	stAttemptStrong     = 32
	// stReadUntrusted: the session read an untrusted_content result with
	// words (values.go readUntrusted; new in version 8, older states never
	// set it).
	stReadUntrusted = 64
	// stReadMarked: the session read untrusted content with an injection
	// mark (values.go readMarked; new in version 8).
	stReadMarked = 128

	svUntrusted  = 1
	svPrivate    = 2
	svInstructed = 4
	svUndirected = 8
	// svPrivUndirected: some private occurrence came from a call that named
	// no trusted value (new in version 2).
	svPrivUndirected = 16
	// svInstrUndirected: some instructed occurrence came from a call that
	// named no trusted value (new in version 3).
	svInstrUndirected = 32
	// svDescribed, svPlanted: the value's record was described by the
	// request; the value was planted (new in version 4).
	svDescribed = 64
	svPlanted   = 128
	// smCounterparty: the value was a field of the user's own records (the
	// marks byte, new in version 5).
	smCounterparty = 1
	// smUnnamed: some occurrence came from a call that named nothing of
	// the user's own words (new in version 6).
	smUnnamed = 2
	// smNamedPage: some occurrence was on a page fetched from a location
	// the user named (new in version 6).
	smNamedPage = 4
	// spDirected, spNamed: the pending call's flags (spNamed new in
	// version 6).
	spDirected = 2
	spNamed    = 4
	// smAnomalous: the value sat in an out-of-shape part of its result
	// (outputs.go; new in version 6).
	smAnomalous = 8

	allCues = cueAddressee | cueDirective | cueRole | cueImperative
)

// MarshalState encodes the detector's state deterministically (see the
// encoding above). It implements detector.Stateful.
func (d *Detector) MarshalState() ([]byte, error) {
	b := append([]byte(stateMagic), StateVersion)
	b = binary.AppendUvarint(b, uint64(d.sessions.Len()))
	for _, p := range d.sessions.All() {
		s := *p
		b = appendStr(b, s.id)
		b = appendStr(b, s.parent)
		fl := bit(s.child, stChild) | bit(s.context, stContext) | bit(s.attempt != gradeNone, stAttempted) | bit(s.attempt == gradeActionable || s.attempt == gradeCorroborated, stAttemptActionable) | bit(s.attempt >= gradeStrong, stAttemptStrong) | bit(s.hasOutsider, stOutsider) | bit(s.readUntrusted, stReadUntrusted) | bit(s.readMarked, stReadMarked)
		b = append(b, fl)
		b = appendStr(b, string(s.text))
		b = appendStr(b, string(s.request))
		b = binary.AppendUvarint(b, uint64(len(s.values.keys)))
		for _, i := range ringOrder(len(s.values.keys), s.values.next) {
			k, e := s.values.keys[i], s.values.vals[i]
			b = appendStr(b, k)
			fl := e.flags&(fromUntrusted|fromPrivate) | bit(e.instructed, svInstructed) | bit(e.undirected, svUndirected) |
				bit(e.privUndirected, svPrivUndirected) | bit(e.instrUndirected, svInstrUndirected) | bit(e.described, svDescribed) |
				bit(e.planted, svPlanted)
			marks := bit(e.counterparty, smCounterparty) | bit(e.unnamed, smUnnamed) | bit(e.namedPage, smNamedPage) | bit(e.anomalous, smAnomalous)
			b = append(b, fl, byte(e.class), byte(e.cues), marks)
			for _, src := range [...]source{e.untrusted, e.private, e.seen, e.instr} {
				b = appendStr(b, src.event)
				b = appendStr(b, src.tool)
			}
		}
		b = binary.AppendUvarint(b, uint64(len(s.trusted.keys)))
		for _, i := range ringOrder(len(s.trusted.keys), s.trusted.next) {
			b = appendStr(b, s.trusted.keys[i])
		}
		keys := make([]pendingKey, 0, len(s.directed))
		for k := range s.directed {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(x, y pendingKey) int {
			if x.byID != y.byID {
				if x.byID {
					return 1
				}
				return -1
			}
			return strings.Compare(x.name, y.name)
		})
		b = binary.AppendUvarint(b, uint64(len(keys)))
		for _, k := range keys {
			p := s.directed[k]
			b = append(b, bit(k.byID, 1)|bit(p.directed, spDirected)|bit(p.named, spNamed))
			b = appendStr(b, k.name)
			b = appendStr(b, p.location)
		}
		b = binary.AppendUvarint(b, uint64(len(s.reported.keys)))
		for _, i := range ringOrder(len(s.reported.keys), s.reported.next) {
			b = appendStr(b, s.reported.keys[i])
		}
		b = binary.AppendUvarint(b, uint64(len(s.amounts.keys)))
		for _, i := range ringOrder(len(s.amounts.keys), s.amounts.next) {
			b = appendStr(b, s.amounts.keys[i])
		}
		b = binary.AppendUvarint(b, uint64(len(s.heard.keys)))
		for _, i := range ringOrder(len(s.heard.keys), s.heard.next) {
			b = binary.LittleEndian.AppendUint32(b, s.heard.keys[i])
		}
	}
	return b, nil
}

// ringOrder lists the slots of a FIFO ring of n keys, oldest first.
func ringOrder(n, next int) []int {
	out := make([]int, 0, n)
	for i := range n {
		out = append(out, (next+i)%n)
	}
	return out
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// stateReader decodes with bounds checks; the first error sticks.
type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrState}, args...)...)
	}
}

func (r *stateReader) uvarint(max int, what string) int {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || n != len(binary.AppendUvarint(nil, v)) {
		r.fail("truncated or non-canonical %s", what)
		return 0
	}
	r.b = r.b[n:]
	if v > uint64(max) {
		r.fail("%s %d exceeds its cap %d", what, v, max)
		return 0
	}
	return int(v)
}

func (r *stateReader) byte(what string) byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("truncated %s", what)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *stateReader) str(max int, what string) string {
	n := r.uvarint(max, what+" length")
	if r.err != nil {
		return ""
	}
	if n > len(r.b) {
		r.fail("truncated %s", what)
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// String caps of a restored state. Ids, tool names and event ids have no
// configured cap; valueLimit and textLimit allow for strings.ToLower
// growing non-ASCII text (at most 3 bytes per input byte).
const maxIDLen = 1 << 16

// UnmarshalState replaces the detector's state with one encoded by
// MarshalState. It validates the encoding (magic, version, sizes within the
// detector's Options: MaxSessions, MaxValues, MaxTrusted, MaxValueLen,
// MaxTrustedText and the pending-call bound; classes, flags, duplicates,
// trailing bytes) and returns an error wrapping ErrState, never panics, on
// bad input; the detector's state is then unchanged. It implements
// detector.Stateful.
func (d *Detector) UnmarshalState(data []byte) error {
	if len(data) < len(stateMagic)+1 || string(data[:len(stateMagic)]) != stateMagic {
		return fmt.Errorf("%w: not a flow state", ErrState)
	}
	version := data[len(stateMagic)]
	if version != StateVersion && version != 7 && version != 6 && version != 5 {
		return fmt.Errorf("%w: unsupported version %d", ErrState, version)
	}
	r := &stateReader{b: data[len(stateMagic)+1:]}
	maxSessions := d.opts.MaxSessions
	if maxSessions <= 0 {
		maxSessions = len(data) // unbounded: every session takes bytes
	}
	valueLimit := 3 * d.opts.MaxValueLen
	if d.opts.MaxValueLen <= 0 {
		valueLimit = len(data)
	}
	textLimit := 3*max(d.opts.MaxTrustedText, 0) + 1
	n := r.uvarint(maxSessions, "sessions")
	var order []*session
	sessions := make(map[string]*session, min(n, 1024))
	for range n {
		if r.err != nil {
			break
		}
		s := &session{}
		s.id = r.str(maxIDLen, "session id")
		s.parent = r.str(maxIDLen, "parent id")
		fl := r.byte("session flags")
		graded := uint8(0)
		if version >= 7 {
			graded = stAttemptActionable | stAttemptStrong
		}
		if fl&^(stChild|stContext|stAttempted|stOutsider|stReadUntrusted|stReadMarked|graded) != 0 ||
			(version < 8 && fl&(stAttemptActionable|stAttemptStrong) == stAttemptActionable|stAttemptStrong) ||
			fl&(stAttemptActionable|stAttemptStrong) != 0 && fl&stAttempted == 0 {
			r.fail("session %q: bad flags %#x", s.id, fl)
		}
		s.child, s.context = fl&stChild != 0, fl&stContext != 0
		switch {
		case fl&stAttemptStrong != 0 && fl&stAttemptActionable != 0:
			s.attempt = gradeCorroborated
		case fl&stAttemptStrong != 0:
			s.attempt = gradeStrong
		case fl&stAttemptActionable != 0:
			s.attempt = gradeActionable
		case fl&stAttempted != 0:
			s.attempt = gradeWeak
		}
		s.hasOutsider, s.readUntrusted, s.readMarked = fl&stOutsider != 0, fl&stReadUntrusted != 0, fl&stReadMarked != 0
		if t := r.str(textLimit, "user text"); t != "" {
			s.text = []byte(t)
		}
		if t := r.str(textLimit, "request"); t != "" {
			s.request = []byte(t)
		}
		s.values.max, s.trusted.max = d.opts.MaxValues, d.opts.MaxTrusted
		nv := r.uvarint(max(d.opts.MaxValues, 0), "values")
		for range nv {
			if r.err != nil {
				break
			}
			k := r.str(valueLimit, "value")
			fl := r.byte("value flags")
			c := values.Class(r.byte("value class"))
			cues := cueCat(r.byte("value cues"))
			marks := r.byte("value marks")
			var e entry
			e.untrusted = source{r.str(maxIDLen, "event id"), r.str(maxIDLen, "tool name")}
			e.private = source{r.str(maxIDLen, "event id"), r.str(maxIDLen, "tool name")}
			e.seen = source{r.str(maxIDLen, "event id"), r.str(maxIDLen, "tool name")}
			e.instr = source{r.str(maxIDLen, "event id"), r.str(maxIDLen, "tool name")}
			if r.err != nil {
				break
			}
			if fl&^(svUntrusted|svPrivate|svInstructed|svUndirected|svPrivUndirected|svInstrUndirected|svDescribed|svPlanted) != 0 || c < values.Email || c > values.File || cues&^allCues != 0 || marks&^(smCounterparty|smUnnamed|smNamedPage|smAnomalous) != 0 {
				r.fail("session %q value %q: bad flags %#x or class %d", s.id, k, fl, c)
				break
			}
			if _, dup := s.values.m[k]; dup || len(k) == 0 {
				r.fail("session %q: empty or duplicate value %q", s.id, k)
				break
			}
			e.flags = fl & (fromUntrusted | fromPrivate)
			e.class, e.instructed, e.undirected, e.privUndirected = c, fl&svInstructed != 0, fl&svUndirected != 0, fl&svPrivUndirected != 0
			e.instrUndirected, e.cues = fl&svInstrUndirected != 0, cues
			e.described, e.planted = fl&svDescribed != 0, fl&svPlanted != 0
			e.counterparty = marks&smCounterparty != 0
			e.unnamed = marks&smUnnamed != 0
			e.namedPage = marks&smNamedPage != 0
			e.anomalous = marks&smAnomalous != 0
			s.hasInstructed = s.hasInstructed || e.instructed
			s.hasOutsider = s.hasOutsider || e.flags != 0
			s.values.put(k, e)
		}
		nt := r.uvarint(max(d.opts.MaxTrusted, 0), "trusted values")
		for range nt {
			k := r.str(valueLimit, "trusted value")
			if r.err != nil {
				break
			}
			if _, dup := s.trusted.m[k]; dup || len(k) == 0 {
				r.fail("session %q: empty or duplicate trusted value %q", s.id, k)
				break
			}
			s.trusted.put(k, struct{}{})
		}
		np := r.uvarint(maxPending, "pending calls")
		var prev *pendingKey
		for range np {
			by := r.byte("pending key kind")
			k := pendingKey{by&1 != 0, r.str(maxIDLen, "pending key")}
			loc := r.str(valueLimit, "pending location")
			if r.err != nil {
				break
			}
			if by > 7 || (by&spDirected == 0 && loc == "") || (by&spNamed != 0 && by&spDirected == 0) || (prev != nil && (prev.byID == k.byID && prev.name >= k.name || prev.byID && !k.byID)) {
				r.fail("session %q: bad or unsorted pending call %q", s.id, k.name)
				break
			}
			if s.directed == nil {
				s.directed = make(map[pendingKey]pending)
			}
			s.directed[k] = pending{directed: by&spDirected != 0, named: by&spNamed != 0, location: loc}
			prev = &k
		}
		s.reported.max = maxReported
		nr := r.uvarint(maxReported, "reported pairs")
		for range nr {
			k := r.str(maxIDLen+valueLimit+1, "reported pair")
			if r.err != nil {
				break
			}
			if _, dup := s.reported.m[k]; dup || !strings.Contains(k, "\x00") {
				r.fail("session %q: bad or duplicate reported pair %q", s.id, k)
				break
			}
			s.reported.put(k, struct{}{})
		}
		s.amounts.max = maxAmounts
		if version >= 6 {
			na := r.uvarint(maxAmounts, "amounts")
			for range na {
				k := r.str(24, "amount")
				if r.err != nil {
					break
				}
				if _, dup := s.amounts.m[k]; dup || len(k) == 0 {
					r.fail("session %q: bad or duplicate amount %q", s.id, k)
					break
				}
				s.amounts.put(k, struct{}{})
			}
		}
		if version >= 8 {
			nh := r.uvarint(maxHeard, "heard word pairs")
			for range nh {
				var h uint32
				for i := range 4 {
					h |= uint32(r.byte("heard word pair")) << (8 * i)
				}
				if r.err != nil {
					break
				}
				s.heard.put(h)
			}
		}
		if r.err != nil {
			break
		}
		if _, dup := sessions[s.id]; dup {
			r.fail("duplicate session %q", s.id)
			break
		}
		sessions[s.id] = s
		order = append(order, s)
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return r.err
	}
	t := d.table()
	for _, s := range order {
		p, _ := t.PushBack(s.id)
		*p = s
	}
	t.Adopt(d.sessions)
	d.sessions = t
	return nil
}

// bit returns f when on, else 0: one flag of a state byte.
func bit(on bool, f byte) byte {
	if on {
		return f
	}
	return 0
}
