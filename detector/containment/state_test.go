package containment

import (
	"bytes"
	"testing"
)

func TestStateRoundTrip(t *testing.T) {
	p := New(DefaultOptions())
	*must(p.issued.Put("s2")), *must(p.issued.Put("s1")) = 3, 1
	*must(p.agents.Put("a")) = bucket{tokens: 1.5, last: 7}
	p.fleet = bucket{tokens: 4, last: 9}
	b, err := p.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"issued":[{"s":"s1","r":1},{"s":"s2","r":3}],"agents":[{"a":"a","t":1.5,"l":7}],"fleet":{"t":4,"l":9}}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	r := New(DefaultOptions())
	if err := r.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	if b2, _ := r.MarshalState(); !bytes.Equal(b, b2) {
		t.Fatalf("round trip differs: %s", b2)
	}
	for _, bad := range []string{``, `{"issued":[{"s":"a","r":9}]}`, `{"issued":[{"s":"a","r":1},{"s":"a","r":1}]}`,
		`{"issued":[],"held":{"start":1,"n":1,"agents":[],"sessions":[],"events":[],"strong":"review"}}`,
		`{"issued":[],"agents":[{"a":"x"},{"a":"x"}]}`} {
		if err := New(DefaultOptions()).UnmarshalState([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func must[V any](v *V, _ bool) *V { return v }
