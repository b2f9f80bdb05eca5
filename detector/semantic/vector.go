package semantic

import (
	"math"
	"slices"
)

// Term is one hashed feature of a text: its bucket and term frequency.
type Term struct {
	Bucket uint32
	TF     float32
}

// Vector is a sparse hashed term-frequency vector, sorted by bucket. IDF
// weights are applied at comparison time (Vectoriser.Cosine), so a stored
// vector stays valid while document frequencies keep being learned.
type Vector []Term

// Tokens is the number of tokens that went into v (the sum of its TFs).
func (v Vector) Tokens() int {
	n := float32(0)
	for _, t := range v {
		n += t.TF
	}
	return int(n)
}

// Vectoriser hashes text into Dims buckets and learns inverse document
// frequencies online over the texts it is given. Memory is fixed: 10 bytes
// per bucket (40 KiB at the default 2^12 dims).
type Vectoriser struct {
	mask    uint32
	df      []uint32 // documents containing each bucket
	docs    uint32   // documents seen
	maxDocs uint32   // when reached, df and docs are halved (recency)
	maxTerm int      // distinct buckets kept per vector
	// Per-bucket position in the vector being built, valid when the
	// bucket's stamp is the current one: O(1) per token without a map.
	stamp []uint32
	pos   []uint16
	gen   uint32
	// IDF weights computed since df or docs last changed, valid when the
	// bucket's idfVer is ver: one logarithm per bucket per event however
	// many vectors it is compared in.
	idf    []float64
	idfVer []uint32
	ver    uint32
}

// NewVectoriser returns a Vectoriser of 2^bits buckets that keeps at most
// maxTerms distinct buckets per vector and halves its document frequencies
// every maxDocs documents.
func NewVectoriser(bits, maxTerms int, maxDocs uint32) *Vectoriser {
	bits = min(max(bits, 4), 20)
	return &Vectoriser{
		mask:    uint32(1)<<bits - 1,
		df:      make([]uint32, 1<<bits),
		maxDocs: max(maxDocs, 16),
		maxTerm: min(max(maxTerms, 8), math.MaxUint16),
		stamp:   make([]uint32, 1<<bits),
		pos:     make([]uint16, 1<<bits),
		idf:     make([]float64, 1<<bits),
		idfVer:  make([]uint32, 1<<bits),
		ver:     1,
	}
}

// changed invalidates the cached IDF weights: call it whenever df or docs
// change.
func (z *Vectoriser) changed() {
	z.ver++
	if z.ver == 0 { // wrapped: forget every cached weight
		clear(z.idfVer)
		z.ver = 1
	}
}

// Docs is the number of documents the IDF weights are learned from.
func (z *Vectoriser) Docs() uint32 { return z.docs }

// Vectorise turns text into a sparse TF vector, appending to dst[:0]. When
// learn is true the text counts as one document for the IDF weights. Cost
// is O(len(text)); at most maxTerms buckets are kept (the first seen).
func (z *Vectoriser) Vectorise(dst Vector, text string, learn bool) Vector {
	z.gen++
	if z.gen == 0 { // wrapped: forget every stamp
		clear(z.stamp)
		z.gen = 1
	}
	dst = dst[:0]
	tk := tokenizer{text: text}
	for tok := tk.next(); tok != nil; tok = tk.next() {
		b := hash(tok) & z.mask
		if z.stamp[b] == z.gen {
			dst[z.pos[b]].TF++
		} else if len(dst) < z.maxTerm {
			z.stamp[b], z.pos[b] = z.gen, uint16(len(dst))
			dst = append(dst, Term{Bucket: b, TF: 1})
		}
	}
	sortTerms(dst)
	if learn && len(dst) > 0 {
		z.learn(dst)
	}
	return dst
}

// sortTerms sorts v by bucket (buckets are distinct): insertion sort for
// the short vectors most texts give, pdqsort for long ones.
func sortTerms(v Vector) {
	if len(v) > 32 {
		slices.SortFunc(v, func(a, b Term) int { return int(a.Bucket) - int(b.Bucket) })
		return
	}
	for i := 1; i < len(v); i++ {
		t := v[i]
		j := i
		for ; j > 0 && v[j-1].Bucket > t.Bucket; j-- {
			v[j] = v[j-1]
		}
		v[j] = t
	}
}

// Learn counts v as one more document for the IDF weights.
func (z *Vectoriser) learn(v Vector) {
	if z.docs >= z.maxDocs {
		for i := range z.df {
			z.df[i] /= 2
		}
		z.docs /= 2
	}
	z.docs++
	for _, t := range v {
		z.df[t.Bucket]++
	}
	z.changed()
}

// restore replaces the document frequencies (a state restore).
func (z *Vectoriser) restore(df []uint32, docs uint32) {
	copy(z.df, df)
	z.docs = docs
	z.changed()
}

// IDF is the smoothed inverse document frequency of a bucket,
// ln((1+N)/(1+df)) + 1: 1 for a bucket in every document, larger for rare ones.
func (z *Vectoriser) IDF(bucket uint32) float64 {
	b := bucket & z.mask
	if z.idfVer[b] == z.ver {
		return z.idf[b]
	}
	w := math.Log(float64(1+z.docs)/float64(1+z.df[b])) + 1
	z.idf[b], z.idfVer[b] = w, z.ver
	return w
}

