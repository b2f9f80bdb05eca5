package control

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

const waitLong = 20 * time.Second

var _ sink.Writer = (*Publisher)(nil)

func testCommands() []models.ContainmentCommand {
	return []models.ContainmentCommand{
		command("agent-a", "s1", models.ActionReview, "f1"),
		command("agent-a", "s1", models.ActionSuspendSession, "f2"),
		command("agent-b", "s7", models.ActionRevokeCredential, "f3"),
	}
}

func sortByID(cs []models.ContainmentCommand) []models.ContainmentCommand {
	out := slices.Clone(cs)
	slices.SortFunc(out, func(a, b models.ContainmentCommand) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

func TestPublishConsumeRoundTrip(t *testing.T) {
	const topic = "tether.control"
	addr := fakeCluster(t, topic)
	pub := testPublisher(newClient(t, addr), "")
	if pub.Topic() != DefaultTopic {
		t.Fatalf("default topic %q, want %q", pub.Topic(), DefaultTopic)
	}
	want := testCommands()
	ctx := context.Background()
	if err := pub.Write(ctx, &sink.Batch{Commands: want}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	col := newCollector()
	c, stop := startConsumer(t, Brokers(addr), Group("roundtrip"), Handler(col.handle))
	col.wait(t, len(want), waitLong)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := col.got()
	for i := range want { // the consumer sees them signed
		testSigner.Sign(&want[i])
	}
	if !reflect.DeepEqual(sortByID(got), sortByID(want)) {
		t.Fatalf("round trip mismatch:\n got  %+v\n want %+v", got, want)
	}
	// Commands of one agent keep their order (same key, same partition).
	var a []models.Action
	for _, cmd := range got {
		if cmd.AgentID == "agent-a" {
			a = append(a, cmd.Action)
		}
	}
	if !slices.Equal(a, []models.Action{models.ActionReview, models.ActionSuspendSession}) {
		t.Fatalf("agent-a commands out of order: %v", a)
	}
	if s := c.Stats(); s.Handled != uint64(len(want)) || s.Duplicates != 0 || s.RefusedTotal() != 0 {
		t.Fatalf("stats %+v", s)
	}
	assertCommitted(t, newClient(t, addr), "roundtrip", topic)
}

func TestPublisherRecordFormat(t *testing.T) {
	const topic = "custom.control"
	addr := fakeCluster(t, topic)
	pub := testPublisher(newClient(t, addr), topic)
	want := testCommands()
	// A command without an id gets its deterministic id on the wire; the
	// batch itself is not modified.
	noID := want[2]
	noID.ID = ""
	batch := &sink.Batch{Commands: []models.ContainmentCommand{want[0], want[1], noID}}
	if err := pub.Write(context.Background(), batch); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if batch.Commands[2].ID != "" {
		t.Fatalf("Write modified the batch")
	}
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < len(want) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", len(recs), len(want), err)
		}
		recs = append(recs, fs.Records()...)
	}
	byID := map[string]models.ContainmentCommand{}
	for _, c := range want {
		byID[c.ID] = signed(c)
	}
	for _, r := range recs {
		id := sink.HeaderValue(r, HeaderCommandID)
		exp, ok := byID[id]
		if !ok {
			t.Fatalf("record with unknown %s header %q", HeaderCommandID, id)
		}
		if string(r.Key) != exp.AgentID {
			t.Errorf("command %s: key %q, want agent id %q", id, r.Key, exp.AgentID)
		}
		if got := sink.HeaderValue(r, HeaderAction); got != string(exp.Action) {
			t.Errorf("command %s: %s header %q, want %q", id, HeaderAction, got, exp.Action)
		}
		if got := sink.HeaderValue(r, HeaderContentType); got != "application/json" {
			t.Errorf("command %s: content type %q", id, got)
		}
		var fields map[string]any
		if err := json.Unmarshal(r.Value, &fields); err != nil {
			t.Fatalf("command %s: value is not JSON: %v", id, err)
		}
		for _, k := range []string{"v", "command_id", "agent_id", "scope", "action", "severity", "reason", "finding_ids", "issued_at", "expires_at", "key_id", "signature"} {
			if _, ok := fields[k]; !ok {
				t.Errorf("command %s: JSON lacks %q: %s", id, k, r.Value)
			}
		}
		var got models.ContainmentCommand
		if err := json.Unmarshal(r.Value, &got); err != nil || !reflect.DeepEqual(got, exp) {
			t.Errorf("command %s: decoded %+v (err %v), want %+v", id, got, err, exp)
		}
	}
}

func TestConsumerDeduplicates(t *testing.T) {
	cmds := testCommands()
	tests := []struct {
		name    string
		batches [][]models.ContainmentCommand
		window  int
		unique  int
		dups    uint64
	}{
		{"replayed batch", [][]models.ContainmentCommand{cmds, cmds}, 16, 3, 3},
		{"duplicate within a batch", [][]models.ContainmentCommand{{cmds[0], cmds[0], cmds[1]}}, 16, 2, 1},
		{"three replays", [][]models.ContainmentCommand{cmds[:1], cmds[:1], cmds[:1]}, 16, 1, 2},
		// One agent's commands share a partition and so arrive in order; a
		// window of 1 still drops an immediate replay.
		{"window of one", [][]models.ContainmentCommand{{cmds[0], cmds[0]}}, 1, 1, 1},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topic := fmt.Sprintf("dedup-%d", i)
			addr := fakeCluster(t, topic)
			pub := testPublisher(newClient(t, addr), topic)
			total := 0
			for _, b := range tc.batches {
				if err := pub.Write(context.Background(), &sink.Batch{Commands: b}); err != nil {
					t.Fatalf("Write: %v", err)
				}
				total += len(b)
			}
			col := newCollector()
			c, stop := startConsumer(t, Brokers(addr), Topic(topic), Group("g"), Handler(col.handle), DedupWindow(tc.window))
			s := waitStats(t, c, waitLong, func(s Stats) bool { return s.Handled+s.Duplicates == uint64(total) })
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			if s.Duplicates != tc.dups || s.Handled != uint64(tc.unique) {
				t.Fatalf("stats %+v, want %d handled and %d duplicates", s, tc.unique, tc.dups)
			}
			seen := map[string]int{}
			for _, cmd := range col.got() {
				seen[cmd.ID]++
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("command %s handled %d times", id, n)
				}
			}
			if len(seen) != tc.unique {
				t.Errorf("handled %d distinct commands, want %d", len(seen), tc.unique)
			}
			assertCommitted(t, newClient(t, addr), "g", topic)
		})
	}
}

