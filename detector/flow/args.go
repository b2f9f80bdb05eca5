package flow

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Tool-call arguments are read by a small JSON parser that allocates
// nothing in steady state: it accepts exactly what
// json.Decoder.Decode (with UseNumber) accepts for the first JSON value of
// the input (trailing bytes are ignored, as by one Decode call), decodes
// strings the same way (escapes, surrogate pairs, invalid UTF-8 as U+FFFD),
// and lists the leaves (strings and numbers, as their literal text) with
// their dotted key paths in the order walk visited the decoded value:
// object keys sorted, the last of duplicate keys winning. The decoded text
// lives in the Detector's per-event arena (see extractor).

// maxJSONDepth is encoding/json's nesting limit.
const maxJSONDepth = 10000

const (
	jString uint8 = iota + 1
	jNumber
	jLiteral
	jObject
	jArray
)

// jnode is one parsed value: text for strings and numbers, a first child
// and a next sibling for containers (-1: none); key is its member name
// inside an object.
type jnode struct {
	kind        uint8
	key, text   string
	child, next int32
}

// leaf is one string or number of the arguments with its key path.
type leaf struct{ path, text string }

// argParser holds the scratch of one parse.
type argParser struct {
	x     *extractor // arena for decoded text and paths
	in    string
	pos   int
	nodes []jnode
	order []int32 // walk scratch: object members being sorted
	path  []byte  // walk scratch: the current key path
}

// parseArgs parses raw and appends its leaves to leaves. ok is false when
// json.Decoder would have failed.
func (p *argParser) parseArgs(raw []byte, leaves []leaf) (_ []leaf, ok bool) {
	from := len(p.x.buf)
	p.x.buf = append(p.x.buf, raw...)
	p.in = p.x.str(from)
	p.pos = 0
	p.nodes = p.nodes[:0]
	p.skipSpace()
	if p.pos >= len(p.in) {
		return leaves, false
	}
	root, ok := p.value(1)
	if !ok {
		return leaves, false
	}
	p.path = p.path[:0]
	p.order = p.order[:0]
	return p.walk(root, leaves), true
}

func (p *argParser) skipSpace() {
	for p.pos < len(p.in) {
		switch p.in[p.pos] {
		case ' ', '\t', '\r', '\n':
			p.pos++
		default:
			return
		}
	}
}

func (p *argParser) add(n jnode) int32 {
	p.nodes = append(p.nodes, n)
	return int32(len(p.nodes) - 1)
}

// value parses one value at p.pos (whitespace skipped) at nesting depth.
func (p *argParser) value(depth int) (int32, bool) {
	if p.pos >= len(p.in) {
		return -1, false
	}
	switch c := p.in[p.pos]; {
	case c == '{' || c == '[':
		if depth > maxJSONDepth {
			return -1, false
		}
		return p.container(c, depth)
	case c == '"':
		s, ok := p.str()
		if !ok {
			return -1, false
		}
		return p.add(jnode{kind: jString, text: s, child: -1, next: -1}), true
	case c == '-' || isDigit(c):
		start := p.pos
		if !p.number() {
			return -1, false
		}
		return p.add(jnode{kind: jNumber, text: p.in[start:p.pos], child: -1, next: -1}), true
	default:
		for _, lit := range [...]string{"true", "false", "null"} {
			if lit[0] == c {
				if !strings.HasPrefix(p.in[p.pos:], lit) {
					return -1, false
				}
				p.pos += len(lit)
				return p.add(jnode{kind: jLiteral, child: -1, next: -1}), true
			}
		}
		return -1, false
	}
}

func (p *argParser) container(open byte, depth int) (int32, bool) {
	kind, close := jArray, byte(']')
	if open == '{' {
		kind, close = jObject, '}'
	}
	self := p.add(jnode{kind: kind, child: -1, next: -1})
	p.pos++
	p.skipSpace()
	if p.pos < len(p.in) && p.in[p.pos] == close {
		p.pos++
		return self, true
	}
	prev := int32(-1)
	for {
		var key string
		if kind == jObject {
			if p.pos >= len(p.in) || p.in[p.pos] != '"' {
				return -1, false
			}
			k, ok := p.str()
			if !ok {
				return -1, false
			}
			key = k
			p.skipSpace()
			if p.pos >= len(p.in) || p.in[p.pos] != ':' {
				return -1, false
			}
			p.pos++
			p.skipSpace()
		}
		child, ok := p.value(depth + 1)
		if !ok {
			return -1, false
		}
		p.nodes[child].key = key
		if prev < 0 {
			p.nodes[self].child = child
		} else {
			p.nodes[prev].next = child
		}
		prev = child
		p.skipSpace()
		if p.pos >= len(p.in) {
			return -1, false
		}
		switch p.in[p.pos] {
		case ',':
			p.pos++
			p.skipSpace()
		case close:
			p.pos++
			return self, true
		default:
			return -1, false
		}
	}
}

