package semantic

import "github.com/tetherhq/tether/models"

// actionVerbs is the generic verb lexicon per risky label: a declared
// purpose "calls for" a label when it contains one of the label's verbs
// (after the same tokenising and stemming as the vectoriser, so "pays",
// "paying" and "pay" all match). The lists name kinds of action, not tools
// or datasets: a purpose that says the agent sends, posts or messages calls
// for public sinks; one that says it deletes, pays, updates or deploys calls
// for destructive tools. Nouns that imply the action ("payment", "transfer")
// are included because purposes are often written as noun phrases.
var actionVerbs = map[models.Label][]string{
	models.LabelPublicSink: {
		"send", "sent", "email", "mail", "post", "share", "publish", "notify", "notification", "reply", "respond",
		"message", "invite", "forward", "broadcast", "announce", "tweet", "upload", "submit", "contact", "book",
		"reserve", "pay", "payment", "transfer", "schedule", "communicate", "write", "comment", "chat", "add",
	},
	models.LabelDestructive: {
		"delete", "remove", "cancel", "pay", "payment", "transfer", "update", "modify", "change", "edit", "deploy",
		"rollback", "revoke", "drop", "purge", "erase", "overwrite", "reset", "book", "reserve", "purchase", "buy",
		"order", "refund", "charge", "schedule", "manage", "administer", "create", "write", "move", "rename",
		"archive", "terminate", "disable", "close", "set", "configure", "install", "uninstall", "execute", "run",
	},
}

// lexicon is actionVerbs stemmed, per label.
var lexicon = map[models.Label]map[string]struct{}{}

func init() {
	for l, verbs := range actionVerbs {
		m := map[string]struct{}{}
		for _, v := range verbs {
			forEachToken(v, func(t []byte) { m[string(t)] = struct{}{} })
		}
		lexicon[l] = m
	}
}

// PurposeCalls reports which risky labels the purpose text calls for: a
// label is called for when a token of the purpose is in the label's verb
// lexicon. An empty purpose calls for nothing (the caller treats it as
// unknown, not as a breach).
func PurposeCalls(purpose string) (sink, destructive bool) {
	forEachToken(purpose, func(t []byte) {
		if _, ok := lexicon[models.LabelPublicSink][string(t)]; ok {
			sink = true
		}
		if _, ok := lexicon[models.LabelDestructive][string(t)]; ok {
			destructive = true
		}
	})
	return sink, destructive
}
