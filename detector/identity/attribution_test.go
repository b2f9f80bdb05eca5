package identity

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetherhq/tether/models"
)

var t0 = time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)

// ev builds an event; fields are set by the caller afterwards.
type evSpec struct {
	at                    time.Duration
	kind                  models.Kind
	agent, session        string
	cred, principal, tool string
	parent, root, child   string
	credExp               time.Duration // 0: none
}

func run(t *testing.T, opts Options, spec func(string) *models.AgentSpec, steps []evSpec) []models.Finding {
	t.Helper()
	d := New(opts)
	var got []models.Finding
	for i, s := range steps {
		kind := s.kind
		if kind == "" {
			kind = models.KindToolCall
		}
		ev := &models.Event{ID: fmt.Sprint("e", i), Kind: kind, Time: t0.Add(s.at), AgentID: s.agent, SessionID: s.session,
			CredentialID: s.cred, Principal: s.principal, ToolName: s.tool, ParentAgentID: s.parent, RootAgentID: s.root, ChildAgentID: s.child}
		if s.credExp != 0 {
			ev.CredentialExpiry = ptr(t0.Add(s.credExp))
		}
		var a *models.AgentSpec
		if spec != nil {
			a = spec(s.agent)
		}
		d.Observe(ev, a, func(f models.Finding) {
			if f.AgentID == "" {
				f.AgentID = ev.AgentID
			}
			f.SessionID = ev.SessionID
			if f.Kind != KindUnregistered { // only the attribution kinds
				got = append(got, f)
			}
		})
	}
	return got
}

// kinds returns "kind/agent/session" of the attribution findings.
func kinds(fs []models.Finding) []string {
	var out []string
	for _, f := range fs {
		switch f.Kind {
		case KindSharedCredential, KindHumanIdentity, KindMissingIdentity, KindSessionAge:
			out = append(out, f.Kind+"/"+f.AgentID+"/"+f.SessionID)
		}
	}
	return out
}

func TestSharedCredential(t *testing.T) {
	tests := []struct {
		name  string
		steps []evSpec
		want  []string
	}{
		{"one agent, many sessions: nothing", []evSpec{
			{agent: "a", session: "s1", cred: "c"}, {at: time.Hour, agent: "a", session: "s2", cred: "c"}}, nil},
		{"two root agents share a credential", []evSpec{
			{agent: "a", session: "s1", cred: "c"}, {at: time.Minute, agent: "b", session: "s2", cred: "c"}, {at: 2 * time.Minute, agent: "b", session: "s3", cred: "c"}},
			[]string{"shared_credential/b/s2"}},
		{"different credentials: nothing", []evSpec{
			{agent: "a", session: "s1", cred: "c1"}, {agent: "b", session: "s2", cred: "c2"}}, nil},
		{"no credential: nothing", []evSpec{
			{agent: "a", session: "s1"}, {agent: "b", session: "s2"}}, nil},
		{"outside the window: nothing", []evSpec{
			{agent: "a", session: "s1", cred: "c"}, {at: 25 * time.Hour, agent: "b", session: "s2", cred: "c"}}, nil},
		{"sub-agent with parent id inherits", []evSpec{
			{agent: "a", session: "s1", cred: "c"}, {agent: "w", session: "s2", cred: "c", parent: "a"}}, nil},
		{"sub-agent with root id inherits", []evSpec{
			{agent: "a", session: "s1", cred: "c"}, {agent: "w", session: "s2", cred: "c", root: "a"}}, nil},
		{"grandchild through parent chain inherits", []evSpec{
			{agent: "a", session: "s1", cred: "c"}, {agent: "w", session: "s2", cred: "c", parent: "a"}, {agent: "g", session: "s3", cred: "c", parent: "w"}}, nil},
		{"named spawn delegates", []evSpec{
			{kind: models.KindAgentSpawn, agent: "a", session: "s1", cred: "c", child: "w"}, {at: time.Hour, agent: "w", session: "s2", cred: "c"}}, nil},
		{"unnamed spawn delegates to the next new agent", []evSpec{
			{kind: models.KindAgentSpawn, agent: "a", session: "s1", cred: "c"}, {at: time.Second, agent: "w", session: "s2", cred: "c"}}, nil},
		{"unnamed spawn delegates once, and not late", []evSpec{
			{kind: models.KindAgentSpawn, agent: "a", session: "s1", cred: "c"}, {at: time.Second, agent: "w", session: "s2", cred: "c"},
			{at: 2 * time.Second, agent: "x", session: "s3", cred: "c"}},
			[]string{"shared_credential/x/s3"}},
		{"unnamed spawn expires", []evSpec{
			{kind: models.KindAgentSpawn, agent: "a", session: "s1", cred: "c"}, {at: 10 * time.Minute, agent: "w", session: "s2", cred: "c"}},
			[]string{"shared_credential/w/s2"}},
		{"sub-agents of two roots share a credential", []evSpec{
			{agent: "w1", session: "s1", cred: "c", root: "r1"}, {agent: "w2", session: "s2", cred: "c", root: "r2"}},
			[]string{"shared_credential/w2/s2"}},
		{"third lineage reported too", []evSpec{
			{agent: "a", session: "s1", cred: "c"}, {agent: "b", session: "s2", cred: "c"}, {agent: "d", session: "s3", cred: "c"}},
			[]string{"shared_credential/b/s2", "shared_credential/d/s3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, DefaultOptions(), nil, tt.steps)
			if k := kinds(got); !slices.Equal(k, tt.want) {
				t.Fatalf("got %v, want %v", k, tt.want)
			}
			for _, f := range got {
				if f.Kind == KindSharedCredential && (f.Severity != 60 || f.Confidence != 1 || len(f.Features) != 1 || f.Features[0].Observed < 2) {
					t.Errorf("finding %+v", f)
				}
			}
		})
	}
}

