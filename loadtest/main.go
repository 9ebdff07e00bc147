// Command loadtest drives the built collector (dist/otelcol-agentcost, `make
// build`) with the traffic simulator at increasing rates against a
// ClickHouse server, and reports per step: the spans/s sent, whether every
// cost row arrived (zero loss, none twice), the collector's CPU seconds per
// 10k spans (utime+stime from /proc/<pid>/stat), its peak RSS (VmHWM from
// /proc/<pid>/status), and the p50/p99 delay from a trace's end to its rows
// being visible in ClickHouse. The highest step with zero loss, the rate
// kept (at least 95% of the target sent) and the queue drained within
// -drain is the highest sustained rate.
//
// Each step starts a fresh collector process (examples/demo/config.yaml,
// free ports) writing to a database of its own (agentcost_load_<run>_<step>,
// dropped afterwards unless -keep). The visibility delay is measured with a
// column this tool adds to the step's cost_events table after the
// collector created it: `visible_at DateTime64(3) DEFAULT now64(3)`, set by
// the server when the row is inserted.
//
//	make loadtest                       # build, start ClickHouse, run the default steps
//	go run ./loadtest -steps 2000,4000 -duration 20s
//
// Sender, collector and ClickHouse share the machine: on a small box the
// figures are those of the three together.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"

	"github.com/agentcost/agentcost/cmd/agentsim/sim"
)

// spansPerTrace is the simulator's mean trace size (BENCHMARKS.md), used to
// turn a span rate into the simulator's trace rate.
const spansPerTrace = 9.35

type options struct {
	collector, config, dsn string
	steps                  []int
	duration, drain        time.Duration
	keep                   bool
	seed                   uint64
}

func main() {
	var o options
	var steps string
	flag.StringVar(&o.collector, "collector", "dist/otelcol-agentcost", "collector binary (make build)")
	flag.StringVar(&o.config, "config", "examples/demo/config.yaml", "collector config (listen addresses and database from the AGENTCOST_* variables)")
	flag.StringVar(&o.dsn, "dsn", envOr("AGENTCOST_CLICKHOUSE_DSN", "clickhouse://127.0.0.1:9000/default"), "ClickHouse server")
	flag.StringVar(&steps, "steps", "5000,10000,15000,20000,25000,30000,40000", "target rates, spans/s, in increasing order")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "how long each step sends")
	flag.DurationVar(&o.drain, "drain", 15*time.Second, "how long after the end of sending every row must be visible")
	flag.BoolVar(&o.keep, "keep", false, "keep the step databases")
	flag.Uint64Var(&o.seed, "seed", 1, "simulator seed of the first step (each step adds one)")
	flag.Parse()
	for _, s := range strings.Split(steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fatalf("-steps: %q is not a positive integer", s)
		}
		o.steps = append(o.steps, n)
	}
	if err := run(o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadtest: "+format+"\n", args...)
	os.Exit(1)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// result is one step's figures.
type result struct {
	target          int
	sentSpans       int
	sentRate        float64
	rows, wantRows  int
	distinct        uint64
	failed          int
	cpuSeconds      float64
	peakRSSMiB      float64
	p50, p99, max   time.Duration
	drained         bool
	drainTime       time.Duration
	err             error
	senderCPUSecond float64
}

func (r result) ok() bool {
	return r.err == nil && r.failed == 0 && r.drained && r.rows == r.wantRows && r.distinct == uint64(r.wantRows) &&
		r.sentRate >= 0.95*float64(r.target)
}

func run(o options) error {
	if _, err := os.Stat(o.collector); err != nil {
		return fmt.Errorf("collector binary: %w (run `make build`)", err)
	}
	opts, err := clickhouse.ParseDSN(o.dsn)
	if err != nil {
		return fmt.Errorf("-dsn %q: %w", o.dsn, err)
	}
	admin, err := clickhouse.Open(opts)
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := admin.Ping(context.Background()); err != nil {
		return fmt.Errorf("no ClickHouse at %s (make clickhouse): %w", o.dsn, err)
	}
	pr, err := sim.PricerFromCollectorConfig(o.config)
	if err != nil {
		return err
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {})) // failures are counted
	runID := time.Now().UTC().Format("20060102_150405")
	fmt.Printf("loadtest %s: collector %s, config %s, ClickHouse %s, %s per step, drain %s\n",
		runID, o.collector, o.config, opts.Addr[0], o.duration, o.drain)
	var results []result
	for i, target := range o.steps {
		db := fmt.Sprintf("agentcost_load_%s_%d", runID, i)
		r := step(o, opts, admin, pr, db, target, o.seed+uint64(i))
		results = append(results, r)
		fmt.Printf("step %d: target %d spans/s: sent %.0f spans/s, rows %d/%d (%d distinct spans), failed %d, cpu %.2f s/10k spans, rss %.0f MiB, p50 %s p99 %s, drained %v in %s, ok %v%s\n",
			i, target, r.sentRate, r.rows, r.wantRows, r.distinct, r.failed, r.cpuSeconds, r.peakRSSMiB, r.p50, r.p99, r.drained,
			r.drainTime.Round(100*time.Millisecond), r.ok(), errSuffix(r.err))
		if !o.keep {
			_ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db+" SYNC")
		}
		if !r.ok() {
			break
		}
	}
	report(results)
	return nil
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}