func TestConsumerRetriesThenCommits(t *testing.T) {
	const topic = "retry"
	addr := fakeCluster(t, topic)
	cmd := command("agent-r", "s", models.ActionSuspendSession, "f")
	if err := testPublisher(newClient(t, addr), topic).Write(context.Background(), &sink.Batch{Commands: []models.ContainmentCommand{cmd}}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	var calls atomic.Int32
	var mu sync.Mutex
	var reported []error
	handler := func(context.Context, models.ContainmentCommand) error {
		if calls.Add(1) <= 2 {
			return errors.New("gateway down")
		}
		return nil
	}
	c, stop := startConsumer(t, Brokers(addr), Topic(topic), Group("g"), Handler(handler),
		RetryBackoff(time.Millisecond, 5*time.Millisecond),
		OnError(func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() }))
	s := waitStats(t, c, waitLong, func(s Stats) bool { return s.Handled == 1 })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if s.Retries != 2 || calls.Load() != 3 {
		t.Fatalf("stats %+v after %d calls, want 2 retries and 3 calls", s, calls.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 2 {
		t.Fatalf("OnError got %d errors, want 2: %v", len(reported), reported)
	}
	for _, err := range reported {
		if msg := err.Error(); !containsAll(msg, cmd.ID, "agent-r", "topic \"retry\"", "offset 0", "gateway down") {
			t.Errorf("error lacks context: %s", msg)
		}
	}
	assertCommitted(t, newClient(t, addr), "g", topic)
}

func TestConsumerRefuses(t *testing.T) {
	now := testIssued.Add(30 * time.Minute)
	clock := withClock(func() time.Time { return now })
	expired := command("agent-x", "s", models.ActionReview, "old")
	expired.ExpiresAt = now.Add(-time.Minute)
	valid := command("agent-x", "s", models.ActionReview, "new")
	skipMe := command("agent-x", "s", models.ActionRevokeCredential, "skip")
	noAgent, _ := json.Marshal(models.ContainmentCommand{ID: "x1", Action: models.ActionReview, ExpiresAt: now.Add(time.Hour)})
	noAction, _ := json.Marshal(models.ContainmentCommand{ID: "x2", AgentID: "a", ExpiresAt: now.Add(time.Hour)})

	other, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	revoke := command("agent-x", "s", models.ActionRevokeCredential, "f-revoke")
	revoke.CredentialID = "cred-1"
	revoke.SetID()
	// Forged: signed by a key the consumer does not trust.
	forgedKey := revoke
	other.Sign(&forgedKey)
	// Forged: no signature at all.
	unsigned := revoke
	// Tampered: a signed review turned into a revocation, id recomputed.
	tampered := signed(command("agent-x", "s", models.ActionReview, "f-t"))
	tampered.Action = models.ActionRevokeCredential
	tampered.SetID()
	// Tampered: the same without recomputing the id.
	tamperedID := signed(command("agent-x", "s", models.ActionReview, "f-t2"))
	tamperedID.Action = models.ActionRevokeCredential
	// Header says review, value says revoke_credential (the value is a
	// genuine signed revocation; the header lies to filters).
	liar := mustRecord(t, revoke)
	for i := range liar.Headers {
		if liar.Headers[i].Key == HeaderAction {
			liar.Headers[i].Value = []byte(models.ActionReview)
		}
	}
	unknown := command("agent-x", "s", "self_destruct", "f-u")
	v2 := command("agent-x", "s", models.ActionReview, "f-v2")
	v2.Version = 2
	// Replay outside the window: with a window of one, a is forgotten (still
	// in force) when b is handled.
	a := command("agent-r", "s", models.ActionReview, "f-a")
	b := command("agent-r", "s", models.ActionSuspendSession, "f-b")
	b.IssuedAt = a.IssuedAt.Add(time.Second)
	b.SetID()

	tests := []struct {
		name    string
		records []*kgo.Record
		opts    []Opt
		handled []string // command ids given to the handler
		stats   Stats    // Refused holds only the non-zero reasons
	}{
		{
			name: "invalid records",
			records: []*kgo.Record{
				{Value: []byte("not json")},
				{Value: noAgent},
				{Value: noAction},
				{Value: []byte(`{"agent_id":"a","action":"review"}`)}, // no id
				mustRecord(t, valid),
			},
			handled: []string{valid.ID},
			stats:   Stats{Handled: 1, Refused: map[Reason]uint64{ReasonInvalid: 4}},
		},
		{
			name:    "forgeries and tampering",
			records: []*kgo.Record{rawRecord(t, forgedKey), rawRecord(t, unsigned), rawRecord(t, tampered), rawRecord(t, tamperedID), liar, mustRecord(t, unknown), mustRecord(t, v2), mustRecord(t, valid)},
			handled: []string{valid.ID},
			stats: Stats{Handled: 1, Refused: map[Reason]uint64{ReasonUnknownKey: 1, ReasonMissingSignature: 1, ReasonBadSignature: 1,
				ReasonIDMismatch: 1, ReasonHeaderMismatch: 1, ReasonUnknownAction: 1, ReasonUnsupportedVersion: 1}},
		},
		{
			name:    "unsigned accepted with AllowUnsigned",
			records: []*kgo.Record{rawRecord(t, unsigned), rawRecord(t, forgedKey)},
			opts:    []Opt{AllowUnsigned()},
			handled: []string{unsigned.ID},
			// a signature by an unknown key is still refused
			stats: Stats{Handled: 1, Refused: map[Reason]uint64{ReasonUnknownKey: 1}},
		},
		{
			name:    "expired",
			records: []*kgo.Record{mustRecord(t, expired), mustRecord(t, valid)},
			handled: []string{valid.ID},
			stats:   Stats{Handled: 1, Refused: map[Reason]uint64{ReasonExpired: 1}},
		},
		{
			name:    "expired with AcceptExpired",
			records: []*kgo.Record{mustRecord(t, expired)},
			opts:    []Opt{AcceptExpired()},
			handled: []string{expired.ID},
			stats:   Stats{Handled: 1},
		},
		{
			name:    "replays inside and outside the window",
			records: []*kgo.Record{mustRecord(t, a), mustRecord(t, a), mustRecord(t, b), mustRecord(t, a)},
			opts:    []Opt{DedupWindow(1)},
			handled: []string{a.ID, b.ID},
			stats:   Stats{Handled: 2, Duplicates: 1, Refused: map[Reason]uint64{ReasonReplay: 1}},
		},
		{
			name:    "handler ErrSkip",
			records: []*kgo.Record{mustRecord(t, skipMe), mustRecord(t, skipMe), mustRecord(t, valid)},
			handled: []string{skipMe.ID, valid.ID},
			stats:   Stats{Handled: 1, Skipped: 1, Duplicates: 1},
		},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topic := fmt.Sprintf("refuses-%d", i)
			addr := fakeCluster(t, topic)
			for _, r := range tc.records {
				r.Partition = 0
			}
			// One partition keeps the records in the order listed.
			prod := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
			if err := prod.ProduceSync(context.Background(), tc.records...).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
			var mu sync.Mutex
			var ids []string
			var errs []error
			handler := func(_ context.Context, cmd models.ContainmentCommand) error {
				mu.Lock()
				defer mu.Unlock()
				ids = append(ids, cmd.ID)
				if cmd.ID == skipMe.ID {
					return fmt.Errorf("unknown credential: %w", ErrSkip)
				}
				return nil
			}
			opts := append([]Opt{Brokers(addr), Topic(topic), Group("g"), Handler(handler), clock,
				OnError(func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() })}, tc.opts...)
			c, stop := startConsumer(t, opts...)
			want := tc.stats
			s := waitStats(t, c, waitLong, func(s Stats) bool {
				return s.Handled+s.RefusedTotal()+s.Skipped+s.Duplicates == uint64(len(tc.records))
			})
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			got := s
			got.Refused = nonZero(s.Refused)
			if want.Refused == nil {
				want.Refused = map[Reason]uint64{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("stats %+v, want %+v", got, want)
			}
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(ids, tc.handled) {
				t.Fatalf("handler saw %v, want %v", ids, tc.handled)
			}
			refused := 0
			for _, err := range errs {
				if errors.Is(err, ErrRefused) {
					refused++
					if !containsAll(err.Error(), "topic \""+topic+"\"", "partition 0", "offset ") {
						t.Errorf("refusal lacks context: %v", err)
					}
				}
			}
			if uint64(refused) != s.RefusedTotal() {
				t.Errorf("OnError reported %d refusals, want %d: %v", refused, s.RefusedTotal(), errs)
			}
			assertCommitted(t, newClient(t, addr), "g", topic)
		})
	}
}

