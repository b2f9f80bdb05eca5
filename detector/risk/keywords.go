package risk

import "bytes"

// keywordIndex finds which of a set of lower-case keywords occur in a text
// in one pass over the text: a 3-byte-prefix table, guarded by a small
// bit filter, proposes candidates that are then compared. It is the
// prefilter gitleaks applies before its regular expressions, and the one
// every pattern set of this package uses.
type keywordIndex struct {
	kw       []string
	targets  [][]int          // targets of kw[i] (rules or patterns)
	byPrefix map[uint32][]int // first 3 bytes of a keyword -> kw indexes
	bloom    [1 << 10]uint64  // 16-bit hash of the 3-byte prefixes
	short    []int            // keywords shorter than 3 bytes
	index    map[string]int
}

func newKeywordIndex() *keywordIndex {
	return &keywordIndex{byPrefix: map[uint32][]int{}, index: map[string]int{}}
}

// add registers keyword k (lower case) for target t.
func (x *keywordIndex) add(k string, t int) {
	ki, ok := x.index[k]
	if !ok {
		ki = len(x.kw)
		x.index[k] = ki
		x.kw = append(x.kw, k)
		x.targets = append(x.targets, nil)
		if len(k) < 3 {
			x.short = append(x.short, ki)
		} else {
			p := prefix3(k[0], k[1], k[2])
			x.byPrefix[p] = append(x.byPrefix[p], ki)
			h := bloomHash(p)
			x.bloom[h>>6] |= 1 << (h & 63)
		}
	}
	x.targets[ki] = append(x.targets[ki], t)
}

// each calls f with the targets of every keyword occurring in lower (a
// target may be reported more than once).
func (x *keywordIndex) each(lower []byte, f func(targets []int)) {
	for i := 0; i+3 <= len(lower); i++ {
		p := prefix3(lower[i], lower[i+1], lower[i+2])
		h := bloomHash(p)
		if x.bloom[h>>6]&(1<<(h&63)) == 0 {
			continue
		}
		for _, ki := range x.byPrefix[p] {
			if k := x.kw[ki]; len(lower)-i >= len(k) && string(lower[i:i+len(k)]) == k {
				f(x.targets[ki])
			}
		}
	}
	for _, ki := range x.short {
		if bytes.Contains(lower, []byte(x.kw[ki])) {
			f(x.targets[ki])
		}
	}
}

func prefix3(a, b, c byte) uint32 { return uint32(a) | uint32(b)<<8 | uint32(c)<<16 }

func bloomHash(p uint32) uint32 { return (p * 2654435761) >> 16 }
