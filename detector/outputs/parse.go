package outputs

import "strings"

// Fields of a result: the leaves of a JSON document by key path (array
// elements as "[]"), or, for text, the lines by the path of "key: value"
// labels above them (YAML-like records, "- " list items as "[]"); lines
// without a label belong to the nearest enclosing label, or to "$text".

// leaf is one value of a result: its field path and its byte span in the
// result.
type leaf struct {
	path       string
	start, end int
}

// parser splits results into leaves, reusing its buffers between results.
type parser struct {
	leaves []leaf
	stack  []frame
	buf    []byte
	intern map[string]string
	depth  int
}

// frame is an open label of the text parser: the indentation its children
// have more of, and its path.
type frame struct {
	indent int
	path   string
	// open: a label without a value on its line, whose list may sit at
	// its own indentation ("recipients:" then "- bob@…")
	open bool
}

// maxDepth bounds JSON nesting and label nesting.
const maxDepth = 32

// parse returns the leaves of text (at most max).
func (p *parser) parse(text string, max int) []leaf {
	p.leaves = p.leaves[:0]
	i := skipSpace(text, 0)
	if i < len(text) && (text[i] == '{' || text[i] == '[') {
		p.depth = 0
		if end, ok := p.json(text, i, "", max); ok && skipSpace(text, end) == len(text) {
			return p.leaves
		}
		p.leaves = p.leaves[:0]
	}
	p.lines(text, max)
	return p.leaves
}

// join returns parent + sep + key, interned: the paths of a tool's
// results repeat, so they are built in a scratch buffer and allocated
// once (the table is reset when it reaches maxInterned).
func (p *parser) join(parent, sep, key string) string {
	if parent == "" {
		sep = ""
	}
	p.buf = append(append(append(p.buf[:0], parent...), sep...), key...)
	if s, ok := p.intern[string(p.buf)]; ok {
		return s
	}
	if p.intern == nil || len(p.intern) >= maxInterned {
		p.intern = make(map[string]string)
	}
	s := string(p.buf)
	p.intern[s] = s
	return s
}

// maxInterned bounds the interned paths.
const maxInterned = 4096

func (p *parser) add(path string, start, end, max int) {
	if len(p.leaves) < max && end > start {
		p.leaves = append(p.leaves, leaf{path: path, start: start, end: end})
	}
}

// json walks the JSON value at text[i:] and returns the offset after it.
func (p *parser) json(text string, i int, path string, max int) (int, bool) {
	i = skipSpace(text, i)
	if i >= len(text) {
		return i, false
	}
	switch text[i] {
	case '{':
		if p.depth++; p.depth > maxDepth {
			return i, false
		}
		defer func() { p.depth-- }()
		i = skipSpace(text, i+1)
		if i < len(text) && text[i] == '}' {
			return i + 1, true
		}
		for i < len(text) {
			i = skipSpace(text, i)
			if i >= len(text) || text[i] != '"' {
				return i, false
			}
			end, ok := stringEnd(text, i)
			if !ok {
				return i, false
			}
			key := text[i+1 : end-1]
			i = skipSpace(text, end)
			if i >= len(text) || text[i] != ':' {
				return i, false
			}
			if i, ok = p.json(text, i+1, p.join(path, ".", clipKey(key)), max); !ok {
				return i, false
			}
			i = skipSpace(text, i)
			if i < len(text) && text[i] == ',' {
				i++
				continue
			}
			if i < len(text) && text[i] == '}' {
				return i + 1, true
			}
			return i, false
		}
		return i, false
	case '[':
		if p.depth++; p.depth > maxDepth {
			return i, false
		}
		defer func() { p.depth-- }()
		i = skipSpace(text, i+1)
		if i < len(text) && text[i] == ']' {
			return i + 1, true
		}
		elem := p.join(path, "", "[]")
		for i < len(text) {
			var ok bool
			if i, ok = p.json(text, i, elem, max); !ok {
				return i, false
			}
			i = skipSpace(text, i)
			if i < len(text) && text[i] == ',' {
				i++
				continue
			}
			if i < len(text) && text[i] == ']' {
				return i + 1, true
			}
			return i, false
		}
		return i, false
	case '"':
		end, ok := stringEnd(text, i)
		if !ok {
			return i, false
		}
		p.add(orRoot(path), i+1, end-1, max)
		return end, true
	default:
		j := i
		for j < len(text) && !isSpace(text[j]) && text[j] != ',' && text[j] != '}' && text[j] != ']' {
			j++
		}
		if j == i {
			return i, false
		}
		p.add(orRoot(path), i, j, max)
		return j, true
	}
}

