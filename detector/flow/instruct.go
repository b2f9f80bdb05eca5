package flow

import "strings"

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
// agent, not about any one injection template.

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

var addresseeWords = map[string]bool{
	"assistant": true, "assistants": true, "ai": true, "llm": true, "chatbot": true,
}

// directiveWords are single-word directive cues.
var directiveWords = map[string]bool{
	"ignore": true, "disregard": true, "instead": true, "instruction": true, "instructions": true,
}

var imperativeVerbs = map[string]bool{
	"send": true, "transfer": true, "forward": true, "pay": true, "delete": true, "remove": true,
	"invite": true, "email": true, "share": true, "post": true, "publish": true, "visit": true,
	"download": true, "upload": true, "add": true, "change": true, "update": true, "reply": true,
	"click": true, "call": true, "create": true, "schedule": true, "book": true, "grant": true,
	"give": true, "open": true, "go": true, "make": true,
}

// phrases are multi-word cues, matched against the last words seen.
var phrases = []struct {
	words []string
	cat   cueCat
}{
	{[]string{"language", "model"}, cueAddressee},
	{[]string{"before", "you"}, cueDirective},
	{[]string{"after", "you"}, cueDirective},
	{[]string{"you", "must"}, cueDirective},
	{[]string{"you", "need"}, cueDirective},
	{[]string{"you", "have", "to"}, cueDirective},
	{[]string{"you", "should"}, cueDirective},
	{[]string{"make", "sure"}, cueDirective},
	{[]string{"not", "tell"}, cueDirective},
	{[]string{"not", "mention"}, cueDirective},
	{[]string{"not", "inform"}, cueDirective},
	{[]string{"don't", "tell"}, cueDirective},
	{[]string{"don't", "mention"}, cueDirective},
	{[]string{"without", "telling"}, cueDirective},
	{[]string{"from", "the", "user"}, cueRole},
	{[]string{"from", "your", "user"}, cueRole},
	{[]string{"on", "behalf", "of"}, cueRole},
	{[]string{"system", "message"}, cueRole},
	{[]string{"system", "prompt"}, cueRole},
	{[]string{"system", "administrator"}, cueRole},
}

// clauseOpeners precede an imperative verb.
var clauseOpeners = map[string]bool{"please": true, "then": true, "kindly": true}

// phraseWords interns the words the phrases and clause openers use, so the
// scan keeps its last words without allocating.
var phraseWords = func() map[string]string {
	m := map[string]string{}
	for _, p := range phrases {
		for _, w := range p.words {
			m[w] = w
		}
	}
	for w := range clauseOpeners {
		m[w] = w
	}
	return m
}()

func isWordByte(b byte) bool { return isAlpha(b) || b == '\'' }

// instructionCues returns the positions and categories of the cues in text,
// in order. buf is reused when it has capacity.
func instructionCues(text string, buf []cue) []cue {
	cues := buf[:0]
	var last [3]string // last words, most recent at index 0
	var word [24]byte
	boundary := true // a sentence or clause boundary precedes the next word
	i := 0
	for i < len(text) && len(cues) < maxCues {
		b := text[i]
		if !isWordByte(b) {
			switch {
			case strings.IndexByte(".!?:;,\n", b) >= 0:
				boundary = true
			case isDigit(b):
				boundary = false
			}
			i++
			continue
		}
		start := i
		n := 0
		for i < len(text) && isWordByte(text[i]) {
			if n < len(word) {
				word[n] = text[i] | 0x20
				if text[i] == '\'' {
					word[n] = '\''
				}
			}
			n++
			i++
		}
		if n > len(word) {
			last = [3]string{"", last[0], last[1]}
			boundary = false
			continue
		}
		wb := word[:n]
		var cat cueCat
		if addresseeWords[string(wb)] {
			cat |= cueAddressee
		}
		if directiveWords[string(wb)] {
			cat |= cueDirective
		}
		if imperativeVerbs[string(wb)] && (boundary || clauseOpeners[last[0]]) {
			cat |= cueImperative
		}
		w := phraseWords[string(wb)] // interned, "" when no phrase uses it
		if w != "" {
			for _, p := range phrases {
				k := len(p.words)
				if p.words[k-1] != w {
					continue
				}
				ok := true
				for j := 0; j < k-1; j++ {
					if last[k-2-j] != p.words[j] {
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
		last = [3]string{w, last[0], last[1]}
		boundary = false
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
	cues := instructionCues(text, nil)
	if pos < 0 {
		var c cueCat
		for _, x := range cues {
			c |= x.cat
		}
		return catCount(c)
	}
	return catCount(cuesNear(cues, pos))
}
