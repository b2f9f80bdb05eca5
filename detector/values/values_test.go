package values

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestNearMask(t *testing.T) {
	// every byte value at every position of the word
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			x := uint64(c) << (8 * pos)
			for k := 0; k < 8; k++ {
				if k != pos {
					x |= uint64('a') << (8 * k) // a plain letter elsewhere
				}
			}
			want := uint64(0)
			if c >= 0x2E && c <= 0x40 {
				want = 0x80 << (8 * pos)
			}
			if got := nearMask(x); got != want {
				t.Fatalf("nearMask(byte %#x at %d) = %#x, want %#x", c, pos, got, want)
			}
			if byteClass[c]&bMark != 0 && want == 0 {
				t.Fatalf("mark %#x outside nearMask's range", c)
			}
		}
	}
}

func TestIndexClass(t *testing.T) {
	for _, s := range []string{"", "a", "plain words only here", "x.", strings.Repeat("word ", 40) + "a@b", "é€→ 0", strings.Repeat("ä", 17) + "/",
		"what? <a> b; c>d? e " + strings.Repeat("f", 30) + "=g", strings.Repeat("abc;<>?", 9) + "0", strings.Repeat("path ", 5) + `C:\x`} {
		for _, bit := range []uint16{bMark, bTrigger} {
			for i := 0; i <= len(s); i++ {
				want := -1
				for k := i; k < len(s); k++ {
					if byteClass[s[k]]&bit != 0 {
						want = k
						break
					}
				}
				if got := indexClass(s, i, bit); got != want {
					t.Fatalf("indexClass(%q, %d, %b) = %d, want %d", s, i, bit, got, want)
				}
			}
		}
	}
}

// extractEveryToken classifies every token between delimiters: what
// Extract does without skipping to the marks.
func extractEveryToken(s string, maxLen int, fn func(v string, c Class, at int)) {
	var arena []byte
	x := extractor{maxLen: maxLen, buf: &arena}
	for i := 0; i < len(s); {
		for i < len(s) && IsDelim(s[i]) {
			i++
		}
		j := i
		for j < len(s) && !IsDelim(s[j]) {
			j++
		}
		if j > i {
			x.classify(s[i:j], i, fn)
		}
		i = j
	}
}

// checkSkip: skipping tokens without a mark (and short ones) changes
// nothing Extract reports.
func checkSkip(t *testing.T, s string) {
	var got, want []string
	var arena []byte
	record := func(out *[]string) func(string, Class, int) {
		return func(v string, c Class, at int) { *out = append(*out, v+"|"+c.String()+"|"+strings.Repeat("+", at%7)) }
	}
	Extract(s, 96, &arena, record(&got))
	extractEveryToken(s, 96, record(&want))
	if !slices.Equal(got, want) {
		t.Fatalf("Extract(%q)\n got %q\nwant %q", s, got, want)
	}
}

func TestExtractSkip(t *testing.T) {
	for _, s := range []string{
		"mail bob@x.com https://a.b/c 1234567 GB29NWBK60161331926819",
		"Please transfer the money to account:CH9300762011623852957 before 2022-01-01, thanks!",
		"see www.example.com/alice or ftp://files.example.org/x.pdf; report.DOCX and notes.txt",
		"ÄÖÜ straße café naïve 🙂 words-with-hyphens under_scores ######## !!!!!!!",
		"key=value token:abcdef12 ref#AB12CD34 +41 44 668 18 00 (0044) 20-7946-0958",
	} {
		checkSkip(t, s)
	}
}

func FuzzExtractSkip(f *testing.F) {
	f.Add("mail bob@x.com https://a.b/c 1234567 GB29NWBK60161331926819")
	f.Add("www.a.example/alice key=value a:b@c.d 2022-01-01T10:00 ÄÖÜ.de")
	f.Fuzz(checkSkip)
}

func TestExtract(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"email", "Contact Bob.Smith@Example.COM today.", []string{"email:bob.smith@example.com@8"}},
		{"url and host", "see https://www.Evil-Site.com/pay?x=1.", []string{"url:evil-site.com/pay?x=1@4", "host:evil-site.com@4"}},
		{"iban as id", "IBAN: GB29NWBK60161331926819,", []string{"account/id:gb29nwbk60161331926819@6"}},
		{"phone digits", "call +1-555-123-4567", []string{"number:15551234567@5"}},
		{"file", "open reports/q1-summary.PDF", []string{"file:reports/q1-summary.pdf@5"}},
		{"prose", "The team met on Friday. Nothing else.", nil},
		{"dates amounts", "on 2024-05-13 pay 1500.00 or 05/13/2024", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			var arena []byte
			Extract(tt.in, 0, &arena, func(v string, c Class, at int) {
				got = append(got, c.String()+":"+v+"@"+strconv.Itoa(at))
			})
			if !slices.Equal(got, tt.want) {
				t.Errorf("Extract(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFields(t *testing.T) {
	tests := []struct {
		in   string
		want []Class
	}{
		{"emma.johnson@bluesparrowtech.com", []Class{Email}},
		{"https://example.com/x", []Class{URL}},
		{"www.example.com", []Class{URL}},
		{"secure-payments.net", []Class{Host}},
		{"report.pdf", nil},
		{"a..example.com", nil},
		{"GB29NWBK60161331926819", []Class{IBAN}},
		{"gb29nwbk60161331926819", nil},
		{"1234567890", []Class{Account}},
		{"+1-555-123-4567", []Class{Phone}},
		{"$1,250.00", []Class{Money}},
		{"1,250.00", []Class{Money}},
		{"2024-05-13 10:30", []Class{Date}},
		{"13/05/2024", []Class{Date}},
		{"/etc/passwd", []Class{Path}},
		{"Pay 1,250.00 to GB29NWBK60161331926819 today", []Class{IBAN, Money}},
		{"The quarterly review moved to next week, and the team asked about it.", []Class{Prose}},
		{"short line of words", nil},
	}
	for _, tt := range tests {
		var want Set
		for _, c := range tt.want {
			want |= Of(c)
		}
		if got := Fields(tt.in); got != want {
			t.Errorf("Fields(%q) = %b, want %b %v", tt.in, got, want, tt.want)
		}
	}
}

func TestIsIBAN(t *testing.T) {
	for v, want := range map[string]bool{
		"GB29NWBK60161331926819": true, "gb29nwbk60161331926819": true, "CH9300762011623852957": true,
		"GB29NWBK6016": false, "G129NWBK60161331926819": false, "GB2XNWBK60161331926819": false,
		"GB29NWBK6016133192681-": false,
	} {
		if got := IsIBAN(v); got != want {
			t.Errorf("IsIBAN(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestIsHost(t *testing.T) {
	for v, want := range map[string]bool{
		"example.com": true, "a-b.c-d.org": true, "x.io": true, "a..com": false, ".example.com": false,
		"example.c0m": false, "example": false, "1.2.3.4": false, "exa_mple.com": false,
	} {
		if got := IsHost(v); got != want {
			t.Errorf("IsHost(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestHostOf: the host of a URL as Extract normalises it, without path,
// query, fragment, user info and port.
func TestHostOf(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"example.com", "example.com"},
		{"example.com/a/b?q=1", "example.com"},
		{"user:pw@example.com:8443/x", "example.com"},
		{"example.com#frag", "example.com"},
		{"10.0.0.1:22", "10.0.0.1"},
	} {
		if got := HostOf(tc.in); got != tc.want {
			t.Errorf("HostOf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
