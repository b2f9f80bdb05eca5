package outputs

import "strings"

// Class is a value class of a result field: a kind of identifier or text a
// field holds. A value may hold several classes (a bill line with an
// amount and an IBAN); a field's baseline counts how often each occurs.
type Class uint8

// Value classes. ClassProse is free text (a sentence of several words); a
// value that is not prose is a record token.
const (
	ClassEmail   Class = iota
	ClassURL           // a URL with a scheme or www. prefix
	ClassHost          // a bare domain name
	ClassIBAN          // an IBAN-shaped account id (ISO 13616)
	ClassAccount       // a long run of digits (account, card, reference)
	ClassPhone         // a phone number with a + or grouped digits
	ClassMoney         // an amount with a currency mark or two decimals
	ClassDate          // an ISO or slashed date
	ClassPath          // a file-system path
	ClassProse         // free text: a sentence of several words
	numClasses
)

var classNames = [numClasses]string{"email", "url", "host", "iban", "account", "phone", "money", "date", "path", "prose"}

// String returns the class name.
func (c Class) String() string {
	if c < numClasses {
		return classNames[c]
	}
	return "unknown"
}

// classSet is a bit set of classes.
type classSet uint16

func (s classSet) has(c Class) bool { return s&(1<<c) != 0 }

// contactClasses are the identifiers a consequential call can be aimed at.
const contactClasses = classSet(1<<ClassEmail | 1<<ClassURL | 1<<ClassHost | 1<<ClassIBAN | 1<<ClassAccount | 1<<ClassPhone)

// classify returns the classes v holds. It looks at each
// white-space-separated token once: linear in len(v).
func classify(v string) classSet {
	var s classSet
	words, sentence := 0, false
	for i := 0; i < len(v); {
		for i < len(v) && isSpace(v[i]) {
			i++
		}
		j := i
		for j < len(v) && !isSpace(v[j]) {
			j++
		}
		if j == i {
			break
		}
		tok := v[i:j]
		i = j
		if hasLetter(tok) {
			words++
		}
		if last := tok[len(tok)-1]; last == '.' || last == '!' || last == '?' {
			sentence = true
		}
		s |= tokenClass(tok)
	}
	if words >= 8 && (sentence || words >= 16) {
		s |= 1 << ClassProse
	}
	return s
}

// tokenClass classifies one token (no white space).
func tokenClass(tok string) classSet {
	if plainWord(tok) {
		return 0
	}
	t := trimPunct(tok)
	if len(t) > 1 && (t[len(t)-1] == '.' || t[len(t)-1] == '!' || t[len(t)-1] == '?') {
		t = t[:len(t)-1]
	}
	if t == "" {
		return 0
	}
	var s classSet
	switch {
	case hasPrefixFold(t, "http://") || hasPrefixFold(t, "https://") || hasPrefixFold(t, "www."):
		return 1 << ClassURL
	case strings.Contains(t, "@"):
		if at := strings.LastIndexByte(t, '@'); at > 0 && strings.IndexByte(t[at:], '.') > 0 && at < len(t)-3 {
			return 1 << ClassEmail
		}
	}
	if isIBAN(t) {
		return 1 << ClassIBAN
	}
	if isDate(t) {
		return 1 << ClassDate
	}
	if isMoney(t) {
		s |= 1 << ClassMoney
	}
	if d := countDigits(t); d >= 9 {
		if t[0] == '+' || strings.ContainsAny(t, "-()") && !strings.Contains(t, ".") {
			s |= 1 << ClassPhone
		} else if d == len(t) {
			s |= 1 << ClassAccount
		}
	}
	if t[0] == '/' || strings.HasPrefix(t, "~/") || strings.HasPrefix(t, "./") || (len(t) > 2 && t[1] == ':' && t[2] == '\\') {
		if len(t) > 1 && hasLetter(t) {
			s |= 1 << ClassPath
		}
	} else if isHost(t) {
		s |= 1 << ClassHost
	}
	return s
}

// plainWord reports a token no class can match: no digit and none of
// '@', '.', '/', '\', ':' or a non-ASCII byte (currency signs).
func plainWord(t string) bool {
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case isDigit(c), c == '@', c == '.', c == '/', c == '\\', c == ':', c >= 0x80:
			return false
		}
	}
	return true
}

// trimPunct trims quotes, brackets and separators around a token.
func trimPunct(t string) string {
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

// isIBAN reports an ISO 13616 shape: two upper-case letters, two check
// digits, 11–30 upper-case letters or digits.
func isIBAN(t string) bool {
	if len(t) < 15 || len(t) > 34 || !isUpper(t[0]) || !isUpper(t[1]) || !isDigit(t[2]) || !isDigit(t[3]) {
		return false
	}
	for i := 4; i < len(t); i++ {
		if !isUpper(t[i]) && !isDigit(t[i]) {
			return false
		}
	}
	return true
}

// isDate reports dddd-dd-dd (optionally followed by a time), dd/dd/dddd or
// dd.dd.dddd.
func isDate(t string) bool {
	if len(t) >= 10 && isDigits(t[:4]) && t[4] == '-' && isDigits(t[5:7]) && t[7] == '-' && isDigits(t[8:10]) {
		return true
	}
	if len(t) == 10 && isDigits(t[:2]) && (t[2] == '/' || t[2] == '.') && isDigits(t[3:5]) && t[5] == t[2] && isDigits(t[6:]) {
		return true
	}
	return false
}

// isMoney reports an amount: a currency symbol or ISO code next to a
// number, or a number with exactly two decimals.
func isMoney(t string) bool {
	for _, sym := range [...]string{"$", "€", "£", "¥"} {
		if (strings.HasPrefix(t, sym) && len(t) > len(sym) && isDigit(t[len(sym)])) || (strings.HasSuffix(t, sym) && len(t) > len(sym) && isDigit(t[len(t)-len(sym)-1])) {
			return true
		}
	}
	n := strings.ReplaceAll(t, ",", "")
	if k := strings.IndexByte(n, '.'); k > 0 && k == len(n)-3 && isDigits(n[:k]) && isDigits(n[k+1:]) {
		return true
	}
	return false
}

// isHost reports a bare domain name: two or more labels of letters,
// digits and hyphens, the last 2–6 letters, and some letter before it
// (ASCII, any case).
func isHost(t string) bool {
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
		case isDigit(c), c == '-', c == '.':
		default:
			return false
		}
	}
	return letter && t[0] != '.' && t[0] != '-'
}

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

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}
func isDigit(b byte) bool { return b >= '0' && b <= '9' }
func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }
func isLetter(b byte) bool {
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || b >= 0x80
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
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

func hasLetter(s string) bool {
	for i := 0; i < len(s); i++ {
		if isLetter(s[i]) {
			return true
		}
	}
	return false
}
