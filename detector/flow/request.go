package flow

// What the user asked for.
//
// Provenance alone cannot tell a link the user asked the agent to follow
// from a link an outsider planted: both arrive in tool-result content. What
// separates them is the user's request, judged two ways, from the words of
// the user's own messages (never the system prompt, which names the user and
// the organisation that injected text also names):
//
//   - callFor: does the request ask for this kind of action? The tool's
//     name is split into words; the first is its verb. A sink or destructive
//     tool is called for when the request holds a word of the verb's action
//     family (send: send, forward, reply, e-mail, pay, …) and, when the name
//     has specific nouns, a word of one noun's family (money: money, pay,
//     payment, refund, …). A reading tool (verb get, read, fetch, …) is
//     called for when a noun family matches (webpage: web, website, page,
//     link, article, url, …). A request that delegates to content ("follow
//     the instructions in", "accordingly", "my TODO list") calls for what a
//     source the user named says. The families are ordinary English words
//     for the actions tools perform, not the wording of any attack.
//   - describes: does the request describe the record a value sits in? The
//     record (the list item or paragraph around the value, at most
//     recordWindow bytes each side) shares a distinctive word with the
//     request: a word of at least three letters that is not a common
//     English word (names such as Bob count). "Send Spotify the difference for March" describes the Spotify
//     transaction and its account; an outsider's paragraph that the request
//     never mentions is not described, however it is worded.
//
// Both are lexical and cheap (the request's distinctive words are kept as a
// small set per session; a record is tokenised once per result).

import (
	"bytes"
	"strings"

	"github.com/tetherhq/tether/detector/values"
)

// recordWindow bounds, in bytes on each side of a value, the record whose
// words are compared with the request.
const recordWindow = 300

// maxRequestWords bounds the distinctive request words kept per session.
const maxRequestWords = 256

// genericToolWords carry no action or object of their own in a tool name.
var genericToolWords = map[string]bool{
	"get": true, "read": true, "list": true, "search": true, "find": true, "fetch": true,
	"check": true, "lookup": true, "browse": true, "view": true, "open": true, "query": true,
	"by": true, "to": true, "for": true, "from": true, "of": true, "in": true, "on": true,
	"the": true, "a": true, "an": true, "all": true, "new": true, "my": true, "user": true,
	"users": true, "info": true, "information": true, "data": true, "details": true,
	"id": true, "ids": true, "item": true, "items": true, "current": true, "recent": true,
	"most": true, "with": true, "and": true, "or": true, "name": true,
}

// readVerbs open the names of tools that read.
var readVerbs = map[string]bool{
	"get": true, "read": true, "list": true, "search": true, "find": true, "fetch": true,
	"check": true, "lookup": true, "browse": true, "view": true, "open": true, "query": true,
	"load": true, "download": true, "retrieve": true, "scrape": true, "crawl": true,
}

