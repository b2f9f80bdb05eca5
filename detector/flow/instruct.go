package flow

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tetherhq/tether/detector/rules"
)

// Instruction-likeness of untrusted text.
//
// A prompt injection has to instruct the agent: the value an attacker wants
// used (an account, an address, a link) arrives next to text that addresses
// the model and tells it what to do. Ordinary content the user asked the
// agent to act on (an invoice, a contact page, a colleague's e-mail) mostly
// does not. The scorer below finds a short list of generic lexical cues in
// one pass over the text (O(len), no allocation beyond the cue list) and
// reports, for a position, how many distinct cue categories occur within
// InstructWindow bytes of it:
//
//   - cueAddressee: the text addresses an AI: the words "assistant(s)",
//     "ai", "llm", "chatbot", or "language model".
//   - cueDirective: directive and override phrases: "ignore", "disregard",
//     "instead", "before you", "after you", "you must", "you need",
//     "you have to", "you should", "make sure", "do not tell/mention/inform",
//     "don't tell/mention", "without telling", "instruction(s)".
//   - cueRole: role impersonation: "from the user", "from your user",
//     "on behalf of", "system message", "system prompt",
//     "system administrator".
//   - cueImperative: an action verb (send, transfer, forward, pay, delete,
//     invite, share, post, visit, download, …) opening a sentence, a clause
//     after ',' ':' ';', or following "please", "then" or "kindly".
//
// Two or more categories near a value make its source "instruction-like"
// (InstructMin). One category alone is common in benign mail and pages
// ("please send me the report", "instead of Tuesday") and is not enough.
// The list is deliberately short and about the grammar of commanding an
// agent, not about any one injection template. The words and phrases are
// data (the flow.cue_* lists of the ruleset, detector/rules/default.yaml:
// English, and German, Spanish and French forms spelt without accents, as
// words are ASCII letters); Options.Cues carries the lexicon built from
// them. An escaped line break of a serialised result (a backslash and
// "n") is white space, not the first letter of the next word.

// InstructWindow is how many bytes on each side of a value are searched for
// instruction cues: about one paragraph, so an instruction in one item of a
// long result (one e-mail of an inbox) does not mark the values of the
// others.
const InstructWindow = 400

// InstructMin is the number of distinct cue categories near a value that
// makes its source instruction-like.
const InstructMin = 2

// maxCues bounds the cue positions kept for one text.
const maxCues = 1024

type cueCat uint8

const (
	cueAddressee cueCat = 1 << iota
	cueDirective
	cueRole
	cueImperative
)

type cue struct {
	pos int
	cat cueCat
}

// The cue words and phrases are data: the ruleset lists named below
// (detector/rules/default.yaml), built once into a Cues lexicon.
const (
	ListCueAddresseeWords   = "flow.cue_addressee_words"
	ListCueAddresseePhrases = "flow.cue_addressee_phrases"
	ListCueDirectiveWords   = "flow.cue_directive_words"
	ListCueDirectivePhrases = "flow.cue_directive_phrases"
	ListCueRolePhrases      = "flow.cue_role_phrases"
	ListCueImperativeVerbs  = "flow.cue_imperative_verbs"
	ListCueOpeners          = "flow.cue_openers"
)

// maxPhraseWords is the longest phrase a lexicon holds.
const maxPhraseWords = 3

// word properties.
const (
	wfAddressee  uint8 = 1 << iota // addresses an AI
	wfDirective                    // single-word directive
	wfImperative                   // imperative action verb
	wfOpener                       // clause opener: precedes an imperative
)

// wordInfo is a lexicon word's flags and phrase-word id (0: in no phrase).
type wordInfo struct {
	flags uint8
	id    uint16
}

type phrase struct {
	words [maxPhraseWords]uint16
	n     int
	cat   cueCat
}

// Cues is the instruction-cue lexicon, built once from a ruleset's lists.
type Cues struct {
	words   map[string]wordInfo
	phrases []phrase
	maxLen  int
	// maybe[len][first byte & 31] is set when some lexicon word has that
	// length and first letter: most words of a text skip the map lookup.
	maybe [25][32]bool
}

// ErrCues reports a lexicon entry the scanner cannot match.
var ErrCues = errors.New("flow: invalid instruction-cue list")