func TestSharedCredentialExplanation(t *testing.T) {
	got := run(t, DefaultOptions(), nil, []evSpec{
		{agent: "billing-bot", session: "s1", cred: "svc-key", principal: "ops@example.com"},
		{at: time.Minute, agent: "crm-bot", session: "s2", cred: "svc-key", principal: "ops@example.com"}})
	if len(got) != 1 {
		t.Fatalf("got %+v", got)
	}
	for _, want := range []string{"svc-key", `"billing-bot"`, `"crm-bot"`, "24h0m0s", "2026-05-01T09:00:00Z"} {
		if !strings.Contains(got[0].Explanation, want) {
			t.Errorf("explanation lacks %q: %s", want, got[0].Explanation)
		}
	}
	if got[0].Features[0].Observed != 2 || got[0].Features[0].Baseline != 1 {
		t.Errorf("features %+v", got[0].Features)
	}
}

func TestHumanAndMissingIdentity(t *testing.T) {
	registered := func(id string) *models.AgentSpec {
		if strings.HasPrefix(id, "unreg") {
			return nil
		}
		return &models.AgentSpec{ID: id}
	}
	tests := []struct {
		name  string
		steps []evSpec
		want  []string
	}{
		{"ordinary agent: nothing", []evSpec{{agent: "bot", session: "s", principal: "alice@example.com", cred: "tok"}}, nil},
		{"agent id is the principal", []evSpec{
			{kind: models.KindReasoning, agent: "alice@example.com", session: "s", principal: "alice@example.com"},
			{agent: "alice@example.com", session: "s", principal: "alice@example.com"}},
			[]string{"human_identity/alice@example.com/s"}},
		{"credential is the principal", []evSpec{{kind: models.KindReasoning, agent: "bot", session: "s", principal: "Alice", cred: "alice"}},
			[]string{"human_identity/bot/s"}},
		{"registered agent with an email id", []evSpec{{kind: models.KindReasoning, agent: "helper@corp.example", session: "s"}},
			[]string{"human_identity/helper@corp.example/s"}},
		{"unregistered email id reasoning only: nothing", []evSpec{{kind: models.KindReasoning, agent: "unreg@corp.example", session: "s"}}, nil},
		{"unregistered email id calling a tool", []evSpec{{agent: "unreg@corp.example", session: "s", tool: "send"}},
			[]string{"human_identity/unreg@corp.example/s"}},
		{"spiffe-like or host ids are not emails", []evSpec{
			{agent: "spiffe://corp/agent@x.y", session: "s1"}, {agent: "agent@prod", session: "s2"}, {agent: "@x.com", session: "s3"}}, nil},
		{"once per session", []evSpec{
			{agent: "alice", session: "s1", principal: "alice"}, {agent: "alice", session: "s1", principal: "alice"}, {agent: "alice", session: "s2", principal: "alice"}},
			[]string{"human_identity/alice/s1", "human_identity/alice/s2"}},
		{"agent id is the session id", []evSpec{{agent: "run-42", session: "run-42"}, {agent: "run-42", session: "run-42"}},
			[]string{"missing_identity/run-42/run-42"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, DefaultOptions(), registered, tt.steps)
			if k := kinds(got); !slices.Equal(k, tt.want) {
				t.Fatalf("got %v, want %v", k, tt.want)
			}
			for _, f := range got {
				want := map[string]uint8{KindHumanIdentity: 45, KindMissingIdentity: 30}[f.Kind]
				if f.Severity != want || f.Confidence <= 0 || f.Explanation == "" {
					t.Errorf("finding %+v", f)
				}
			}
		})
	}
}

