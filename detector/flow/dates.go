package flow

// Calendar dates of a request and of a call's arguments: an action the
// user asks for ("make a reservation from January 11th to January 15th")
// done on days the request does not name (the days a review gives) is not
// the action asked for. unrequested_action uses it (judge.go).

// monthNames maps the lower-cased English month names and their
// three-letter forms to month numbers.
var monthNames = map[string]int{
	"january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6,
	"july": 7, "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
	"jan": 1, "feb": 2, "mar": 3, "apr": 4, "jun": 6, "jul": 7, "aug": 8,
	"sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}

// dayMonth is a calendar day without its year: users often leave the year
// out, and the agent fills it in.
type dayMonth struct{ month, day int }

// requestDays is what a request says about calendar days: per month it
// names next to a day number, the day numbers named with it (within three
// words; an ordinal with no month that near — "from the 13th to the 17th
// of May" — counts for every month the request names), and the days of ISO
// dates it writes. named: it names any day at all.
type requestDays struct {
	months [13]uint32 // per month, bit d: day d named with it
	loose  uint32     // ordinals named with no month near
	exact  []dayMonth
	named  bool
}

// has reports whether the request names the day: an ISO date it writes,
// or a day of a month it names within the span of the days named with that
// month ("from the 1st of January to the 5th of January" covers January
// 3rd: a stay split inside the user's range).
func (r *requestDays) has(dm dayMonth) bool {
	for _, e := range r.exact {
		if e == dm {
			return true
		}
	}
	m := r.months[dm.month]
	if m == 0 {
		return false
	}
	m |= r.loose
	lo, hi := 0, 31
	for lo < 32 && m&(1<<lo) == 0 {
		lo++
	}
	for hi > 0 && m&(1<<hi) == 0 {
		hi--
	}
	return dm.day >= lo && dm.day <= hi
}

// scanRequestDays reads the calendar days of a lower-cased request.
func scanRequestDays(req []byte) requestDays {
	var r requestDays
	type tok struct {
		month, day int // month name; day number (1–31, plain or ordinal)
		ordinal    bool
	}
	var toks []tok
	for i := 0; i < len(req); {
		if dm, n, ok := isoDate(req[i:]); ok && (i == 0 || !isWordChar(req[i-1])) {
			r.exact = append(r.exact, dm)
			r.named = true
			i += n
			continue
		}
		if !isWordChar(req[i]) {
			i++
			continue
		}
		j := i
		for j < len(req) && isWordChar(req[j]) {
			j++
		}
		w := string(req[i:j])
		i = j
		var t tok
		if m, ok := monthNames[w]; ok {
			t.month = m
		} else if d, ord := dayNumber(w); d > 0 {
			t.day, t.ordinal = d, ord
		}
		toks = append(toks, t)
	}
	// a month and a day number within three words of each other
	paired := make([]bool, len(toks))
	for i, t := range toks {
		if t.month == 0 {
			continue
		}
		for j := max(0, i-3); j < min(len(toks), i+4); j++ {
			if toks[j].day > 0 {
				r.months[t.month] |= 1 << toks[j].day
				paired[j] = true
				r.named = true
			}
		}
	}
	for i, t := range toks {
		if t.ordinal && !paired[i] {
			r.loose |= 1 << t.day
		}
	}
	return r
}

// dayNumber parses a day of the month, plain ("5") or ordinal ("5th",
// "21st"): 0 when w is neither.
func dayNumber(w string) (day int, ordinal bool) {
	n, k := 0, 0
	for k < len(w) && w[k] >= '0' && w[k] <= '9' && k < 2 {
		n = n*10 + int(w[k]-'0')
		k++
	}
	if k == 0 || n < 1 || n > 31 {
		return 0, false
	}
	switch w[k:] {
	case "":
		return n, false
	case "st", "nd", "rd", "th":
		return n, true
	}
	return 0, false
}

// isoDate parses a leading yyyy-mm-dd date of b and its length.
func isoDate(b []byte) (dayMonth, int, bool) {
	if len(b) < 10 || b[4] != '-' || b[7] != '-' {
		return dayMonth{}, 0, false
	}
	for _, k := range [...]int{0, 1, 2, 3, 5, 6, 8, 9} {
		if b[k] < '0' || b[k] > '9' {
			return dayMonth{}, 0, false
		}
	}
	if len(b) > 10 && b[10] >= '0' && b[10] <= '9' {
		return dayMonth{}, 0, false
	}
	m := int(b[5]-'0')*10 + int(b[6]-'0')
	d := int(b[8]-'0')*10 + int(b[9]-'0')
	if m < 1 || m > 12 || d < 1 || d > 31 {
		return dayMonth{}, 0, false
	}
	return dayMonth{m, d}, 10, true
}

// foreignDay returns the path of the first argument that opens with an
// ISO date the request does not name, when the request names some day;
// "" otherwise.
func foreignDay(req []byte, leaves []leaf) string {
	var r requestDays
	scanned := false
	for _, l := range leaves {
		dm, _, ok := isoDate([]byte(l.text))
		if !ok {
			continue
		}
		if !scanned {
			r, scanned = scanRequestDays(req), true
			if !r.named {
				return ""
			}
		}
		if !r.has(dm) {
			return l.path
		}
	}
	return ""
}
