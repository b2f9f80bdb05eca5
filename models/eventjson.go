package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/tetherhq/tether/models/jsontok"
)

// This file holds the fast path of Decoder.Decode: a single-pass scanner
// for the event wire format that fills an Event directly, without
// reflection and without encoding/json's separate validity scan.
//
// The fast path is a strict subset of json.Unmarshal restricted to clean
// records: decodeEventFast either reports success, in which case the record
// passes scanRecord (the hostile-input checks below) and json.Unmarshal
// would have succeeded on the same bytes and produced an identical Event, or
// it reports false, in which case the caller runs scanRecord and then
// json.Unmarshal on the whole record (which then decides, and words the
// error). It reports false on every error, every hostile input and every
// input whose encoding/json semantics it does not replicate:
//
//   - an object key containing an escape, a non-ASCII byte or an upper-case
//     ASCII letter that is not one of the canonical field names (encoding/json
//     matches field names case-insensitively, with Unicode folding);
//   - a null element in tether.data_classes (encoding/json reuses the
//     slice's backing array across duplicate keys);
//   - an integer of more than 18 digits.
//
// FuzzDecodeEquivalence in eventjson_test.go checks the subset property.
//
// Hostile input (scanRecord; the fast path applies the same rules as it
// goes): the record must be valid UTF-8, no object anywhere may repeat a key
// (compared after unescaping), no top-level key may be a non-canonical
// spelling of a field name (one encoding/json would match only by case
// folding), nesting is bounded by MaxDepth and every number must fit a
// float64. Parsers disagree on all of these (first or last duplicate wins,
// case-sensitive or not, U+FFFD replacement or error), so a record using
// them could mean one thing to Tether and another to the agent runtime or a
// SIEM. Unpaired surrogate escapes (\ud800) are valid JSON that encoders
// produce for undecodable text: they are kept, decoded as U+FFFD like
// encoding/json does; the id rules (validate) then refuse them in ids.

// decodeEventFast decodes record b into ev (which should be zero). It
// reports false, leaving ev in an unspecified state, when the record must go
// through json.Unmarshal instead. The two optional times of the event
// (principal session end, credential expiry) are stored in *times when it
// is not nil, so that they share the event's allocation.
//
// checked reports the fields (by their bit, see decodeEvent) whose values
// came from the interner already known to pass the id (ids) or name
// (names) rules, so that validation need not scan them again.
func decodeEventFast(b []byte, ev *Event, in *interner, times *[2]time.Time) (ok bool, checked knownValid) {
	var ic internCtx
	if in != nil {
		ic.t = in.table()
	}
	ok = decodeEvent(b, ev, &ic, times)
	if in != nil {
		in.account(&ic)
	}
	return ok, ic.known
}

// knownValid marks fields, by their bit in decodeEvent, whose values pass
// the id rules (ids) or the name rules (names) of checkFields.
type knownValid struct{ ids, names uint64 }

// Field bits of decodeEvent for the interned fields.
const (
	bitAgentID         = 1 << 4
	bitAgentName       = 1 << 5
	bitAgentVersion    = 1 << 6
	bitSessionID       = 1 << 7
	bitToolName        = 1 << 9
	bitModel           = 1 << 13
	bitRootAgentID     = 1 << 14
	bitParentAgentID   = 1 << 15
	bitParentSessionID = 1 << 16
	bitChildAgentID    = 1 << 17
	bitChildSessionID  = 1 << 18
	bitPrincipal       = 1 << 19
	bitCredentialID    = 1 << 21
	bitProvider        = 1 << 32
	bitErrorType       = 1 << 33
)

