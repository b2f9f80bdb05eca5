package control

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// TestIntegrationSignedLoop runs the containment loop's consumer side on
// the real broker: genuine signed commands (one signed with a rotated-in
// key) are applied to a State and acknowledged as applied; forged,
// tampered, unknown-action, expired and replayed commands are each refused,
// counted by reason and acknowledged as refused; a lineage halt stops the
// sub-agents of the halted agent until a human clear.
func TestIntegrationSignedLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short")
	}
	addr := testenv.Kafka(t)
	suffix := time.Now().UnixNano()
	topic, acks := fmt.Sprintf("tether.control.loop-%d", suffix), fmt.Sprintf("tether.control.acks.loop-%d", suffix)
	cl := newClient(t, addr, kgo.RequestTimeoutOverhead(5*time.Second))
	testenv.CreateTopics(t, addr, 1, nil, topic, acks) // one partition: the order below matters

	rotated, err := GenerateSigner() // the new key, trusted next to the old one
	if err != nil {
		t.Fatal(err)
	}
	attacker, err := GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	halt := command("root-a", "", models.ActionHaltLineage, "f-halt")
	review := command("agent-b", "s1", models.ActionReview, "f-review")
	review2 := command("agent-b", "s2", models.ActionRequireApproval, "f-review2")
	review2.IssuedAt = review.IssuedAt.Add(time.Second)
	review2.SetID()
	forged := command("agent-b", "", models.ActionHaltAgent, "f-forged")
	attacker.Sign(&forged)
	tampered := signed(command("agent-b", "s1", models.ActionReview, "f-t"))
	tampered.Action = models.ActionRevokeCredential
	tampered.CredentialID = "cred-b"
	tampered.SetID()
	unknown := command("agent-b", "s1", "self_destruct", "f-u")
	expired := command("agent-b", "s1", models.ActionSuspendSession, "f-exp")
	expired.ExpiresAt = time.Now().Add(-time.Minute)
	expired.SetID()

	pub := testPublisher(cl, topic)
	newPub := NewPublisher(cl, topic)
	newPub.Signer = rotated
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	write := func(p *Publisher, cs ...models.ContainmentCommand) {
		t.Helper()
		if err := p.Write(ctx, &sink.Batch{Commands: cs}); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	raw := func(cs ...models.ContainmentCommand) {
		t.Helper()
		for _, c := range cs {
			r := rawRecord(t, c)
			r.Topic = topic
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(pub, halt)
	write(newPub, review) // rotated key
	raw(forged, tampered)
	write(pub, unknown, expired)
	write(pub, review)  // replay inside the window
	write(pub, review2) // pushes review out of a window of two
	write(pub, halt)    // replay, still in the window
	write(pub, review)  // replay outside the window
	const records = 10

	state := NewState()
	state.Spawned("root-a", "worker-1")
	state.Spawned("worker-1", "worker-2")
	c, stop := startConsumer(t, Brokers(addr), Topic(topic), Group(fmt.Sprintf("loop-%d", suffix)), Track(state),
		TrustKey(rotated.Public()), AckTopic(acks), DedupWindow(2))
	s := waitStats(t, c, 60*time.Second, func(s Stats) bool {
		return s.Handled+s.Duplicates+s.RefusedTotal() == records && s.Acks == s.Handled+s.RefusedTotal()
	})
	want := map[Reason]uint64{ReasonUnknownKey: 1, ReasonBadSignature: 1, ReasonUnknownAction: 1, ReasonExpired: 1, ReasonReplay: 1}
	if got := nonZero(s.Refused); fmt.Sprint(got) != fmt.Sprint(want) || s.Handled != 3 || s.Duplicates != 2 {
		t.Fatalf("stats %+v: want 3 handled, 2 duplicates, refused %v", s, want)
	}
	for _, agent := range []string{"root-a", "worker-1", "worker-2"} {
		if !state.Halted(agent) {
			t.Errorf("%s not halted by the lineage halt of root-a", agent)
		}
	}
	if state.Halted("agent-b") || !state.NeedsApproval("agent-b") || state.Revoked("cred-b") {
		t.Errorf("agent-b: halted %v (forged halt), approval %v, cred-b revoked %v (tampered)", state.Halted("agent-b"), state.NeedsApproval("agent-b"), state.Revoked("cred-b"))
	}

	// A human clears the lineage: the sub-agents run again.
	clear := models.ContainmentCommand{AgentID: "root-a", Action: models.ActionClear, Scope: models.ScopeLineage, Reason: "operator",
		FindingIDs: []string{}, IssuedAt: time.Now().UTC(), ExpiresAt: time.Now().Add(time.Hour)}
	clear.SetID()
	write(pub, clear)
	waitStats(t, c, 60*time.Second, func(s Stats) bool { return s.Handled == 4 })
	if state.Halted("worker-2") || state.Halted("root-a") {
		t.Error("clear of the lineage left a halt in force")
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	// Every applied and refused command was acknowledged, with its reason.
	got := map[string]int{}
	for _, r := range readAll(t, addr, acks, int(s.Handled+s.RefusedTotal()+1)) {
		var a models.CommandAck
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatalf("ack %q: %v", r.Value, err)
		}
		if a.AckedAt.Before(a.ReceivedAt) || a.Consumer == "" || a.CommandID == "" {
			t.Errorf("ack %+v: times out of order or fields missing", a)
		}
		got[string(a.Status)+":"+a.Reason]++
	}
	wantAcks := map[string]int{"applied:": 4, "refused:unknown_key": 1, "refused:bad_signature": 1, "refused:unknown_action": 1, "refused:expired": 1, "refused:replay": 1}
	if fmt.Sprint(got) != fmt.Sprint(wantAcks) {
		t.Errorf("acks %v, want %v", got, wantAcks)
	}
}

// readAll reads want records of topic from the start (60 s at most).
func readAll(t *testing.T, addr, topic string, want int) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		out = append(out, cl.PollFetches(ctx).Records()...)
	}
	if len(out) < want {
		t.Fatalf("read %d records of %s, want %d", len(out), topic, want)
	}
	return out
}

