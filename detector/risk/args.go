package risk

import (
	"unsafe"

	"github.com/tetherhq/tether/models/jsontok"
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
// the bytes with the shared tokenizer (models/jsontok). Keys and values
// without escapes alias the arguments (which events never modify after
// decoding), so they cost no allocation; an escaped one is decoded into a
// string of its own. It does not validate beyond what it needs: events
// reach detectors after models.Decoder has checked the arguments are valid
// JSON.
type argWalker struct {
	b      []byte
	sc     jsontok.Scanner
	leaves []leaf
	keys   []string // top-level keys in order
	bad    bool
}

// walk resets w and decodes raw. It reports false (with the leaves found so
// far) on malformed input or nesting deeper than maxDepth.
func (w *argWalker) walk(raw []byte) bool {
	w.b, w.bad = raw, false
	w.leaves, w.keys = w.leaves[:0], w.keys[:0]
	if jsontok.SkipSpace(raw, 0) == len(raw) {
		return true
	}
	w.sc.Reset(raw)
	w.value(w.sc.Next(), "", "", 0)
	return !w.bad
}

// str returns the value of a string or key token.
func (w *argWalker) str(t jsontok.Token) string {
	if t.End == t.Start {
		return ""
	}
	if t.Flags&jsontok.Escaped == 0 {
		return unsafe.String(&w.b[t.Start], t.End-t.Start)
	}
	v, _, _, _ := jsontok.AppendString(make([]byte, 0, t.End-t.Start), w.b, t.Start-1)
	return unsafe.String(unsafe.SliceData(v), len(v))
}

// value reads the value that starts with token t, under member key (the
// innermost) and top-level argument top, depth containers deep.
func (w *argWalker) value(t jsontok.Token, key, top string, depth int) {
	if w.bad {
		return
	}
	if depth > maxDepth {
		w.bad = true
		return
	}
	switch t.Kind {
	case jsontok.ObjectStart:
		for {
			t = w.sc.Next()
			if t.Kind == jsontok.ObjectEnd {
				return
			}
			if t.Kind != jsontok.Key {
				w.bad = true
				return
			}
			k := w.str(t)
			tp := top
			if depth == 0 {
				tp = k
				w.keys = append(w.keys, k)
			}
			if w.value(w.sc.Next(), k, tp, depth+1); w.bad {
				return
			}
		}
	case jsontok.ArrayStart:
		for {
			t = w.sc.Next()
			if t.Kind == jsontok.ArrayEnd {
				return
			}
			if w.value(t, key, top, depth+1); w.bad {
				return
			}
		}
	case jsontok.String:
		w.leaves = append(w.leaves, leaf{key: key, top: top, kind: leafString, val: w.str(t)})
	case jsontok.Number:
		w.leaves = append(w.leaves, leaf{key: key, top: top, kind: leafNumber, val: unsafe.String(&w.b[t.Start], t.End-t.Start)})
	case jsontok.True:
		w.leaves = append(w.leaves, leaf{key: key, top: top, kind: leafBool, val: "true"})
	case jsontok.False:
		w.leaves = append(w.leaves, leaf{key: key, top: top, kind: leafBool, val: "false"})
	case jsontok.Null:
		w.leaves = append(w.leaves, leaf{key: key, top: top, kind: leafNull, val: "null"})
	default:
		w.bad = true
	}
}
