package semantic

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tetherhq/tether/models"
)

func TestCosine(t *testing.T) {
	tests := []struct {
		name     string
		a, b     string
		min, max float64
	}{
		{"identical", "pay the March rent to the landlord account", "pay the March rent to the landlord account", 0.999, 1},
		{"inflections", "paying rents to landlords", "pay rent landlord", 0.999, 1},
		{"unrelated", "schedule quarterly dentist appointment tomorrow morning", "transfer cryptocurrency wallet balance overseas", 0, 0.02},
		{"partial overlap", "book a hotel in Paris for two nights", "find restaurants in Paris near the hotel", 0.2, 0.9},
		{"empty", "", "anything at all here", 0, 0},
		{"only stop words", "the and for with", "the and for with", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z := NewVectoriser(12, 256, 1<<20)
			a := z.Vectorise(nil, tt.a, true)
			b := z.Vectorise(nil, tt.b, true)
			if c := z.Cosine(a, b); c < tt.min || c > tt.max || math.IsNaN(c) {
				t.Errorf("cosine = %.4f, want in [%.3f, %.3f]", c, tt.min, tt.max)
			}
		})
	}
}

func TestIDFDownWeightsFrequentTerms(t *testing.T) {
	z := NewVectoriser(12, 256, 1<<20)
	for range 50 {
		z.Vectorise(nil, "invoice report", true)
	}
	z.Vectorise(nil, "zanzibar", true)
	bucket := func(w string) uint32 { return z.Vectorise(nil, w, false)[0].Bucket }
	common, rare := z.IDF(bucket("invoice")), z.IDF(bucket("zanzibar"))
	if !(common < rare) {
		t.Fatalf("IDF(common)=%.3f, IDF(rare)=%.3f: want common < rare", common, rare)
	}
	// A shared frequent term counts for less than a shared rare one.
	q := z.Vectorise(nil, "invoice zanzibar", false)
	withCommon := z.Cosine(q, z.Vectorise(nil, "invoice", false))
	withRare := z.Cosine(q, z.Vectorise(nil, "zanzibar", false))
	if !(withCommon < withRare) {
		t.Errorf("cosine sharing common term %.3f, rare term %.3f: want common < rare", withCommon, withRare)
	}
}

func TestVectoriserBounded(t *testing.T) {
	z := NewVectoriser(12, 8, 16)
	v := z.Vectorise(nil, "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima", true)
	if len(v) > 8 {
		t.Errorf("kept %d terms, want ≤ 8", len(v))
	}
	for range 100 {
		z.Vectorise(nil, "alpha", true)
	}
	if z.Docs() > 16 {
		t.Errorf("docs = %d, want ≤ 16 (halving)", z.Docs())
	}
}

func TestTokens(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Send the E-mail to Bob's ADDRESS!", []string{"send", "mail", "bob", "address"}},
		{"paying invoices; deleted files", []string{"pay", "invoic", "delet", "fil"}},
		{"companies policies", []string{"company", "policy"}},
		{"a an of to 12", nil},
		{"delete deletes deleted deleting", []string{"delet", "delet", "delet", "delet"}},
		{"boxes addresses these", []string{"box", "address"}},
	}
	for _, tt := range tests {
		var got []string
		forEachToken(tt.in, func(b []byte) { got = append(got, string(b)) })
		if len(got) != len(tt.want) {
			t.Errorf("%q: got %v, want %v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%q: got %v, want %v", tt.in, got, tt.want)
				break
			}
		}
	}
}

func TestPurposeCalls(t *testing.T) {
	tests := []struct {
		purpose           string
		sink, destructive bool
	}{
		{"Answers questions about the product documentation.", false, false},
		{"Reads the inbox and sends replies on the user's request.", true, false},
		{"Pays supplier invoices.", true, true},
		{"Deletes stale build artefacts.", false, true},
		{"Summarises calendar events and files.", false, false},
		{"Messages colleagues and posts announcements.", true, false},
		{"", false, false},
	}
	for _, tt := range tests {
		sink, destr := PurposeCalls(tt.purpose)
		if sink != tt.sink || destr != tt.destructive {
			t.Errorf("%q: sink=%v destructive=%v, want %v %v", tt.purpose, sink, destr, tt.sink, tt.destructive)
		}
	}
	_ = models.LabelPublicSink
}

func TestAppendStringValues(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"to":"bob@example.com","body":"hello there"}`, "bob@example.com hello there "},
		{`{"n":3,"list":["a","b"],"nested":{"k":"v"}}`, "a b v "},
		{`{"s":"line\nbreak \u00e9x"}`, "line break  x "},
		{`{"x":`, ""},
		{``, ""},
	}
	for _, tt := range tests {
		if got := string(appendStringValues(nil, []byte(tt.in), 0)); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestSortTermsAndLogTF: the short-vector sort and the ln(tf) table give
// what slices.SortFunc and math.Log give.
func TestSortTermsAndLogTF(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 5, 31, 32, 33, 200} {
		v := make(Vector, n)
		perm := rng.Perm(4 * n)
		for i := range v {
			v[i] = Term{Bucket: uint32(perm[i]), TF: float32(rng.IntN(90) + 1)}
		}
		want := slices.Clone(v)
		slices.SortFunc(want, func(a, b Term) int { return int(a.Bucket) - int(b.Bucket) })
		sortTerms(v)
		if !slices.Equal(v, want) {
			t.Errorf("n=%d: sortTerms gave %v, want %v", n, v, want)
		}
		for _, term := range v {
			if got, want := logTF(term.TF), math.Log(float64(term.TF)); got != want {
				t.Errorf("logTF(%v) = %v, want %v", term.TF, got, want)
			}
		}
	}
}
