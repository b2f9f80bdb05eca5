package containment

import (
	"bytes"
	"testing"
)

func TestStateRoundTrip(t *testing.T) {
	p := New(DefaultOptions())
	p.issued["s2"], p.issued["s1"] = 3, 1
	b, err := p.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"issued":[{"s":"s1","r":1},{"s":"s2","r":3}]}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
	r := New(DefaultOptions())
	if err := r.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	if b2, _ := r.MarshalState(); !bytes.Equal(b, b2) {
		t.Fatalf("round trip differs: %s", b2)
	}
	for _, bad := range []string{``, `{"issued":[{"s":"a","r":9}]}`, `{"issued":[{"s":"a","r":1},{"s":"a","r":1}]}`} {
		if err := New(DefaultOptions()).UnmarshalState([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}