// decodeEvent is decodeEventFast with the interner's per-record context.
func decodeEvent(b []byte, ev *Event, in *internCtx, times *[2]time.Time) bool {
	var pse, cre *time.Time
	if times != nil {
		pse, cre = &times[0], &times[1]
	}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipWS(b, i+1) == len(b)
	}
	var (
		seen    uint64     // bit n: field n was set (duplicates are refused)
		unknown objectKeys // keys of unknown fields, for the same check
		// Plain event and tool call ids, copied into one string at the end.
		small smallStrings
	)
	for {
		// Key.
		if i >= len(b) || b[i] != '"' {
			return false
		}
		ks := i + 1
		j := ks
		plain := true // no escape, no non-ASCII byte, no upper-case letter
		for {
			if j >= len(b) {
				return false
			}
			c := b[j]
			if keyByte[c] {
				j++
				continue
			}
			if c != '"' { // escape, control, non-ASCII or upper case
				plain = false
			}
			break
		}
		if !plain {
			return false
		}
		key := b[ks:j]
		i = skipWS(b, j+1)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return false
		}
		var ok bool
		var bit uint64
		switch string(key) {
		case "schema_version":
			bit = 1 << 0
			i, ok = fastInt(b, i, &ev.SchemaVersion)
		case "event_id":
			bit = 1 << 1
			i, ok = small.fastString(b, i, &ev.ID)
		case "kind":
			bit = 1 << 2
			s := string(ev.Kind)
			i, ok = fastSym(b, i, &s, kindSyms)
			ev.Kind = Kind(s)
		case "time":
			bit = 1 << 3
			i, ok = fastTime(b, i, &ev.Time)
		case "gen_ai.agent.id":
			bit = bitAgentID
			i, ok = in.fastString(b, i, &ev.AgentID, bit)
		case "gen_ai.agent.name":
			bit = bitAgentName
			i, ok = in.fastString(b, i, &ev.AgentName, bit)
		case "gen_ai.agent.version":
			bit = bitAgentVersion
			i, ok = in.fastString(b, i, &ev.AgentVersion, bit)
		case "gen_ai.conversation.id":
			bit = bitSessionID
			i, ok = in.fastString(b, i, &ev.SessionID, bit)
		case "gen_ai.operation.name":
			bit = 1 << 8
			i, ok = fastSym(b, i, &ev.Operation, operationSyms)
		case "gen_ai.tool.name":
			bit = bitToolName
			i, ok = in.fastString(b, i, &ev.ToolName, bit)
		case "gen_ai.tool.call.id":
			bit = 1 << 10
			i, ok = small.fastString(b, i, &ev.ToolCallID)
		case "gen_ai.tool.call.arguments":
			bit = 1 << 11
			// json.RawMessage: the raw value (null included), copied.
			var end int
			end, ok = skipValue(b, i, 2, nil)
			if ok {
				ev.Arguments = append(json.RawMessage(nil), b[i:end]...)
				i = end
			}
		case "gen_ai.tool.call.result":
			bit = 1 << 12
			i, ok = fastString(b, i, &ev.Result)
		case "gen_ai.request.model":
			bit = bitModel
			i, ok = in.fastString(b, i, &ev.Model, bit)
		case "gen_ai.provider.name":
			bit = bitProvider
			i, ok = in.fastString(b, i, &ev.Provider, bit)
		case "error.type":
			bit = bitErrorType
			i, ok = in.fastString(b, i, &ev.ErrorType, bit)
		case "tether.root_agent.id":
			bit = bitRootAgentID
			i, ok = in.fastString(b, i, &ev.RootAgentID, bit)
		case "tether.parent_agent.id":
			bit = bitParentAgentID
			i, ok = in.fastString(b, i, &ev.ParentAgentID, bit)
		case "tether.parent_session.id":
			bit = bitParentSessionID
			i, ok = in.fastString(b, i, &ev.ParentSessionID, bit)
		case "tether.child_agent.id":
			bit = bitChildAgentID
			i, ok = in.fastString(b, i, &ev.ChildAgentID, bit)
		case "tether.child_session.id":
			bit = bitChildSessionID
			i, ok = in.fastString(b, i, &ev.ChildSessionID, bit)
		case "tether.principal":
			bit = bitPrincipal
			i, ok = in.fastString(b, i, &ev.Principal, bit)
		case "tether.principal.session_end":
			bit = 1 << 20
			i, ok = fastTimePtr(b, i, &ev.PrincipalSessionEnd, pse)
		case "tether.credential.id":
			bit = bitCredentialID
			i, ok = in.fastString(b, i, &ev.CredentialID, bit)
		case "tether.credential.expires_at":
			bit = 1 << 22
			i, ok = fastTimePtr(b, i, &ev.CredentialExpiry, cre)
		case "tether.autonomy_level":
			bit = 1 << 23
			s := string(ev.Autonomy)
			i, ok = fastSym(b, i, &s, autonomySyms)
			ev.Autonomy = Autonomy(s)
		case "tether.step":
			bit = 1 << 24
			i, ok = fastInt(b, i, &ev.Step)
		case "tether.role":
			bit = 1 << 25
			i, ok = fastSym(b, i, &ev.Role, roleSyms)
		case "tether.content":
			bit = 1 << 26
			i, ok = fastString(b, i, &ev.Content)
		case "tether.data_classes":
			bit = 1 << 27
			i, ok = fastStrings(b, i, &ev.DataClasses)
		case "tether.resource":
			bit = 1 << 28
			i, ok = fastString(b, i, &ev.Resource)
		case "tether.destination":
			bit = 1 << 29
			i, ok = fastString(b, i, &ev.Destination)
		case "tether.error":
			bit = 1 << 30
			i, ok = fastString(b, i, &ev.Error)
		case "tether.bytes":
			bit = 1 << 31
			i, ok = fastInt64(b, i, &ev.Bytes)
		default:
			// Unknown key, all lower-case ASCII without escapes: it cannot
			// fold-match a field name either (they are all lower-case
			// ASCII). Skip (and validate) its value.
			if !unknown.add(key) {
				return false
			}
			i, ok = skipValue(b, i, 2, nil)
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		i = skipWS(b, i)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			if skipWS(b, i+1) != len(b) {
				return false
			}
			small.copy(b)
			return true
		default:
			return false
		}
	}
}

