package models

// Severities on the shared 0–100 scale: each Severity* but SeverityInfo is
// the floor of its Band; SeverityInfo is the usual severity of an
// informational finding.
const (
	SeverityInfo     = 10
	SeverityLow      = 30
	SeverityMedium   = 50
	SeverityHigh     = 70
	SeverityCritical = 90
)

// AlertThreshold is the single, documented severity at or above which a
// session counts as alerted (used by evaluation and the default containment
// policy): the floor of BandMedium. It is not tuned per dataset.
const AlertThreshold = SeverityMedium

// Band is a severity band. Every place that groups findings by severity
// (metrics, OCSF severity_id, the autonomy report, ClickHouse views, the
// console's colours) uses BandOf, so the bands are defined here once.
type Band uint8

// Bands, lowest first.
const (
	BandInfo     Band = iota // below SeverityLow
	BandLow                  // SeverityLow to SeverityMedium-1
	BandMedium               // SeverityMedium to SeverityHigh-1
	BandHigh                 // SeverityHigh to SeverityCritical-1
	BandCritical             // SeverityCritical and above
)

// Bands lists every band, lowest first.
var Bands = []Band{BandInfo, BandLow, BandMedium, BandHigh, BandCritical}

var (
	bandFloors = [...]uint8{0, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}
	bandNames  = [...]string{"info", "low", "medium", "high", "critical"}
)

// BandOf returns the band of severity sev.
func BandOf(sev uint8) Band {
	b := BandInfo
	for _, c := range Bands[1:] {
		if sev >= bandFloors[c] {
			b = c
		}
	}
	return b
}

// Floor returns the band's lowest severity.
func (b Band) Floor() uint8 { return bandFloors[b] }

// String returns the band's name: info, low, medium, high or critical
// (the label of the tether_findings_by_severity_total metric).
func (b Band) String() string { return bandNames[b] }
