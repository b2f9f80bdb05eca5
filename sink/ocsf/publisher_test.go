package ocsf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClient returns a client closed at cleanup.
func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// readBack consumes n records of topic from the start.
func readBack(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read back %d of %d records from %s: %v", len(out), n, topic, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Logf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// checkRecords decodes records and matches them against the findings by id.
func checkRecords(t *testing.T, recs []*kgo.Record, want []models.Finding) {
	t.Helper()
	byID := map[string]models.Finding{}
	for _, f := range want {
		byID[f.ID] = f
	}
	for _, r := range recs {
		var d DetectionFinding
		if err := json.Unmarshal(r.Value, &d); err != nil {
			t.Fatalf("decode %s: %v", r.Value, err)
		}
		f, ok := byID[d.FindingInfo.UID]
		if !ok {
			t.Fatalf("unexpected finding %s", d.FindingInfo.UID)
		}
		if d.ClassUID != ClassUID || d.TypeUID != TypeUID || d.CategoryUID != CategoryUID {
			t.Errorf("class %d type %d category %d", d.ClassUID, d.TypeUID, d.CategoryUID)
		}
		if string(r.Key) != f.AgentID || sink.HeaderValue(r, HeaderFindingID) != f.ID {
			t.Errorf("record key %q header %q, want %q %q", r.Key, sink.HeaderValue(r, HeaderFindingID), f.AgentID, f.ID)
		}
		if d.RiskScore != int(f.Severity) || d.Actor.AppUID != f.AgentID {
			t.Errorf("risk_score %d actor %+v for %+v", d.RiskScore, d.Actor, f)
		}
	}
}

func TestPublisherKfake(t *testing.T) {
	info := finding("agent-b", 10) // informational
	high := finding("agent-a", 80)
	tests := []struct {
		name        string
		minSeverity uint8
		findings    []models.Finding
		want        []models.Finding
	}{
		{"all findings by default", 0, []models.Finding{info, high}, []models.Finding{info, high}},
		{"min severity drops informational", models.SeverityLow, []models.Finding{info, high}, []models.Finding{high}},
		{"nothing at or above min", 95, []models.Finding{info, high}, nil},
		{"empty batch", 0, nil, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := fmt.Sprintf("findings-%d", i)
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			addr := c.ListenAddrs()[0]
			cl := newClient(t, addr)
			p := NewPublisher(cl, topic)
			p.MinSeverity = tt.minSeverity
			if p.Topic() != topic {
				t.Fatalf("topic %q", p.Topic())
			}
			if err := p.Write(context.Background(), &sink.Batch{Findings: tt.findings, Commands: []models.ContainmentCommand{{AgentID: "x"}}}); err != nil {
				t.Fatalf("Write: %v", err)
			}
			// Findings published after the expected ones act as an end
			// marker so that "nothing published" is checked too.
			marker := finding("agent-z", 99)
			marker.Kind = "marker"
			marker.SetID()
			if err := p.Write(context.Background(), &sink.Batch{Findings: []models.Finding{marker}}); err != nil {
				t.Fatalf("Write marker: %v", err)
			}
			recs := readBack(t, addr, topic, len(tt.want)+1)
			checkRecords(t, recs, append(append([]models.Finding(nil), tt.want...), marker))
		})
	}
}

func TestNewPublisherDefaultTopic(t *testing.T) {
	if p := NewPublisher(nil, ""); p.Topic() != DefaultTopic || DefaultTopic != "tether.findings.ocsf" {
		t.Fatalf("topic %q", p.Topic())
	}
	if err := NewPublisher(nil, "").Write(context.Background(), &sink.Batch{}); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
}

// TestPublisherUnavailable: an unreachable broker is transient.
func TestPublisherUnavailable(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	addr := c.ListenAddrs()[0]
	c.Close()
	cl := newClient(t, addr, kgo.RetryTimeout(time.Second))
	p := NewPublisher(cl, "t")
	p.Timeout = 2 * time.Second
	err = p.Write(context.Background(), &sink.Batch{Findings: []models.Finding{finding("a", 60)}})
	if !errors.Is(err, sink.ErrUnavailable) {
		t.Fatalf("got %v, want sink.ErrUnavailable", err)
	}
}