// number scans a JSON number literal.
func (p *argParser) number() bool {
	s, i := p.in, p.pos
	if s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return false
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	p.pos = i
	return true
}

// str scans the string at p.pos and returns its decoded text: a substring
// of the input when it needs no decoding, else decoded into the arena.
func (p *argParser) str() (string, bool) {
	s := p.in
	i := p.pos + 1
	start := i
	plain := true
	for {
		if i >= len(s) {
			return "", false
		}
		c := s[i]
		if c == '"' {
			break
		}
		if c < 0x20 {
			return "", false
		}
		if c == '\\' {
			plain = false
			i++
			if i >= len(s) {
				return "", false
			}
			switch s[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if getu4(s[i-1:]) < 0 {
					return "", false
				}
				i += 5
			default:
				return "", false
			}
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				plain = false
			}
			i += size
			continue
		}
		i++
	}
	p.pos = i + 1
	if plain {
		return s[start:i], true
	}
	return p.unquote(s[start:i]), true
}

// unquote decodes a validated string body as encoding/json does.
func (p *argParser) unquote(s string) string {
	x := p.x
	from := len(x.buf)
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			switch s[r+1] {
			case 'b':
				x.buf = append(x.buf, '\b')
			case 'f':
				x.buf = append(x.buf, '\f')
			case 'n':
				x.buf = append(x.buf, '\n')
			case 'r':
				x.buf = append(x.buf, '\r')
			case 't':
				x.buf = append(x.buf, '\t')
			case 'u':
				rr := getu4(s[r:])
				r += 6
				if isSurrogate(rr) {
					if rr1 := getu4(s[r:]); rr1 >= 0 {
						if dec := decodeSurrogates(rr, rr1); dec != utf8.RuneError {
							r += 6
							x.buf = utf8.AppendRune(x.buf, dec)
							continue
						}
					}
					rr = utf8.RuneError
				}
				x.buf = utf8.AppendRune(x.buf, rr)
				continue
			default: // " \ /
				x.buf = append(x.buf, s[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			x.buf = append(x.buf, c)
			r++
		default:
			rr, size := utf8.DecodeRuneInString(s[r:])
			r += size
			x.buf = utf8.AppendRune(x.buf, rr)
		}
	}
	return x.str(from)
}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s string) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range []byte(s[2:6]) {
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

func isSurrogate(r rune) bool { return 0xd800 <= r && r < 0xe000 }

// decodeSurrogates is utf16.DecodeRune.
func decodeSurrogates(r1, r2 rune) rune {
	if 0xd800 <= r1 && r1 < 0xdc00 && 0xdc00 <= r2 && r2 < 0xe000 {
		return (r1-0xd800)<<10 | (r2 - 0xdc00) + 0x10000
	}
	return utf8.RuneError
}

// walk appends the leaves under node n in walk order.
func (p *argParser) walk(n int32, leaves []leaf) []leaf {
	switch nd := &p.nodes[n]; nd.kind {
	case jString, jNumber:
		return append(leaves, leaf{p.pathString(), nd.text})
	case jArray:
		for c := nd.child; c >= 0; c = p.nodes[c].next {
			leaves = p.walk(c, leaves)
		}
	case jObject:
		base := len(p.order)
		for c := nd.child; c >= 0; c = p.nodes[c].next {
			p.order = append(p.order, c)
		}
		top := len(p.order)
		slices.SortStableFunc(p.order[base:top], func(a, b int32) int {
			return strings.Compare(p.nodes[a].key, p.nodes[b].key)
		})
		plen := len(p.path)
		for i := base; i < top; i++ {
			c := p.order[i]
			key := p.nodes[c].key
			if i+1 < top && p.nodes[p.order[i+1]].key == key {
				continue // a later duplicate replaces it
			}
			p.path = p.path[:plen]
			if plen > 0 {
				p.path = append(p.path, '.')
			}
			p.path = append(p.path, key...)
			leaves = p.walk(c, leaves)
		}
		p.path = p.path[:plen]
		p.order = p.order[:base]
	}
	return leaves
}

// pathString returns the current key path, in the arena.
func (p *argParser) pathString() string {
	if len(p.path) == 0 {
		return ""
	}
	from := len(p.x.buf)
	p.x.buf = append(p.x.buf, p.path...)
	return p.x.str(from)
}
