package models

// DecodeEventFast exposes the fast decoding path to the external tests.
var DecodeEventFast = decodeEventFast

// ScanRecord exposes the hostile-input scan to the external tests.
var ScanRecord = scanRecord