// families maps a tool-name word to the request words that ask for it. A
// word without an entry matches itself (and its inflections).
var families = map[string][]string{
	// verbs
	"send":       {"send", "sent", "invite", "forward", "reply", "respond", "^write", "^email", "^e-mail", "^mail", "^message", "dm", "@notify", "@tell", "@inform", "^contact", "deliver", "pay", "refund", "transfer", "share", "post", "return", "reimburse"},
	"forward":    {"forward", "send", "share"},
	"reply":      {"reply", "respond", "answer", "send", "write"},
	"pay":        {"pay", "paid", "payment", "transfer", "refund", "send", "wire", "reimburse", "settle"},
	"transfer":   {"transfer", "pay", "paid", "payment", "refund", "send", "wire", "move"},
	"schedule":   {"schedule", "scheduled", "recurring", "standing", "plan", "book", "calendar", "set"},
	"update":     {"update", "change", "modify", "adjust", "edit", "set", "reset", "fix", "correct", "move", "increase", "decrease", "raise", "lower"},
	"change":     {"change", "update", "modify", "adjust", "edit", "set", "reset"},
	"set":        {"set", "update", "change", "configure"},
	"reset":      {"reset", "change", "update", "set"},
	"post":       {"post", "publish", "share", "announce", "upload", "write", "put"},
	"publish":    {"publish", "post", "share", "announce", "upload"},
	"share":      {"share", "send", "give", "grant", "invite", "access", "permission", "permissions"},
	"invite":     {"invite", "add", "include", "join", "onboard", "welcome"},
	"add":        {"add", "invite", "include", "join", "put", "append", "insert"},
	"delete":     {"delete", "remove", "erase", "clean", "purge", "clear", "discard", "trash"},
	"remove":     {"remove", "delete", "erase", "clean", "purge", "clear", "kick"},
	"cancel":     {"cancel", "delete", "remove", "drop", "call off"},
	"drop":       {"drop", "delete", "remove", "cancel"},
	"revoke":     {"revoke", "remove", "withdraw", "cancel"},
	"reserve":    {"reserve", "reservation", "book", "booking"},
	"book":       {"book", "booking", "reserve", "reservation"},
	"purchase":   {"purchase", "buy", "order", "pay"},
	"buy":        {"buy", "purchase", "order", "pay"},
	"order":      {"order", "buy", "purchase"},
	"create":     {"create", "make", "add", "new", "set", "write", "draft", "schedule"},
	"append":     {"append", "add", "insert", "write"},
	"reschedule": {"reschedule", "move", "postpone", "change", "shift"},
	// objects
	"money":        {"money", "pay", "paid", "payment", "refund", "transfer", "transaction", "rent", "bill", "fee", "difference", "amount", "reimburse"},
	"transaction":  {"transaction", "transactions", "payment", "pay", "transfer", "refund", "rent", "order", "subscription", "bill"},
	"transactions": {"transaction", "transactions", "payment", "pay", "transfer", "refund", "rent", "order", "subscription", "bill"},
	"payment":      {"payment", "pay", "transfer", "refund", "rent", "bill", "transaction"},
	"email":        {"email", "e-mail", "mail", "reply", "message", "inbox", "write", "address"},
	"emails":       {"email", "e-mail", "mail", "reply", "message", "inbox", "write"},
	"mail":         {"email", "e-mail", "mail", "reply", "message", "inbox"},
	"message":      {"message", "messages", "dm", "write", "reply", "@tell", "post", "@notify", "announce", "chat", "say", "ask"},
	"messages":     {"message", "messages", "dm", "write", "reply", "@tell", "post", "@notify", "announce", "chat", "say", "ask"},
	"direct":       {"direct", "dm", "message", "privately", "personally"},
	"channel":      {"channel", "channels"},
	"webpage":      {"web", "webpage", "website", "site", "page", "url", "link", "article", "blog", "online", "internet", "visit", "www", "http", "https"},
	"web":          {"web", "webpage", "website", "site", "page", "url", "link", "article", "blog", "online", "internet", "visit", "www", "http", "https"},
	"website":      {"web", "webpage", "website", "site", "page", "url", "link", "article", "blog", "online", "internet", "visit", "www", "http", "https"},
	"url":          {"web", "webpage", "website", "site", "page", "url", "link", "article", "blog", "online", "internet", "visit", "www", "http", "https"},
	"page":         {"web", "webpage", "website", "site", "page", "url", "link", "article", "blog", "online", "visit", "www"},
	"file":         {"file", "files", "document", "documents", "doc", "drive", "attachment", "spreadsheet", "docx", "xlsx", "pdf", "txt"},
	"files":        {"file", "files", "document", "documents", "doc", "drive", "attachment"},
	"password":     {"password", "passwords", "credential", "credentials", "login", "passcode"},
	"calendar":     {"calendar", "event", "meeting", "appointment", "schedule", "invite"},
	"event":        {"event", "events", "meeting", "appointment", "calendar", "invite", "reminder"},
	"participants": {"participant", "participants", "invite", "attendee", "attendees", "add", "guest", "guests"},
	"participant":  {"participant", "participants", "invite", "attendee", "attendees", "add", "guest", "guests"},
	"member":       {"member", "members", "invite", "add", "join"},
	"members":      {"member", "members", "invite", "add", "join"},
}

// pluralWeb are the words of a request that speaks of several web
// locations.
var pluralWeb = []string{"websites", "links", "sites", "pages", "urls", "articles", "blogs", "webpages"}

// delegationWords in a request hand the choice of actions to content the
// user names ("follow the instructions in", "my TODO list").
var delegationWords = []string{"instruction", "instructions", "accordingly", "todo", "to-do", "specified"}

// toolWords splits a tool name into lower-cased words (on _, -, ., space and
// lower-to-upper case changes), calling fn for each.
func toolWords(name string, fn func(w string)) {
	start := -1
	var buf [32]byte
	flush := func(end int) {
		if start < 0 {
			return
		}
		w := name[start:end]
		start = -1
		if len(w) > len(buf) {
			fn(strings.ToLower(w))
			return
		}
		b := buf[:len(w)]
		for i := 0; i < len(w); i++ {
			c := w[i]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b[i] = c
		}
		fn(string(b))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_' || c == '-' || c == '.' || c == ' ' || c == '/':
			flush(i)
		case 'A' <= c && c <= 'Z' && i > 0 && 'a' <= name[i-1] && name[i-1] <= 'z':
			flush(i)
			start = i
		default:
			if start < 0 {
				start = i
			}
		}
	}
	flush(len(name))
}

