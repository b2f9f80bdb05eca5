package risk

import (
	"bytes"
	"slices"
	"strings"
)

// hashSet is a bounded set of 64-bit hashes in insertion order; when full,
// adding drops the oldest. Membership is a linear scan (sets hold at most
// a few hundred entries).
type hashSet []uint64

func (s hashSet) has(h uint64) bool { return slices.Contains(s, h) }

func (s *hashSet) add(h uint64, max int) {
	if s.has(h) || max <= 0 {
		return
	}
	if len(*s) >= max {
		*s = slices.Delete(*s, 0, len(*s)-max+1)
	}
	*s = append(*s, h)
}

// hashString is 64-bit FNV-1a: deterministic across processes, so state
// encodings and restored detectors agree.
func hashString(s string) uint64 { return fnvAdd(fnvOffset, s) }

const fnvOffset = 14695981039346656037

// fnvAdd continues an FNV-1a hash h over s.
func fnvAdd(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// normalise lower-cases a recipient and removes spaces, so "GB29 NWBK …"
// and "gb29nwbk…" are one recipient.
func normalise(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 256 {
		s = s[:256]
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '-' {
			continue
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// appendDestinations appends the hosts of web addresses and the e-mail
// addresses found in s (lower is s in ASCII lower case), lower case.
func appendDestinations(out []string, s string, lower []byte) []string {
	if !strings.Contains(s, ".") {
		return out
	}
	// web addresses: scheme:// or www.
	for i := 0; i < len(s); {
		j := indexURLStart(lower[i:])
		if j < 0 {
			break
		}
		start := i + j
		if k := strings.Index(s[start:], "://"); k >= 0 && k < 10 {
			start += k + 3
		}
		end := start
		for end < len(s) && isHostByte(s[end]) {
			end++
		}
		if host := strings.ToLower(strings.TrimRight(s[start:end], ".")); strings.Contains(host, ".") {
			out = append(out, "host:"+host)
		}
		i = max(end, start+1)
	}
	// bare host names as a whole value ("example.com/path")
	if !strings.Contains(s, "://") && !strings.ContainsAny(s, " @\n") && strings.Contains(s, ".") {
		end := 0
		for end < len(s) && isHostByte(s[end]) {
			end++
		}
		host := strings.ToLower(s[:end])
		if dot := strings.LastIndexByte(host, '.'); dot > 0 && len(host)-dot-1 >= 2 && isAlpha(host[dot+1:]) && !strings.HasPrefix(host, "www.") {
			out = append(out, "host:"+host)
		}
	}
	// e-mail addresses
	for i := 0; i < len(s); {
		at := strings.IndexByte(s[i:], '@')
		if at < 0 {
			break
		}
		at += i
		l := at
		for l > 0 && isMailByte(s[l-1]) {
			l--
		}
		r := at + 1
		for r < len(s) && isHostByte(s[r]) {
			r++
		}
		domain := strings.ToLower(strings.TrimRight(s[at+1:r], "."))
		if l < at && strings.Contains(domain, ".") {
			out = append(out, "mail:"+strings.ToLower(s[l:at])+"@"+domain)
		}
		i = r + 1
	}
	return out
}

var urlStarts = [][]byte{[]byte("http://"), []byte("https://"), []byte("ftp://"), []byte("www.")}

func indexURLStart(lower []byte) int {
	best := -1
	for _, p := range urlStarts {
		if j := bytes.Index(lower, p); j >= 0 && (best < 0 || j < best) {
			best = j
		}
	}
	return best
}

func isAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func isHostByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-'
}

func isMailByte(c byte) bool {
	return isHostByte(c) || c == '_' || c == '+'
}

// valueClass names the shape of an argument value: what kind of thing it
// is, not what it says.
func valueClass(lf *leaf) string {
	switch lf.kind {
	case leafNumber:
		return "number"
	case leafBool:
		return "bool"
	case leafNull:
		return "null"
	}
	v := strings.TrimSpace(lf.val)
	switch {
	case v == "":
		return "empty"
	case strings.Contains(v, "://") || strings.HasPrefix(strings.ToLower(v), "www."):
		return "url"
	case strings.Count(v, "@") == 1 && !strings.ContainsAny(v, " \n") && strings.Contains(v[strings.IndexByte(v, '@'):], "."):
		return "email"
	case looksLikeAccount(v):
		return "account"
	case looksLikeNumber(v):
		return "number_text"
	case (strings.HasPrefix(v, "/") || strings.HasPrefix(v, "~/") || strings.HasPrefix(v, "./")) && !strings.ContainsAny(v, " \n"):
		return "path"
	case looksLikeCommand(v):
		return "command"
	case strings.Contains(v, "\n") || len(v) > 200:
		return "text"
	default:
		return "word"
	}
}

// looksLikeAccount: two letters, two digits, then 10–30 letters and digits
// (the IBAN shape), spaces allowed.
func looksLikeAccount(v string) bool {
	if len(v) < 14 || len(v) > 48 {
		return false
	}
	n := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			continue
		}
		digit := c >= '0' && c <= '9'
		letter := c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
		switch {
		case n < 2 && !letter, n >= 2 && n < 4 && !digit, !digit && !letter:
			return false
		}
		n++
	}
	return n >= 14 && n <= 34
}

func looksLikeNumber(v string) bool {
	digits := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' || c == ',' || c == '-' || c == '+' || c == ' ' || c == '$' || c == ':' || c == '/':
		default:
			return false
		}
	}
	return digits > 0
}

