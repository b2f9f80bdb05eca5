package flow

import (
	"slices"
	"strings"
	"testing"
)

type got struct {
	v string
	c Class
}

func extractAll(s string) []got {
	var out []got
	Extract(s, 96, func(v string, c Class) { out = append(out, got{v, c}) })
	return out
}

func TestExtract(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []got
	}{
		{"email", "Contact Bob.Smith@Example.COM today.", []got{{"bob.smith@example.com", ClassEmail}}},
		{"mailto", "<mailto:ops@corp.io>", []got{{"ops@corp.io", ClassEmail}}},
		{"url with host", "see https://www.Evil-Site.com/pay?x=1.", []got{{"evil-site.com/pay?x=1", ClassURL}, {"evil-site.com", ClassHost}}},
		{"bare host", "visit secure-payments.net now", []got{{"secure-payments.net", ClassHost}}},
		{"iban", "IBAN: GB29NWBK60161331926819,", []got{{"gb29nwbk60161331926819", ClassID}}},
		{"yaml key value", "recipient:DE89370400440532013000", []got{{"de89370400440532013000", ClassID}}},
		{"phone", "call +1-555-123-4567", []got{{"15551234567", ClassNumber}}},
		{"account number", "acct 1234567890", []got{{"1234567890", ClassNumber}}},
		{"file", "open reports/q1-summary.PDF", []got{{"reports/q1-summary.pdf", ClassFile}}},
		{"file name", "attached budget_2024.xlsx", []got{{"budget_2024.xlsx", ClassFile}}},
		{"record id", "ticket INC0012345 opened", []got{{"inc0012345", ClassID}}},
		{"ignored words and short tokens", "Please send the summary to the team ASAP ok", nil},
		{"ignored dates times amounts", "on 2024-05-13 at 10:30:00, 2024-05-13T10:30 pay 1500.00 or 05/13/2024", nil},
		{"short number", "room 12345", nil},
		{"markdown link", "[click](http://x-y.org/a)", []got{{"x-y.org/a", ClassURL}, {"x-y.org", ClassHost}}},
		{"non ascii word", "Größenordnung123", nil},
		{"escaped line breaks", `professionals.\n\nlily.white@mail.example\nmark.black-2134@mail.example\n\tUS133000000121212121212`,
			[]got{{"lily.white@mail.example", ClassEmail}, {"mark.black-2134@mail.example", ClassEmail}, {"us133000000121212121212", ClassID}}},
		{"escaped backslash before a letter", `C:\\data\\report2024.txt`, []got{{"report2024.txt", ClassFile}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if g := extractAll(tt.in); !slices.Equal(g, tt.want) {
				t.Errorf("Extract(%q) = %v, want %v", tt.in, g, tt.want)
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
		c    Class
		want string
	}{
		{"attacker@evil.com", ClassEmail, "att…om"},
		{"gb29nwbk60161331926819", ClassID, "gb2…19"},
		{"123456", ClassNumber, "******"},
		{"evil.com", ClassHost, "evil.com"},
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
		Extract(s, 96, func(v string, c Class) {
			if len(v) < MinValueLen || len(v) > 96 || c == 0 {
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
		Extract(tt.in, 0, func(v string, c Class) { got = append(got, c.String()+":"+v) })
		if !slices.Equal(got, tt.want) {
			t.Errorf("Extract(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
