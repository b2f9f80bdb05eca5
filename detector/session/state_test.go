package session

import (
	"bytes"
	"testing"

	"github.com/tetherhq/tether/models"
)

func TestStateRoundTrip(t *testing.T) {
	tr := New(DefaultOptions())
	for _, f := range []models.Finding{
		{Detector: "a", Kind: "x", Severity: 40, SessionID: "s1", ID: "f1", EvidenceIDs: []string{"e1"}},
		{Detector: "b", Kind: "y", Severity: 35, SessionID: "s1", ID: "f2", EvidenceIDs: []string{"e2", "e1"}},
		{Detector: "a", Kind: "x", Severity: 20, SessionID: "s2", ID: "f3"},
	} {
		tr.Fold(&f)
	}
	b, err := tr.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	r := New(DefaultOptions())
	if err := r.UnmarshalState(b); err != nil {
		t.Fatal(err)
	}
	b2, _ := r.MarshalState()
	if !bytes.Equal(b, b2) {
		t.Fatalf("round trip differs:\n%s\n%s", b, b2)
	}
	c1, ok1 := tr.Compound("s1")
	c2, ok2 := r.Compound("s1")
	if !ok1 || !ok2 || c1.Explanation != c2.Explanation || c1.Severity != c2.Severity {
		t.Fatalf("restored tracker compounds differently: %v %v", c1, c2)
	}
	o := DefaultOptions()
	o.MaxKinds = 2
	o.MinKinds = 2
	if err := New(o).UnmarshalState([]byte(`{"s":[{"id":"a","k":[{"d":"a"},{"d":"b"},{"d":"c"}]}]}`)); err == nil {
		t.Fatal("accepted more kinds than MaxKinds")
	}
	if err := New(o).UnmarshalState([]byte(`{"s":[{"id":"a"},{"id":"a"}]}`)); err == nil {
		t.Fatal("accepted duplicated sessions")
	}
}
