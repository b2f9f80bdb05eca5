package atr

import (
	"regexp/syntax"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A prefilter is a necessary condition for a pattern to match: sets of
// literals such that every text the pattern matches contains, case-folded,
// one literal of each set. A text failing it is not run through the regex
// engine, whose NFA costs ~100× a substring search on long tool results.
// Both the literals and the text are case-folded with fold (every rune to
// the smallest rune of its simple case-folding orbit, the equivalence
// (?i) matches under), so the test never rejects a text the pattern
// would match, with or without (?i).

// Bounds on the literal sets derived from a pattern.
const (
	maxExact    = 16 // strings a sub-pattern can match exactly (cross products)
	maxRequired = 64 // literals of one set (alternations)
	maxSets     = 6  // sets of one prefilter (all must be met)
	minLiteral  = 3  // shorter literals filter too little to be worth it
	maxClass    = 4  // character-class runes expanded into exact strings
)

// requiredLiterals returns the prefilter of pattern, most selective set
// first, or nil when none is derived (the regex then always runs).
func requiredLiterals(pattern string) [][]string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	var out [][]string
	for _, set := range analyze(re.Simplify()).req {
		if minLen(set) >= minLiteral { // dropping a set keeps the condition necessary
			out = append(out, set)
		}
	}
	return out
}

// info describes a sub-pattern: exact is the full set of strings it can
// match when small and known (nil: unknown); req are literal sets, one
// literal of each occurring in every match (nil: none known).
type info struct {
	exact []string
	req   [][]string
}

func analyze(re *syntax.Regexp) info {
	switch re.Op {
	case syntax.OpLiteral:
		s := foldString(string(re.Rune))
		return info{exact: []string{s}, req: [][]string{{s}}}
	case syntax.OpCharClass:
		return info{exact: classStrings(re.Rune)}
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return info{exact: []string{""}}
	case syntax.OpCapture:
		return analyze(re.Sub[0])
	case syntax.OpPlus:
		return info{req: analyze(re.Sub[0]).req}
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return info{req: analyze(re.Sub[0]).req}
		}
	case syntax.OpConcat:
		return concat(re.Sub)
	case syntax.OpAlternate:
		return alternate(re.Sub)
	}
	return info{}
}

// concat: exact strings multiply along runs of exact sub-patterns; every
// run's product and every sub-pattern's own sets are required (each is
// necessary on its own), the most selective kept.
func concat(subs []*syntax.Regexp) info {
	var req [][]string
	run := []string{""}
	allExact := true
	flush := func() {
		if usable(run) {
			req = append(req, run)
		}
		run = []string{""}
	}
	for _, s := range subs {
		in := analyze(s)
		if in.exact != nil {
			if p := product(run, in.exact); p != nil {
				run = p
				continue
			}
			flush() // too many strings: start a new run with this one
			run = in.exact
			allExact = false
			continue
		}
		allExact = false
		flush()
		req = append(req, in.req...)
	}
	out := info{}
	if allExact {
		out.exact = run
	}
	if usable(run) {
		req = append(req, run)
	}
	out.req = best(req)
	return out
}

// alternate: a match of the alternation matches one branch, so the union
// of one set per branch is required.
func alternate(subs []*syntax.Regexp) info {
	var exact, union []string
	exactOK, reqOK := true, true
	for _, s := range subs {
		in := analyze(s)
		if exactOK && in.exact != nil && len(exact)+len(in.exact) <= maxExact {
			exact = append(exact, in.exact...)
		} else {
			exactOK = false
		}
		var r []string
		if len(in.req) > 0 {
			r = in.req[0]
		} else if in.exact != nil {
			r = in.exact
		}
		if reqOK && usable(r) && len(union)+len(r) <= maxRequired {
			union = append(union, r...)
		} else {
			reqOK = false
		}
	}
	var out info
	if exactOK {
		out.exact = dedup(exact)
	}
	if reqOK {
		out.req = [][]string{dedup(union)}
	}
	return out
}

// best sorts sets most selective first (longer shortest literal, then
// fewer literals) and keeps maxSets of them.
func best(sets [][]string) [][]string {
	sort.SliceStable(sets, func(i, j int) bool {
		mi, mj := minLen(sets[i]), minLen(sets[j])
		if mi != mj {
			return mi > mj
		}
		return len(sets[i]) < len(sets[j])
	})
	if len(sets) > maxSets {
		sets = sets[:maxSets]
	}
	return sets
}

// product returns every a+b, or nil beyond maxExact strings.
func product(as, bs []string) []string {
	if len(as)*len(bs) > maxExact {
		return nil
	}
	out := make([]string, 0, len(as)*len(bs))
	for _, a := range as {
		for _, b := range bs {
			out = append(out, a+b)
		}
	}
	return dedup(out)
}

// usable: a requirement with no empty literal (an empty one is always met).
func usable(set []string) bool {
	if len(set) == 0 {
		return false
	}
	for _, s := range set {
		if s == "" {
			return false
		}
	}
	return true
}

func minLen(set []string) int {
	if len(set) == 0 {
		return 0
	}
	m := len(set[0])
	for _, s := range set[1:] {
		m = min(m, len(s))
	}
	return m
}

func dedup(set []string) []string {
	out := set[:0:0]
	for _, s := range set {
		dup := false
		for _, o := range out {
			if o == s {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, s)
		}
	}
	return out
}

// classStrings returns the folded runes of a character class (pairs of
// range bounds) as one-rune strings, or nil beyond maxClass of them.
func classStrings(ranges []rune) []string {
	var out []string
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i+1]-ranges[i] >= 2*maxClass {
			return nil
		}
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			out = append(out, string(foldRune(r)))
			out = dedup(out)
			if len(out) > maxClass {
				return nil
			}
		}
	}
	return out
}

// foldRune maps r to the smallest rune of its simple case-folding orbit.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	return m
}

// foldString folds every rune of s (invalid UTF-8 becomes U+FFFD, as the
// regex engine reads it).
func foldString(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// folded caches the folded form of the last text it was given (the
// detector reads one text per event, for several fields and rules).
type folded struct{ src, dst string }

func (f *folded) of(s string) string {
	if s != f.src || f.dst == "" && s != "" {
		f.src, f.dst = s, foldString(s)
	}
	return f.dst
}

// mayMatch reports whether text (folded) meets the prefilter: it contains
// a literal of every set.
func mayMatch(sets [][]string, text string) bool {
	for _, set := range sets {
		if !slices.ContainsFunc(set, func(l string) bool { return strings.Contains(text, l) }) {
			return false
		}
	}
	return true
}
