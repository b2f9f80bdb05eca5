package values_test

// The value classifiers as they were before detector/values (flow's
// extract.go and outputs' classes.go at 47c6713), kept verbatim but for
// renamed identifiers: the differential tests compare the classifier
// against them. Legacy flow identifiers start with f, outputs' with o.

import (
	"strings"
	"unsafe"

	"github.com/tetherhq/tether/detector/values"
)

// Extraction limits. Values shorter than fMinValueLen (after normalisation)
// are too common to carry a flow and are ignored.
const (
	fMinValueLen = 6
	fMinIDLen    = 8
	fMinDigits   = 7
	fMaxDigits   = 34 // IBANs are at most 34 characters
)

// fIsDelim reports whether b separates tokens: whitespace, quotes, brackets
// and list punctuation. '.', ':', '/', '@', '-', '_', '+' stay inside tokens
// so that e-mail addresses, URLs and numbers survive.
func fIsDelim(b byte) bool { return fByteClass[b]&fBDelim != 0 }

// Byte classes for the token scan (fByteClass).
const (
	fBDelim = 1 << iota // separates tokens (fIsDelim)
	// fBMark: a digit or one of . @ / : = — every value classify reports
	// holds one (an e-mail '@', a URL ':', a host or file '.', a number
	// or id digits, a key=value split), so a token without one is skipped
	// without classifying it: most tokens of prose are plain words.
	fBMark
)

var fByteClass = func() (t [256]uint8) {
	for _, c := range []byte(" \t\n\r\v\f\"'`<>()[]{},;|*\\") {
		t[c] |= fBDelim
	}
	for _, c := range []byte("0123456789.@/:=") {
		t[c] |= fBMark
	}
	return t
}()

// fExtract calls fn, in order of appearance, for each distinctive value in
// s: e-mail addresses, URLs (and their hosts), host names, phone/account
// numbers, alphanumeric ids and file names, normalised as their values.Class says.
// Values longer than maxLen bytes are skipped (maxLen <= 0: no limit).
// Plain words, short tokens, dates, times and decimal amounts are ignored;
// so are multi-word names (a deliberate simplification: single tokens carry
// the destinations that matter). The cost is O(len(s)); the string passed to
// fn may alias s and must be cloned to be kept.
func fExtract(s string, maxLen int, fn func(v string, c values.Class)) {
	// A private arena: its bytes are never overwritten, so the values stay
	// valid (as fExtract always allowed) even if a caller keeps them.
	x := fExtractor{maxLen: maxLen}
	x.run(s, func(v string, c values.Class, _ int) { fn(v, c) })
}

// fExtractor extracts values, normalising (lower-casing, keeping digits)
// into buf instead of allocating. buf is append-only while the values it
// backs are in use: a value is valid until buf is reset (the Detector resets
// it at the start of every event).
type fExtractor struct {
	maxLen int
	buf    []byte
}

// run calls fn for each value of s with the byte offset of its token. One
// pass over s with a table lookup per byte; only tokens long enough and
// holding a digit or one of . @ / : = are classified (see fBMark).
func (x *fExtractor) run(s string, fn func(v string, c values.Class, at int)) {
	i := 0
	for i < len(s) {
		for i < len(s) && fByteClass[s[i]]&fBDelim != 0 {
			i++
		}
		if i < len(s) && (s[i] == 'n' || s[i] == 't' || s[i] == 'r') && fEscaped(s, i) {
			i++ // the recall round's rule (merged after this copy was taken): an escaped line break is not a letter of the value
		}
		j := i
		var m uint8
		for j < len(s) {
			c := fByteClass[s[j]]
			if c&fBDelim != 0 {
				break
			}
			m |= c
			j++
		}
		if j-i >= fMinValueLen && m&fBMark != 0 {
			x.classify(s[i:j], i, fn)
		}
		i = j
	}
}

// str returns buf[from:] as a string aliasing buf (see fExtractor).
func (x *fExtractor) str(from int) string {
	if from == len(x.buf) {
		return ""
	}
	return unsafe.String(&x.buf[from], len(x.buf)-from)
}

