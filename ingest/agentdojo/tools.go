package agentdojo

import (
	"slices"
	"strings"

	"github.com/tetherhq/tether/models"
)

// LabelRule gives capability labels to tools by generic name semantics.
// A tool name is split on "_" into words; the first word is the verb.
type LabelRule struct {
	// Verbs match the first word (empty: any verb).
	Verbs []string
	// Words match any later word (empty: any).
	Words []string
	// Labels are added when the rule matches.
	Labels []models.Label
	// Why documents the rule.
	Why string
}

func (r *LabelRule) match(words []string) bool {
	if len(words) == 0 {
		return false
	}
	if len(r.Verbs) > 0 && !slices.Contains(r.Verbs, words[0]) {
		return false
	}
	if len(r.Words) == 0 {
		return true
	}
	for _, w := range words[1:] {
		if slices.Contains(r.Words, w) {
			return true
		}
	}
	return false
}

var readVerbs = []string{"read", "get", "search", "list", "check", "find", "fetch", "lookup", "browse", "view", "open"}

// LabelRules is the documented capability table. It encodes what a tool's
// name says it does, written from general tool semantics and not from any
// knowledge of the benchmark's attacks; every matching rule adds its labels.
// Readers are private_data unless the rule for outsider-written content or
// for non-sensitive facts applies.
//
//	verb / words                                   labels
//	send, post, share, invite, forward, publish    public_sink        delivers data to other people or the web
//	add … participants|user|member(s)              public_sink        grants another party access to content
//	delete, remove, cancel, drop, revoke           destructive        removes data or commitments
//	send|schedule|update … money|transaction(s)|   destructive        moves money to another party
//	  payment(s); pay…, transfer…                  + public_sink
//	update|change|reset … password|credentials     destructive        takes over the account
//	reserve, book, purchase, buy, order            destructive        commits the user's money
//	reader … webpage|web|url|website|review(s)     untrusted_content  public content anyone can write
//	reader … email(s) (plural)|inbox|message(s)    untrusted_content  private communication outsiders write
//	                                               + private_data
//	reader (read, get, search, list, check, find,  private_data       reads the user's data
//	  fetch, lookup, browse, view, open) otherwise
//	get_current_day|date|time                      (none)             the clock is not sensitive
//
// Everything else (create_*, append_*, update_* of ordinary records,
// reschedule_*) gets no label: it changes the user's own data reversibly.
var LabelRules = []LabelRule{
	{Verbs: []string{"send", "post", "share", "invite", "forward", "publish"}, Labels: []models.Label{models.LabelPublicSink}, Why: "delivers data to other people or the web"},
	{Verbs: []string{"add"}, Words: []string{"participants", "participant", "user", "users", "member", "members"}, Labels: []models.Label{models.LabelPublicSink}, Why: "grants another party access to content"},
	{Verbs: []string{"delete", "remove", "cancel", "drop", "revoke"}, Labels: []models.Label{models.LabelDestructive}, Why: "removes data or commitments"},
	{Verbs: []string{"pay", "transfer"}, Labels: []models.Label{models.LabelDestructive, models.LabelPublicSink}, Why: "moves money to another party"},
	{Verbs: []string{"send", "schedule", "update"}, Words: []string{"money", "transaction", "transactions", "payment", "payments"}, Labels: []models.Label{models.LabelDestructive, models.LabelPublicSink}, Why: "moves money to another party"},
	{Verbs: []string{"update", "change", "reset", "set"}, Words: []string{"password", "credentials", "credential"}, Labels: []models.Label{models.LabelDestructive}, Why: "takes over the account"},
	{Verbs: []string{"reserve", "book", "purchase", "buy", "order"}, Labels: []models.Label{models.LabelDestructive}, Why: "commits the user's money"},
	{Verbs: readVerbs, Words: []string{"webpage", "web", "url", "website", "review", "reviews"}, Labels: []models.Label{models.LabelUntrustedContent}, Why: "public content anyone can write"},
	{Verbs: readVerbs, Words: []string{"emails", "inbox", "messages", "message"}, Labels: []models.Label{models.LabelUntrustedContent, models.LabelPrivateData}, Why: "private communication that outsiders write"},
}

// nonSensitive lists the X of get_current_X readers, which are not private_data.
var nonSensitive = []string{"day", "date", "time"}

// ToolLabels returns the capability labels of a tool from its name, by
// LabelRules, in models.Labels order.
func ToolLabels(name string) []models.Label {
	words := strings.Split(strings.ToLower(name), "_")
	set := map[models.Label]bool{}
	for i := range LabelRules {
		if LabelRules[i].match(words) {
			for _, l := range LabelRules[i].Labels {
				set[l] = true
			}
		}
	}
	if slices.Contains(readVerbs, words[0]) && !set[models.LabelUntrustedContent] {
		clock := len(words) == 3 && words[1] == "current" && slices.Contains(nonSensitive, words[2])
		if !clock {
			set[models.LabelPrivateData] = true
		}
	}
	var out []models.Label
	for _, l := range models.Labels {
		if set[l] {
			out = append(out, l)
		}
	}
	return out
}
