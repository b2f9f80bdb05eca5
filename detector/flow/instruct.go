package flow

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

// Word ids of the words the phrases and clause openers use (0: none), so
// the scan keeps its last words as small integers.
const (
	wNone uint8 = iota
	wLanguage
	wModel
	wBefore
	wYou
	wAfter
	wMust
	wNeed
	wHave
	wTo
	wShould
	wMake
	wSure
	wNot
	wTell
	wMention
	wInform
	wDont
	wWithout
	wTelling
	wFrom
	wThe
	wUser
	wYour
	wOn
	wBehalf
	wOf
	wSystem
	wMessage
	wPrompt
	wAdministrator
	wPlease
	wThen
	wKindly
)

// phrases are multi-word cues, matched against the last words seen: the
// words of a phrase in order (unused trailing entries are wNone).
var phrases = [...]struct {
	words [3]uint8
	n     int
	cat   cueCat
}{
	{[3]uint8{wLanguage, wModel}, 2, cueAddressee},
	{[3]uint8{wBefore, wYou}, 2, cueDirective},
	{[3]uint8{wAfter, wYou}, 2, cueDirective},
	{[3]uint8{wYou, wMust}, 2, cueDirective},
	{[3]uint8{wYou, wNeed}, 2, cueDirective},
	{[3]uint8{wYou, wHave, wTo}, 3, cueDirective},
	{[3]uint8{wYou, wShould}, 2, cueDirective},
	{[3]uint8{wMake, wSure}, 2, cueDirective},
	{[3]uint8{wNot, wTell}, 2, cueDirective},
	{[3]uint8{wNot, wMention}, 2, cueDirective},
	{[3]uint8{wNot, wInform}, 2, cueDirective},
	{[3]uint8{wDont, wTell}, 2, cueDirective},
	{[3]uint8{wDont, wMention}, 2, cueDirective},
	{[3]uint8{wWithout, wTelling}, 2, cueDirective},
	{[3]uint8{wFrom, wThe, wUser}, 3, cueRole},
	{[3]uint8{wFrom, wYour, wUser}, 3, cueRole},
	{[3]uint8{wOn, wBehalf, wOf}, 3, cueRole},
	{[3]uint8{wSystem, wMessage}, 2, cueRole},
	{[3]uint8{wSystem, wPrompt}, 2, cueRole},
	{[3]uint8{wSystem, wAdministrator}, 2, cueRole},
}

// word properties returned by lookupWord.
const (
	wfAddressee  uint8 = 1 << iota // addresses an AI
	wfDirective                    // single-word directive
	wfImperative                   // imperative action verb
	wfOpener                       // clause opener: precedes an imperative
)

// lookupWord classifies a lower-cased word: its flags and its phrase word
// id. One switch (compiled to a binary search) replaces several map lookups.
func lookupWord(w []byte) (flags, id uint8) {
	if len(w) < 2 || len(w) > 13 { // the longest word is "administrator"
		return 0, wNone
	}
	switch string(w) {
	// addressee words
	case "assistant", "assistants", "ai", "llm", "chatbot":
		return wfAddressee, wNone
	// directive words
	case "ignore", "disregard", "instead", "instruction", "instructions":
		return wfDirective, wNone
	// imperative verbs ("make" is also a phrase word)
	case "send", "transfer", "forward", "pay", "delete", "remove",
		"invite", "email", "share", "post", "publish", "visit",
		"download", "upload", "add", "change", "update", "reply",
		"click", "call", "create", "schedule", "book", "grant",
		"give", "open", "go":
		return wfImperative, wNone
	case "make":
		return wfImperative, wMake
	case "please":
		return wfOpener, wPlease
	case "then":
		return wfOpener, wThen
	case "kindly":
		return wfOpener, wKindly
	case "language":
		return 0, wLanguage
	case "model":
		return 0, wModel
	case "before":
		return 0, wBefore
	case "you":
		return 0, wYou
	case "after":
		return 0, wAfter
	case "must":
		return 0, wMust
	case "need":
		return 0, wNeed
	case "have":
		return 0, wHave
	case "to":
		return 0, wTo
	case "should":
		return 0, wShould
	case "sure":
		return 0, wSure
	case "not":
		return 0, wNot
	case "tell":
		return 0, wTell
	case "mention":
		return 0, wMention
	case "inform":
		return 0, wInform
	case "don't":
		return 0, wDont
	case "without":
		return 0, wWithout
	case "telling":
		return 0, wTelling
	case "from":
		return 0, wFrom
	case "the":
		return 0, wThe
	case "user":
		return 0, wUser
	case "your":
		return 0, wYour
	case "on":
		return 0, wOn
	case "behalf":
		return 0, wBehalf
	case "of":
		return 0, wOf
	case "system":
		return 0, wSystem
	case "message":
		return 0, wMessage
	case "prompt":
		return 0, wPrompt
	case "administrator":
		return 0, wAdministrator
	}
	return 0, wNone
}

func isWordByte(b byte) bool { return isAlpha(b) || b == '\'' }

// instructionCues returns the positions and categories of the cues in text,
// in order. buf is reused when it has capacity.
func instructionCues(text string, buf []cue) []cue {
	cues := buf[:0]
	var last [3]uint8 // ids of the last words, most recent at index 0
	var word [24]byte
	boundary := true // a sentence or clause boundary precedes the next word
	i := 0
	for i < len(text) && len(cues) < maxCues {
		b := text[i]
		if !isWordByte(b) {
			switch b {
			case '.', '!', '?', ':', ';', ',', '\n':
				boundary = true
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
			last = [3]uint8{wNone, last[0], last[1]}
			boundary = false
			continue
		}
		flags, w := lookupWord(word[:n])
		var cat cueCat
		if flags&wfAddressee != 0 {
			cat |= cueAddressee
		}
		if flags&wfDirective != 0 {
			cat |= cueDirective
		}
		if flags&wfImperative != 0 && (boundary || last[0] == wPlease || last[0] == wThen || last[0] == wKindly) {
			cat |= cueImperative
		}
		if w != wNone {
			for k := range phrases {
				p := &phrases[k]
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
		last = [3]uint8{w, last[0], last[1]}
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