// keyByte marks the bytes a plain object key may hold: ASCII from space
// to DEL but for the quote, the backslash and upper-case letters.
var keyByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\' && (c < 'A' || c > 'Z')
	}
	return t
}()

func skipWS(b []byte, i int) int { return jsontok.SkipSpace(b, i) }

func isNullAt(b []byte, i int) bool {
	return len(b)-i >= 4 && b[i] == 'n' && b[i+1] == 'u' && b[i+2] == 'l' && b[i+3] == 'l'
}

// fastString decodes a JSON string or null at b[i] into *dst (null leaves
// *dst unchanged, as encoding/json does) and returns the index after it.
// A string holding invalid UTF-8 reports false (encoding/json would replace
// the bytes; the decoder refuses them). An escaped string is decoded in one
// allocation.
func fastString(b []byte, i int, dst *string) (int, bool) {
	if b[i] == 'n' {
		return skipNull(b, i)
	}
	if b[i] != '"' {
		return i, false
	}
	if j := jsontok.PlainPrefix(b, i+1); j < len(b) && b[j] == '"' {
		*dst = string(b[i+1 : j])
		return j + 1, true
	}
	n := jsontok.StringEnd(b, i) // the decoded value is no longer
	if n < 0 {
		return i, false
	}
	v, end, f, ok := jsontok.AppendString(make([]byte, 0, n), b, i)
	if !ok || f&jsontok.BadUTF8 != 0 {
		return i, false
	}
	*dst = unsafe.String(unsafe.SliceData(v), len(v))
	return end, true
}

// smallStrings defers the copy of a record's short plain id values (event
// id, tool call id: unique per event, so not interned) until the record is
// decoded, to copy them in one allocation: their strings share it.
type smallStrings struct {
	dst  [2]*string
	span [2][2]int
	n    int
}

// smallMax bounds the values smallStrings takes (ids: MaxIDBytes).
const smallMax = MaxIDBytes

// fastString is fastString, deferring a plain value of at most smallMax
// bytes to copy.
func (s *smallStrings) fastString(b []byte, i int, dst *string) (int, bool) {
	if b[i] == '"' && s.n < len(s.dst) {
		if j := jsontok.PlainPrefix(b, i+1); j < len(b) && b[j] == '"' && j-i-1 <= smallMax {
			s.dst[s.n], s.span[s.n] = dst, [2]int{i + 1, j}
			s.n++
			return j + 1, true
		}
	}
	return fastString(b, i, dst)
}

