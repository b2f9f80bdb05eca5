package flow

import (
	"unsafe"

	"github.com/tetherhq/tether/detector/values"
)

// Class is the shape of an extracted value (detector/values, the one value
// classifier of the detectors).
type Class = values.Class

// Value classes (see detector/values). Every class except ClassFile is
// recipient-like: it can name where data goes or whom money reaches.
const (
	// ClassEmail: local@domain.tld, lower-cased.
	ClassEmail = values.Email
	// ClassURL: a token containing "://", lower-cased, without scheme,
	// leading "www." and trailing "/".
	ClassURL = values.URL
	// ClassHost: a dotted name whose last label is alphabetic (example.com,
	// or the host of a URL), lower-cased, without leading "www.".
	ClassHost = values.Host
	// ClassNumber: a phone- or account-number-like token of digits and the
	// separators - + . (at least MinDigits digits); normalised to its digits.
	// Dates and decimal amounts are not numbers.
	ClassNumber = values.Number
	// ClassID: an alphanumeric token (letters, digits, - and _) of at least
	// MinIDLen characters with at least one letter and two digits: IBANs,
	// account, record and file ids. Lower-cased.
	ClassID = values.ID
	// ClassFile: a file name or path ending in a common document extension.
	ClassFile = values.File
)

// Extraction limits (detector/values). Values shorter than MinValueLen
// (after normalisation) are too common to carry a flow and are ignored.
const (
	MinValueLen = values.MinValueLen
	MinIDLen    = values.MinIDLen
	MinDigits   = values.MinDigits
)

// isDelim reports whether b separates tokens (values.IsDelim).
func isDelim(b byte) bool { return values.IsDelim(b) }

// Extract calls fn, in order of appearance, for each distinctive value in
// s (values.Extract): e-mail addresses, URLs (and their hosts), host names,
// phone/account numbers, alphanumeric ids and file names, normalised as
// their Class says. Values longer than maxLen bytes are skipped (maxLen <=
// 0: no limit). The cost is O(len(s)); the string passed to fn may alias s
// and must be cloned to be kept.
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

// run calls fn for each value of s with the byte offset of its token
// (values.Extract).
func (x *extractor) run(s string, fn func(v string, c Class, at int)) {
	values.Extract(s, x.maxLen, &x.buf, fn)
}

// str returns buf[from:] as a string aliasing buf (see extractor).
func (x *extractor) str(from int) string {
	if from == len(x.buf) {
		return ""
	}
	return unsafe.String(&x.buf[from], len(x.buf)-from)
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