// lower lower-cases s as strings.ToLower does: s itself when it has no
// upper case, ASCII folded into buf, other text through strings.ToLower.
func (x *fExtractor) lower(s string) string {
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

// fTrimPunct strips sentence punctuation around a token.
func fTrimPunct(t string) string {
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

// fKeyValueSplit returns the index of the first ':' or '='.
func fKeyValueSplit(t string) int {
	for i := 0; i < len(t); i++ {
		if t[i] == ':' || t[i] == '=' {
			return i
		}
	}
	return -1
}

func (x *fExtractor) classify(t string, at int, fn func(string, values.Class, int)) {
	maxLen := x.maxLen
	for {
		t = fTrimPunct(t)
		if len(t) < fMinValueLen || (maxLen > 0 && len(t) > maxLen) {
			return
		}
		// key=value and key:value fragments (YAML, query strings, mailto:)
		// keep the value; hh:mm times are not split.
		if k := fKeyValueSplit(t); k > 0 && !strings.Contains(t, "://") && !fIsDigits(t[:k]) && strings.IndexByte(t[:k], '@') < 0 {
			t = t[k+1:]
			continue
		}
		break
	}
	if k := strings.Index(t, "://"); k > 0 {
		u := x.lower(t[k+3:])
		u = strings.TrimPrefix(u, "www.")
		u = strings.TrimRight(u, "/")
		if len(u) < fMinValueLen {
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
		fn(u, values.URL, at)
		if host != u && len(host) >= fMinValueLen && fIsHost(host) {
			fn(host, values.Host, at)
		}
		return
	}
	if a := strings.IndexByte(t, '@'); a > 0 {
		dom := t[a+1:]
		if strings.IndexByte(dom, '@') < 0 && fIsHost(dom) && fIsLocalPart(t[:a]) {
			fn(x.lower(t), values.Email, at)
		}
		return
	}
	if !fIsASCII(t) {
		return
	}
	if sl := strings.IndexByte(t, '/'); sl >= 0 {
		if fIsFileExt(fExtOf(t)) {
			fn(x.lower(t), values.File, at)
			return
		}
		// a link written without its scheme ("www.a.example/alice"): the
		// same URL and host as "https://www.a.example/alice"
		if sl > 4 && (t[:4] == "www." || t[:4] == "WWW.") {
			if host := x.lower(t[4:sl]); fIsHost(host) {
				u := strings.TrimRight(x.lower(t[4:]), "/")
				fn(u, values.URL, at)
				if u != host {
					fn(host, values.Host, at)
				}
			}
		}
		return
	}
	if strings.IndexByte(t, '.') >= 0 {
		if fIsFileExt(fExtOf(t)) {
			fn(x.lower(t), values.File, at)
			return
		}
		if fIsHost(t) {
			fn(strings.TrimPrefix(x.lower(t), "www."), values.Host, at)
			return
		}
	}
	if n, ok := fNumberDigits(t); ok {
		if n >= fMinDigits && n <= fMaxDigits && !fIsDate(t) {
			fn(x.digitsOnly(t, n), values.Number, at)
		}
		return
	}
	if len(t) >= fMinIDLen && fIsID(t) && !fIsDate(t) {
		fn(x.lower(t), values.ID, at)
	}
}

func fIsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func fIsDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

func fIsAlpha(b byte) bool { return (b|0x20) >= 'a' && (b|0x20) <= 'z' }

func fIsDigit(b byte) bool { return b >= '0' && b <= '9' }

// fExtOf returns the extension of t (at most 5 bytes, not lower-cased).
func fExtOf(t string) string {
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

// fIsFileExt reports whether e, ASCII case-folded, is a common document
// extension: it makes a dotted token a file name, not a host.
func fIsFileExt(e string) bool {
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

// fIsHost: at least two non-empty labels of letters, digits and '-', the last
// alphabetic and 2–24 letters long.
func fIsHost(h string) bool {
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
		case fIsAlpha(c) || fIsDigit(c) || c == '-':
		default:
			return false
		}
	}
	tld := h[last+1:]
	if dots == 0 || len(tld) < 2 || len(tld) > 24 {
		return false
	}
	for i := 0; i < len(tld); i++ {
		if !fIsAlpha(tld[i]) {
			return false
		}
	}
	return true
}

func fIsLocalPart(l string) bool {
	if len(l) == 0 || len(l) > 64 {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(fIsAlpha(c) || fIsDigit(c) || c == '.' || c == '-' || c == '_' || c == '+' || c == '%') {
			return false
		}
	}
	return true
}

// fNumberDigits reports whether t consists of digits and the separators
// - + . / only, and how many digits it has. A single '.' is a decimal point
// (an amount, not a number).
func fNumberDigits(t string) (int, bool) {
	n, dots := 0, 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case fIsDigit(c):
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

func (x *fExtractor) digitsOnly(t string, n int) string {
	if n == len(t) {
		return t
	}
	from := len(x.buf)
	for i := 0; i < len(t); i++ {
		if fIsDigit(t[i]) {
			x.buf = append(x.buf, t[i])
		}
	}
	return x.str(from)
}

// fIsDate matches three digit groups of at most 4 digits separated by - / or
// . at the start of t: dates, also as the prefix of a timestamp.
func fIsDate(t string) bool {
	groups, digits := 0, 0
	for i := 0; i <= len(t); i++ {
		if i < len(t) && fIsDigit(t[i]) {
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

func fIsID(t string) bool {
	letters, digits := 0, 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case fIsAlpha(c):
			letters++
		case fIsDigit(c):
			digits++
		case c == '-' || c == '_':
		default:
			return false
		}
	}
	return letters > 0 && digits >= 2
}

// oClassSet is a bit set of classes.
type oClassSet uint16

func (s oClassSet) oHas(c values.Class) bool { return s&(1<<c) != 0 }

// oContactClasses are the identifiers a consequential call can be aimed at.
const oContactClasses = oClassSet(1<<values.Email | 1<<values.URL | 1<<values.Host | 1<<values.IBAN | 1<<values.Account | 1<<values.Phone)

// oClassify returns the classes v holds. It looks at each
// white-space-separated token once: linear in len(v).
func oClassify(v string) oClassSet {
	var s oClassSet
	words, sentence := 0, false
	for i := 0; i < len(v); {
		for i < len(v) && oIsSpace(v[i]) {
			i++
		}
		j := i
		for j < len(v) && !oIsSpace(v[j]) {
			j++
		}
		if j == i {
			break
		}
		tok := v[i:j]
		i = j
		if oHasLetter(tok) {
			words++
		}
		if last := tok[len(tok)-1]; last == '.' || last == '!' || last == '?' {
			sentence = true
		}
		s |= oTokenClass(tok)
	}
	if words >= 8 && (sentence || words >= 16) {
		s |= 1 << values.Prose
	}
	return s
}

// oTokenClass classifies one token (no white space).
func oTokenClass(tok string) oClassSet {
	if oPlainWord(tok) {
		return 0
	}
	t := oTrimPunct(tok)
	if len(t) > 1 && (t[len(t)-1] == '.' || t[len(t)-1] == '!' || t[len(t)-1] == '?') {
		t = t[:len(t)-1]
	}
	if t == "" {
		return 0
	}
	var s oClassSet
	switch {
	case oHasPrefixFold(t, "http://") || oHasPrefixFold(t, "https://") || oHasPrefixFold(t, "www."):
		return 1 << values.URL
	case strings.Contains(t, "@"):
		if at := strings.LastIndexByte(t, '@'); at > 0 && strings.IndexByte(t[at:], '.') > 0 && at < len(t)-3 {
			return 1 << values.Email
		}
	}
	if oIsIBAN(t) {
		return 1 << values.IBAN
	}
	if oIsDate(t) {
		return 1 << values.Date
	}
	if oIsMoney(t) {
		s |= 1 << values.Money
	}
	if d := oCountDigits(t); d >= 9 {
		if t[0] == '+' || strings.ContainsAny(t, "-()") && !strings.Contains(t, ".") {
			s |= 1 << values.Phone
		} else if d == len(t) {
			s |= 1 << values.Account
		}
	}
	if t[0] == '/' || strings.HasPrefix(t, "~/") || strings.HasPrefix(t, "./") || (len(t) > 2 && t[1] == ':' && t[2] == '\\') {
		if len(t) > 1 && oHasLetter(t) {
			s |= 1 << values.Path
		}
	} else if oIsHost(t) {
		s |= 1 << values.Host
	}
	return s
}

// oPlainWord reports a token no class can match: no digit and none of
// '@', '.', '/', '\', ':' or a non-ASCII byte (currency signs).
func oPlainWord(t string) bool {
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case oIsDigit(c), c == '@', c == '.', c == '/', c == '\\', c == ':', c >= 0x80:
			return false
		}
	}
	return true
}

// oTrimPunct trims quotes, brackets and separators around a token.
func oTrimPunct(t string) string {
	isP := func(c byte) bool {
		switch c {
		case '"', '\'', '(', ')', '[', ']', '{', '}', '<', '>', ',', ';', ':':
			return true
		}
		return false
	}
	for len(t) > 0 && isP(t[0]) {
		t = t[1:]
	}
	for len(t) > 0 && isP(t[len(t)-1]) {
		t = t[:len(t)-1]
	}
	return t
}

// oIsIBAN reports an ISO 13616 shape: two upper-case letters, two check
// digits, 11–30 upper-case letters or digits.
func oIsIBAN(t string) bool {
	if len(t) < 15 || len(t) > 34 || !oIsUpper(t[0]) || !oIsUpper(t[1]) || !oIsDigit(t[2]) || !oIsDigit(t[3]) {
		return false
	}
	for i := 4; i < len(t); i++ {
		if !oIsUpper(t[i]) && !oIsDigit(t[i]) {
			return false
		}
	}
	return true
}

// oIsDate reports dddd-dd-dd (optionally followed by a time), dd/dd/dddd or
// dd.dd.dddd.
func oIsDate(t string) bool {
	if len(t) >= 10 && oIsDigits(t[:4]) && t[4] == '-' && oIsDigits(t[5:7]) && t[7] == '-' && oIsDigits(t[8:10]) {
		return true
	}
	if len(t) == 10 && oIsDigits(t[:2]) && (t[2] == '/' || t[2] == '.') && oIsDigits(t[3:5]) && t[5] == t[2] && oIsDigits(t[6:]) {
		return true
	}
	return false
}

// oIsMoney reports an amount: a currency symbol or ISO code next to a
// number, or a number with exactly two decimals.
func oIsMoney(t string) bool {
	for _, sym := range [...]string{"$", "€", "£", "¥"} {
		if (strings.HasPrefix(t, sym) && len(t) > len(sym) && oIsDigit(t[len(sym)])) || (strings.HasSuffix(t, sym) && len(t) > len(sym) && oIsDigit(t[len(t)-len(sym)-1])) {
			return true
		}
	}
	n := strings.ReplaceAll(t, ",", "")
	if k := strings.IndexByte(n, '.'); k > 0 && k == len(n)-3 && oIsDigits(n[:k]) && oIsDigits(n[k+1:]) {
		return true
	}
	return false
}

// oIsHost reports a bare domain name: two or more labels of letters,
// digits and hyphens, the last 2–6 letters, and some letter before it
// (ASCII, any case).
func oIsHost(t string) bool {
	dot := strings.LastIndexByte(t, '.')
	if dot <= 0 || len(t)-dot-1 < 2 || len(t)-dot-1 > 6 || len(t) > 253 {
		return false
	}
	var tld [6]byte
	for i := dot + 1; i < len(t); i++ {
		c := t[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
		tld[i-dot-1] = c
	}
	switch string(tld[:len(t)-dot-1]) {
	case "txt", "pdf", "doc", "docx", "xlsx", "csv", "json", "yaml", "yml", "md", "png", "jpg", "jpeg", "gif", "zip", "py", "go", "js", "html", "log", "pptx", "mp3", "mp4", "eg", "ie", "etc", "am", "pm":
		return false
	}
	letter := false
	for i := 0; i < dot; i++ {
		c := t[i]
		switch {
		case c|0x20 >= 'a' && c|0x20 <= 'z':
			letter = true
		case oIsDigit(c), c == '-', c == '.':
		default:
			return false
		}
	}
	return letter && t[0] != '.' && t[0] != '-'
}

// oHasPrefixFold reports whether s begins with the lower-case ASCII prefix
// p, ignoring case.
func oHasPrefixFold(s, p string) bool {
	if len(s) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if s[i]|0x20 != p[i] && s[i] != p[i] {
			return false
		}
	}
	return true
}

func oIsSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}
func oIsDigit(b byte) bool { return b >= '0' && b <= '9' }
func oIsUpper(b byte) bool { return b >= 'A' && b <= 'Z' }
func oIsLetter(b byte) bool {
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b >= 0x80
}

func oIsDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !oIsDigit(s[i]) {
			return false
		}
	}
	return true
}

func oCountDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if oIsDigit(s[i]) {
			n++
		}
	}
	return n
}

func oHasLetter(s string) bool {
	for i := 0; i < len(s); i++ {
		if oIsLetter(s[i]) {
			return true
		}
	}
	return false
}

func fEscaped(s string, i int) bool {
	k := i
	for k > 0 && s[k-1] == '\\' {
		k--
	}
	return (i-k)%2 == 1
}
