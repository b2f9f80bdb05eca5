package models

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestUTCTimeMatchesUnmarshalJSON: the fast timestamp form gives exactly
// what time.Time.UnmarshalJSON gives, and declines what it would refuse.
func TestUTCTimeMatchesUnmarshalJSON(t *testing.T) {
	cases := []string{
		`"2026-03-02T00:00:00Z"`, `"2026-03-02T23:59:59.123456789Z"`, `"2026-03-02T23:59:59.5Z"`,
		`"2024-02-29T12:00:00Z"`, `"2023-02-29T12:00:00Z"`, `"1900-02-29T00:00:00Z"`, `"2000-02-29T00:00:00Z"`,
		`"2026-04-31T00:00:00Z"`, `"2026-13-01T00:00:00Z"`, `"2026-00-01T00:00:00Z"`, `"2026-01-00T00:00:00Z"`,
		`"2026-01-01T24:00:00Z"`, `"2026-01-01T23:60:00Z"`, `"2026-12-31T23:59:60Z"`, `"0000-01-01T00:00:00Z"`,
		`"9999-12-31T23:59:59.999999999Z"`, `"2026-03-02T00:00:00.1234567890Z"`, `"2026-03-02T00:00:00.Z"`,
		`"2026-03-02t00:00:00Z"`, `"2026-03-02T00:00:00z"`, `"2026-03-02T00:00:00+01:00"`, `"2026-03-02 00:00:00Z"`,
		`"2026-3-02T00:00:00Z"`, `"2026-03-02T00:00:00,5Z"`, `"+026-03-02T00:00:00Z"`, `"2026-03-02T0a:00:00Z"`,
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 { // mutations of valid stamps: digits, separators, lengths
		b := []byte(cases[rng.IntN(3)])
		for range 1 + rng.IntN(2) {
			k := 1 + rng.IntN(len(b)-2)
			b[k] = "0123456789-:.TZ9"[rng.IntN(16)]
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		var want time.Time
		werr := want.UnmarshalJSON([]byte(c))
		got, ok := utcTime([]byte(c))
		if !ok {
			continue // declined: UnmarshalJSON decides
		}
		if werr != nil {
			t.Errorf("%s: accepted, UnmarshalJSON refuses it: %v", c, werr)
			continue
		}
		if got != want || got.Location() != want.Location() {
			t.Errorf("%s: got %v (%v), UnmarshalJSON %v (%v)", c, got, got.Location(), want, want.Location())
		}
	}
	for _, c := range cases[:2] {
		if _, ok := utcTime([]byte(c)); !ok {
			t.Errorf("%s: declined, want the fast form", c)
		}
	}
}
