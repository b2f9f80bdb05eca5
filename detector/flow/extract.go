package flow

import (
	"unsafe"

	"github.com/tetherhq/tether/detector/values"
)

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
func (x *extractor) run(s string, fn func(v string, c values.Class, at int)) {
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
