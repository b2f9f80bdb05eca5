package models

import "testing"

func TestBandOf(t *testing.T) {
	tests := []struct {
		sev  uint8
		want Band
	}{
		{0, BandInfo}, {SeverityInfo, BandInfo}, {29, BandInfo},
		{30, BandLow}, {49, BandLow},
		{50, BandMedium}, {AlertThreshold, BandMedium}, {69, BandMedium},
		{70, BandHigh}, {89, BandHigh},
		{90, BandCritical}, {100, BandCritical}, {255, BandCritical},
	}
	for _, tt := range tests {
		if got := BandOf(tt.sev); got != tt.want {
			t.Errorf("BandOf(%d) = %s, want %s", tt.sev, got, tt.want)
		}
	}
}

// TestBandFloors checks that each band starts at its floor and that the
// floors rise, so BandOf(b.Floor()) == b for every band.
func TestBandFloors(t *testing.T) {
	for i, b := range Bands {
		if BandOf(b.Floor()) != b {
			t.Errorf("BandOf(%s.Floor() = %d) = %s", b, b.Floor(), BandOf(b.Floor()))
		}
		if i > 0 && b.Floor() <= Bands[i-1].Floor() {
			t.Errorf("%s floor %d not above %s's %d", b, b.Floor(), Bands[i-1], Bands[i-1].Floor())
		}
	}
}

// TestBandNames pins the names: they are metric labels and CSS classes.
func TestBandNames(t *testing.T) {
	want := []string{"info", "low", "medium", "high", "critical"}
	if len(Bands) != len(want) {
		t.Fatalf("%d bands, want %d", len(Bands), len(want))
	}
	for i, b := range Bands {
		if b.String() != want[i] {
			t.Errorf("band %d is %q, want %q", i, b, want[i])
		}
	}
}
