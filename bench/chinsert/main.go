// Command chinsert measures ClickHouse insert throughput by rows per insert
// and concurrent inserts, the figures behind the daemon's clickhouse
// insert_rows and insert_workers defaults (bench/README.md). Against a
// running ClickHouse it opens the sink's Writer on a fresh database, then
// for every (rows, workers) pair writes -events fleet events through
// sink.Split{Rows: rows, Workers: workers}, in batches of -batch events as
// the daemon hands them over, and prints events/s. It starts no services.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/rs/zerolog"

	"github.com/tetherhq/tether/bench/fleet"
	"github.com/tetherhq/tether/models"
	"github.com/tetherhq/tether/sink"
	"github.com/tetherhq/tether/sink/clickhouse"
)

func main() {
	addr := flag.String("clickhouse", envOr("TETHER_TEST_CLICKHOUSE", "127.0.0.1:9000"), "ClickHouse native address")
	events := flag.Int("events", 200_000, "events written per configuration")
	batch := flag.Int("batch", 50_000, "events handed to the writer at once (the daemon: one polled batch)")
	rowsList := flag.String("rows", "1000,5000,20000,50000", "rows per insert to try")
	workersList := flag.String("workers", "1,2,3,4", "concurrent inserts to try")
	repeats := flag.Int("repeats", 3, "runs per configuration (the median is printed)")
	flag.Parse()
	if err := run(*addr, *events, *batch, ints(*rowsList), ints(*workersList), *repeats); err != nil {
		fmt.Fprintln(os.Stderr, "chinsert:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func ints(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func run(addr string, n, batch int, rowsList, workersList []int, repeats int) error {
	ctx := context.Background()
	o := clickhouse.DefaultOptions()
	o.Addr = addr
	o.Database = "bench_chinsert_" + strconv.FormatInt(time.Now().Unix(), 10)
	o.MaxOpenConns = max(o.MaxOpenConns, slices.Max(workersList))
	w, err := clickhouse.Open(ctx, o, zerolog.Nop())
	if err != nil {
		return err
	}
	defer func() {
		_ = w.Close()
		if conn, err := ch.Open(&ch.Options{Addr: []string{addr}}); err == nil {
			_ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+o.Database)
			_ = conn.Close()
		}
	}()
	fl := fleet.New(fleet.Options{Agents: 5000, Rogue: 10, Seed: 7, Start: time.Now().UTC().Add(-time.Hour)})
	evs := make([]*models.Event, n)
	var bytes int
	for i := range evs {
		evs[i] = fl.Next()
		b, _ := json.Marshal(evs[i])
		bytes += len(b)
	}
	fmt.Printf("# %d fleet events (mean %d B as JSON), handed over in batches of %d; %d CPUs; load %s\n",
		n, bytes/n, batch, runtime.NumCPU(), loadAvg())
	fmt.Printf("| rows per insert | workers | events/s (median of %d) |\n|---|---|---|\n", repeats)
	for _, rows := range rowsList {
		for _, workers := range workersList {
			var rates []float64
			for range repeats {
				s := sink.Split{W: w, Rows: rows, Workers: workers}
				start := time.Now()
				for lo := 0; lo < n; lo += batch {
					b := &sink.Batch{Events: evs[lo:min(lo+batch, n)]}
					if err := s.Write(ctx, b); err != nil {
						return err
					}
				}
				rates = append(rates, float64(n)/time.Since(start).Seconds())
			}
			slices.Sort(rates)
			fmt.Printf("| %d | %d | %.0f |\n", rows, workers, rates[len(rates)/2])
		}
	}
	return nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