// copy sets the deferred values, all in one new string.
func (s *smallStrings) copy(b []byte) {
	n := 0
	for k := range s.n {
		n += s.span[k][1] - s.span[k][0]
	}
	if n == 0 {
		for k := range s.n {
			*s.dst[k] = ""
		}
		return
	}
	buf := make([]byte, 0, n)
	for k := range s.n {
		buf = append(buf, b[s.span[k][0]:s.span[k][1]]...)
	}
	all := unsafe.String(unsafe.SliceData(buf), len(buf))
	at := 0
	for k := range s.n {
		l := s.span[k][1] - s.span[k][0]
		*s.dst[k] = all[at : at+l]
		at += l
	}
}

// interner hands out one string for repeated values of the fields that
// repeat from event to event (agent, session, tool, model, principal,
// credential ids), so decoding them does not allocate once seen. It is a
// table of recent values indexed by hash, in sets of four slots (one cache
// line); a miss fills an empty slot of the value's set, else replaces one
// chosen by hash. Slots are atomic pointers, as a Decoder is shared by the
// consumer's partition goroutines. The table starts at internMinSlots and
// doubles, keeping its values, whenever more than one lookup in 16 over a
// window of four times its size missed (the working set of ids outgrew it:
// thousands of agents), up to internMaxSlots (2 MiB of pointers, plus the
// strings, which the detectors' state holds anyway). The zero value is
// ready to use; a nil *interner allocates every string.
type interner struct {
	tab atomic.Pointer[internTable]
	// stats counts lookups (low 32 bits) and misses (high 32 bits) since
	// the table was built or last judged; one atomic add per record.
	stats atomic.Uint64
}

type internTable struct {
	slots []atomic.Pointer[internEntry]
	mask  uint64
}

// internEntry is an interned value and what checkFields would find of it.
type internEntry struct {
	s    string
	id   bool // passes the id rules (no space, no DEL: the rest is known)
	name bool // passes the name rules (no DEL)
}

const (
	internMinSlots = 4096    // 32 KiB of pointers
	internMaxSlots = 1 << 18 // 2 MiB of pointers
	internMaxLen   = 128     // longer values are not interned
	internWays     = 4       // slots per set: a value lives in slot h, h^1, h^2 or h^3
)

var internSeed = maphash.MakeSeed()

// table returns the current table, building the first one.
func (in *interner) table() *internTable {
	if t := in.tab.Load(); t != nil {
		return t
	}
	t := &internTable{slots: make([]atomic.Pointer[internEntry], internMinSlots), mask: internMinSlots - 1}
	if !in.tab.CompareAndSwap(nil, t) {
		t = in.tab.Load()
	}
	return t
}

// internCtx is one record's view of the interner: its table and the
// lookups and misses to account for when the record is decoded.
type internCtx struct {
	t       *internTable
	lookups uint32
	misses  uint32
	known   knownValid
}

// account adds a record's lookups and misses to the interner's window and
// grows the table when the window shows it too small.
func (in *interner) account(c *internCtx) {
	if c.lookups == 0 {
		return
	}
	v := in.stats.Add(uint64(c.lookups) | uint64(c.misses)<<32)
	lookups, misses := v&0xffffffff, v>>32
	size := uint64(len(c.t.slots))
	if lookups < 4*size {
		return
	}
	if misses*16 <= lookups || size >= internMaxSlots {
		in.stats.Store(0) // judged: a new window
		return
	}
	nt := &internTable{slots: make([]atomic.Pointer[internEntry], 2*size), mask: 2*size - 1}
	for i := range c.t.slots {
		if p := c.t.slots[i].Load(); p != nil {
			nt.put(p, maphash.String(internSeed, p.s))
		}
	}
	if in.tab.CompareAndSwap(c.t, nt) {
		in.stats.Store(0)
	}
}

// put stores p in its set: the first empty slot from its own, else one
// chosen by hash.
func (t *internTable) put(p *internEntry, h uint64) {
	a := h & t.mask
	for k := range uint64(internWays) {
		if s := &t.slots[a^k]; s.Load() == nil {
			s.Store(p)
			return
		}
	}
	t.slots[a^(h>>62)].Store(p)
}