func orRoot(path string) string {
	if path == "" {
		return "$"
	}
	return path
}

// clipKey bounds a key's length in a path.
func clipKey(k string) string {
	if len(k) > 48 {
		return k[:48]
	}
	return k
}

// stringEnd returns the offset after the JSON string opening at text[i]:
// the first quote after it not escaped by an odd run of backslashes.
func stringEnd(text string, i int) (int, bool) {
	for j := i + 1; ; j++ {
		k := strings.IndexByte(text[j:], '"')
		if k < 0 {
			return len(text), false
		}
		j += k
		n := 0
		for b := j - 1; b > i && text[b] == '\\'; b-- {
			n++
		}
		if n%2 == 0 {
			return j + 1, true
		}
	}
}

func skipSpace(text string, i int) int {
	for i < len(text) && isSpace(text[i]) {
		i++
	}
	return i
}

// lines walks text line by line.
func (p *parser) lines(text string, max int) {
	p.stack = p.stack[:0]
	for off := 0; off < len(text) && len(p.leaves) < max; {
		end := len(text)
		if k := strings.IndexByte(text[off:], '\n'); k >= 0 {
			end = off + k
		}
		p.line(text, off, end, max)
		off = end + 1
	}
}

// line parses text[off:end], one line.
func (p *parser) line(text string, off, end, max int) {
	i := off
	for i < end && (text[i] == ' ' || text[i] == '\t') {
		i++
	}
	e := end
	for e > i && isSpace(text[e-1]) {
		e--
	}
	if i == e {
		return
	}
	indent := i - off
	item := e-i >= 2 && text[i] == '-' && text[i+1] == ' '
	for len(p.stack) > 0 {
		top := p.stack[len(p.stack)-1]
		if top.indent < indent || (top.indent == indent && item && top.open) {
			break
		}
		p.stack = p.stack[:len(p.stack)-1]
	}
	parent := ""
	if len(p.stack) > 0 {
		parent = p.stack[len(p.stack)-1].path
	}
	if item && len(p.stack) < maxDepth {
		// a list item: a new element of parent; its keys are indented
		// past the dash
		item := p.join(parent, "", "[]")
		p.stack = append(p.stack, frame{indent: indent, path: item})
		i += 2
		for i < e && text[i] == ' ' {
			i++
		}
		indent = i - off
		parent = item
	}
	if k, v, ok := label(text, i, e); ok && len(p.stack) < maxDepth {
		path := p.join(parent, ".", clipKey(text[i:k]))
		block := v == e || (e-v == 1 && (text[v] == '|' || text[v] == '>'))
		p.stack = append(p.stack, frame{indent: indent, path: path, open: block})
		if !block {
			p.add(path, v, e, max)
		}
		return
	}
	if parent == "" {
		parent = "$text"
	}
	p.add(parent, i, e, max)
}

// label reports whether text[i:e] opens with a "key:" label — a key of at
// most three words and 40 bytes of letters, digits, '_' and '-', then ':'
// and white space or the line's end — and returns the key's end and the
// value's start.
func label(text string, i, e int) (keyEnd, valStart int, ok bool) {
	words := 1
	for j := i; j < e && j-i <= 40; j++ {
		c := text[j]
		switch {
		case isLetter(c) || isDigit(c) || c == '_' || c == '-' || c == '.':
		case c == ' ':
			if j == i || text[j-1] == ' ' {
				return 0, 0, false
			}
			if words++; words > 3 {
				return 0, 0, false
			}
		case c == ':':
			if j == i || text[j-1] == ' ' || (j+1 < e && text[j+1] != ' ') {
				return 0, 0, false
			}
			v := j + 1
			for v < e && text[v] == ' ' {
				v++
			}
			return j, v, true
		default:
			return 0, 0, false
		}
	}
	return 0, 0, false
}
