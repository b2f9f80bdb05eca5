package flow

import (
	"slices"
	"strings"
	"testing"

	"github.com/tetherhq/tether/detector/values"
)

// extract runs the detector's extractor (values.Extract with a fresh arena)
// over s.
func extract(s string, maxLen int, fn func(v string, c values.Class)) {
	x := extractor{maxLen: maxLen}
	x.run(s, func(v string, c values.Class, _ int) { fn(v, c) })
}

type got struct {
	v string
	c values.Class
}

func extractAll(s string) []got {
	var out []got
	extract(s, 96, func(v string, c values.Class) { out = append(out, got{v, c}) })
	return out
}

func TestExtract(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []got
	}{
		{"email", "Contact Bob.Smith@Example.COM today.", []got{{"bob.smith@example.com", values.Email}}},
		{"mailto", "<mailto:ops@corp.io>", []got{{"ops@corp.io", values.Email}}},
		{"url with host", "see https://www.Evil-Site.com/pay?x=1.", []got{{"evil-site.com/pay?x=1", values.URL}, {"evil-site.com", values.Host}}},
		{"bare host", "visit secure-payments.net now", []got{{"secure-payments.net", values.Host}}},
		{"iban", "IBAN: GB29NWBK60161331926819,", []got{{"gb29nwbk60161331926819", values.ID}}},
		{"yaml key value", "recipient:DE89370400440532013000", []got{{"de89370400440532013000", values.ID}}},
		{"phone", "call +1-555-123-4567", []got{{"15551234567", values.Number}}},
		{"account number", "acct 1234567890", []got{{"1234567890", values.Number}}},
		{"file", "open reports/q1-summary.PDF", []got{{"reports/q1-summary.pdf", values.File}}},
		{"file name", "attached budget_2024.xlsx", []got{{"budget_2024.xlsx", values.File}}},
		{"record id", "ticket INC0012345 opened", []got{{"inc0012345", values.ID}}},
		{"ignored words and short tokens", "Please send the summary to the team ASAP ok", nil},
		{"ignored dates times amounts", "on 2024-05-13 at 10:30:00, 2024-05-13T10:30 pay 1500.00 or 05/13/2024", nil},
		{"short number", "room 12345", nil},
		{"markdown link", "[click](http://x-y.org/a)", []got{{"x-y.org/a", values.URL}, {"x-y.org", values.Host}}},
		{"non ascii word", "Größenordnung123", nil},
		{"escaped line breaks", `professionals.\n\nlily.white@mail.example\nmark.black-2134@mail.example\n\tUS133000000121212121212`,
			[]got{{"lily.white@mail.example", values.Email}, {"mark.black-2134@mail.example", values.Email}, {"us133000000121212121212", values.ID}}},
		{"escaped backslash before a letter", `C:\\data\\report2024.txt`, []got{{"report2024.txt", values.File}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if g := extractAll(tt.in); !slices.Equal(g, tt.want) {
				t.Errorf("extract(%q) = %v, want %v", tt.in, g, tt.want)
			}
		})
	}
}

func TestExtractMaxLen(t *testing.T) {
	long := "a1" + strings.Repeat("b", 200)
	if g := extractAll(long); len(g) != 0 {
		t.Errorf("over-long token extracted: %v", g)
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		v    string
		c    values.Class
		want string
	}{
		{"attacker@evil.com", values.Email, "att…om"},
		{"gb29nwbk60161331926819", values.ID, "gb2…19"},
		{"123456", values.Number, "******"},
		{"evil.com", values.Host, "evil.com"},
	}
	for _, tt := range tests {
		if g := Redact(tt.v, tt.c); g != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.v, g, tt.want)
		}
	}
}

func FuzzExtract(f *testing.F) {
	f.Add("mail bob@x.com https://a.b/c 1234567 GB29NWBK60161331926819")
	f.Fuzz(func(t *testing.T, s string) {
		extract(s, 96, func(v string, c values.Class) {
			if len(v) < values.MinValueLen || len(v) > 96 || c == 0 {
				t.Fatalf("bad value %q class %d", v, c)
			}
		})
	})
}

func TestExtractSchemelessLink(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"my TODO list at www.company-todo.example/alice!", []string{"url:company-todo.example/alice", "host:company-todo.example"}},
		{"see https://www.company-todo.example/alice", []string{"url:company-todo.example/alice", "host:company-todo.example"}},
		{"the file reports/q1.pdf", []string{"file:reports/q1.pdf"}},
		{"a path a/b/c", nil},
	}
	for _, tt := range tests {
		var got []string
		extract(tt.in, 0, func(v string, c values.Class) { got = append(got, c.String()+":"+v) })
		if !slices.Equal(got, tt.want) {
			t.Errorf("extract(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
