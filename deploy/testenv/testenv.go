// Package testenv locates the real services that integration tests run
// against: the Kafka broker and the ClickHouse server started by
// deploy/local/services.sh. When a service is unreachable a test is skipped
// on a developer machine, but fails when CI=true: CI must never pass by
// skipping its integration tests.
package testenv

import (
	"net"
	"os"
	"testing"
	"time"
)

// Environment variables naming the services, with their defaults.
const (
	KafkaEnv          = "TETHER_TEST_KAFKA"      // default 127.0.0.1:9092
	ClickHouseEnv     = "TETHER_TEST_CLICKHOUSE" // default 127.0.0.1:9000 (native protocol)
	defaultKafka      = "127.0.0.1:9092"
	defaultClickHouse = "127.0.0.1:9000"
)

// CI reports whether the tests run under CI (CI=true).
func CI() bool { return os.Getenv("CI") == "true" }

// Kafka returns the broker address, or skips/fails t when it is unreachable.
func Kafka(t testing.TB) string { return need(t, "Kafka", KafkaEnv, defaultKafka) }

// ClickHouse returns the native-protocol address, or skips/fails t when it
// is unreachable.
func ClickHouse(t testing.TB) string { return need(t, "ClickHouse", ClickHouseEnv, defaultClickHouse) }

func need(t testing.TB, name, env, def string) string {
	t.Helper()
	addr := os.Getenv(env)
	if addr == "" {
		addr = def
	}
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		return addr
	}
	msg := name + " is not reachable at " + addr + " (" + err.Error() + "); start it with deploy/local/services.sh up or set " + env
	if CI() {
		t.Fatal("CI=true: " + msg)
	}
	t.Skip(msg)
	return ""
}
