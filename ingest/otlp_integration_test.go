package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/deploy/testenv"
	"github.com/tetherhq/tether/ingest/otlp"
	"github.com/tetherhq/tether/models"
)

const otlpFixtures = "../testdata/otlp/"

// otlpRecords returns the fixture run as record values in one encoding
// ("native", otlp.EncodingProto, otlp.EncodingJSON), every time shifted by d.
func otlpRecords(t *testing.T, enc string, d time.Duration) [][]byte {
	t.Helper()
	var out [][]byte
	switch enc {
	case "native":
		f, err := os.Open(otlpFixtures + "agent_run.events.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var ev models.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatal(err)
			}
			ev.Time = ev.Time.Add(d)
			b, _ := json.Marshal(ev)
			out = append(out, b)
		}
	case otlp.EncodingProto, otlp.EncodingJSON:
		var payloads [][]byte
		if enc == otlp.EncodingProto {
			b, err := os.ReadFile(otlpFixtures + "agent_run.binpb")
			if err != nil {
				t.Fatal(err)
			}
			for len(b) > 0 {
				n := binary.BigEndian.Uint32(b)
				payloads, b = append(payloads, b[4:4+n]), b[4+n:]
			}
		} else {
			b, err := os.ReadFile(otlpFixtures + "agent_run.jsonl")
			if err != nil {
				t.Fatal(err)
			}
			payloads = bytes.Split(bytes.TrimSpace(b), []byte("\n"))
		}
		for _, p := range payloads {
			td, err := otlp.Unmarshal(p, enc)
			if err != nil {
				t.Fatal(err)
			}
			otlp.Shift(td, d)
			b, err := otlp.Marshal(td, enc)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	return out
}

// TestIntegrationOTLPEquivalence produces the scripted agent run onto the
// real broker three times — as native events, and as the OTLP payloads the
// OpenTelemetry Python SDK's encoder produced (otlp_proto, otlp_json; no
// record key, as the Collector's Kafka exporter writes them) — and checks
// that the consumer yields the same findings from each.
func TestIntegrationOTLPEquivalence(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test; run without -short")
	}
	addr := testenv.Kafka(t)
	inv, err := models.LoadInventoryFile(otlpFixtures + "inventory.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// the run is from 2026-01-01: move it to a minute ago
	d := time.Now().Add(-time.Minute).Sub(time.Date(2026, 1, 1, 12, 0, 10, 0, time.UTC)).Truncate(time.Second)
	suffix := time.Now().UnixNano()
	results := map[string][]string{}
	alerted := map[string]bool{}
	var nevents int
	for _, enc := range []string{"native", otlp.EncodingProto, otlp.EncodingJSON} {
		topic := fmt.Sprintf("tether.otlp-it.%s.%d", enc, suffix)
		admCl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		adm := kadm.NewClient(admCl)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		// one partition: the Collector does not key by agent, so only then
		// do the encodings share one detector state as the native run does
		testenv.CreateTopics(t, addr, 1, nil, topic, topic+".dlq")
		t.Cleanup(func() {
			dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer dcancel()
			_, _ = adm.DeleteTopics(dctx, topic, topic+".dlq")
			admCl.Close()
		})
		var recs []*kgo.Record
		for _, v := range otlpRecords(t, enc, d) {
			r := &kgo.Record{Topic: topic, Value: v}
			if enc == "native" {
				var ev models.Event
				_ = json.Unmarshal(v, &ev)
				r.Key = ev.Key()
			}
			recs = append(recs, r)
		}
		if err := admCl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", enc, err)
		}
		cancel()

		o := testOptions([]string{addr})
		o.Topic, o.DeadLetterTopic, o.Group = topic, topic+".dlq", topic
		o.Detector.Inventory = inv
		s := newMemSink()
		c, err := New(o, s)
		if err != nil {
			t.Fatal(err)
		}
		want := int64(len(recs))
		if err := runUntil(t, c, func() bool { return c.Stats().Durable >= want }); err != nil {
			t.Fatalf("%s: %v", enc, err)
		}
		if st := c.Stats(); st.DeadLettered != 0 {
			t.Fatalf("%s: %d records dead-lettered", enc, st.DeadLettered)
		}
		events, _, _ := s.counts()
		if enc == "native" {
			nevents = events
		} else if events != nevents {
			t.Errorf("%s: %d events, native %d", enc, events, nevents)
		}
		var fs []string
		for _, f := range s.findings {
			if enc == "native" && f.Severity >= models.AlertThreshold {
				alerted[f.SessionID] = true
			}
			fs = append(fs, fmt.Sprintf("%s %s/%s agent=%s session=%s severity=%d evidence=%v", f.ID, f.Detector, f.Kind, f.AgentID, f.SessionID, f.Severity, f.EvidenceIDs))
		}
		slices.Sort(fs)
		results[enc] = fs
	}
	native := results["native"]
	if len(native) == 0 {
		t.Fatal("the native run raised no finding")
	}
	// the conversation that followed the instructions in the e-mail alerts,
	// the benign one does not
	if !alerted["conv-hijack"] || alerted["conv-benign"] || alerted["conv-benign-sum"] {
		t.Errorf("alerted sessions %v, want conv-hijack only:\n%s", alerted, strings.Join(native, "\n"))
	}
	for _, enc := range []string{otlp.EncodingProto, otlp.EncodingJSON} {
		if !slices.Equal(results[enc], native) {
			t.Errorf("%s findings differ from native:\n got %q\nwant %q", enc, results[enc], native)
		}
	}
	t.Logf("%d findings from %d events, identical across encodings", len(native), nevents)
}