func TestSessionAge(t *testing.T) {
	h := time.Hour
	tests := []struct {
		name  string
		steps []evSpec
		want  []string
	}{
		{"short session: nothing", []evSpec{{kind: models.KindSessionStart, agent: "a", session: "s"}, {at: 7 * h, agent: "a", session: "s"}}, nil},
		{"old session calls a tool, once", []evSpec{
			{kind: models.KindSessionStart, agent: "a", session: "s"}, {at: 9 * h, agent: "a", session: "s"}, {at: 10 * h, agent: "a", session: "s"}},
			[]string{"session_age_exceeded/a/s"}},
		{"age counts from the first event", []evSpec{{kind: models.KindReasoning, agent: "a", session: "s"}, {at: 8*h + time.Second, agent: "a", session: "s"}},
			[]string{"session_age_exceeded/a/s"}},
		{"old session only reasoning: nothing", []evSpec{{agent: "a", session: "s"}, {at: 9 * h, kind: models.KindReasoning, agent: "a", session: "s"}}, nil},
		{"new session_start re-validates", []evSpec{
			{kind: models.KindSessionStart, agent: "a", session: "s"}, {at: 6 * h, kind: models.KindSessionStart, agent: "a", session: "s"}, {at: 12 * h, agent: "a", session: "s"}}, nil},
		{"refreshed credential re-validates", []evSpec{
			{kind: models.KindSessionStart, agent: "a", session: "s", credExp: h}, {at: 50 * time.Minute, agent: "a", session: "s", credExp: 24 * h},
			{at: 8 * h, agent: "a", session: "s", credExp: 24 * h}}, nil},
		{"same credential does not re-validate", []evSpec{
			{kind: models.KindSessionStart, agent: "a", session: "s", credExp: 24 * h}, {at: 6 * h, agent: "a", session: "s", credExp: 24 * h},
			{at: 9 * h, agent: "a", session: "s", credExp: 24 * h}},
			[]string{"session_age_exceeded/a/s"}},
		{"session end forgets", []evSpec{
			{kind: models.KindSessionStart, agent: "a", session: "s"}, {at: 1 * h, kind: models.KindSessionEnd, agent: "a", session: "s"}, {at: 9 * h, agent: "a", session: "s"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, DefaultOptions(), nil, tt.steps)
			if k := kinds(got); !slices.Equal(k, tt.want) {
				t.Fatalf("got %v, want %v", k, tt.want)
			}
			for _, f := range got {
				if f.Severity != 50 || f.Confidence != 1 || f.Features[0].Baseline != 8*3600 || f.Features[0].Observed <= 8*3600 {
					t.Errorf("finding %+v", f)
				}
			}
		})
	}
}

func TestAttributionDisabled(t *testing.T) {
	opts := DefaultOptions()
	opts.SharedWindow, opts.MaxSessionAge = -1, -1
	got := run(t, opts, nil, []evSpec{
		{kind: models.KindSessionStart, agent: "a", session: "s1", cred: "c"}, {at: 9 * time.Hour, agent: "b", session: "s2", cred: "c"}, {at: 10 * time.Hour, agent: "a", session: "s1", cred: "c"}})
	if k := kinds(got); len(k) != 0 {
		t.Errorf("got %v with checks disabled", k)
	}
}

func TestAttributionBounded(t *testing.T) {
	opts := DefaultOptions()
	opts.MaxSessions, opts.MaxCredentials = 5, 3
	d := New(opts)
	for i := 0; i < 1000; i++ {
		ev := &models.Event{ID: fmt.Sprint("e", i), Kind: models.KindToolCall, Time: t0.Add(time.Duration(i) * time.Second),
			AgentID: fmt.Sprint("a", i%7), SessionID: fmt.Sprint("s", i), CredentialID: fmt.Sprint("c", i%11)}
		d.Observe(ev, nil, func(models.Finding) {})
		if s, c := d.TrackedAttribution(); s > 5 || c > 3 {
			t.Fatalf("tracking %d sessions, %d credentials", s, c)
		}
	}
	// A credential with many agents keeps at most maxCredentialAgents.
	c, _ := d.creds.Put("many")
	for i := 0; i < 10; i++ {
		c.add(credMember{agent: fmt.Sprint("x", i), lineage: fmt.Sprint("x", i), last: int64(i)})
	}
	if len(c.members) != maxCredentialAgents || c.find("x9") < 0 || c.find("x0") >= 0 {
		t.Errorf("members %+v", c.members)
	}
	// Pruning keeps the recent members in order and releases an empty list.
	c.prune(8)
	if len(c.members) != 2 || c.members[0].agent != "x8" || c.members[1].agent != "x9" {
		t.Errorf("after prune(8): members %+v, want x8, x9", c.members)
	}
	if c.prune(100); c.members != nil {
		t.Errorf("after pruning every member: %+v, want nil", c.members)
	}
}

func BenchmarkObserveAttribution(b *testing.B) {
	d := New(DefaultOptions())
	spec := &models.AgentSpec{ID: "x"}
	evs := make([]models.Event, 1024)
	exp := t0.Add(48 * time.Hour)
	for i := range evs {
		evs[i] = models.Event{ID: fmt.Sprint("e", i), Kind: models.KindToolCall, ToolName: "t", AgentID: fmt.Sprint("agent-", i%64),
			SessionID: fmt.Sprint("sess-", i%256), CredentialID: fmt.Sprint("cred-", i%64), Principal: "p@example.com", CredentialExpiry: &exp}
	}
	emit := func(models.Finding) {}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev := &evs[i%len(evs)]
		ev.Time = t0.Add(time.Duration(i) * time.Millisecond)
		d.Observe(ev, spec, emit)
	}
}
