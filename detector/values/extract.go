package values

import (
	"math/bits"
	"strings"
	"unsafe"
)

// Extract calls fn, in order of appearance, for each distinctive value in
// s with the byte offset of its token: e-mail addresses, URLs (and their
// hosts), host names, phone/account numbers, alphanumeric ids and file
// names, normalised as their Class says. Values longer than maxLen bytes
// are skipped (maxLen <= 0: no limit). Plain words, short tokens, dates,
// times and decimal amounts are ignored; so are multi-word names (a
// deliberate simplification: single tokens carry the destinations that
// matter).
//
// Normalised values that differ from their text (lower-cased, digits only)
// are appended to *arena and alias it: a value stays valid while the
// arena's bytes are not overwritten (append-only use), and must be cloned
// to be kept beyond that. Other values alias s.
//
// Tokens are the runs between delimiters (IsDelim). The scan jumps from one
// byte a value must hold (a digit or one of . @ / : =) to the next, eight
// bytes per step (indexMark), and classifies only the token around it
// when it is at least MinValueLen long: plain prose costs about two
// instructions per byte. The cost is O(len(s)).
func Extract(s string, maxLen int, arena *[]byte, fn func(v string, c Class, at int)) {
	x := extractor{maxLen: maxLen, buf: arena}
	i := 0
	for {
		p := indexMark(s, i)
		if p < 0 {
			return
		}
		if c := s[p]; (c == '.' || c == ':' || c == '=') && (p+1 == len(s) || byteClass[s[p+1]]&bDelim != 0) {
			// the token's first mark ends it ("word.", "key:"): trimmed
			// away as punctuation, it leaves a token without a mark
			i = p + 1
			continue
		}
		start := p
		for start > i && byteClass[s[start-1]]&bDelim == 0 {
			start--
		}
		if c := s[start]; (c == 'n' || c == 't' || c == 'r') && escaped(s, start) {
			start++ // an escaped line break or tab of serialised text ("\nbob@a.example"), not a letter of the value
		}
		end := p + 1
		for end < len(s) && byteClass[s[end]]&bDelim == 0 {
			end++
		}
		if end-start >= MinValueLen {
			x.classify(s[start:end], start, fn)
		}
		i = end
	}
}

// Mask constants of indexMark.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
	lows  = 0x7f7f7f7f7f7f7f7f
)

// indexMark returns the offset of the first byte of s at or after i that
// is a digit or one of . @ / : = (bMark), or -1.
func indexMark(s string, i int) int { return indexClass(s, i, bMark) }

// indexTrigger returns the offset of the first byte of s at or after i
// that is a digit, one of @ . / \ : or a non-ASCII byte (bTrigger), or -1.
func indexTrigger(s string, i int) int { return indexClass(s, i, bTrigger) }

// indexClass returns the offset of the first byte of s at or after i in
// byte class bit (bMark or bTrigger), or -1. It reads 16 bytes per step
// and tests them as two words for candidate bytes (candidates), then checks
// each candidate against the table.
func indexClass(s string, i int, bit uint16) int {
	p := unsafe.Pointer(unsafe.StringData(s))
	for ; i+16 <= len(s); i += 16 {
		lo := candidates(*(*uint64)(unsafe.Add(p, i)), bit)
		hi := candidates(*(*uint64)(unsafe.Add(p, i+8)), bit)
		if lo|hi == 0 {
			continue
		}
		for ; lo != 0; lo &= lo - 1 {
			if k := i + bits.TrailingZeros64(lo)>>3; byteClass[s[k]]&bit != 0 {
				return k
			}
		}
		for ; hi != 0; hi &= hi - 1 {
			if k := i + 8 + bits.TrailingZeros64(hi)>>3; byteClass[s[k]]&bit != 0 {
				return k
			}
		}
	}
	for ; i < len(s); i++ {
		if byteClass[s[i]]&bit != 0 {
			return i
		}
	}
	return -1
}