// fastString is fastString with interning of plain values (no escape,
// control or non-ASCII byte) of at most internMaxLen bytes; bit is the
// field's bit, set in in.known when the value passes the id or name rules.
func (in *internCtx) fastString(b []byte, i int, dst *string, bit uint64) (int, bool) {
	if in.t == nil || b[i] != '"' {
		return fastString(b, i, dst)
	}
	s := i + 1
	if j := jsontok.PlainPrefix(b, s); j < len(b) && b[j] == '"' && j-s <= internMaxLen {
		if j == s {
			*dst = ""
			return j + 1, true
		}
		e := in.intern(b[s:j])
		*dst = e.s
		if e.id {
			in.known.ids |= bit
		}
		if e.name {
			in.known.names |= bit
		}
		return j + 1, true
	}
	return fastString(b, i, dst)
}

// intern returns the entry of the non-empty plain value v.
func (in *internCtx) intern(v []byte) *internEntry {
	in.lookups++
	h := maphash.Bytes(internSeed, v)
	a := h & in.t.mask
	for k := range uint64(internWays) {
		if p := in.t.slots[a^k].Load(); p != nil && p.s == string(v) {
			return p
		}
	}
	in.misses++
	e := &internEntry{s: string(v), id: true, name: true}
	for _, c := range v { // plain: only space and DEL remain to be told
		if c == ' ' {
			e.id = false
		} else if c == 0x7f {
			e.id, e.name = false, false
		}
	}
	in.t.put(e, h)
	return e
}

func skipNull(b []byte, i int) (int, bool) {
	if isNullAt(b, i) {
		return i + 4, true
	}
	return i, false
}

// unquoteKey returns the decoded form of a key body holding an escape.
func unquoteKey(k []byte) []byte {
	q := append(append(make([]byte, 0, len(k)+2), '"'), k...)
	v, _, _, _ := jsontok.AppendString(make([]byte, 0, len(k)), append(q, '"'), 0)
	return v
}

// fastInt64 decodes an integer or null at b[i]. Anything encoding/json
// would not store into an int64 (fractions, exponents, overflow) and
// integers of more than 18 digits report false.
func fastInt64(b []byte, i int, dst *int64) (int, bool) {
	if b[i] == 'n' {
		return skipNull(b, i)
	}
	j := i
	neg := false
	if b[j] == '-' {
		neg = true
		j++
	}
	if j >= len(b) || b[j] < '0' || b[j] > '9' {
		return i, false
	}
	var n int64
	start := j
	if b[j] == '0' {
		j++
	} else {
		for j < len(b) && '0' <= b[j] && b[j] <= '9' {
			n = n*10 + int64(b[j]-'0')
			j++
		}
		if j-start > 18 {
			return i, false
		}
	}
	if j < len(b) {
		switch b[j] {
		case '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			return i, false
		}
	}
	if neg {
		n = -n
	}
	*dst = n
	return j, true
}

func fastInt(b []byte, i int, dst *int) (int, bool) {
	var n int64
	isNull := isNullAt(b, i)
	j, ok := fastInt64(b, i, &n)
	if !ok {
		return i, false
	}
	if !isNull {
		if int64(int(n)) != n {
			return i, false
		}
		*dst = int(n)
	}
	return j, true
}

// fastTime decodes a time the way encoding/json does: the raw literal,
// quotes included, goes to time.Time.UnmarshalJSON (which does not unescape).
func fastTime(b []byte, i int, dst *time.Time) (int, bool) {
	end, ok := skipValue(b, i, 2, nil)
	if !ok {
		return i, false
	}
	if b[i] != '"' && b[i] != 'n' { // objects, arrays, numbers, booleans
		return i, false
	}
	if t, ok := utcTime(b[i:end]); ok {
		*dst = t
		return end, true
	}
	if err := dst.UnmarshalJSON(b[i:end]); err != nil {
		return i, false
	}
	return end, true
}

