package semantic

import "github.com/tetherhq/tether/detector/rules"

// The verb lexicons are data: the lists semantic.public_sink_verbs and
// semantic.destructive_verbs of the ruleset (detector/rules/default.yaml),
// which operators can append to. A declared purpose "calls for" a label
// when it contains one of the label's verbs (after the same tokenising and
// stemming as the vectoriser, so "pays", "paying" and "pay" all match).
// The lists name kinds of action, not tools or datasets; nouns that imply
// the action ("payment", "transfer") are included because purposes are
// often written as noun phrases.
const (
	// ListSinkVerbs names the ruleset list of verbs that call for public sinks.
	ListSinkVerbs = "semantic.public_sink_verbs"
	// ListDestructiveVerbs names the list of verbs that call for destructive tools.
	ListDestructiveVerbs = "semantic.destructive_verbs"
)

// Lexicon is the stemmed verb lexicon per risky label, built once.
type Lexicon struct {
	sink, destructive map[string]struct{}
}

// NewLexicon stems the verb lists.
func NewLexicon(sinkVerbs, destructiveVerbs []string) *Lexicon {
	stem := func(verbs []string) map[string]struct{} {
		m := map[string]struct{}{}
		for _, v := range verbs {
			forEachToken(v, func(t []byte) { m[string(t)] = struct{}{} })
		}
		return m
	}
	return &Lexicon{sink: stem(sinkVerbs), destructive: stem(destructiveVerbs)}
}

// LexiconFrom builds the lexicon from a ruleset's lists.
func LexiconFrom(r *rules.Ruleset) *Lexicon {
	return NewLexicon(r.List(ListSinkVerbs), r.List(ListDestructiveVerbs))
}

var defaultLexicon = LexiconFrom(rules.Default())

// PurposeCalls reports which risky labels the purpose text calls for: a
// label is called for when a token of the purpose is in the label's verb
// lexicon. An empty purpose calls for nothing (the caller treats it as
// unknown, not as a breach).
func (l *Lexicon) PurposeCalls(purpose string) (sink, destructive bool) {
	forEachToken(purpose, func(t []byte) {
		if _, ok := l.sink[string(t)]; ok {
			sink = true
		}
		if _, ok := l.destructive[string(t)]; ok {
			destructive = true
		}
	})
	return sink, destructive
}

// PurposeCalls is Lexicon.PurposeCalls with the default ruleset's lexicon.
func PurposeCalls(purpose string) (sink, destructive bool) {
	return defaultLexicon.PurposeCalls(purpose)
}