// candidates returns the bytes of x that may be in class bit: nearMask for
// the marks; for the triggers also '\\' and non-ASCII bytes.
func candidates(x uint64, bit uint16) uint64 {
	if bit == bTrigger {
		y := (x & lows) ^ '\\'*ones
		return nearMask(x) | x&highs | ^(y+lows)&highs
	}
	return nearMask(x)
}

// nearMask sets the high bit of each byte of x (eight bytes, little
// endian, as amd64 and arm64 load them) in 0x2E–0x40: the marks '.', '/',
// '0'–'9', ':', '=', '@' and also ';', '<', '>', '?'. Per byte and exact:
// the low seven bits of a byte plus at most 0x52 never carry into the next
// byte, and bytes with the high bit set are excluded.
func nearMask(x uint64) uint64 {
	y := x & lows
	return (y + (0x80-0x2E)*ones) &^ (y + (0x80-0x41)*ones) &^ x & highs
}

// extractor normalises into an append-only arena.
type extractor struct {
	maxLen int
	buf    *[]byte
}

// str returns (*buf)[from:] as a string aliasing the arena.
func (x *extractor) str(from int) string {
	b := *x.buf
	if from == len(b) {
		return ""
	}
	return unsafe.String(&b[from], len(b)-from)
}

// lower lower-cases s as strings.ToLower does: s itself when it has no
// upper case, ASCII folded into the arena, other text through
// strings.ToLower.
func (x *extractor) lower(s string) string {
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return strings.ToLower(s)
		}
		upper = upper || isUpper(c)
	}
	if !upper {
		return s
	}
	return lowerInto(x.buf, s)
}

// lowerInto appends s, ASCII lower-cased, to *arena and returns the
// appended bytes as a string aliasing the arena.
func lowerInto(arena *[]byte, s string) string {
	from := len(*arena)
	b := append(*arena, s...)
	for i := from; i < len(b); i++ {
		if isUpper(b[i]) {
			b[i] += 'a' - 'A'
		}
	}
	*arena = b
	if from == len(b) {
		return ""
	}
	return unsafe.String(&b[from], len(b)-from)
}

// trimPunct strips sentence punctuation around a token.
func trimPunct(t string) string {
	for len(t) > 0 {
		switch t[len(t)-1] {
		case '.', ':', '=', '#', '!', '?':
			t = t[:len(t)-1]
			continue
		}
		break
	}
	for len(t) > 0 {
		switch t[0] {
		case '.', ':', '=', '#', '@':
			t = t[1:]
			continue
		}
		break
	}
	return t
}

// keyValueSplit returns the index of the first ':' or '='.
func keyValueSplit(t string) int {
	for i := 0; i < len(t); i++ {
		if t[i] == ':' || t[i] == '=' {
			return i
		}
	}
	return -1
}

// summary returns the byte classes of t, or-ed: which rules can apply.
func summary(t string) uint16 {
	var m uint16
	for i := 0; i < len(t); i++ {
		m |= byteClass[t[i]]
	}
	return m
}