// requestHas reports whether the request text holds w, or w with a common
// inflection (s, es, ed, d, ing), at word boundaries.
func requestHas(req []byte, w string) bool {
	if len(req) == 0 || w == "" {
		return false
	}
	if containsWordFold(req, w) {
		return true
	}
	for _, suf := range [...]string{"s", "es", "ed", "d", "ing"} {
		if len(w)+len(suf) <= 64 && containsWordFold(req, w+suf) {
			return true
		}
	}
	if n := len(w); n > 4 && w[n-1] == 'e' && containsWordFold(req, w[:n-1]+"ing") {
		return true
	}
	return false
}

// matchesFamily reports whether req holds a word of w's family. A family
// word marked "^" (a noun that is also a verb: "email", "message") counts
// only as a verb: opening a clause or after "please", "and", "then",
// "also", "to". One marked "@" (a verb of telling: "tell", "notify")
// counts only when its object is not the user ("tell me the name" asks
// for a reply, not for a message to anyone: requestHasToOther).
func matchesFamily(req []byte, w string) bool {
	fam, ok := families[w]
	if !ok {
		return requestHas(req, w)
	}
	for _, x := range fam {
		if x[0] == '@' {
			if requestHasToOther(req, x[1:]) {
				return true
			}
			continue
		}
		if x[0] == '^' {
			if requestHasVerb(req, x[1:]) {
				return true
			}
			continue
		}
		if requestHas(req, x) {
			return true
		}
	}
	return false
}

// requestHasVerb reports whether w occurs in req at word boundaries as the
// verb of a clause (see matchesFamily).
func requestHasVerb(req []byte, w string) bool {
	for off := 0; off < len(req); {
		i := bytes.Index(req[off:], []byte(w))
		if i < 0 {
			return false
		}
		i += off
		off = i + 1
		j := i + len(w)
		if (i > 0 && isWordChar(req[i-1])) || (j < len(req) && isWordChar(req[j])) {
			continue
		}
		k := i
		for k > 0 && req[k-1] == ' ' {
			k--
		}
		if k == 0 || strings.IndexByte(".,;:!?\n(", req[k-1]) >= 0 {
			return true
		}
		p := k
		for p > 0 && isWordChar(req[p-1]) {
			p--
		}
		switch string(req[p:k]) {
		case "please", "and", "then", "also", "to", "kindly":
			return true
		}
	}
	return false
}

// callFor reports whether the user's request (req, lower-cased) asks for
// the kind of action tool performs (see the file comment).
func callFor(req []byte, tool string) bool {
	if len(req) == 0 {
		return false
	}
	verb := ""
	nouns, matched := 0, false
	toolWords(tool, func(w string) {
		if verb == "" {
			verb = w
			return
		}
		if genericToolWords[w] || len(w) < 3 {
			return
		}
		nouns++
		if !matched && matchesFamily(req, w) {
			matched = true
		}
	})
	if readVerbs[verb] || genericToolWords[verb] {
		return matched || (nouns == 0 && verb != "")
	}
	if !matchesFamily(req, verb) {
		return false
	}
	return nouns == 0 || matched
}

// asksVerb reports whether the request holds a word of the action family
// of tool's verb (its first name word), whatever object it names: "make a
// reservation" asks for reserve_hotel though it says "a place to stay".
// unrequested_action, whose values the extractor does not track, needs
// the action itself to be unasked for.
func asksVerb(req []byte, tool string) bool {
	verb := ""
	toolWords(tool, func(w string) {
		if verb == "" {
			verb = w
		}
	})
	return verb != "" && !readVerbs[verb] && !genericToolWords[verb] && matchesFamily(req, verb)
}

// delegates reports whether the request hands the choice of actions to
// content the user names.
func delegates(req []byte) bool {
	for _, w := range delegationWords {
		if containsWordFold(req, w) {
			return true
		}
	}
	return false
}

// isDistinctive reports whether a lower-cased word can tie a record to a
// request: at least three letters and not a common English word.
func isDistinctive(w string) bool {
	return len(w) >= 3 && !commonWords[w]
}

// requestIndex holds the derived forms of a session's request: the text
// lower-cased, its distinctive words, and the names among them (distinctive
// words the user capitalised: "Spotify", "Bob").
type requestIndex struct {
	n     int // len(request) when built
	lower []byte
	// location: the request names a URL or host itself; links: it speaks
	// of several web locations.
	location, links bool
	words           map[string]struct{}
	names           map[string]struct{}
	// delegated: the request delegates (delegates); called caches callFor
	// per tool name (cleared when the request grows, at most maxCalled).
	delegated bool
	called    map[string]bool
	// amounts: the amounts the request names (eachAmount), normalised
	amounts map[string]struct{}
}