func nonZero(m map[Reason]uint64) map[Reason]uint64 {
	out := map[Reason]uint64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// signed returns c signed by testSigner.
func signed(c models.ContainmentCommand) models.ContainmentCommand {
	testSigner.Sign(&c)
	return c
}

// rawRecord encodes c as it is, without signing or fixing its id, with
// headers that agree with it.
func rawRecord(t *testing.T, c models.ContainmentCommand) *kgo.Record {
	t.Helper()
	r, err := NewPublisher(nil, "").record(c)
	if err != nil {
		t.Fatal(err)
	}
	r.Topic = ""
	return r
}

// mustRecord encodes c as the daemon publishes it (signed by testSigner).
func mustRecord(t *testing.T, c models.ContainmentCommand) *kgo.Record {
	t.Helper()
	r, err := testPublisher(nil, "").record(c)
	if err != nil {
		t.Fatal(err)
	}
	r.Topic = ""
	return r
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestNewConsumerConfig(t *testing.T) {
	h := Handler(func(context.Context, models.ContainmentCommand) error { return nil })
	tests := []struct {
		name string
		opts []Opt
		ok   bool
	}{
		{"complete", []Opt{Brokers("127.0.0.1:1"), Group("g"), h, TrustKey(testSigner.Public())}, true},
		{"custom topic and options", []Opt{Brokers("127.0.0.1:1"), Group("g"), h, AllowUnsigned(), Topic("t"), AckTopic("acks"), DedupWindow(1), MaxPollRecords(1), RetryBackoff(time.Millisecond, time.Millisecond), AcceptExpired(), OnError(nil)}, true},
		{"unsigned allowed", []Opt{Brokers("127.0.0.1:1"), Group("g"), h, AllowUnsigned()}, true},
		{"no trusted key", []Opt{Brokers("127.0.0.1:1"), Group("g"), h}, false},
		{"track without handler", []Opt{Brokers("127.0.0.1:1"), Group("g"), Track(NewState()), AllowUnsigned()}, true},
		{"ack topic is the control topic", []Opt{Brokers("127.0.0.1:1"), Group("g"), h, AllowUnsigned(), AckTopic(DefaultTopic)}, false},
		{"no brokers", []Opt{Group("g"), h}, false},
		{"no group", []Opt{Brokers("127.0.0.1:1"), h}, false},
		{"no handler", []Opt{Brokers("127.0.0.1:1"), Group("g")}, false},
		{"empty topic", []Opt{Brokers("127.0.0.1:1"), Group("g"), h, Topic("")}, false},
		{"zero dedup window", []Opt{Brokers("127.0.0.1:1"), Group("g"), h, DedupWindow(0)}, false},
		{"backoff max below min", []Opt{Brokers("127.0.0.1:1"), Group("g"), h, RetryBackoff(time.Second, time.Millisecond)}, false},
		{"zero poll", []Opt{Brokers("127.0.0.1:1"), Group("g"), h, MaxPollRecords(0)}, false},
		{"bad kafka option", []Opt{Brokers("127.0.0.1:1"), Group("g"), h, KafkaOpts(kgo.RequiredAcks(kgo.LeaderAck()))}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewConsumer(tc.opts...)
			if tc.ok {
				if err != nil {
					t.Fatalf("NewConsumer: %v", err)
				}
				c.Close()
				c.Close() // idempotent
				if err := c.Run(context.Background()); !errors.Is(err, ErrClosed) {
					t.Fatalf("Run after Close = %v, want ErrClosed", err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("NewConsumer error = %v, want ErrConfig", err)
			}
		})
	}
}

func TestRunOnce(t *testing.T) {
	addr := fakeCluster(t, DefaultTopic)
	c, err := NewConsumer(Brokers(addr), Group("g"), AllowUnsigned(), Handler(func(context.Context, models.ContainmentCommand) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
	if err := c.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Run = %v, want ErrClosed", err)
	}
}

func TestPublisherEmptyBatch(t *testing.T) {
	// No client is touched for a batch without commands.
	p := NewPublisher(nil, "")
	for _, b := range []*sink.Batch{nil, {}, {Findings: []models.Finding{{ID: "f"}}}} {
		if err := p.Write(context.Background(), b); err != nil {
			t.Fatalf("Write(%+v) = %v", b, err)
		}
	}
}

// TestPublisherUnavailable: without a broker Write fails with
// sink.ErrUnavailable naming the command (the timeout and cancellation
// paths are sink.KafkaPublisher's, tested there).
func TestPublisherUnavailable(t *testing.T) {
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cl := newClient(t, addr, kgo.RetryBackoffFn(func(int) time.Duration { return 10 * time.Millisecond }))
	batch := &sink.Batch{Commands: testCommands()[:1]}
	p := testPublisher(cl, "")
	p.Timeout = 300 * time.Millisecond
	err = p.Write(context.Background(), batch)
	if !errors.Is(err, sink.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write without a broker = %v; want sink.ErrUnavailable wrapping the deadline", err)
	}
	c := batch.Commands[0]
	if !containsAll(err.Error(), c.ID, c.AgentID, string(c.Action), DefaultTopic) {
		t.Fatalf("error lacks context: %v", err)
	}
}

func TestIDWindow(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		add    []string
		has    []string
		hasNot []string
	}{
		{"empty", 2, nil, nil, []string{"a"}},
		{"within capacity", 3, []string{"a", "b", "c"}, []string{"a", "b", "c"}, []string{"d"}},
		{"oldest evicted", 2, []string{"a", "b", "c"}, []string{"b", "c"}, []string{"a"}},
		{"re-add does not evict", 2, []string{"a", "b", "b", "b"}, []string{"a", "b"}, nil},
		{"wraps repeatedly", 1, []string{"a", "b", "c", "d"}, []string{"d"}, []string{"a", "b", "c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newIDWindow(tc.size)
			at := time.Date(2026, 2, 2, 10, 0, 0, 0, time.UTC)
			for _, id := range tc.add {
				w.add(models.ContainmentCommand{ID: id, IssuedAt: at, ExpiresAt: at.Add(time.Hour)}, at)
			}
			for _, id := range tc.has {
				if !w.has(id) {
					t.Errorf("window lost %q", id)
				}
			}
			for _, id := range tc.hasNot {
				if w.has(id) {
					t.Errorf("window still has %q", id)
				}
			}
			if len(w.ids) > tc.size {
				t.Errorf("window holds %d ids, capacity %d", len(w.ids), tc.size)
			}
			// Forgetting a command still in force raises the horizon.
			if evicted := len(slices.Compact(slices.Clone(tc.add))) > tc.size; evicted != (w.horizon == at.UnixNano()) {
				t.Errorf("horizon %d after evicting: %v", w.horizon, evicted)
			}
		})
	}
}

// TestSignerSigned: the stores get each command as published (id, key id,
// a signature that verifies), and the caller's batch is left as it was.
func TestSignerSigned(t *testing.T) {
	s, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	cmds := testCommands()
	cmds[0].ID = "" // a command without its id gets it
	b := &sink.Batch{Commands: cmds, Findings: []models.Finding{{ID: "f"}}}
	before := fmt.Sprintf("%+v", *b)
	got := s.Signed(b)
	if after := fmt.Sprintf("%+v", *b); after != before {
		t.Fatalf("the batch was modified:\n%s\nwas\n%s", after, before)
	}
	if len(got.Findings) != 1 || len(got.Commands) != len(cmds) {
		t.Fatalf("signed batch %+v", got)
	}
	for i, c := range got.Commands {
		if c.ID == "" || c.ID != c.ComputeID() || c.KeyID != s.KeyID() {
			t.Errorf("command %d: id %q key %q", i, c.ID, c.KeyID)
		}
		sig, err := base64.StdEncoding.DecodeString(c.Signature)
		if err != nil || !ed25519.Verify(s.Public(), c.SigningBytes(), sig) {
			t.Errorf("command %d: signature %q does not verify (%v)", i, c.Signature, err)
		}
	}
	for _, empty := range []*sink.Batch{nil, {Findings: b.Findings}} {
		if s.Signed(empty) != empty {
			t.Errorf("a batch without commands was copied")
		}
	}
}
