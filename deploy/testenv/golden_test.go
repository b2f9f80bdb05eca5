package testenv

import "testing"

func TestLineDiff(t *testing.T) {
	tests := []struct{ want, got, diff string }{
		{"a\nb\n", "a\nb\n", ""},
		{"a\nb", "a\nc", "- b\n+ c\n"},
		{"x\nx\ny", "x\ny", "- x\n"},
		{"a", "a\nb\nb", "+ b\n+ b\n"},
	}
	for _, tt := range tests {
		if got := LineDiff(tt.want, tt.got); got != tt.diff {
			t.Errorf("LineDiff(%q, %q) = %q, want %q", tt.want, tt.got, got, tt.diff)
		}
	}
}
