// Package values finds and classifies the distinctive values of text:
// e-mail addresses, URLs, host names, phone and account numbers, IBANs,
// record ids, file names and paths, amounts and dates. It is the one value
// classifier of the detectors — one set of shape rules (this file) behind
// two views of a text:
//
//   - Extract (extract.go) walks a text once and reports each distinctive
//     value normalised (lower-cased; a number as its digits) with its Class
//     and byte offset: the values detector/flow tracks from a tool result to
//     a tool call, and detector/baseline counts as destinations.
//   - Fields (fields.go) returns the Set of classes one field value holds (a
//     bill line with an amount and an IBAN) and whether it is free text
//     (Prose): what detector/outputs learns per field of a tool's results.
//
// Both skip plain text: Extract jumps between the bytes a value must hold
// (a digit or one of . @ / : =) with a word-at-a-time search (16 bytes per
// step, no per-byte state machine) and classifies only the token around
// each; Fields reads a field's words with one table lookup per byte,
// classifying only the words holding a digit, one of @ . / \ : or a
// non-ASCII byte, until it knows whether the field is prose, and then jumps
// the same way. Neither allocates (normalised values go to a caller's
// arena), lower-cases a copy of the text or uses regular expressions; cost
// is linear in the text (callers cap how much they read).
package values

import "strings"

// Class is the kind of a value. Extract reports Email, URL, Host, Number,
// ID and File; Fields reports Email, URL, Host, IBAN, Account, Phone, Money,
// Date, Path and Prose. The numbering is stable: detector/flow stores
// classes in its state.
type Class uint8

// Value classes.
const (
	// Email: local@domain.tld (Extract: lower-cased).
	Email Class = iota + 1
	// URL: Extract: a token containing "://" (lower-cased, without scheme,
	// leading "www." and trailing "/"), or a link written without its
	// scheme ("www.host/path"); Fields: a value starting with http://,
	// https:// or www.
	URL
	// Host: a dotted name whose last label is alphabetic (example.com, or
	// the host of a URL), lower-cased, without leading "www."; Fields: a
	// bare domain whose top label is 2–6 letters and not a file extension.
	Host
	// Number: a phone- or account-number-like token of digits and the
	// separators - + . / (at least MinDigits digits); normalised to its
	// digits. Dates and decimal amounts are not numbers.
	Number
	// ID: an alphanumeric token (letters, digits, - and _) of at least
	// MinIDLen characters with at least one letter and two digits: IBANs,
	// account, record and file ids. A single digit makes a name with a
	// counter ("Channel_1", "version2"), not a distinctive value.
	// Lower-cased.
	ID
	// File: a file name or path ending in a common document extension.
	File
	// IBAN: an ISO 13616 shape (IsIBAN).
	IBAN
	// Account: a run of at least 9 digits alone.
	Account
	// Phone: at least 9 digits with a leading + or grouped by - ( ).
	Phone
	// Money: an amount with a currency sign or exactly two decimals.
	Money
	// Date: an ISO date (optionally with a time) or dd/dd/dddd, dd.dd.dddd.
	Date
	// Path: a file-system path (/…, ~/…, ./…, C:\…).
	Path
	// Prose: free text, a sentence of several words.
	Prose
	numClasses
)

var classNames = [numClasses]string{"value", "email", "url", "host", "number", "account/id", "file",
	"iban", "account", "phone", "money", "date", "path", "prose"}

// String names the class for explanations.
func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return "value"
}

// RecipientLike reports whether values of the class, as Extract reports
// them, can name a destination (every class but File).
func (c Class) RecipientLike() bool { return c != File && c != 0 }

// Set is a set of classes.
type Set uint16

// Has reports whether c is in the set.
func (s Set) Has(c Class) bool { return s&(1<<c) != 0 }

// Of returns the set holding c.
func Of(c Class) Set { return 1 << c }

// Extraction limits. Values shorter than MinValueLen (after normalisation)
// are too common to carry a flow and are ignored.
const (
	MinValueLen = 6
	MinIDLen    = 8
	MinDigits   = 7
	maxDigits   = 34 // IBANs are at most 34 characters
)

