package flow

import (
	"strings"
	"unsafe"
)

// Class is the shape of an extracted value.
type Class uint8

// Value classes. Every class except ClassFile is recipient-like: it can name
// where data goes or whom money reaches.
const (
	// ClassEmail: local@domain.tld, lower-cased.
	ClassEmail Class = iota + 1
	// ClassURL: a token containing "://", lower-cased, without scheme,
	// leading "www." and trailing "/".
	ClassURL
	// ClassHost: a dotted name whose last label is alphabetic (example.com,
	// or the host of a URL), lower-cased, without leading "www.".
	ClassHost
	// ClassNumber: a phone- or account-number-like token of digits and the
	// separators - + . (at least MinDigits digits); normalised to its digits.
	// Dates and decimal amounts are not numbers.
	ClassNumber
	// ClassID: an alphanumeric token (letters, digits, - and _) of at least
	// MinIDLen characters with at least one letter and two digits: IBANs,
	// account, record and file ids. A single digit makes a name with a
	// counter ("Channel_1", "version2"), not a distinctive value. Lower-cased.
	ClassID
	// ClassFile: a file name or path ending in a common document extension.
	ClassFile
)

// String names the class for explanations.
func (c Class) String() string {
	switch c {
	case ClassEmail:
		return "email"
	case ClassURL:
		return "url"
	case ClassHost:
		return "host"
	case ClassNumber:
		return "number"
	case ClassID:
		return "account/id"
	case ClassFile:
		return "file"
	}
	return "value"
}

// RecipientLike reports whether values of the class can name a destination.
func (c Class) RecipientLike() bool { return c != ClassFile && c != 0 }

// Extraction limits. Values shorter than MinValueLen (after normalisation)
// are too common to carry a flow and are ignored.
const (
	MinValueLen = 6
	MinIDLen    = 8
	MinDigits   = 7
	maxDigits   = 34 // IBANs are at most 34 characters
)

// isDelim reports whether b separates tokens: whitespace, quotes, brackets
// and list punctuation. '.', ':', '/', '@', '-', '_', '+' stay inside tokens
// so that e-mail addresses, URLs and numbers survive.
func isDelim(b byte) bool { return byteClass[b]&bDelim != 0 }

// Byte classes for the token scan (byteClass).
const (
	bDelim = 1 << iota // separates tokens (isDelim)
	// bMark: a digit or one of . @ / : = — every value classify reports
	// holds one (an e-mail '@', a URL ':', a host or file '.', a number
	// or id digits, a key=value split), so a token without one is skipped
	// without classifying it: most tokens of prose are plain words.
	bMark
)

var byteClass = func() (t [256]uint8) {
	for _, c := range []byte(" \t\n\r\v\f\"'`<>()[]{},;|*\\") {
		t[c] |= bDelim
	}
	for _, c := range []byte("0123456789.@/:=") {
		t[c] |= bMark
	}
	return t
}()

// Extract calls fn, in order of appearance, for each distinctive value in
// s: e-mail addresses, URLs (and their hosts), host names, phone/account
// numbers, alphanumeric ids and file names, normalised as their Class says.
// Values longer than maxLen bytes are skipped (maxLen <= 0: no limit).
// Plain words, short tokens, dates, times and decimal amounts are ignored;
// so are multi-word names (a deliberate simplification: single tokens carry
// the destinations that matter). The cost is O(len(s)); the string passed to
// fn may alias s and must be cloned to be kept.
func Extract(s string, maxLen int, fn func(v string, c Class)) {
	// A private arena: its bytes are never overwritten, so the values stay
	// valid (as Extract always allowed) even if a caller keeps them.
	x := extractor{maxLen: maxLen}
	x.run(s, func(v string, c Class, _ int) { fn(v, c) })
}

// extractor extracts values, normalising (lower-casing, keeping digits)
// into buf instead of allocating. buf is append-only while the values it
// backs are in use: a value is valid until buf is reset (the Detector resets
// it at the start of every event).
type extractor struct {
	maxLen int
	buf    []byte
}

