package risk

import (
	_ "embed"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
)

// gitleaksTOML is gitleaks' published default rule set (v8.30.1,
// config/gitleaks.toml, MIT licence in LICENSE.gitleaks), loaded as data:
// the gitleaks Go module itself pulls in a CLI's worth of dependencies
// (viper, cobra, archive readers) that a detector does not need.
//
//go:embed gitleaks.toml
var gitleaksTOML []byte

// secretRule is one compiled gitleaks rule.
type secretRule struct {
	id          string
	description string
	re          *regexp.Regexp
	entropy     float64
	secretGroup int
	allow       []secretAllow
}

// secretAllow is one of a rule's allowlists (gitleaks semantics for the
// parts that apply to text without a file: regexes against the secret or
// the whole match, stopwords in the secret; OR of the two unless AND).
type secretAllow struct {
	regexes     []*regexp.Regexp
	matchTarget bool // regexTarget "match" or "line": test the whole match
	stopwords   []string
	and         bool
}

// secretSet is the compiled rule set with a keyword prefilter: rules run
// only on text containing one of their keywords (as gitleaks does), found
// in one pass over the text through a 3-byte-prefix index.
type secretSet struct {
	rules  []secretRule
	global secretAllow
	kw     *keywordIndex
	always []int // rules without keywords
}

type tomlAllow struct {
	Condition   string   `toml:"condition"`
	RegexTarget string   `toml:"regexTarget"`
	Regexes     []string `toml:"regexes"`
	Stopwords   []string `toml:"stopwords"`
	Paths       []string `toml:"paths"`
	Commits     []string `toml:"commits"`
}

type tomlConfig struct {
	Allowlist tomlAllow `toml:"allowlist"`
	Rules     []struct {
		ID          string      `toml:"id"`
		Description string      `toml:"description"`
		Regex       string      `toml:"regex"`
		Path        string      `toml:"path"`
		Entropy     float64     `toml:"entropy"`
		SecretGroup int         `toml:"secretGroup"`
		Keywords    []string    `toml:"keywords"`
		Allowlists  []tomlAllow `toml:"allowlists"`
	} `toml:"rules"`
}

var (
	secretsOnce sync.Once
	secretsSet  *secretSet
	secretsErr  error
)

// defaultSecrets returns the compiled gitleaks rule set, built once per
// process.
func defaultSecrets() (*secretSet, error) {
	secretsOnce.Do(func() { secretsSet, secretsErr = compileSecrets(gitleaksTOML) })
	return secretsSet, secretsErr
}

func compileAllow(a tomlAllow) (secretAllow, bool, error) {
	out := secretAllow{matchTarget: a.RegexTarget == "match" || a.RegexTarget == "line", and: strings.EqualFold(a.Condition, "AND")}
	// An allowlist that needs a file path or commit cannot apply to a tool
	// argument; with condition AND it never allows, with OR its other
	// parts still do.
	if out.and && len(a.Paths)+len(a.Commits) > 0 {
		return out, false, nil
	}
	for _, r := range a.Regexes {
		re, err := regexp.Compile(r)
		if err != nil {
			return out, false, err
		}
		out.regexes = append(out.regexes, re)
	}
	for _, s := range a.Stopwords {
		out.stopwords = append(out.stopwords, strings.ToLower(s))
	}
	return out, len(out.regexes)+len(out.stopwords) > 0, nil
}

func compileSecrets(b []byte) (*secretSet, error) {
	var cfg tomlConfig
	if _, err := toml.Decode(string(b), &cfg); err != nil {
		return nil, fmt.Errorf("risk: gitleaks rules: %w", err)
	}
	s := &secretSet{kw: newKeywordIndex()}
	g, _, err := compileAllow(cfg.Allowlist)
	if err != nil {
		return nil, fmt.Errorf("risk: gitleaks global allowlist: %w", err)
	}
	s.global = g
	for _, r := range cfg.Rules {
		if r.Regex == "" || r.Path != "" {
			continue // file-name rules and file-type-specific rules need a path
		}
		re, err := regexp.Compile(r.Regex)
		if err != nil {
			return nil, fmt.Errorf("risk: gitleaks rule %s: %w", r.ID, err)
		}
		sr := secretRule{id: r.ID, description: r.Description, re: re, entropy: r.Entropy, secretGroup: r.SecretGroup}
		for _, a := range r.Allowlists {
			ca, ok, err := compileAllow(a)
			if err != nil {
				return nil, fmt.Errorf("risk: gitleaks rule %s allowlist: %w", r.ID, err)
			}
			if ok {
				sr.allow = append(sr.allow, ca)
			}
		}
		idx := len(s.rules)
		s.rules = append(s.rules, sr)
		if len(r.Keywords) == 0 {
			s.always = append(s.always, idx)
			continue
		}
		for _, k := range r.Keywords {
			s.kw.add(strings.ToLower(k), idx)
		}
	}
	return s, nil
}