// utcTime parses the form producers emit, "YYYY-MM-DDTHH:MM:SS[.F…]Z"
// (quotes included, 1–9 fraction digits), as time.Time.UnmarshalJSON
// would (UTC location, the same range checks); anything else reports
// false and is left to UnmarshalJSON.
func utcTime(q []byte) (time.Time, bool) {
	n := len(q)
	if n < 22 || q[0] != '"' || q[n-1] != '"' || q[n-2] != 'Z' || q[5] != '-' || q[8] != '-' || q[11] != 'T' || q[14] != ':' || q[17] != ':' {
		return time.Time{}, false
	}
	num := func(a, b int) (int, bool) {
		v := 0
		for k := a; k < b; k++ {
			c := q[k]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(1, 5)
	month, ok2 := num(6, 8)
	day, ok3 := num(9, 11)
	hour, ok4 := num(12, 14)
	minute, ok5 := num(15, 17)
	sec, ok6 := num(18, 20)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(time.Month(month), year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if n > 22 { // a fraction: '.', then 1–9 digits before the 'Z'
		digits := n - 2 - 21
		if q[20] != '.' || digits < 1 || digits > 9 {
			return time.Time{}, false
		}
		f, ok := num(21, n-2)
		if !ok {
			return time.Time{}, false
		}
		for range 9 - digits {
			f *= 10
		}
		nsec = f
	} else if q[20] != 'Z' {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

// daysIn is the number of days of month m of year y.
func daysIn(m time.Month, y int) int {
	if m == time.February && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		return 29
	}
	return int(monthDays[m-1])
}

var monthDays = [12]uint8{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// fastTimePtr: null sets *dst to nil; a string is stored in *store (a new
// time when store is nil) and *dst points to it.
func fastTimePtr(b []byte, i int, dst **time.Time, store *time.Time) (int, bool) {
	if b[i] == 'n' {
		j, ok := skipNull(b, i)
		if ok {
			*dst = nil
		}
		return j, ok
	}
	if b[i] != '"' {
		return i, false
	}
	t := store
	if t == nil {
		t = new(time.Time)
	}
	j, ok := fastTime(b, i, t)
	if !ok {
		return i, false
	}
	*dst = t
	return j, true
}

// fastStrings decodes an array of strings (null sets *dst to nil; [] gives
// an empty non-nil slice, as encoding/json does).
func fastStrings(b []byte, i int, dst *[]string) (int, bool) {
	if b[i] == 'n' {
		j, ok := skipNull(b, i)
		if ok {
			*dst = nil
		}
		return j, ok
	}
	if b[i] != '[' {
		return i, false
	}
	j := skipWS(b, i+1)
	if j < len(b) && b[j] == ']' {
		*dst = []string{}
		return j + 1, true
	}
	out := make([]string, 0, 4)
	for {
		if j >= len(b) || b[j] != '"' {
			return i, false // null elements, other types, syntax errors
		}
		var s string
		var ok bool
		j, ok = fastString(b, j, &s)
		if !ok {
			return i, false
		}
		out = append(out, s)
		j = skipWS(b, j)
		if j >= len(b) {
			return i, false
		}
		switch b[j] {
		case ',':
			j = skipWS(b, j+1)
		case ']':
			*dst = out
			return j + 1, true
		default:
			return i, false
		}
	}
}

// skipValue validates the JSON value at b[i] (no leading whitespace) and
// returns the index after it. depth is the nesting depth of the value (the
// record's top-level object is 1). Besides syntax it enforces the
// hostile-input rules: valid UTF-8, no repeated key in an object, depth at
// most MaxDepth, numbers within float64 range. When it fails on one of those
// and why is not nil, *why names the rule (syntax errors leave it empty).
func skipValue(b []byte, i int, depth int, why *string) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i, why)
	case c == '{':
		if depth > MaxDepth {
			tooDeep(why)
			return i, false
		}
		j := skipWS(b, i+1)
		if j < len(b) && b[j] == '}' {
			return j + 1, true
		}
		var keys objectKeys
		for {
			if j >= len(b) || b[j] != '"' {
				return i, false
			}
			ks := j
			var ok bool
			if j, ok = skipString(b, j, why); !ok {
				return i, false
			}
			if !keys.add(b[ks+1 : j-1]) {
				if why != nil {
					*why = fmt.Sprintf("key %s repeats in an object at byte %d", clipQuoted(b[ks+1:j-1]), ks)
				}
				return i, false
			}
			j = skipWS(b, j)
			if j >= len(b) || b[j] != ':' {
				return i, false
			}
			j = skipWS(b, j+1)
			if j, ok = skipValue(b, j, depth+1, why); !ok {
				return i, false
			}
			j = skipWS(b, j)
			if j >= len(b) {
				return i, false
			}
			switch b[j] {
			case ',':
				j = skipWS(b, j+1)
			case '}':
				return j + 1, true
			default:
				return i, false
			}
		}
	case c == '[':
		if depth > MaxDepth {
			tooDeep(why)
			return i, false
		}
		j := skipWS(b, i+1)
		if j < len(b) && b[j] == ']' {
			return j + 1, true
		}
		for {
			var ok bool
			if j, ok = skipValue(b, j, depth+1, why); !ok {
				return i, false
			}
			j = skipWS(b, j)
			if j >= len(b) {
				return i, false
			}
			switch b[j] {
			case ',':
				j = skipWS(b, j+1)
			case ']':
				return j + 1, true
			default:
				return i, false
			}
		}
	case c == 't':
		return skipLit(b, i, "true")
	case c == 'f':
		return skipLit(b, i, "false")
	case c == 'n':
		return skipLit(b, i, "null")
	case c == '-' || ('0' <= c && c <= '9'):
		return skipNumber(b, i, why)
	}
	return i, false
}

func tooDeep(why *string) {
	if why != nil {
		*why = fmt.Sprintf("nesting deeper than %d levels", MaxDepth)
	}
}

// objectKeys detects a repeated key in one object. Keys are the raw string
// bodies; a key with an escape is compared in its decoded form. Small
// objects are checked by scanning; past len(small) keys a map of key
// hashes finds candidates, confirmed by comparing bytes.
type objectKeys struct {
	small [8][]byte
	n     int
	all   [][]byte            // every key, once past small
	big   map[uint64]struct{} // their hashes
}

// keySeed seeds the key hashes of objectKeys.
var keySeed = maphash.MakeSeed()

// add records key and reports false when it was already present.
func (o *objectKeys) add(key []byte) bool {
	if bytes.IndexByte(key, '\\') >= 0 {
		key = unquoteKey(key)
	}
	if o.big == nil {
		for _, k := range o.small[:o.n] {
			if bytes.Equal(k, key) {
				return false
			}
		}
		if o.n < len(o.small) {
			o.small[o.n] = key
			o.n++
			return true
		}
		o.big = make(map[uint64]struct{}, 4*len(o.small))
		o.all = append(make([][]byte, 0, 4*len(o.small)), o.small[:]...)
		for _, k := range o.small {
			o.big[maphash.Bytes(keySeed, k)] = struct{}{}
		}
	}
	h := maphash.Bytes(keySeed, key)
	if _, hit := o.big[h]; hit {
		for _, k := range o.all {
			if bytes.Equal(k, key) {
				return false
			}
		}
	}
	o.big[h] = struct{}{}
	o.all = append(o.all, key)
	return true
}

// clipQuoted renders a raw JSON string for an error message, cut to 64
// bytes.
func clipQuoted(s []byte) string {
	if len(s) > 64 {
		return strconv.Quote(string(s[:64]) + "…")
	}
	return strconv.Quote(string(s))
}

func skipLit(b []byte, i int, lit string) (int, bool) {
	if len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return i, false
}

// skipString validates the JSON string at b[i] (the opening quote),
// including that its bytes are valid UTF-8.
func skipString(b []byte, i int, why *string) (int, bool) {
	end, f, ok := jsontok.ScanString(b, i)
	if !ok {
		return i, false
	}
	if f&jsontok.BadUTF8 != 0 {
		if why != nil {
			*why = fmt.Sprintf("invalid UTF-8 at byte %d", i+1+jsontok.FirstBadUTF8(b[i+1:end-1]))
		}
		return i, false
	}
	return end, true
}

// skipNumber validates a JSON number whose magnitude fits a float64 (1e999
// does not; 1e-999 rounds to 0 and is accepted).
func skipNumber(b []byte, i int, why *string) (int, bool) {
	j, exp, ok := jsontok.ScanNumber(b, i)
	if !ok {
		return i, false
	}
	// Only an exponent can leave float64's range within a record (309
	// integer digits would be needed otherwise; checked below).
	if exp || j-i > 300 {
		return j, numberInRange(b[i:j], why)
	}
	return j, true
}

// numberInRange reports whether the JSON number n fits a float64.
func numberInRange(n []byte, why *string) bool {
	f, err := strconv.ParseFloat(string(n), 64)
	if err == nil || f == 0 {
		return true
	}
	if why != nil {
		*why = "number " + clipQuoted(n) + " is out of float64 range"
	}
	return false
}

// Common values of enumerated fields: decoded into the package's constant
// strings instead of fresh allocations.
var (
	kindSyms = func() []string {
		s := make([]string, len(Kinds))
		for i, k := range Kinds {
			s[i] = string(k)
		}
		return s
	}()
	autonomySyms  = []string{string(AutonomyIntern), string(AutonomyJunior), string(AutonomySenior), string(AutonomyPrincipal)}
	roleSyms      = []string{RoleSystem, RoleUser, RoleAssistant, RoleTool}
	operationSyms = []string{"execute_tool", "create_agent", "invoke_agent", "chat"}
)

// fastSym is fastString for a field whose value is usually one of syms.
func fastSym(b []byte, i int, dst *string, syms []string) (int, bool) {
	if b[i] == '"' {
		for j := i + 1; j < len(b) && j-i <= 32; j++ {
			if c := b[j]; c == '"' {
				v := b[i+1 : j]
				for _, s := range syms {
					if string(v) == s {
						*dst = s
						return j + 1, true
					}
				}
				break
			} else if c < 0x20 || c == '\\' || c >= 0x80 {
				break
			}
		}
	}
	return fastString(b, i, dst)
}

// fieldNames are the wire keys of Event, for the canonical-key rule.
var fieldNames = func() []string {
	t := reflect.TypeFor[Event]()
	out := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); k != "" && k != "-" {
			out = append(out, k)
		}
	}
	return out
}()