// Byte classes (byteClass).
const (
	// bDelim separates Extract's tokens: white space, quotes, brackets and
	// list punctuation. '.', ':', '/', '@', '-', '_', '+' stay inside tokens
	// so that e-mail addresses, URLs and numbers survive.
	bDelim = 1 << iota
	// bMark: a digit or one of . @ / : = — every value Extract reports holds
	// one (an e-mail '@', a URL ':', a host or file '.', a number or id
	// digits, a key=value split), so a token without one is skipped.
	bMark
	// bSpace separates the words of Fields.
	bSpace
	// bLetter: an ASCII letter or a non-ASCII byte (a word of Fields).
	bLetter
	// bTrigger: a digit, one of @ . / \ : or a non-ASCII byte (a currency
	// sign): a word of Fields without one holds no class.
	bTrigger
	// Single bytes, for the summary of a token Extract classifies: which
	// of its rules can apply.
	bKeyValue  // ':' or '='
	bAt        // '@'
	bSlash     // '/'
	bDot       // '.'
	bHigh      // a non-ASCII byte
	bDigit     // '0'–'9'
	bBackslash // '\\'
)

var byteClass = func() (t [256]uint16) {
	for _, c := range []byte(" \t\n\r\v\f\"'`<>()[]{},;|*\\") {
		t[c] |= bDelim
	}
	for _, c := range []byte("0123456789.@/:=") {
		t[c] |= bMark
	}
	for _, c := range []byte(" \t\n\r\v\f") {
		t[c] |= bSpace
	}
	for c := 0; c < 256; c++ {
		if c >= 0x80 || isAlpha(byte(c)) {
			t[c] |= bLetter
		}
		if c >= 0x80 || isDigit(byte(c)) {
			t[c] |= bTrigger
		}
	}
	for _, c := range []byte("@./\\:") {
		t[c] |= bTrigger
	}
	t[':'] |= bKeyValue
	t['='] |= bKeyValue
	t['@'] |= bAt
	t['/'] |= bSlash
	t['.'] |= bDot
	for c := 0x80; c < 256; c++ {
		t[c] |= bHigh
	}
	for c := '0'; c <= '9'; c++ {
		t[c] |= bDigit
	}
	t['\\'] |= bBackslash
	return t
}()

// IsDelim reports whether b separates Extract's tokens: white space,
// quotes, brackets and list punctuation.
func IsDelim(b byte) bool { return byteClass[b]&bDelim != 0 }

func isAlpha(b byte) bool { return (b|0x20) >= 'a' && (b|0x20) <= 'z' }

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return len(s) > 0
}

func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			n++
		}
	}
	return n
}

// Extensions (extKind): a document extension makes a dotted token a file
// name, not a host (extDoc); those and a few words and media types that
// end abbreviations and file names ("e.g", "a.m", "song.mp3") are not the
// top label of a bare domain in a field (extNotTLD).
const (
	extDoc = 1 << iota
	extNotTLD
)

// extKind returns the extension kinds of e, ASCII case-folded (0: none).
func extKind(e string) uint8 {
	var b [5]byte
	if len(e) == 0 || len(e) > len(b) {
		return 0
	}
	for i := 0; i < len(e); i++ {
		c := e[i]
		if isUpper(c) {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	switch string(b[:len(e)]) {
	case "txt", "pdf", "doc", "docx", "csv", "json", "yaml", "yml", "md", "png", "jpg", "jpeg",
		"gif", "zip", "log", "html", "py", "go", "js", "xlsx", "pptx":
		return extDoc | extNotTLD
	case "xls", "htm", "xml", "ts", "sh", "ppt", "eml", "ics":
		return extDoc
	case "mp3", "mp4", "eg", "ie", "etc", "am", "pm":
		return extNotTLD
	}
	return 0
}

// IsFileExt reports whether e, ASCII case-folded, is a common document
// extension.
func IsFileExt(e string) bool { return extKind(e)&extDoc != 0 }

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

// IsHost reports a host name: at least two non-empty labels of letters,
// digits and '-', the last alphabetic and 2–24 letters long.
func IsHost(h string) bool {
	_, ok := hostTLD(h)
	return ok
}

// hostTLD checks IsHost and returns the top label's offset.
func hostTLD(h string) (int, bool) {
	if len(h) < 4 || h[0] == '.' || h[len(h)-1] == '.' {
		return 0, false
	}
	dots := 0
	last := -1
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '.':
			if i == last+1 {
				return 0, false
			}
			dots++
			last = i
		case isAlpha(c) || isDigit(c) || c == '-':
		default:
			return 0, false
		}
	}
	tld := h[last+1:]
	if dots == 0 || len(tld) < 2 || len(tld) > 24 {
		return 0, false
	}
	for i := 0; i < len(tld); i++ {
		if !isAlpha(tld[i]) {
			return 0, false
		}
	}
	return last + 1, true
}

