package values

import (
	"encoding/binary"
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
		start := p
		for start > i && byteClass[s[start-1]]&bDelim == 0 {
			start--
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
func indexMark(s string, i int) int {
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	for ; i+8 <= len(b); i += 8 {
		if m := markMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if byteClass[b[i]]&bMark != 0 {
			return i
		}
	}
	return -1
}

// markMask sets the high bit of each byte of x (eight bytes, little
// endian) that is a mark: '.', '/', '0'–'9', ':' (0x2E–0x3A), '=' (0x3D)
// or '@' (0x40). Per byte and exact: the low seven bits y of a byte, plus
// at most 0x7f, never carry into the next byte.
func markMask(x uint64) uint64 {
	y := x & lows
	inRange := (y + (0x80-0x2E)*ones) &^ (y + (0x80-0x3B)*ones) // y >= 0x2E and y < 0x3B
	eq := ^((y ^ 0x3D*ones) + lows) | ^((y ^ 0x40*ones) + lows) // y == '=' or y == '@'
	return (inRange | eq) & highs &^ x                          // ASCII bytes only
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
	return Lower(x.buf, s)
}

// Lower appends s, ASCII lower-cased, to *arena and returns the appended
// bytes as a string aliasing the arena.
func Lower(arena *[]byte, s string) string {
	b := *arena
	from := len(b)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isUpper(c) {
			c += 'a' - 'A'
		}
		b = append(b, c)
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

func (x *extractor) classify(t string, at int, fn func(string, Class, int)) {
	maxLen := x.maxLen
	for {
		t = trimPunct(t)
		if len(t) < MinValueLen || (maxLen > 0 && len(t) > maxLen) {
			return
		}
		// key=value and key:value fragments (YAML, query strings, mailto:)
		// keep the value; hh:mm times are not split.
		if k := keyValueSplit(t); k > 0 && !strings.Contains(t, "://") && !isDigits(t[:k]) && indexByte(t[:k], '@') < 0 {
			t = t[k+1:]
			continue
		}
		break
	}
	if k := strings.Index(t, "://"); k > 0 {
		u := x.lower(t[k+3:])
		u = strings.TrimPrefix(u, "www.")
		u = strings.TrimRight(u, "/")
		if len(u) < MinValueLen {
			return
		}
		host := u
		if e := strings.IndexAny(host, "/?#"); e >= 0 {
			host = host[:e]
		}
		if e := lastIndexByte(host, '@'); e >= 0 {
			host = host[e+1:]
		}
		if e := indexByte(host, ':'); e >= 0 {
			host = host[:e]
		}
		fn(u, URL, at)
		if host != u && len(host) >= MinValueLen && IsHost(host) {
			fn(host, Host, at)
		}
		return
	}
	if a := indexByte(t, '@'); a > 0 {
		if emailAt(t) == a {
			fn(x.lower(t), Email, at)
		}
		return
	}
	if !isASCII(t) {
		return
	}
	if sl := indexByte(t, '/'); sl >= 0 {
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
	if indexByte(t, '.') >= 0 {
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