// Cosine is the cosine similarity of a and b under the current TF-IDF
// weights (sublinear TF: 1+ln tf), in [0, 1]; 0 when either is empty.
// Cost is O(len(a)+len(b)).
func (z *Vectoriser) Cosine(a, b Vector) float64 {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	var dot, na, nb float64
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j >= len(b) || (i < len(a) && a[i].Bucket < b[j].Bucket):
			w := z.weight(a[i])
			na += w * w
			i++
		case i >= len(a) || b[j].Bucket < a[i].Bucket:
			w := z.weight(b[j])
			nb += w * w
			j++
		default:
			wa, wb := z.weight(a[i]), z.weight(b[j])
			dot += wa * wb
			na += wa * wa
			nb += wb * wb
			i++
			j++
		}
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return min(dot/math.Sqrt(na*nb), 1)
}

func (z *Vectoriser) weight(t Term) float64 {
	return (1 + logTF(t.TF)) * z.IDF(t.Bucket)
}

// logTFs holds ln(tf) for the small term frequencies most terms have.
var logTFs = func() (t [64]float64) {
	for i := 1; i < len(t); i++ {
		t[i] = math.Log(float64(i))
	}
	return t
}()

// logTF is math.Log(float64(tf)) (term frequencies are whole numbers),
// from a table when small.
func logTF(tf float32) float64 {
	if n := int(tf); n > 0 && n < len(logTFs) && float32(n) == tf {
		return logTFs[n]
	}
	return math.Log(float64(tf))
}

// hash is 32-bit FNV-1a.
func hash(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// maxTokenLen bounds a token; longer alphanumeric runs are truncated.
const maxTokenLen = 32

// forEachToken calls fn for each token of text (see tokenizer). The
// slice passed to fn is reused.
func forEachToken(text string, fn func([]byte)) {
	tk := tokenizer{text: text}
	for tok := tk.next(); tok != nil; tok = tk.next() {
		fn(tok)
	}
}

// tokenizer yields the lower-cased, lightly stemmed ASCII alphanumeric
// tokens of at least 3 bytes of text that are not stop words. Bytes outside
// [A-Za-z0-9] separate tokens. A method rather than a callback, so that
// the per-event path neither allocates a closure nor moves the token
// buffer to the heap.
type tokenizer struct {
	text string
	i    int
	buf  [maxTokenLen]byte
}

// next returns the next token, valid until the following call, or nil at
// the end of the text.
func (t *tokenizer) next() []byte {
	for t.i <= len(t.text) {
		n := 0
		for ; t.i < len(t.text); t.i++ {
			c := tokenByte[t.text[t.i]]
			if c == 0 {
				break
			}
			if n < maxTokenLen {
				t.buf[n] = c
			}
			n++
		}
		t.i++ // past the separator (or the end)
		if n >= 3 {
			tok := t.buf[:min(n, maxTokenLen)]
			if !isStop(tok) {
				return stem(tok)
			}
		}
	}
	return nil
}

// stem strips one common English inflection (-ing, -ed, -ies→y, -es after
// a sibilant, -s but not -ss) and then a final -e, keeping at least 3
// bytes, so "delete"/"deletes"/"deleted"/"deleting" and "invoice"/"invoices"
// share a stem. It is deliberately crude: it only has to map a word and its
// inflections to the same bucket more often than not.
func stem(t []byte) []byte {
	has := func(suf string) bool { return len(t)-len(suf) >= 3 && string(t[len(t)-len(suf):]) == suf }
	switch {
	case has("ing"):
		t = t[:len(t)-3]
	case has("ies"):
		t[len(t)-3] = 'y'
		t = t[:len(t)-2]
	case has("ed"):
		t = t[:len(t)-2]
	case has("sses"), has("xes"), has("ches"), has("shes"), has("zes"):
		t = t[:len(t)-2]
	case has("s") && t[len(t)-2] != 's':
		t = t[:len(t)-1]
	}
	if has("e") {
		t = t[:len(t)-1]
	}
	return t
}

// stopWords are function words that carry no topic; maxStopLen is the
// longest one's length.
var (
	stopWords  = map[string]struct{}{}
	maxStopLen int
)

func init() {
	for _, w := range []string{"the", "and", "for", "you", "your", "are", "was", "were", "this", "that", "with", "from",
		"have", "has", "had", "not", "but", "all", "any", "can", "will", "would", "should", "could", "there", "their",
		"them", "they", "then", "than", "what", "which", "who", "whom", "when", "where", "how", "why", "into", "onto",
		"about", "also", "some", "such", "only", "own", "same", "very", "just", "our", "out", "its", "his", "her",
		"she", "him", "been", "being", "does", "did", "done", "please", "thanks", "thank", "here", "let", "may", "might", "must",
		"user", "users", "use", "need", "want", "make", "get", "now", "one", "these", "those", "each", "other", "over", "under",
		"again", "more", "most", "less", "yes", "via", "per", "true", "false", "null", "none"} {
		stopWords[w] = struct{}{}
		maxStopLen = max(maxStopLen, len(w))
		stopFirst[len(w)] |= 1 << (w[0] - 'a')
	}
}

// tokenByte maps the bytes of a token ([A-Za-z0-9]) to their lower-case
// form and every other byte (a separator) to 0.
var tokenByte = func() (t [256]byte) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = byte(c), byte(c)
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c)
	}
	return t
}()

// stopFirst has bit c-'a' of entry n set when a stop word of n bytes
// starts with c: most tokens are ruled out without a map lookup.
var stopFirst [16]uint32

func isStop(t []byte) bool {
	if len(t) > maxStopLen || t[0] < 'a' || t[0] > 'z' || stopFirst[len(t)]&(1<<(t[0]-'a')) == 0 {
		return false
	}
	_, ok := stopWords[string(t)] // no allocation: map lookup with converted key
	return ok
}