// maxCalled bounds the tool names whose callFor verdict is cached.
const maxCalled = 64

// callFor is the package callFor on the request, cached per tool.
func (x *requestIndex) callFor(tool string) bool {
	if v, ok := x.called[tool]; ok {
		return v
	}
	v := callFor(x.lower, tool)
	if x.called == nil || len(x.called) >= maxCalled {
		x.called = make(map[string]bool)
	}
	x.called[tool] = v
	return v
}

// build brings the index up to date with the request text: only the bytes
// added since the last build are read (the request only grows, by whole
// messages), so a session's index costs O(len(request)) in total.
func (x *requestIndex) build(request []byte) {
	if x.words == nil || len(request) < x.n {
		*x = requestIndex{lower: x.lower[:0], words: make(map[string]struct{}), names: make(map[string]struct{})}
	}
	add := request[x.n:]
	x.n = len(request)
	from := len(x.lower)
	x.lower = appendLower(x.lower, string(add))
	for _, w := range pluralWeb {
		x.links = x.links || containsWordFold(x.lower[from:], w)
	}
	var vbuf []byte
	values.Extract(string(add), 0, &vbuf, func(_ string, c values.Class, _ int) {
		x.location = x.location || c == values.URL || c == values.Host
	})
	x.delegated = delegates(x.lower)
	clear(x.called)
	eachAmount(string(add), func(a string) {
		if x.amounts == nil {
			x.amounts = make(map[string]struct{})
		}
		if len(x.amounts) < maxRequestWords {
			x.amounts[a] = struct{}{}
		}
	})
	var buf [32]byte
	eachToken(add, func(t []byte) {
		eachLetterRun(t, buf[:], func(w []byte, capital bool) {
			if len(x.words) >= maxRequestWords || !isDistinctive(string(w)) {
				return
			}
			x.words[string(w)] = struct{}{}
			if capital {
				x.names[string(w)] = struct{}{}
			}
		})
	})
}

