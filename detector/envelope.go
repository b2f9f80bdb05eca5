package detector

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// envelope is the snapshot format's content: each detector's state keyed
// by detector name, the session compounder's state (nil: compounding
// disabled) and the containment policy's.
//
// Wire layout (StateVersion 3, integers big-endian): 'T' 'S' magic,
// version (1 byte), detector count (uint16), then per detector in name
// order: name length (1 byte), name, state length (uint32), state; then a
// session flag (1 byte: 0 absent, 1 present) and, when present, its length
// (uint32) and state; then the containment state's length (uint32) and
// state; nothing after. Version 1 was a JSON object with base64 values
// (a third larger and slower to decode); it is not read.
type envelope struct {
	Detectors   map[string][]byte
	Session     []byte
	Containment []byte
}

func (env *envelope) marshal() ([]byte, error) {
	names := make([]string, 0, len(env.Detectors))
	size := 3 + 2 + 1 + 4 + len(env.Session) + 4 + len(env.Containment)
	for name, s := range env.Detectors {
		if len(name) == 0 || len(name) > 255 {
			return nil, fmt.Errorf("%w: detector name %q (want 1..255 bytes)", ErrState, name)
		}
		names = append(names, name)
		size += 1 + len(name) + 4 + len(s)
	}
	if size > maxStateBytes {
		return nil, fmt.Errorf("%w: snapshot of %d bytes exceeds %d", ErrState, size, maxStateBytes)
	}
	sort.Strings(names)
	b := make([]byte, 0, size)
	b = append(b, 'T', 'S', StateVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(names)))
	for _, name := range names {
		b = append(b, byte(len(name)))
		b = append(b, name...)
		b = appendPart(b, env.Detectors[name])
	}
	if env.Session == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = appendPart(b, env.Session)
	}
	return appendPart(b, env.Containment), nil
}

func appendPart(b, part []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(part)))
	return append(b, part...)
}

// unmarshalEnvelope decodes b. The parts alias b (capacity-limited).
func unmarshalEnvelope(b []byte) (envelope, error) {
	var env envelope
	if len(b) > maxStateBytes {
		return env, fmt.Errorf("%w: snapshot of %d bytes exceeds %d", ErrState, len(b), maxStateBytes)
	}
	if len(b) < 5 || b[0] != 'T' || b[1] != 'S' {
		return env, fmt.Errorf("%w: not a snapshot (bad magic or %d bytes)", ErrState, len(b))
	}
	if b[2] != StateVersion {
		return env, fmt.Errorf("%w: version %d, want %d", ErrState, b[2], StateVersion)
	}
	n := int(binary.BigEndian.Uint16(b[3:5]))
	r := reader{b: b, off: 5}
	env.Detectors = make(map[string][]byte, n)
	for range n {
		l, ok := r.byte()
		name, ok2 := r.bytes(int(l))
		part, ok3 := r.part()
		if !ok || !ok2 || !ok3 {
			return env, fmt.Errorf("%w: truncated snapshot", ErrState)
		}
		if len(name) == 0 {
			return env, fmt.Errorf("%w: empty detector name", ErrState)
		}
		if _, dup := env.Detectors[string(name)]; dup {
			return env, fmt.Errorf("%w: detector %q twice", ErrState, name)
		}
		env.Detectors[string(name)] = part
	}
	flag, ok := r.byte()
	switch {
	case !ok:
		return env, fmt.Errorf("%w: truncated snapshot", ErrState)
	case flag == 1:
		if env.Session, ok = r.part(); !ok {
			return env, fmt.Errorf("%w: truncated snapshot", ErrState)
		}
	case flag != 0:
		return env, fmt.Errorf("%w: session flag %d", ErrState, flag)
	}
	if env.Containment, ok = r.part(); !ok {
		return env, fmt.Errorf("%w: truncated snapshot", ErrState)
	}
	if r.off != len(b) {
		return env, fmt.Errorf("%w: %d bytes after the snapshot", ErrState, len(b)-r.off)
	}
	return env, nil
}

// reader walks an envelope, never past its end.
type reader struct {
	b   []byte
	off int
}

func (r *reader) byte() (byte, bool) {
	if r.off >= len(r.b) {
		return 0, false
	}
	r.off++
	return r.b[r.off-1], true
}

func (r *reader) bytes(n int) ([]byte, bool) {
	if n < 0 || n > len(r.b)-r.off {
		return nil, false
	}
	r.off += n
	return r.b[r.off-n : r.off : r.off], true
}

func (r *reader) part() ([]byte, bool) {
	l, ok := r.bytes(4)
	if !ok {
		return nil, false
	}
	return r.bytes(int(binary.BigEndian.Uint32(l)))
}

// StateSizes returns the size in bytes of each part of a snapshot taken by
// Engine.Snapshot: every detector's state under its name, and the session
// compounder's and the containment policy's under "engine.session" and
// "engine.containment". It validates only the envelope.
func StateSizes(snapshot []byte) (map[string]int, error) {
	env, err := unmarshalEnvelope(snapshot)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(env.Detectors)+2)
	for name, s := range env.Detectors {
		out[name] = len(s)
	}
	out["engine.session"] = len(env.Session)
	out["engine.containment"] = len(env.Containment)
	return out, nil
}
