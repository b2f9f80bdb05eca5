package risk

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// leafKind is the JSON type of an argument leaf.
type leafKind uint8

const (
	leafString leafKind = iota + 1
	leafNumber
	leafBool
	leafNull
)

// leaf is one scalar of a tool call's arguments, with the name of the
// object member it sits under (the innermost key; array elements inherit
// their array's key) and its top-level argument name.
type leaf struct {
	key, top string
	kind     leafKind
	// val is the decoded string, the number's text, or "true"/"false"/"null".
	val string
}

// maxDepth bounds the nesting walkArgs follows.
const maxDepth = 32

// argWalker decodes a JSON arguments object into leaves in one pass over
// the bytes (one string allocation per string value; escapes decoded). It
// does not validate beyond what it needs: events reach detectors after
// models.Decoder has checked the arguments are valid JSON.
type argWalker struct {
	b      []byte
	i      int
	leaves []leaf
	keys   []string // top-level keys in order
	bad    bool
}

// walk resets w and decodes raw. It reports false (with the leaves found so
// far) on malformed input or nesting deeper than maxDepth.
func (w *argWalker) walk(raw []byte) bool {
	w.b, w.i, w.bad = raw, 0, false
	w.leaves, w.keys = w.leaves[:0], w.keys[:0]
	w.ws()
	if w.i >= len(w.b) {
		return true
	}
	w.value("", "", 0)
	return !w.bad
}

func (w *argWalker) ws() {
	for w.i < len(w.b) {
		switch w.b[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

func (w *argWalker) value(key, top string, depth int) {
	if w.bad {
		return
	}
	if depth > maxDepth || w.i >= len(w.b) {
		w.bad = true
		return
	}
	switch c := w.b[w.i]; {
	case c == '{':
		w.i++
		w.ws()
		if w.i < len(w.b) && w.b[w.i] == '}' {
			w.i++
			return
		}
		for !w.bad {
			w.ws()
			if w.i >= len(w.b) || w.b[w.i] != '"' {
				w.bad = true
				return
			}
			k, ok := w.str()
			if !ok {
				w.bad = true
				return
			}
			t := top
			if depth == 0 {
				t = k
				w.keys = append(w.keys, k)
			}
			w.ws()
			if w.i >= len(w.b) || w.b[w.i] != ':' {
				w.bad = true
				return
			}
			w.i++
			w.ws()
			w.value(k, t, depth+1)
			w.ws()
			if w.i >= len(w.b) {
				w.bad = true
				return
			}
			if w.b[w.i] == ',' {
				w.i++
				continue
			}
			if w.b[w.i] == '}' {
				w.i++
				return
			}
			w.bad = true
		}
	case c == '[':
		w.i++
		w.ws()
		if w.i < len(w.b) && w.b[w.i] == ']' {
			w.i++
			return
		}
		for !w.bad {
			w.ws()
			w.value(key, top, depth+1)
			w.ws()
			if w.i >= len(w.b) {
				w.bad = true
				return
			}
			if w.b[w.i] == ',' {
				w.i++
				continue
			}
			if w.b[w.i] == ']' {
				w.i++
				return
			}
			w.bad = true
		}
	case c == '"':
		s, ok := w.str()
		if !ok {
			w.bad = true
			return
		}
		w.leaves = append(w.leaves, leaf{key: key, top: top, kind: leafString, val: s})
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range [...]string{"true", "false", "null"} {
			if len(w.b)-w.i >= len(lit) && string(w.b[w.i:w.i+len(lit)]) == lit {
				kind := leafBool
				if lit == "null" {
					kind = leafNull
				}
				w.leaves = append(w.leaves, leaf{key: key, top: top, kind: kind, val: lit})
				w.i += len(lit)
				return
			}
		}
		w.bad = true
	case c == '-' || c >= '0' && c <= '9':
		j := w.i
		for j < len(w.b) {
			d := w.b[j]
			if d >= '0' && d <= '9' || d == '-' || d == '+' || d == '.' || d == 'e' || d == 'E' {
				j++
				continue
			}
			break
		}
		w.leaves = append(w.leaves, leaf{key: key, top: top, kind: leafNumber, val: string(w.b[w.i:j])})
		w.i = j
	default:
		w.bad = true
	}
}

// str decodes the string at w.i (which is '"').
func (w *argWalker) str() (string, bool) {
	start := w.i + 1
	j := start
	for j < len(w.b) {
		c := w.b[j]
		if c == '"' {
			w.i = j + 1
			return string(w.b[start:j]), true
		}
		if c == '\\' {
			return w.strEscaped(start)
		}
		j++
	}
	return "", false
}

func (w *argWalker) strEscaped(start int) (string, bool) {
	out := make([]byte, 0, 32)
	j := start
	for j < len(w.b) {
		c := w.b[j]
		switch {
		case c == '"':
			w.i = j + 1
			return string(out), true
		case c != '\\':
			out = append(out, c)
			j++
			continue
		}
		if j+1 >= len(w.b) {
			return "", false
		}
		e := w.b[j+1]
		j += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n := w.hex4(j)
			if n == 0 {
				return "", false
			}
			j += n
			if utf16.IsSurrogate(r) {
				if j+6 <= len(w.b) && w.b[j] == '\\' && w.b[j+1] == 'u' {
					r2, n2 := w.hex4(j + 2)
					if d := utf16.DecodeRune(r, r2); n2 > 0 && d != utf8.RuneError {
						r = d
						j += 2 + n2
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (w *argWalker) hex4(j int) (rune, int) {
	if j+4 > len(w.b) {
		return 0, 0
	}
	v, err := strconv.ParseUint(string(w.b[j:j+4]), 16, 32)
	if err != nil {
		return 0, 0
	}
	return rune(v), 4
}
