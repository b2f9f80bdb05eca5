package values

import "strings"

// Prose thresholds of Fields: a value is free text when it has at least
// proseWords words with a letter and ends a sentence, or has at least
// proseLongWords such words.
const (
	proseWords     = 8
	proseLongWords = 16
)

// Fields returns the classes field value v holds: Email, URL, Host, IBAN,
// Account, Phone, Money, Date, Path and Prose (free text: a sentence of
// several words). It reads white-space-separated words with one table
// lookup per byte, classifying only the words that hold a digit, one of
// @ . / \ : or a non-ASCII byte (a plain word holds no class), until it
// knows whether v is prose; then it jumps between such bytes sixteen at a
// time (indexTrigger) for the rest. Linear in len(v).
func Fields(v string) Set {
	var s Set
	words, sentence := 0, false
	i := 0
	for i < len(v) {
		for i < len(v) && byteClass[v[i]]&bSpace != 0 {
			i++
		}
		j := i
		var m uint16
		for j < len(v) {
			c := byteClass[v[j]]
			if c&bSpace != 0 {
				break
			}
			m |= c
			j++
		}
		if j == i {
			break
		}
		tok := v[i:j]
		i = j
		if m&bLetter != 0 {
			words++
		}
		if last := tok[len(tok)-1]; last == '.' || last == '!' || last == '?' {
			sentence = true
		}
		if m&bTrigger != 0 {
			s |= wordClasses(tok)
		}
		if words >= proseWords && (sentence || words >= proseLongWords) {
			s |= Of(Prose)
			break // prose: only the classes of the rest are left to find
		}
	}
	for {
		p := indexTrigger(v, i)
		if p < 0 {
			return s
		}
		start := p
		for start > i && byteClass[v[start-1]]&bSpace == 0 {
			start--
		}
		end := p + 1
		for end < len(v) && byteClass[v[end]]&bSpace == 0 {
			end++
		}
		s |= wordClasses(v[start:end])
		i = end
	}
}

// trimWord trims quotes, brackets and separators around a word.
func trimWord(t string) string {
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

// wordClasses classifies one word of a field (no white space).
func wordClasses(tok string) Set {
	t := trimWord(tok)
	if len(t) > 1 && (t[len(t)-1] == '.' || t[len(t)-1] == '!' || t[len(t)-1] == '?') {
		t = t[:len(t)-1]
	}
	// every class needs a digit or one of @ . / \ (URL, host, e-mail,
	// path; the rest are numbers)
	if summary(t)&(bDigit|bAt|bDot|bSlash|bBackslash) == 0 {
		return 0
	}
	switch {
	case hasPrefixFold(t, "http://") || hasPrefixFold(t, "https://") || hasPrefixFold(t, "www."):
		return Of(URL)
	case strings.Contains(t, "@"):
		if at := strings.LastIndexByte(t, '@'); at > 0 && strings.IndexByte(t[at:], '.') > 0 && at < len(t)-3 {
			return Of(Email)
		}
	}
	if isIBANUpper(t) {
		return Of(IBAN)
	}
	if isDate(t) {
		return Of(Date)
	}
	var s Set
	if isMoney(t) {
		s |= Of(Money)
	}
	if d := countDigits(t); d >= 9 {
		if t[0] == '+' || strings.ContainsAny(t, "-()") && strings.IndexByte(t, '.') < 0 {
			s |= Of(Phone)
		} else if d == len(t) {
			s |= Of(Account)
		}
	}
	if t[0] == '/' || hasPrefix(t, "~/") || hasPrefix(t, "./") || (len(t) > 2 && t[1] == ':' && t[2] == '\\') {
		if len(t) > 1 && hasLetter(t) {
			s |= Of(Path)
		}
	} else if isDomain(t) {
		s |= Of(Host)
	}
	return s
}

func hasLetter(s string) bool {
	for i := 0; i < len(s); i++ {
		if byteClass[s[i]]&bLetter != 0 {
			return true
		}
	}
	return false
}