func report(rs []result) {
	fmt.Println()
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "target spans/s\tsent spans/s\trows stored/sent\tduplicates\tcollector CPU s/10k spans\tpeak RSS MiB\tp50 visible\tp99 visible\tsender CPU s/10k spans\tzero loss\t")
	best := -1
	for i, r := range rs {
		fmt.Fprintf(w, "%d\t%.0f\t%d/%d\t%d\t%.3f\t%.0f\t%s\t%s\t%.3f\t%v\t\n", r.target, r.sentRate, r.rows, r.wantRows, uint64(r.rows)-r.distinct,
			r.cpuSeconds, r.peakRSSMiB, r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.senderCPUSecond, r.ok())
		if r.ok() {
			best = i
		}
	}
	_ = w.Flush()
	if best < 0 {
		fmt.Println("\nno step sustained its rate with zero loss")
		return
	}
	b := rs[best]
	fmt.Printf("\nhighest sustained rate with zero loss: %.0f spans/s (target %d); collector CPU %.3f s per 10k spans, peak RSS %.0f MiB, p99 trace end -> visible %s\n",
		b.sentRate, b.target, b.cpuSeconds, b.peakRSSMiB, b.p99.Round(time.Millisecond))
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func step(o options, opts *clickhouse.Options, admin driver.Conn, pr *sim.Pricer, db string, target int, seed uint64) (r result) {
	r.target = target
	ctx := context.Background()
	if err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		r.err = err
		return r
	}
	addrs := make([]string, 4)
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			r.err = err
			return r
		}
		addrs[i] = a
	}
	_, metricsPort, _ := net.SplitHostPort(addrs[3])
	cmd := exec.Command(o.collector, "--config", o.config)
	cmd.Env = append(os.Environ(),
		"AGENTCOST_OTLP_GRPC_ENDPOINT="+addrs[0], "AGENTCOST_OTLP_HTTP_ENDPOINT="+addrs[1],
		"AGENTCOST_BUDGET_ENDPOINT="+addrs[2], "AGENTCOST_METRICS_PORT="+metricsPort,
		"AGENTCOST_DEMO_DB="+db, "AGENTCOST_CLICKHOUSE_ENDPOINT=tcp://"+opts.Addr[0])
	logPath := filepath.Join(os.TempDir(), db+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		r.err = err
		return r
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		r.err = err
		return r
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if r.ok() {
			_ = os.Remove(logPath)
		} else {
			fmt.Printf("  collector log kept: %s\n", logPath)
		}
	}()
	pid := cmd.Process.Pid

	// Wait for the receiver and the schema, then add the visibility column.
	conn, err := waitReady(opts, db, addrs[0], 60*time.Second)
	if err != nil {
		r.err = err
		return r
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "ALTER TABLE cost_events ADD COLUMN visible_at DateTime64(3) DEFAULT now64(3)"); err != nil {
		r.err = fmt.Errorf("add visible_at: %w", err)
		return r
	}

	cpu0, _ := procCPU(pid)
	self0, _ := procCPU(os.Getpid())
	inner, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(addrs[0]), otlptracegrpc.WithInsecure())
	if err != nil {
		r.err = err
		return r
	}
	exp := &sim.CountingExporter{SpanExporter: inner}
	begin := time.Now()
	want, err := sim.Run(ctx, sim.Config{Seed: seed, Rate: float64(target) / spansPerTrace, Duration: o.duration}, exp, pr, nil)
	sendTime := time.Since(begin)
	_ = inner.Shutdown(ctx)
	if err != nil {
		r.err = err
		return r
	}
	exported, failed, _ := exp.Counts()
	r.sentSpans, r.failed, r.wantRows = exported, failed, want.BillableSpans
	r.sentRate = float64(want.Spans) / sendTime.Seconds()

	// Drain: every row visible within o.drain.
	end := time.Now()
	for {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM cost_events").Scan(&n); err == nil {
			r.rows = int(n)
			if r.rows >= r.wantRows {
				r.drained = true
				break
			}
		}
		if time.Since(end) > o.drain {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.drainTime = time.Since(end)
	cpu1, _ := procCPU(pid)
	self1, _ := procCPU(os.Getpid())
	r.cpuSeconds = (cpu1 - cpu0) / float64(want.Spans) * 10000
	r.senderCPUSecond = (self1 - self0) / float64(want.Spans) * 10000
	r.peakRSSMiB = procHWM(pid)
	if r.drained {
		time.Sleep(2 * time.Second) // a duplicate batch would land now
	}
	var n, distinct uint64
	if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(trace_id, span_id) FROM cost_events").Scan(&n, &distinct); err != nil {
		r.err = err
		return r
	}
	r.rows, r.distinct = int(n), distinct
	// Delay from the end of the trace (when the simulator hands it to the
	// SDK: the root span ends last) to the row's insert on the server.
	var p50, p99, mx float64
	if err := conn.QueryRow(ctx, `SELECT quantileExact(0.5)(d), quantileExact(0.99)(d), max(d) FROM (
		SELECT toFloat64(visible_at) - max(toFloat64(event_time) + duration_ns / 1e9) OVER (PARTITION BY trace_id) AS d
		FROM cost_events)`).Scan(&p50, &p99, &mx); err != nil {
		r.err = fmt.Errorf("visibility delay: %w", err)
		return r
	}
	r.p50, r.p99, r.max = seconds(p50), seconds(p99), seconds(mx)
	return r
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// waitReady waits until the collector listens on grpc and its exporter has
// created cost_events in db.
func waitReady(opts *clickhouse.Options, db, grpc string, timeout time.Duration) (driver.Conn, error) {
	o := *opts
	o.Auth.Database = db
	conn, err := clickhouse.Open(&o)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", grpc, time.Second)
		if err == nil {
			c.Close()
			var n uint64
			if err := conn.QueryRow(context.Background(), "SELECT count() FROM system.tables WHERE database = ? AND name = 'cost_events'", db).Scan(&n); err == nil && n == 1 {
				return conn, nil
			}
		}
		if time.Now().After(deadline) {
			conn.Close()
			return nil, errors.New("collector not ready (listening, cost_events created) within " + timeout.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// procCPU returns utime+stime of pid in seconds.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime 15.
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks, nil
}

// clockTicks is USER_HZ, 100 on Linux for every architecture we run on.
const clockTicks = 100

// procHWM returns the peak resident set size of pid in MiB.
func procHWM(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
