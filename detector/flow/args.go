package flow

import (
	"slices"
	"strings"
	"unsafe"

	"github.com/tetherhq/tether/models/jsontok"
)

// Tool-call arguments are read by a small JSON parser on the shared
// tokenizer (models/jsontok) that allocates nothing in steady state: it
// accepts exactly what
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
	in    []byte     // the arguments, copied into the arena
	sc    jsontok.Scanner
	nodes []jnode
	order []int32 // walk scratch: object members being sorted
	path  []byte  // walk scratch: the current key path
}

// parseArgs parses raw and appends its leaves to leaves. ok is false when
// json.Decoder would have failed.
func (p *argParser) parseArgs(raw []byte, leaves []leaf) (_ []leaf, ok bool) {
	from := len(p.x.buf)
	p.x.buf = append(p.x.buf, raw...)
	p.in = p.x.buf[from:len(p.x.buf):len(p.x.buf)] // later appends move the arena, not these bytes
	p.nodes = p.nodes[:0]
	p.sc.MaxDepth = maxJSONDepth
	p.sc.Reset(p.in)
	root, ok := p.value(p.sc.Next())
	if !ok {
		return leaves, false
	}
	p.path = p.path[:0]
	p.order = p.order[:0]
	return p.walk(root, leaves), true
}

func (p *argParser) add(n jnode) int32 {
	p.nodes = append(p.nodes, n)
	return int32(len(p.nodes) - 1)
}

// text returns the value of a string or key token: a substring of the
// input when it needs no decoding, else decoded into the arena.
func (p *argParser) text(t jsontok.Token) string {
	if t.End == t.Start {
		return ""
	}
	if t.Flags.Plain() {
		return unsafe.String(&p.in[t.Start], t.End-t.Start)
	}
	from := len(p.x.buf)
	p.x.buf, _, _, _ = jsontok.AppendString(p.x.buf, p.in, t.Start-1)
	return p.x.str(from)
}

// value builds the node of the value that starts with token t.
func (p *argParser) value(t jsontok.Token) (int32, bool) {
	switch t.Kind {
	case jsontok.ObjectStart, jsontok.ArrayStart:
		return p.container(t.Kind == jsontok.ObjectStart)
	case jsontok.String:
		return p.add(jnode{kind: jString, text: p.text(t), child: -1, next: -1}), true
	case jsontok.Number:
		return p.add(jnode{kind: jNumber, text: unsafe.String(&p.in[t.Start], t.End-t.Start), child: -1, next: -1}), true
	case jsontok.True, jsontok.False, jsontok.Null:
		return p.add(jnode{kind: jLiteral, child: -1, next: -1}), true
	}
	return -1, false
}

func (p *argParser) container(object bool) (int32, bool) {
	kind := jArray
	if object {
		kind = jObject
	}
	self := p.add(jnode{kind: kind, child: -1, next: -1})
	prev := int32(-1)
	for {
		t := p.sc.Next()
		if t.Kind == jsontok.ObjectEnd || t.Kind == jsontok.ArrayEnd {
			return self, true
		}
		var key string
		if object {
			if t.Kind != jsontok.Key {
				return -1, false
			}
			key = p.text(t)
			t = p.sc.Next()
		}
		child, ok := p.value(t)
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
	}
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
