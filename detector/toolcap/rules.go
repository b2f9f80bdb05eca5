package toolcap

import (
	"slices"
	"strings"

	"github.com/tetherhq/tether/models"
)

// verbRule gives labels to a tool whose name or description has a verb of
// Verbs, optionally only when one of Objects follows it.
type verbRule struct {
	Verbs   []string
	Objects []string
	Labels  []models.Label
	Why     string
}

// The name and description table (Vocabulary.nameRules), applied to the first verb
// of the text and the words after it (for a description: of its first
// sentence). Every matching rule adds its labels.
//
//	verb / objects after it                        labels
//	send, post, publish, share, forward, invite,   public_sink        delivers data to other people or the web
//	  email, reply, comment, upload, notify, …
//	add|grant … participants|users|members|        public_sink        grants another party access
//	  permission|access|…
//	set|update|change|manage|modify|configure …    public_sink        changes who can access a resource
//	  sharing|permission(s)|access|visibility|acl
//	delete, remove, cancel, drop, revoke, wipe,    destructive        removes data or commitments, or a safeguard
//	  disable, unlock, disarm, …
//	pay, transfer, wire, withdraw, donate, tip     money + destructive + public_sink   moves money to another party
//	purchase, buy, order, checkout, charge,        money + destructive  commits the user's money
//	  refund, trade, sell, invest
//	send|schedule|make|create|update … money|      money + destructive + public_sink   moves money to another party
//	  transaction|payment|transfer|funds
//	update|change|reset|set … password|credential| destructive        takes over the account
//	  secret|token|key|mfa
//	reserve, book; make|create|place|confirm …     destructive        commits the user's money
//	  reservation|booking|order|purchase
//	exec, execute, eval, shell, bash; run|invoke … execution + destructive   runs code the agent supplies
//	  command|code|script|sql|program|…
//	reader … webpage|web|url|website|review(s)|    untrusted_content  public content anyone can write
//	  news|link|feed|search
//	reader … email(s)|inbox|message(s)|chat|       untrusted_content + private_data   communication outsiders write
//	  comment(s)|post(s)|channel|…
//	reader (read, get, search, list, fetch, …)     private_data       reads the user's data (not the clock or weather)
//
// The words are the toolcap.* lists of the ruleset; the table is built
// from them in NewVocabulary (vocab.go).

// stem maps an inflected description word to a known verb ("sends",
// "deleted", "executing" → send, delete, execute), or returns w.
func stem(v *Vocabulary, w string) string {
	allVerbs := v.allVerbs
	if slices.Contains(allVerbs, w) {
		return w
	}
	for _, suf := range []string{"s", "es", "ed", "d", "ing"} {
		if b, ok := strings.CutSuffix(w, suf); ok && slices.Contains(allVerbs, b) {
			return b
		}
		if b, ok := strings.CutSuffix(w, suf); ok && slices.Contains(allVerbs, b+"e") {
			return b + "e"
		}
	}
	return w
}

// inferText applies rules to the first verb of text and the words after
// it. A description is cut at its first sentence and its words stemmed.
func inferText(b *builder, text string, src Source) {
	v := current.Load()
	rules := v.nameRules
	if text == "" {
		return
	}
	if src == SourceDescription {
		if i := strings.IndexAny(text, ".\n"); i > 0 {
			text = text[:i]
		}
	}
	words := Words(text)
	if src == SourceDescription {
		for i, w := range words {
			words[i] = stem(v, w)
		}
	}
	vi := slices.IndexFunc(words, func(w string) bool { return slices.Contains(v.allVerbs, w) })
	if vi < 0 {
		return
	}
	verb, objects := words[vi], words[vi+1:]
	// a qualifier ("search_contacts_by_email", "get_users_in_channel")
	// does not name what the tool reads or acts on
	if i := slices.IndexFunc(objects, func(w string) bool { return slices.Contains(v.qualifiers, w) }); i >= 0 {
		objects = objects[:i]
	}
	matched := false
	for i := range rules {
		r := &rules[i]
		if !slices.Contains(r.Verbs, verb) {
			continue
		}
		if len(r.Objects) > 0 && !slices.ContainsFunc(objects, func(w string) bool { return slices.Contains(r.Objects, w) }) {
			continue
		}
		matched = true
		for _, l := range r.Labels {
			b.add(l, src, verb+": "+r.Why)
		}
	}
	if slices.Contains(v.read, verb) && !matched {
		clock := len(objects) > 0 && !slices.ContainsFunc(objects, func(w string) bool { return !slices.Contains(v.clockObjects, w) })
		if !clock {
			b.reader = true
		}
	}
	if slices.Contains(v.mutate, verb) {
		b.mutates = true
	}
}

// arg is one argument name and, from a schema, its JSON type.
type arg struct {
	name, typ string
}

func schemaArgs(schema map[string]any) []arg {
	props, _ := schema["properties"].(map[string]any)
	out := make([]arg, 0, len(props))
	for name, p := range props {
		typ := ""
		if pm, ok := p.(map[string]any); ok {
			typ, _ = pm["type"].(string)
		}
		out = append(out, arg{name: name, typ: typ})
	}
	slices.SortFunc(out, func(a, b arg) int { return strings.Compare(a.name, b.name) })
	return out
}

func anyIn(words, set []string) bool {
	return slices.ContainsFunc(words, func(w string) bool { return slices.Contains(set, w) })
}