// hasCardNumber reports whether s holds a payment card number: 13–19
// digits (single spaces or dashes between groups allowed) with a card
// network's prefix and length, passing the Luhn check.
func hasCardNumber(s string) bool {
	var digits [19]byte
	n := 0
	flush := func() bool {
		ok := n >= 13 && cardPrefix(digits[:n]) && luhn(digits[:n])
		n = 0
		return ok
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if n == len(digits) {
				n = len(digits) + 1 // too long: not a card number
				continue
			}
			if n <= len(digits)-1 {
				digits[n] = c
				n++
			}
		case (c == ' ' || c == '-') && n > 0 && n <= len(digits) && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
		default:
			if n > len(digits) {
				n = 0
				continue
			}
			if flush() {
				return true
			}
		}
	}
	return n <= len(digits) && flush()
}

// hasNationalID reports whether s holds a US social security number in its
// written form ddd-dd-dddd, not part of a longer run of digits or dashes,
// with an assignable area (not 000, 666 or 900–999), group (not 00) and
// serial (not 0000). Undashed nine-digit runs are not matched: they are as
// often account, order or phone numbers.
func hasNationalID(s string) bool {
	for i := 0; i+11 <= len(s); i++ {
		if i > 0 && (isDigit(s[i-1]) || s[i-1] == '-') {
			continue
		}
		w := s[i : i+11]
		if w[3] != '-' || w[6] != '-' {
			continue
		}
		ok := true
		for j := range 11 {
			if j != 3 && j != 6 && !isDigit(w[j]) {
				ok = false
				break
			}
		}
		if !ok || i+11 < len(s) && (isDigit(s[i+11]) || s[i+11] == '-') {
			continue
		}
		area, group, serial := w[0:3], w[4:6], w[7:11]
		if area == "000" || area == "666" || area[0] == '9' || group == "00" || serial == "0000" {
			continue
		}
		return true
	}
	return false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func cardPrefix(d []byte) bool {
	p := func(k int) int {
		v := 0
		for _, c := range d[:k] {
			v = v*10 + int(c-'0')
		}
		return v
	}
	l := len(d)
	switch {
	case d[0] == '4':
		return l == 13 || l == 16 || l == 19
	case p(2) >= 51 && p(2) <= 55, p(4) >= 2221 && p(4) <= 2720:
		return l == 16
	case p(2) == 34 || p(2) == 37:
		return l == 15
	case p(4) == 6011 || p(2) == 65 || p(3) >= 644 && p(3) <= 649, p(2) == 62:
		return l >= 16
	case p(4) >= 3528 && p(4) <= 3589:
		return l >= 16
	case p(2) == 36 || p(2) == 38 || p(2) == 39 || p(3) >= 300 && p(3) <= 305:
		return l >= 14
	}
	return false
}

func luhn(d []byte) bool {
	sum := 0
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if (len(d)-1-i)%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// suspiciousHost reports a destination whose host is a raw IPv4 address or
// an internationalised (punycode) name, the usual shapes of throw-away and
// look-alike hosts.
func suspiciousHost(dst string) bool {
	host, ok := strings.CutPrefix(dst, "host:")
	if !ok {
		return false
	}
	if strings.Contains(host, "xn--") {
		return true
	}
	parts := strings.Split(host, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || !looksLikeNumber(p) || strings.ContainsAny(p, ".,-+ $:/") {
			return false
		}
	}
	return true
}