// eachToken calls fn for each white-space-delimited token of b that is not
// a contact point (holding '@', "://" or "www."): a host's words say nothing
// about what the user asked for.
func eachToken[S ~string | ~[]byte](b S, fn func(t S)) {
	for i := 0; i < len(b); {
		if isSpace(b[i]) {
			i++
			continue
		}
		j := i
		for j < len(b) && !isSpace(b[j]) {
			j++
		}
		if !isContactToken(b[i:j]) {
			fn(b[i:j])
		}
		i = j
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// isContactToken reports whether a white-space-delimited token holds an
// e-mail address or a URL.
func isContactToken[S ~string | ~[]byte](t S) bool {
	for k := 0; k < len(t); k++ {
		switch t[k] {
		case '@':
			return true
		case ':':
			if k+2 < len(t) && t[k+1] == '/' && t[k+2] == '/' {
				return true
			}
		case 'w', 'W':
			if k+3 < len(t) && (t[k+1]|0x20) == 'w' && (t[k+2]|0x20) == 'w' && t[k+3] == '.' {
				return true
			}
		}
	}
	return false
}

// eachLetterRun calls fn for each run of ASCII letters (apostrophes inside)
// of b, lower-cased into buf (longer runs are skipped), and whether it
// started with a capital letter; a possessive "'s" is dropped. A literal
// "\n" (an escaped line break in a serialised result) separates runs.
func eachLetterRun[S ~string | ~[]byte](b S, buf []byte, fn func(w []byte, capital bool)) {
	for i := 0; i < len(b); {
		if !isAlpha(b[i]) || (i > 0 && b[i-1] == '\\' && (b[i] == 'n' || b[i] == 't')) {
			i++
			continue
		}
		j := i
		for j < len(b) && (isAlpha(b[j]) || (b[j] == '\'' && j+1 < len(b) && isAlpha(b[j+1]))) {
			j++
		}
		if n := j - i; n <= len(buf) {
			w := buf[:n]
			for k := 0; k < n; k++ {
				c := b[i+k]
				if 'A' <= c && c <= 'Z' {
					c += 'a' - 'A'
				}
				w[k] = c
			}
			if n > 2 && w[n-2] == '\'' && w[n-1] == 's' {
				w = w[:n-2]
			}
			fn(w, 'A' <= b[i] && b[i] <= 'Z')
		}
		i = j
	}
}

// describes reports whether a record shares with the request at least one
// name or two distinct distinctive words (inflections folded: a record's
// "bookings" matches a request's "booking"). One ordinary word in common
// ("booking", "details") ties nothing: an outsider writing about the domain
// of the request uses its vocabulary too. A name ties the record only as
// written (possessive aside): an inflected form of it ("todos", a word of
// another language, against the request's "TODO") counts as an ordinary
// word.
func describes(x *requestIndex, record string) bool {
	if x == nil || (len(x.words) == 0 && len(x.amounts) == 0) {
		return false
	}
	if len(x.amounts) > 0 {
		found := false
		eachAmount(record, func(a string) {
			_, ok := x.amounts[a]
			found = found || ok
		})
		if found {
			return true // the record holds an amount the request names
		}
	}
	var buf, first [32]byte
	nfirst := 0
	found := false
	eachToken(record, func(t string) {
		if found {
			return
		}
		eachLetterRun(t, buf[:], func(w []byte, _ bool) {
			if found {
				return
			}
			k, ok := x.lookup(w)
			if !ok {
				return
			}
			if _, name := x.names[string(k)]; name && len(k) == len(w) {
				found = true // a name ties the record only as written: "Todos" is not "TODO"
				return
			}
			switch {
			case nfirst == 0:
				nfirst = copy(first[:], k)
			case string(first[:nfirst]) != string(k):
				found = true
			}
		})
	})
	return found
}

// eachAmount calls fn for each amount in s, normalised: a number with a
// decimal point or of at least three digits ("10.00", "2200", "19.5"),
// not part of a date, time, id or address (no '-', '/', ':' or letter next
// to it), with trailing decimal zeros dropped ("10.00" and "10.0" are
// "10"). A request naming an amount describes the record holding it.
func eachAmount(s string, fn func(a string)) {
	var buf [24]byte
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		j, dots := i, 0
		for j < len(s) && (isDigit(s[j]) || (s[j] == '.' && dots == 0 && j+1 < len(s) && isDigit(s[j+1]))) {
			if s[j] == '.' {
				dots++
			}
			j++
		}
		ok := j-i < len(buf) && (i == 0 || !isBoundTo(s[i-1])) && (j == len(s) || !isBoundTo(s[j]) || endsSentence(s, j))
		if ok {
			n := copy(buf[:], s[i:j])
			if dots == 1 {
				for n > 0 && buf[n-1] == '0' {
					n--
				}
				if n > 0 && buf[n-1] == '.' {
					n--
				}
			}
			if dots == 1 || n >= 3 {
				fn(string(buf[:n]))
			}
		}
		i = j
	}
}

// isBoundTo reports whether a number next to b is part of a larger token
// (a date, time, id or address).
// endsSentence reports whether s[j] is a full stop ending a sentence (a
// point followed by the end of the text or by a byte that cannot continue
// a token): "Amount 120." bills 120, "v1.2.3" is no amount.
func endsSentence(s string, j int) bool {
	return s[j] == '.' && (j+1 == len(s) || !isBoundTo(s[j+1]))
}

func isBoundTo(b byte) bool {
	return b == '-' || b == '/' || b == ':' || b == '@' || b == '_' || isAlpha(b) || isDigit(b) || b == '.'
}

// lookup finds w, or w without an inflection, among the request words; the
// stem returned (a prefix of w) is the stored word.
func (x *requestIndex) lookup(w []byte) ([]byte, bool) {
	if _, ok := x.words[string(w)]; ok {
		return w, true
	}
	for _, suf := range [...]string{"s", "es", "ed", "ing"} {
		if len(w) > len(suf)+3 && string(w[len(w)-len(suf):]) == suf {
			stem := w[:len(w)-len(suf)]
			if _, ok := x.words[string(stem)]; ok {
				return stem, true
			}
		}
	}
	return nil, false
}

// requestHasToOther reports whether verb w (or w+"s") occurs in req at word
// boundaries with an object other than the user: not followed by "me" or
// "us".
func requestHasToOther(req []byte, w string) bool {
	for _, form := range [...]string{w, w + "s"} {
		for off := 0; off < len(req); {
			i := bytes.Index(req[off:], []byte(form))
			if i < 0 {
				break
			}
			i += off
			off = i + 1
			j := i + len(form)
			if (i > 0 && isWordChar(req[i-1])) || (j < len(req) && isWordChar(req[j])) {
				continue
			}
			k := j
			for k < len(req) && req[k] == ' ' {
				k++
			}
			e := k
			for e < len(req) && isWordChar(req[e]) {
				e++
			}
			if next := string(req[k:e]); next != "me" && next != "us" {
				return true
			}
		}
	}
	return false
}
