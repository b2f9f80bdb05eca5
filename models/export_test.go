package models

// DecodeEventFast exposes the fast decoding path to the external tests,
// interning through one table shared by every call (so the differential
// fuzz target also covers values found in the table).
func DecodeEventFast(b []byte, ev *Event) bool {
	ok, _ := decodeEventFast(b, ev, &testInterner, nil)
	return ok
}

var testInterner interner

// ScanRecord exposes the hostile-input scan to the external tests.
var ScanRecord = scanRecord