// classify reports the value of token t (at its offset at), if any. Each
// rule runs only when the token holds the byte it needs (summary); a token
// without a mark after trimming holds no value.
func (x *extractor) classify(t string, at int, fn func(string, Class, int)) {
	maxLen := x.maxLen
	var m uint16
	for {
		t = trimPunct(t)
		if len(t) < MinValueLen || (maxLen > 0 && len(t) > maxLen) {
			return
		}
		if m = summary(t); m&bMark == 0 {
			return
		}
		// key=value and key:value fragments (YAML, query strings, mailto:)
		// keep the value; hh:mm times are not split.
		if m&bKeyValue != 0 {
			if k := keyValueSplit(t); k > 0 && !strings.Contains(t, "://") && !isDigits(t[:k]) && strings.IndexByte(t[:k], '@') < 0 {
				t = t[k+1:]
				continue
			}
		}
		break
	}
	if m&bKeyValue != 0 {
		if k := strings.Index(t, "://"); k > 0 {
			x.url(t, k, at, fn)
			return
		}
	}
	if m&bAt != 0 {
		if a := strings.IndexByte(t, '@'); a > 0 {
			if emailAt(t) == a {
				fn(x.lower(t), Email, at)
			}
			return
		}
	}
	if m&bHigh != 0 {
		return
	}
	if m&bSlash != 0 {
		sl := strings.IndexByte(t, '/')
		if IsFileExt(extOf(t)) {
			fn(x.lower(t), File, at)
			return
		}
		// a link written without its scheme ("www.a.example/alice"): the
		// same URL and host as "https://www.a.example/alice"
		if sl > 4 && (t[:4] == "www." || t[:4] == "WWW.") {
			if host := x.lower(t[4:sl]); IsHost(host) {
				u := strings.TrimRight(x.lower(t[4:]), "/")
				fn(u, URL, at)
				if u != host {
					fn(host, Host, at)
				}
			}
		}
		return
	}
	if m&bDot != 0 {
		if IsFileExt(extOf(t)) {
			fn(x.lower(t), File, at)
			return
		}
		if IsHost(t) {
			fn(strings.TrimPrefix(x.lower(t), "www."), Host, at)
			return
		}
	}
	if n, ok := numberDigits(t); ok {
		if n >= MinDigits && n <= maxDigits && !isDateLike(t) {
			fn(x.digitsOnly(t, n), Number, at)
		}
		return
	}
	if len(t) >= MinIDLen && isID(t) && !isDateLike(t) {
		fn(x.lower(t), ID, at)
	}
}

// url reports the URL t (its scheme ending at k) and its host.
func (x *extractor) url(t string, k, at int, fn func(string, Class, int)) {
	u := x.lower(t[k+3:])
	u = strings.TrimPrefix(u, "www.")
	u = strings.TrimRight(u, "/")
	if len(u) < MinValueLen {
		return
	}
	host := HostOf(u)
	fn(u, URL, at)
	if host != u && len(host) >= MinValueLen && IsHost(host) {
		fn(host, Host, at)
	}
}

// numberDigits reports whether t consists of digits and the separators
// - + . / only, and how many digits it has. A single '.' is a decimal point
// (an amount, not a number).
func numberDigits(t string) (int, bool) {
	n, dots := 0, 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case isDigit(c):
			n++
		case c == '.':
			dots++
		case c == '-' || c == '+' || c == '/':
		default:
			return 0, false
		}
	}
	if dots == 1 {
		return 0, true
	}
	return n, true
}

func (x *extractor) digitsOnly(t string, n int) string {
	if n == len(t) {
		return t
	}
	b := *x.buf
	from := len(b)
	for i := 0; i < len(t); i++ {
		if isDigit(t[i]) {
			b = append(b, t[i])
		}
	}
	*x.buf = b
	return x.str(from)
}

// isID: letters, digits, - and _ only, with a letter and two digits.
func isID(t string) bool {
	letters, digits := 0, 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case isAlpha(c):
			letters++
		case isDigit(c):
			digits++
		case c == '-' || c == '_':
		default:
			return false
		}
	}
	return letters > 0 && digits >= 2
}

// escaped reports whether s[i] follows an odd number of backslashes: the
// letter of an escape sequence ("\n" in JSON or YAML text), not of a
// backslash written as "\\" and a word after it.
func escaped(s string, i int) bool {
	k := i
	for k > 0 && s[k-1] == '\\' {
		k--
	}
	return (i-k)%2 == 1
}

// HostOf returns the host of a URL as Extract normalises it (no scheme, no
// leading "www."): without path, query, user info and port.
func HostOf(u string) string {
	if e := strings.IndexAny(u, "/?#"); e >= 0 {
		u = u[:e]
	}
	if e := strings.LastIndexByte(u, '@'); e >= 0 {
		u = u[e+1:]
	}
	if e := strings.IndexByte(u, ':'); e >= 0 {
		u = u[:e]
	}
	return u
}
