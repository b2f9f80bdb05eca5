// Package jsontok is Tether's one JSON tokenizer: the byte-level scanning
// shared by the event decoder (models), the flow detector's argument parser
// and the risk detector's argument walker.
//
// It works on byte spans and allocates nothing: ScanString and ScanNumber validate
// one literal and return where it ends; Scanner turns a value into a stream
// of tokens whose strings are spans of the input, unescaped only on demand
// (AppendString, into a buffer the caller reuses). Plain runs inside strings
// are skipped eight bytes at a time (SWAR: one 64-bit load tests eight bytes
// for a quote, a backslash, a control byte or a non-ASCII byte), so the cost
// of a long string is a fraction of a byte-by-byte loop.
//
// The grammar is RFC 8259's, as encoding/json accepts it: the differential
// tests and FuzzScanner compare the scanner with json.Valid and the unescaped
// strings with json.Unmarshal. Policy (nesting limits, duplicate keys,
// number ranges, invalid UTF-8) is left to the callers, which differ on it.
package jsontok

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// Flags describe a scanned string.
type Flags uint8

const (
	// Escaped: the string holds at least one backslash escape, so its body
	// differs from its value (AppendUnquote decodes it).
	Escaped Flags = 1 << iota
	// NonASCII: the string holds bytes >= 0x80.
	NonASCII
	// BadUTF8: some byte is not part of valid UTF-8. encoding/json
	// replaces such bytes with U+FFFD; the decoder refuses the record.
	BadUTF8
)

// Plain reports whether the string's body is its value as valid UTF-8: no
// escape and no invalid byte.
func (f Flags) Plain() bool { return f&(Escaped|BadUTF8) == 0 }

// SkipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainRun returns the index of the first byte at or after i that is a
// quote, a backslash, a control byte or non-ASCII (len(b) when none).
func plainRun(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		q := w ^ (ones * '"')
		bs := w ^ (ones * '\\')
		m := ((q-ones)&^q | (bs-ones)&^bs | (w-ones*0x20)&^w | w) & highs
		if m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if !plainByte[b[i]] {
			return i
		}
	}
	return i
}

// plainByte marks the bytes a string body holds as themselves: ASCII other
// than controls, '"' and '\\'.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// ScanString scans the JSON string whose opening quote is b[i] and returns the
// index after its closing quote, so its body is b[i+1:end-1]. ok is false
// when the string is unterminated, holds a control byte or a malformed
// escape. Invalid UTF-8 is not an error here: it is reported in the flags.
func ScanString(b []byte, i int) (end int, f Flags, ok bool) {
	j := i + 1
	for {
		j = plainRun(b, j)
		if j >= len(b) {
			return i, f, false
		}
		switch c := b[j]; {
		case c == '"':
			return j + 1, f, true
		case c < 0x20:
			return i, f, false
		case c == '\\':
			if j+1 >= len(b) {
				return i, f, false
			}
			f |= Escaped
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if Hex4(b, j) < 0 {
					return i, f, false
				}
				j += 6
			default:
				return i, f, false
			}
		default: // non-ASCII
			f |= NonASCII
			if c < 0xC2 || c > 0xF4 {
				f |= BadUTF8
				j++
				continue
			}
			r, size := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && size == 1 {
				f |= BadUTF8
			}
			j += size
		}
	}
}

// FirstBadUTF8 returns the offset of the first byte of s that is not part of
// valid UTF-8, or -1.
func FirstBadUTF8(s []byte) int {
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// Hex4 decodes the \uXXXX escape at b[j:], or returns -1.
func Hex4(b []byte, j int) rune {
	if j+6 > len(b) || b[j] != '\\' || b[j+1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range b[j+2 : j+6] {
		switch {
		case '0' <= c && c <= '9':
			c = c - '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// PlainPrefix returns the index of the first byte at or after i that is a
// quote, a backslash, a control byte or non-ASCII (len(b) when none): a
// string body's plain run starting at i.
func PlainPrefix(b []byte, i int) int { return plainRun(b, i) }

// StringEnd returns a quick upper bound of the length of the string value
// whose opening quote is b[i]: the distance to the first quote not escaped
// by an odd run of backslashes (bytes.IndexByte's vector search). It is
// the exact body length of a string without escapes; -1 when there is no
// such quote.
func StringEnd(b []byte, i int) int {
	end := i + 1
	for {
		k := bytes.IndexByte(b[end:], '"')
		if k < 0 {
			return -1
		}
		end += k
		n := 0
		for p := end - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return end - i - 1
		}
		end++
	}
}

// AppendString scans the JSON string whose opening quote is b[i], as
// ScanString does, and appends its value to dst in the same pass, decoding
// escapes exactly as encoding/json does: a surrogate pair is one rune, an
// unpaired surrogate escape and every invalid UTF-8 byte become U+FFFD
// (and set BadUTF8). It returns the index after the closing quote; ok is
// false (dst holding part of the value) where ScanString fails.
func AppendString(dst, b []byte, i int) (_ []byte, end int, f Flags, ok bool) {
	j := i + 1
	for {
		k := plainRun(b, j)
		dst = append(dst, b[j:k]...)
		j = k
		if j >= len(b) {
			return dst, i, f, false
		}
		c := b[j]
		switch {
		case c == '"':
			return dst, j + 1, f, true
		case c < 0x20:
			return dst, i, f, false
		case c >= utf8.RuneSelf:
			f |= NonASCII
			r, size := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && size == 1 {
				f |= BadUTF8
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, b[j:j+size]...)
			}
			j += size
			continue
		}
		// a backslash
		if j+1 >= len(b) {
			return dst, i, f, false
		}
		f |= Escaped
		switch e := b[j+1]; e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := Hex4(b, j)
			if r < 0 {
				return dst, i, f, false
			}
			j += 6
			if 0xd800 <= r && r < 0xe000 {
				if r1 := Hex4(b, j); r < 0xdc00 && 0xdc00 <= r1 && r1 < 0xe000 {
					dst = utf8.AppendRune(dst, (r-0xd800)<<10|(r1-0xdc00)+0x10000)
					j += 6
					continue
				}
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default:
			return dst, i, f, false
		}
		j += 2
	}
}

// ScanNumber scans the JSON number at b[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and returns the index
// after it. exp reports an exponent (the only way a number written in a
// record can leave float64's range, short of hundreds of digits).
func ScanNumber(b []byte, i int) (end int, exp, ok bool) {
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && '1' <= b[j] && b[j] <= '9':
		j = digits(b, j+1)
	default:
		return i, false, false
	}
	if j < len(b) && b[j] == '.' {
		j++
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return i, false, false
		}
		j = digits(b, j+1)
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return i, false, false
		}
		return digits(b, j+1), true, true
	}
	return j, false, true
}

func digits(b []byte, j int) int {
	for j < len(b) && '0' <= b[j] && b[j] <= '9' {
		j++
	}
	return j
}

// ScanLiteral scans true, false or null at b[i] and returns the index after it
// and its kind (Invalid when there is none).
func ScanLiteral(b []byte, i int) (int, Kind) {
	rest := b[i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		return i + 4, True
	case len(rest) >= 5 && string(rest[:5]) == "false":
		return i + 5, False
	case len(rest) >= 4 && string(rest[:4]) == "null":
		return i + 4, Null
	}
	return i, Invalid
}