// memAcks is an AckStore and a findings sink.Writer in memory.
type memAcks struct {
	mu       sync.Mutex
	acks     []models.CommandAck
	findings []models.Finding
}

func (m *memAcks) WriteAcks(_ context.Context, a []models.CommandAck) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.acks = append(m.acks, a...)
	return nil
}

func (m *memAcks) Write(_ context.Context, b *sink.Batch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.findings = append(m.findings, b.Findings...)
	return nil
}

func (m *memAcks) counts() (int, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.acks), len(m.findings)
}

// TestIntegrationRecorder: the daemon side of the loop on the real
// broker. Commands published through the Publisher and applied by a
// consumer are acknowledged, the Recorder stores the acks with their
// stages and fills the histograms; a command nobody applies raises a
// containment_unacknowledged finding after the deadline.
func TestIntegrationRecorder(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short")
	}
	addr := testenv.Kafka(t)
	suffix := time.Now().UnixNano()
	topic, acks := fmt.Sprintf("tether.control.rec-%d", suffix), fmt.Sprintf("tether.control.acks.rec-%d", suffix)
	cl := newClient(t, addr, kgo.RequestTimeoutOverhead(5*time.Second))
	testenv.CreateTopics(t, addr, 3, nil, topic, acks)

	mem := &memAcks{}
	o := DefaultRecorderOptions()
	o.Brokers, o.Topic, o.Group, o.Deadline = []string{addr}, acks, fmt.Sprintf("rec-%d", suffix), 3*time.Second
	o.Store, o.Findings = mem, mem
	o.KafkaOpts = []kgo.Opt{kgo.FetchMaxWait(100 * time.Millisecond)}
	rec, err := NewRecorder(o)
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = rec.Run(rctx) }()
	defer func() { rcancel(); <-done; rec.Close() }()

	applied := []models.ContainmentCommand{
		command("agent-1", "s1", models.ActionSuspendSession, "f1"),
		command("agent-2", "", models.ActionHaltAgent, "f2"),
	}
	declined := command("agent-3", "s3", models.ActionReview, "f3") // its consumer declines it: refused, never applied
	pub := testPublisher(cl, topic)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := &sink.Batch{Commands: append(append([]models.ContainmentCommand(nil), applied...), declined)}
	if err := (sink.Multi{pub, rec}).Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if rec.Outstanding() != 3 {
		t.Fatalf("%d outstanding, want 3", rec.Outstanding())
	}
	_, stop := startConsumer(t, Brokers(addr), Topic(topic), Group(fmt.Sprintf("rec-enf-%d", suffix)), AckTopic(acks),
		Handler(func(_ context.Context, c models.ContainmentCommand) error {
			if c.AgentID == "agent-3" {
				return fmt.Errorf("agent-3 is not served here: %w", ErrSkip)
			}
			return nil
		}))
	defer func() { _ = stop() }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		nAcks, nFindings := mem.counts()
		if nAcks >= 3 && nFindings >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d acks stored, %d findings; want 3 acks and a containment_unacknowledged finding", nAcks, nFindings)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mem.mu.Lock()
	defer mem.mu.Unlock()
	status := map[models.AckStatus]int{}
	for _, a := range mem.acks {
		status[a.Status]++
		if a.Status == models.AckApplied && (a.AlertedAt.IsZero() || a.Stages().CommandToAck < 0) {
			t.Errorf("applied ack %+v lacks the alert time or has a negative stage", a)
		}
	}
	if status[models.AckApplied] != 2 || status[models.AckRefused] != 1 {
		t.Errorf("acks by status %v, want 2 applied and 1 refused", status)
	}
	if len(mem.findings) != 1 || mem.findings[0].Kind != KindUnacknowledged || mem.findings[0].AgentID != "agent-3" || mem.findings[0].ID == "" {
		t.Errorf("findings %+v, want one containment_unacknowledged for agent-3", mem.findings)
	}
	if _, n := rec.Quantile("time_to_contain", "", 0.5); n != 2 {
		t.Errorf("time_to_contain histogram holds %d observations, want 2", n)
	}
	if rec.Outstanding() != 0 || rec.Overdue() != 1 {
		t.Errorf("outstanding %d, overdue %d; want 0 and 1", rec.Outstanding(), rec.Overdue())
	}
}