// scanRecord applies the hostile-input rules to a whole record (see the top
// of this file) and returns an error wrapping ErrMalformed that names the
// first rule broken, or nil. A record that is not syntactically JSON passes:
// json.Unmarshal then words its syntax error.
func scanRecord(b []byte) error {
	if !utf8.Valid(b) {
		for i := 0; i < len(b); {
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return fmt.Errorf("%w: invalid UTF-8 at byte %d", ErrMalformed, i)
			}
			i += size
		}
	}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil
	}
	var keys objectKeys
	var why string
	for {
		if i >= len(b) || b[i] != '"' {
			return nil
		}
		ks := i
		var ok bool
		if i, ok = skipString(b, i, &why); !ok {
			return hostile(why)
		}
		if !keys.add(b[ks+1 : i-1]) {
			return fmt.Errorf("%w: key %s repeats at byte %d (parsers disagree on which value counts)", ErrMalformed, clipQuoted(b[ks+1:i-1]), ks)
		}
		if f, ok := foldedField(b[ks+1 : i-1]); ok {
			return fmt.Errorf("%w: key %s at byte %d is not the exact field name %q (keys are case-sensitive)", ErrMalformed, clipQuoted(b[ks+1:i-1]), ks, f)
		}
		i = skipWS(b, i)
		if i >= len(b) || b[i] != ':' {
			return nil
		}
		i = skipWS(b, i+1)
		if i, ok = skipValue(b, i, 2, &why); !ok {
			return hostile(why)
		}
		i = skipWS(b, i)
		if i >= len(b) || b[i] != ',' {
			return nil
		}
		i = skipWS(b, i+1)
	}
}

// foldedField reports the field name that the raw key body k matches only
// by case folding (as encoding/json would match it), if any.
func foldedField(k []byte) (string, bool) {
	if bytes.IndexByte(k, '\\') >= 0 {
		k = unquoteKey(k)
	}
	for _, f := range fieldNames {
		if string(k) == f {
			return "", false
		}
	}
	for _, f := range fieldNames {
		if bytes.EqualFold(k, []byte(f)) {
			return f, true
		}
	}
	return "", false
}

// hostile turns a skipValue reason into an error; no reason (a syntax
// error) is nil.
func hostile(why string) error {
	if why == "" {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrMalformed, why)
}