// argRules:
//
//	argument names                                 labels
//	amount|price|total|… with recipient|payee|     money + destructive + public_sink   moves money to a party
//	  iban|account|…, or card cvv|card number
//	command|cmd|script|shell|sql|…, or code of a   execution + destructive             runs code the agent supplies
//	  language (python_code, source_code) or "code" typed string
//	recipient|to|cc|bcc|participants|… with a      public_sink        delivers a payload to people
//	  payload (body|message|text|content|…)
//	email|user|recipient with permission|role|     public_sink        shares a resource with someone
//	  visibility|access|acl
//	url|link|endpoint|webhook with a payload       public_sink        sends a payload to a web address
//	webhook|endpoint                               public_sink        sends to a web address
//	url|link|website|… alone                       untrusted_content  fetches a web address
//	password|passphrase|pin without a user name    destructive        changes the account's credential
//	force|recursive|purge|overwrite|…              destructive        irreversible variant of an operation
//	only selectors (query|id|path|date|…)          reader (private_data unless something shows an effect)
func inferArgs(b *builder, args []arg) {
	if len(args) == 0 {
		return
	}
	var all Role
	selectorsOnly := true
	for i := range args {
		r := ArgRole(args[i].name, args[i].typ)
		all |= r
		if r&RoleSelector == 0 || r&^RoleSelector != 0 && r&RolePath == 0 {
			selectorsOnly = false
		}
	}
	has := func(r Role) bool { return all&r != 0 }
	amount, party, card := has(RoleAmount), has(RoleParty), has(RoleCard)
	payload, url, hook := has(RolePayload), has(RoleURL), has(RoleHook)
	if amount && party || card {
		why := "argument amount + recipient"
		if card {
			why = "argument card number"
		}
		b.add(models.LabelMoney, SourceArguments, why)
		b.add(models.LabelDestructive, SourceArguments, why)
		if amount && party {
			b.add(models.LabelPublicSink, SourceArguments, why)
		}
	}
	if has(RoleCommand) {
		b.add(models.LabelExecution, SourceArguments, "argument command/code")
		b.add(models.LabelDestructive, SourceArguments, "argument command/code")
	}
	if has(RolePeople) && payload {
		b.add(models.LabelPublicSink, SourceArguments, "argument recipient + payload")
	}
	if has(RolePeople|RoleAccount) && has(RoleShare) {
		b.add(models.LabelPublicSink, SourceArguments, "argument recipient + permission")
	}
	if url && payload || hook {
		b.add(models.LabelPublicSink, SourceArguments, "argument url + payload")
	}
	if url && !payload && !hook {
		b.add(models.LabelUntrustedContent, SourceArguments, "argument url")
	}
	if has(RolePassword) && !has(RoleLogin) {
		b.add(models.LabelDestructive, SourceArguments, "argument password")
	}
	if has(RoleForce) {
		b.add(models.LabelDestructive, SourceArguments, "argument force/recursive")
	}
	if payload {
		b.mutates = true
	}
	if selectorsOnly {
		b.selectors = true
	}
}

// Role is a bit set of what an argument's name says about its value.
type Role uint16

// Argument roles (see argRules for the vocabularies).
const (
	// RoleAmount: a sum of money (amount, price, total, …; not a string-typed description).
	RoleAmount Role = 1 << iota
	// RoleParty: a payment counterparty (recipient, payee, iban, account, …).
	RoleParty
	// RoleCard: card data (cvv, card number).
	RoleCard
	// RoleCommand: a command, script, query or code to run.
	RoleCommand
	// RolePeople: people who receive something (to, cc, recipients, participants, …).
	RolePeople
	// RoleAccount: a user or e-mail account named as a target (email, user).
	RoleAccount
	// RolePayload: content carried out (body, message, text, content, attachments, …).
	RolePayload
	// RoleURL: a web address (url, link, endpoint, domain, …).
	RoleURL
	// RoleHook: a webhook or endpoint that receives data.
	RoleHook
	// RoleShare: an access grant (permission, role, visibility, acl, …).
	RoleShare
	// RolePassword: a password or PIN.
	RolePassword
	// RoleLogin: a user name for logging in.
	RoleLogin
	// RoleForce: an irreversible variant (force, recursive, purge, …).
	RoleForce
	// RoleSelector: selects what to read (query, id, date, path, …).
	RoleSelector
	// RolePath: a file or directory path.
	RolePath
)

// ArgRole returns the roles an argument name (snake_case, camelCase or
// dotted) and, when known, its JSON schema type give its value.
func ArgRole(name, typ string) Role {
	w := Words(name)
	if len(w) == 0 {
		return 0
	}
	last := w[len(w)-1]
	v := current.Load()
	var r Role
	set := func(role Role, cond bool) {
		if cond {
			r |= role
		}
	}
	set(RoleAmount, anyIn(w, v.amount) && typ != "string" && typ != "boolean" || slices.Contains(v.amount, last) && typ != "boolean")
	set(RoleParty, anyIn(w, v.party))
	set(RoleCard, anyIn(w, v.card) || slices.Contains(w, "card") && slices.Contains(w, "number"))
	set(RoleCommand, anyIn(w, v.command) || last == "code" && (len(w) == 1 && typ != "integer" && typ != "number" || len(w) > 1 && slices.Contains(v.codeOwners, w[len(w)-2])))
	set(RolePeople, anyIn(w, v.people) && !(w[0] == "to" && len(w) > 1 && (last == "date" || last == "time" || last == "day")))
	set(RoleAccount, last == "email" || last == "emails" || last == "user" || last == "users")
	set(RolePayload, slices.Contains(v.payload, last))
	set(RoleURL, anyIn(w, v.url))
	set(RoleHook, slices.Contains(w, "webhook") || slices.Contains(w, "endpoint"))
	set(RoleShare, anyIn(w, v.share))
	set(RolePassword, anyIn(w, v.password))
	set(RoleLogin, anyIn(w, v.login) || last == "email")
	set(RoleForce, anyIn(w, v.force))
	set(RoleSelector, slices.Contains(v.selector, last))
	set(RolePath, slices.Contains(v.path, last))
	return r
}
