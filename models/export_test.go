package models

// DecodeEventFast exposes the fast decoding path to the external tests.
var DecodeEventFast = decodeEventFast
