package ingest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tetherhq/tether/deploy/testenv"
)

// Environment of the crashing member run by TestStaticMemberHelper.
const (
	envStaticHelper = "TETHER_TEST_STATIC_MEMBER"
	staticAssigned  = "TETHER-STATIC-MEMBER-ASSIGNED"
)

// TestStaticMemberHelper is not a test: TestStaticMembershipResume runs
// the test binary with it as a separate process that joins the group and
// is then killed with SIGKILL, so that it never leaves the group.
func TestStaticMemberHelper(t *testing.T) {
	spec := os.Getenv(envStaticHelper)
	if spec == "" {
		t.Skip("helper process for TestStaticMembershipResume")
	}
	var broker, topic, group, instance, timeout string
	if _, err := fmt.Sscan(spec, &broker, &topic, &group, &instance, &timeout); err != nil {
		t.Fatal(err)
	}
	session, err := time.ParseDuration(timeout)
	if err != nil {
		t.Fatal(err)
	}
	o := staticOptions(broker, topic, group, instance, session)
	c, err := New(o, newMemSink())
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = c.Run(context.Background()) }()
	for c.m.assigned.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println(staticAssigned)
	select {} // until killed
}

func staticOptions(broker, topic, group, instance string, session time.Duration) Options {
	o := DefaultOptions()
	o.Brokers = []string{broker}
	o.Topic = topic
	o.DeadLetterTopic = topic + ".dlq"
	o.Group = group
	if instance != "-" {
		o.InstanceID = instance
	}
	o.SessionTimeout = session
	o.StateTopic = ""
	return o
}

// TestStaticMembershipResume runs on the real broker: a member is killed
// (SIGKILL: no LeaveGroup) and a new process starts at once. With the same
// static instance id it gets the partitions back within seconds, although
// the session timeout is 30 s; a dynamic member has to wait for the
// coordinator to expire the dead one (the session timeout, 6 s here).
func TestStaticMembershipResume(t *testing.T) {
	if testing.Short() {
		t.Skip("real broker and a child process")
	}
	broker := testenv.Kafka(t)
	tests := []struct {
		name     string
		instance string
		session  time.Duration
		within   time.Duration
	}{
		{"static member", "tether-0", 30 * time.Second, 5 * time.Second},
		{"dynamic member", "", 6 * time.Second, 6*time.Second + 15*time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			suffix := fmt.Sprintf("%d", time.Now().UnixNano())
			topic, group := "static.events."+suffix, "static-"+suffix
			cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			testenv.CreateTopics(t, broker, 3, nil, topic, topic+".dlq")

			// The first member, in its own process, until it owns the partitions.
			instance := tt.instance
			if instance == "" {
				instance = "-"
			}
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStaticMemberHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %s %s %s", envStaticHelper, broker, topic, group, instance, tt.session))
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			assigned := make(chan bool, 1)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					if strings.Contains(sc.Text(), staticAssigned) {
						assigned <- true
					}
				}
				close(assigned)
			}()
			select {
			case ok := <-assigned:
				if !ok {
					_ = cmd.Wait()
					t.Fatalf("helper process exited before it was assigned partitions: %s", stderr.String())
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("helper process not assigned partitions within 30s")
			}
			if err := cmd.Process.Kill(); err != nil { // SIGKILL: no LeaveGroup
				t.Fatal(err)
			}
			_ = cmd.Wait()

			// Its replacement.
			o := staticOptions(broker, topic, group, instance, tt.session)
			began := time.Now()
			c, err := New(o, newMemSink())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := start(c)
			deadline := began.Add(tt.within)
			for c.m.assigned.Load() < 3 {
				if time.Now().After(deadline) {
					r.cancel()
					<-r.done
					t.Fatalf("replacement owns %d of 3 partitions after %s", c.m.assigned.Load(), tt.within)
				}
				time.Sleep(10 * time.Millisecond)
			}
			resume := time.Since(began)
			t.Logf("%s: partitions resumed %s after the restart (session timeout %s)", tt.name, resume.Round(10*time.Millisecond), tt.session)
			// and it consumes.
			if err := cl.ProduceSync(ctx, reasoningRecordsTo(topic, 1)...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			r.waitFor(t, "a record after the resume", func() bool { return c.Stats().Commits > 0 })
			r.stop(t)
		})
	}
}

func reasoningRecordsTo(topic string, n int) []*kgo.Record {
	recs := reasoningRecords(n, "a1")
	for _, r := range recs {
		r.Topic = topic
	}
	return recs
}