// secretHit is a rule that matched a text.
type secretHit struct {
	rule *secretRule
	// secret is the matched secret, for entropy and allowlists; never
	// reported (findings name the rule, not the secret).
	secret string
}

// scanner holds per-detector scratch so scans do not allocate.
type scanner struct {
	cand []bool
	list []int
}

// scan returns the first rule of s (in file order) that matches text, or
// false. lower is text in ASCII lower case.
func (s *secretSet) scan(sc *scanner, text string, lower []byte) (secretHit, bool) {
	if len(text) < 8 {
		return secretHit{}, false
	}
	if len(sc.cand) != len(s.rules) {
		sc.cand = make([]bool, len(s.rules))
	}
	sc.list = sc.list[:0]
	mark := func(rules []int) {
		for _, r := range rules {
			if !sc.cand[r] {
				sc.cand[r] = true
				sc.list = append(sc.list, r)
			}
		}
	}
	s.kw.each(lower, mark)
	mark(s.always)
	best := -1
	var hit secretHit
	for _, r := range sc.list {
		sc.cand[r] = false
		if best >= 0 && r > best {
			continue
		}
		if sec, ok := s.rules[r].match(text, &s.global); ok {
			best, hit = r, secretHit{rule: &s.rules[r], secret: sec}
		}
	}
	return hit, best >= 0
}

// match applies one rule with gitleaks' secret-group, entropy and
// allowlist semantics and returns the secret.
func (r *secretRule) match(text string, global *secretAllow) (string, bool) {
	// Most candidate texts hold a keyword but no secret: a match test
	// without submatches settles them at a fraction of the cost.
	if !r.re.MatchString(text) {
		return "", false
	}
	for _, m := range r.re.FindAllStringSubmatchIndex(text, 4) {
		match := text[m[0]:m[1]]
		secret := match
		switch {
		case r.secretGroup > 0 && 2*r.secretGroup+1 < len(m) && m[2*r.secretGroup] >= 0:
			secret = text[m[2*r.secretGroup]:m[2*r.secretGroup+1]]
		case r.secretGroup == 0:
			for g := 1; 2*g+1 < len(m); g++ {
				if m[2*g] >= 0 && m[2*g+1] > m[2*g] {
					secret = text[m[2*g]:m[2*g+1]]
					break
				}
			}
		}
		if r.entropy > 0 && shannon(secret) <= r.entropy {
			continue
		}
		if strings.HasPrefix(r.id, "generic") && !strings.ContainsAny(secret, "0123456789") {
			continue
		}
		if global.allows(secret, match) {
			continue
		}
		allowed := false
		for i := range r.allow {
			if r.allow[i].allows(secret, match) {
				allowed = true
				break
			}
		}
		if !allowed {
			return secret, true
		}
	}
	return "", false
}

func (a *secretAllow) allows(secret, match string) bool {
	target := secret
	if a.matchTarget {
		target = match
	}
	reOK := false
	for _, re := range a.regexes {
		if re.MatchString(target) {
			reOK = true
			break
		}
	}
	swOK := false
	if len(a.stopwords) > 0 {
		ls := strings.ToLower(secret)
		for _, w := range a.stopwords {
			if strings.Contains(ls, w) {
				swOK = true
				break
			}
		}
	}
	if a.and {
		return (len(a.regexes) == 0 || reOK) && (len(a.stopwords) == 0 || swOK)
	}
	return reOK || swOK
}

// shannon is the Shannon entropy of s in bits per byte.
func shannon(s string) float64 {
	if s == "" {
		return 0
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	n := float64(len(s))
	e := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			e -= p * math.Log2(p)
		}
	}
	return e
}

func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}