// NewCues builds the lexicon from the ruleset's flow.cue_* lists. Words
// are lower-case letters and apostrophes (at most 24 bytes); phrases are
// up to three such words separated by spaces.
func NewCues(r *rules.Ruleset) (*Cues, error) {
	c := &Cues{words: map[string]wordInfo{}}
	check := func(list, w string) error {
		if w == "" || len(w) > 24 {
			return fmt.Errorf("%w: %s: %q", ErrCues, list, w)
		}
		for i := 0; i < len(w); i++ {
			if !isWordByte(w[i]) || w[i]|0x20 != w[i] {
				return fmt.Errorf("%w: %s: %q is not a lower-case word", ErrCues, list, w)
			}
		}
		c.maxLen = max(c.maxLen, len(w))
		c.maybe[len(w)][w[0]&31] = true
		return nil
	}
	for _, l := range []struct {
		name string
		flag uint8
	}{{ListCueAddresseeWords, wfAddressee}, {ListCueDirectiveWords, wfDirective}, {ListCueImperativeVerbs, wfImperative}, {ListCueOpeners, wfOpener}} {
		for _, w := range r.List(l.name) {
			if err := check(l.name, w); err != nil {
				return nil, err
			}
			wi := c.words[w]
			wi.flags |= l.flag
			c.words[w] = wi
		}
	}
	next := uint16(1)
	for _, l := range []struct {
		name string
		cat  cueCat
	}{{ListCueAddresseePhrases, cueAddressee}, {ListCueDirectivePhrases, cueDirective}, {ListCueRolePhrases, cueRole}} {
		for _, ph := range r.List(l.name) {
			ws := strings.Fields(ph)
			if len(ws) < 2 || len(ws) > maxPhraseWords {
				return nil, fmt.Errorf("%w: %s: %q: want 2 to %d words", ErrCues, l.name, ph, maxPhraseWords)
			}
			p := phrase{n: len(ws), cat: l.cat}
			for i, w := range ws {
				if err := check(l.name, w); err != nil {
					return nil, err
				}
				wi := c.words[w]
				if wi.id == 0 {
					if next == 0 {
						return nil, fmt.Errorf("%w: more than 65535 phrase words", ErrCues)
					}
					wi.id = next
					next++
					c.words[w] = wi
				}
				p.words[i] = wi.id
			}
			c.phrases = append(c.phrases, p)
		}
	}
	return c, nil
}

// DefaultCues is the lexicon of the default ruleset.
var DefaultCues = func() *Cues {
	c, err := NewCues(rules.Default())
	if err != nil {
		panic(err) // the embedded ruleset is tested
	}
	return c
}()

func isWordByte(b byte) bool { return isAlpha(b) || b == '\'' }

// instructionCues returns the positions and categories of the cues in text,
// in order. buf is reused when it has capacity.
func (c *Cues) instructionCues(text string, buf []cue) []cue {
	cues := buf[:0]
	var last [maxPhraseWords]uint16 // ids of the last words, most recent at index 0
	var word [24]byte
	boundary := true    // a sentence or clause boundary precedes the next word
	prevOpener := false // the previous word is a clause opener ("please")
	i := 0
	for i < len(text) && len(cues) < maxCues {
		b := text[i]
		if !isWordByte(b) {
			switch b {
			case '.', '!', '?', ':', ';', ',', '\n':
				boundary = true
			case '\\':
				// an escaped line break or tab of a serialised string
				// value ("…\\nBefore you…"): white space, not the first
				// letter of the next word
				if i+1 < len(text) && (text[i+1] == 'n' || text[i+1] == 'r' || text[i+1] == 't') {
					if text[i+1] == 'n' {
						boundary = true
					}
					i += 2
					continue
				}
			case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
				boundary = false
			}
			i++
			continue
		}
		start := i
		n := 0
		for i < len(text) && isWordByte(text[i]) {
			if n < len(word) {
				word[n] = text[i] | 0x20 // '\'' | 0x20 == '\''
			}
			n++
			i++
		}
		if n > len(word) {
			last = [maxPhraseWords]uint16{0, last[0], last[1]}
			boundary, prevOpener = false, false
			continue
		}
		var wi wordInfo
		if n <= c.maxLen && c.maybe[n][word[0]&31] {
			wi = c.words[string(word[:n])]
		}
		var cat cueCat
		if wi.flags&wfAddressee != 0 {
			cat |= cueAddressee
		}
		if wi.flags&wfDirective != 0 {
			cat |= cueDirective
		}
		if wi.flags&wfImperative != 0 && (boundary || prevOpener) {
			cat |= cueImperative
		}
		if w := wi.id; w != 0 {
			for k := range c.phrases {
				p := &c.phrases[k]
				if p.words[p.n-1] != w {
					continue
				}
				ok := true
				for j := 0; j < p.n-1; j++ {
					if last[p.n-2-j] != p.words[j] {
						ok = false
						break
					}
				}
				if ok {
					cat |= p.cat
				}
			}
		}
		if cat != 0 {
			cues = append(cues, cue{start, cat})
		}
		last = [maxPhraseWords]uint16{wi.id, last[0], last[1]}
		boundary, prevOpener = false, wi.flags&wfOpener != 0
	}
	return cues
}

// cuesNear returns the categories of the cues within InstructWindow bytes of
// pos (cues sorted by position).
func cuesNear(cues []cue, pos int) cueCat {
	lo := pos - InstructWindow
	// binary search for the first cue at or after lo
	a, b := 0, len(cues)
	for a < b {
		m := (a + b) / 2
		if cues[m].pos < lo {
			a = m + 1
		} else {
			b = m
		}
	}
	var cat cueCat
	for j := a; j < len(cues) && cues[j].pos <= pos+InstructWindow; j++ {
		cat |= cues[j].cat
	}
	return cat
}

func catCount(c cueCat) int {
	n := 0
	for ; c != 0; c &= c - 1 {
		n++
	}
	return n
}

// InstructionScore returns the number of distinct instruction-cue categories
// (0–4) within InstructWindow bytes of byte offset pos of text; pos < 0
// scores the whole text.
func InstructionScore(text string, pos int) int {
	cues := DefaultCues.instructionCues(text, nil)
	if pos < 0 {
		var c cueCat
		for _, x := range cues {
			c |= x.cat
		}
		return catCount(c)
	}
	return catCount(cuesNear(cues, pos))
}
