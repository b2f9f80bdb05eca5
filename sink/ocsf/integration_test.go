package ocsf

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
)

// TestIntegrationKafka publishes findings to the real broker started by
// deploy/local/services.sh, reads them back and decodes the OCSF events.
func TestIntegrationKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short")
	}
	addr := testenv.Kafka(t)
	topic := fmt.Sprintf("tether.findings.ocsf.it-%d", time.Now().UnixNano())
	cl := newClient(t, addr, kgo.RequestTimeoutOverhead(5*time.Second))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	testenv.CreateTopics(t, addr, 3, nil, topic)
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		_, _ = adm.DeleteTopic(dctx, topic)
	})

	want := []models.Finding{finding("agent-a", 15), finding("agent-b", 55), finding("agent-c", 95)}
	p := NewPublisher(cl, topic)
	p.ProductVersion = "it"
	if err := p.Write(ctx, &sink.Batch{Findings: want}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	recs := readBack(t, addr, topic, len(want))
	if len(recs) != len(want) {
		t.Fatalf("read %d records, want %d", len(recs), len(want))
	}
	checkRecords(t, recs, want)
}