// run calls fn for each value of s with the byte offset of its token. One
// pass over s with a table lookup per byte; only tokens long enough and
// holding a digit or one of . @ / : = are classified (see bMark).
func (x *extractor) run(s string, fn func(v string, c Class, at int)) {
	i := 0
	for i < len(s) {
		for i < len(s) && byteClass[s[i]]&bDelim != 0 {
			i++
		}
		if i < len(s) && (s[i] == 'n' || s[i] == 't' || s[i] == 'r') && escaped(s, i) {
			i++ // an escaped line break or tab of serialised text ("\nbob@a.example"), not a letter of the value
		}
		j := i
		var m uint8
		for j < len(s) {
			c := byteClass[s[j]]
			if c&bDelim != 0 {
				break
			}
			m |= c
			j++
		}
		if j-i >= MinValueLen && m&bMark != 0 {
			x.classify(s[i:j], i, fn)
		}
		i = j
	}
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

// str returns buf[from:] as a string aliasing buf (see extractor).
func (x *extractor) str(from int) string {
	if from == len(x.buf) {
		return ""
	}
	return unsafe.String(&x.buf[from], len(x.buf)-from)
}

// lower lower-cases s as strings.ToLower does: s itself when it has no
// upper case, ASCII folded into buf, other text through strings.ToLower.
func (x *extractor) lower(s string) string {
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return strings.ToLower(s)
		}
		upper = upper || ('A' <= c && c <= 'Z')
	}
	if !upper {
		return s
	}
	from := len(x.buf)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		x.buf = append(x.buf, c)
	}
	return x.str(from)
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
		if k := keyValueSplit(t); k > 0 && !strings.Contains(t, "://") && !isDigits(t[:k]) && strings.IndexByte(t[:k], '@') < 0 {
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
		if e := strings.LastIndexByte(host, '@'); e >= 0 {
			host = host[e+1:]
		}
		if e := strings.IndexByte(host, ':'); e >= 0 {
			host = host[:e]
		}
		fn(u, ClassURL, at)
		if host != u && len(host) >= MinValueLen && isHost(host) {
			fn(host, ClassHost, at)
		}
		return
	}
	if a := strings.IndexByte(t, '@'); a > 0 {
		dom := t[a+1:]
		if strings.IndexByte(dom, '@') < 0 && isHost(dom) && isLocalPart(t[:a]) {
			fn(x.lower(t), ClassEmail, at)
		}
		return
	}
	if !isASCII(t) {
		return
	}
	if sl := strings.IndexByte(t, '/'); sl >= 0 {
		if isFileExt(extOf(t)) {
			fn(x.lower(t), ClassFile, at)
			return
		}
		// a link written without its scheme ("www.a.example/alice"): the
		// same URL and host as "https://www.a.example/alice"
		if sl > 4 && (t[:4] == "www." || t[:4] == "WWW.") {
			if host := x.lower(t[4:sl]); isHost(host) {
				u := strings.TrimRight(x.lower(t[4:]), "/")
				fn(u, ClassURL, at)
				if u != host {
					fn(host, ClassHost, at)
				}
			}
		}
		return
	}
	if strings.IndexByte(t, '.') >= 0 {
		if isFileExt(extOf(t)) {
			fn(x.lower(t), ClassFile, at)
			return
		}
		if isHost(t) {
			fn(strings.TrimPrefix(x.lower(t), "www."), ClassHost, at)
			return
		}
	}
	if n, ok := numberDigits(t); ok {
		if n >= MinDigits && n <= maxDigits && !isDate(t) {
			fn(x.digitsOnly(t, n), ClassNumber, at)
		}
		return
	}
	if len(t) >= MinIDLen && isID(t) && !isDate(t) {
		fn(x.lower(t), ClassID, at)
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

func isAlpha(b byte) bool { return (b|0x20) >= 'a' && (b|0x20) <= 'z' }

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// extOf returns the extension of t (at most 5 bytes, not lower-cased).
func extOf(t string) string {
	k := strings.LastIndexByte(t, '.')
	if k < 0 || k == len(t)-1 {
		return ""
	}
	e := t[k+1:]
	if len(e) > 5 {
		return ""
	}
	return e
}

// isFileExt reports whether e, ASCII case-folded, is a common document
// extension: it makes a dotted token a file name, not a host.
func isFileExt(e string) bool {
	var b [5]byte
	if len(e) == 0 || len(e) > len(b) {
		return false
	}
	for i := 0; i < len(e); i++ {
		c := e[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	switch string(b[:len(e)]) {
	case "txt", "pdf", "doc", "docx", "xls", "xlsx", "csv",
		"json", "yaml", "yml", "md", "png", "jpg", "jpeg",
		"gif", "zip", "log", "html", "htm", "xml", "py",
		"go", "js", "ts", "sh", "ppt", "pptx", "eml", "ics":
		return true
	}
	return false
}

// isHost: at least two non-empty labels of letters, digits and '-', the last
// alphabetic and 2–24 letters long.
func isHost(h string) bool {
	if len(h) < 4 || h[0] == '.' || h[len(h)-1] == '.' {
		return false
	}
	dots := 0
	last := -1
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '.':
			if i == last+1 {
				return false
			}
			dots++
			last = i
		case isAlpha(c) || isDigit(c) || c == '-':
		default:
			return false
		}
	}
	tld := h[last+1:]
	if dots == 0 || len(tld) < 2 || len(tld) > 24 {
		return false
	}
	for i := 0; i < len(tld); i++ {
		if !isAlpha(tld[i]) {
			return false
		}
	}
	return true
}

func isLocalPart(l string) bool {
	if len(l) == 0 || len(l) > 64 {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(isAlpha(c) || isDigit(c) || c == '.' || c == '-' || c == '_' || c == '+' || c == '%') {
			return false
		}
	}
	return true
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
	from := len(x.buf)
	for i := 0; i < len(t); i++ {
		if isDigit(t[i]) {
			x.buf = append(x.buf, t[i])
		}
	}
	return x.str(from)
}

// isDate matches three digit groups of at most 4 digits separated by - / or
// . at the start of t: dates, also as the prefix of a timestamp.
func isDate(t string) bool {
	groups, digits := 0, 0
	for i := 0; i <= len(t); i++ {
		if i < len(t) && isDigit(t[i]) {
			digits++
			continue
		}
		if digits == 0 || digits > 4 {
			return false
		}
		groups++
		digits = 0
		if groups == 3 {
			return true
		}
		if i == len(t) || (t[i] != '-' && t[i] != '/' && t[i] != '.') {
			return false
		}
	}
	return false
}

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