// isDomain reports a bare domain name as a field value: a host (IsHost)
// of at most 253 bytes whose top label is 2–6 letters and not a file
// extension or abbreviation (extNotTLD), with a letter before it and not
// starting with '-'.
func isDomain(t string) bool {
	k, ok := hostTLD(t)
	if !ok || len(t) > 253 || len(t)-k > 6 || t[0] == '-' || extKind(t[k:])&extNotTLD != 0 {
		return false
	}
	for i := 0; i < k; i++ {
		if isAlpha(t[i]) {
			return true
		}
	}
	return false
}

// isLocalPart reports the local part of an e-mail address.
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

// emailAt returns the offset of the '@' of an e-mail address t
// (local@host, one '@'), or -1.
func emailAt(t string) int {
	a := strings.IndexByte(t, '@')
	if a <= 0 {
		return -1
	}
	dom := t[a+1:]
	if strings.IndexByte(dom, '@') >= 0 || !IsHost(dom) || !isLocalPart(t[:a]) {
		return -1
	}
	return a
}

// IsIBAN reports the ISO 13616 shape: two letters, two check digits, then
// 11–30 letters or digits (15–34 in all). Letters may be of either case
// (Extract lower-cases values); Fields, reading raw text, asks for
// upper-case letters (isIBANUpper).
func IsIBAN(v string) bool { return ibanShape(v, 0x20) }

func isIBANUpper(t string) bool { return ibanShape(t, 0) }

// ibanShape checks the IBAN shape; fold 0x20 accepts lower-case letters
// (c &^ 0x20 is upper case exactly for ASCII letters), 0 only upper case.
func ibanShape(v string, fold byte) bool {
	if len(v) < 15 || len(v) > 34 || !isUpper(v[0]&^fold) || !isUpper(v[1]&^fold) || !isDigit(v[2]) || !isDigit(v[3]) {
		return false
	}
	for i := 4; i < len(v); i++ {
		if !isUpper(v[i]&^fold) && !isDigit(v[i]) {
			return false
		}
	}
	return true
}

// isDateLike matches three digit groups of at most 4 digits separated by
// - / or . at the start of t: a date in any order of its parts, also as the
// prefix of a timestamp. Extract never reports one as a number or id.
func isDateLike(t string) bool {
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

// isDate reports the usual written dates: dddd-dd-dd (optionally followed
// by a time), dd/dd/dddd or dd.dd.dddd.
func isDate(t string) bool {
	if len(t) >= 10 && isDigits(t[:4]) && t[4] == '-' && isDigits(t[5:7]) && t[7] == '-' && isDigits(t[8:10]) {
		return true
	}
	return len(t) == 10 && isDigits(t[:2]) && (t[2] == '/' || t[2] == '.') && isDigits(t[3:5]) && t[5] == t[2] && isDigits(t[6:])
}

// isMoney reports an amount: a currency symbol next to a digit, or a
// number with exactly two decimals (commas, thousands separators, aside).
func isMoney(t string) bool {
	// each sign starts and ends with '$' or a non-ASCII byte
	if f, l := t[0], t[len(t)-1]; f == '$' || f >= 0x80 || l == '$' || l >= 0x80 {
		if hasCurrency(t) {
			return true
		}
	}
	dot, whole, decimals := false, 0, 0
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c == ',':
		case c == '.' && !dot:
			dot = true
		case isDigit(c) && dot:
			decimals++
		case isDigit(c):
			whole++
		default:
			return false
		}
	}
	return dot && whole > 0 && decimals == 2
}

// hasCurrency reports a currency sign before or after a digit.
func hasCurrency(t string) bool {
	for _, sym := range [...]string{"$", "€", "£", "¥"} {
		if (hasPrefix(t, sym) && len(t) > len(sym) && isDigit(t[len(sym)])) || (hasSuffix(t, sym) && len(t) > len(sym) && isDigit(t[len(t)-len(sym)-1])) {
			return true
		}
	}
	return false
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func hasSuffix(s, p string) bool { return len(s) >= len(p) && s[len(s)-len(p):] == p }

// hasPrefixFold reports whether s begins with the lower-case ASCII prefix
// p, ignoring case.
func hasPrefixFold(s, p string) bool {
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
