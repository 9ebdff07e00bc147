package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/agentcost/agentcost/cmd/agentsim/sim"
	"github.com/agentcost/agentcost/internal/chtest"
)

// This file is the harness of the fault tests: a ClickHouse server and a
// collector process owned by one test, so that either can be killed with
// SIGKILL, and a sender that knows which OTLP requests were acknowledged.

// envChild makes the test binary run as a collector process (see
// TestCollectorChild); envChildURIs holds its config URIs, one per line.
const (
	envChild     = "AGENTCOST_E2E_COLLECTOR_CHILD"
	envChildURIs = "AGENTCOST_E2E_COLLECTOR_URIS"
)

// TestCollectorChild is not a test: when the test binary is started with
// envChild set it runs the collector in the foreground (the demo config and
// the overrides of envChildURIs, from the repository root) until SIGTERM or
// SIGINT, so that a fault test can kill it with SIGKILL.
func TestCollectorChild(t *testing.T) {
	if os.Getenv(envChild) != "1" {
		t.Skip("collector child process: started by the fault tests only")
	}
	t.Chdir(repoRoot(t))
	logger, err := zap.NewDevelopment(zap.IncreaseLevel(zap.ErrorLevel), zap.AddStacktrace(zap.FatalLevel))
	require.NoError(t, err)
	uris := strings.Split(strings.TrimSpace(os.Getenv(envChildURIs)), "\n")
	col, err := otelcol.NewCollector(otelcol.CollectorSettings{
		BuildInfo:             component.BuildInfo{Command: "otelcol-agentcost-e2e-child", Version: "test"},
		Factories:             func() (otelcol.Factories, error) { return componentsWithLogger(logger) },
		SkipSettingGRPCLogger: true,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{ResolverSettings: confmap.ResolverSettings{
			URIs:              uris,
			ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory(), yamlprovider.NewFactory()},
			DefaultScheme:     "env",
		}},
	})
	require.NoError(t, err)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	require.NoError(t, col.Run(ctx))
}

// chServer is a ClickHouse server started by one test (chlocal) on its own
// ports, so that the test can kill and restart it.
type chServer struct {
	bin, dir      string
	tcp, httpPort int
}

var (
	chlocalOnce sync.Once
	chlocalBin  string
	chlocalErr  error
)

// buildChlocal builds cmd/chlocal once per test binary.
func buildChlocal(t testing.TB) string {
	t.Helper()
	chlocalOnce.Do(func() {
		dir, err := os.MkdirTemp("", "agentcost-e2e-chlocal")
		if err != nil {
			chlocalErr = err
			return
		}
		chlocalBin = filepath.Join(dir, "chlocal")
		cmd := exec.Command("go", "build", "-o", chlocalBin, "./cmd/chlocal")
		cmd.Dir = rootDir
		if out, err := cmd.CombinedOutput(); err != nil {
			chlocalErr = fmt.Errorf("go build ./cmd/chlocal: %v\n%s", err, out)
		}
	})
	require.NoError(t, chlocalErr)
	return chlocalBin
}

// freePortIn returns a free loopback TCP port in [lo, hi].
func freePortIn(t testing.TB, lo, hi int) int {
	t.Helper()
	start := lo + int(time.Now().UnixNano()%int64(hi-lo))
	for i := 0; i <= hi-lo; i++ {
		p := lo + (start-lo+i)%(hi-lo+1)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			l.Close()
			return p
		}
	}
	t.Fatalf("no free port in %d-%d", lo, hi)
	return 0
}

// startCHServer starts a test-owned ClickHouse (native port in 19000-19999,
// HTTP in 18000-18999), stopped when the test ends. It needs the engine that
// `make clickhouse` fetched, so it skips like chtest when no local server
// answers (and fails under CI=true).
func startCHServer(t testing.TB) *chServer {
	t.Helper()
	chtest.Options(t) // skip or fail like every ClickHouse test when none is set up
	s := &chServer{bin: buildChlocal(t), dir: t.TempDir(), tcp: freePortIn(t, 19000, 19999), httpPort: freePortIn(t, 18000, 18999)}
	s.start(t)
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(s.dir, "server.log")); err == nil {
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("test ClickHouse server.log (end):\n%s", b)
			}
		}
		_ = s.run("stop")
	})
	return s
}

func (s *chServer) run(cmd string) error {
	c := exec.Command(s.bin, cmd, "-dir", s.dir, "-tcp-port", strconv.Itoa(s.tcp), "-http-port", strconv.Itoa(s.httpPort))
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("chlocal %s: %v\n%s", cmd, err, out)
	}
	return nil
}

func (s *chServer) start(t testing.TB) {
	t.Helper()
	require.NoError(t, s.run("start"))
}

// answers reports whether the server accepts native-protocol connections.
func (s *chServer) answers() bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.tcp), 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// kill sends SIGKILL to the server's process group: no shutdown at all.
func (s *chServer) kill(t testing.TB) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.dir, "server.pid"))
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(-pid, syscall.SIGKILL))
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	_ = os.Remove(filepath.Join(s.dir, "server.pid"))
}

// newDB creates a database on the server for the test.
func (s *chServer) newDB(t testing.TB) *chtest.DB {
	t.Helper()
	opts := &clickhouse.Options{Addr: []string{"127.0.0.1:" + strconv.Itoa(s.tcp)}, DialTimeout: 5 * time.Second}
	admin, err := clickhouse.Open(opts)
	require.NoError(t, err)
	defer admin.Close()
	name := "fault_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	require.NoError(t, admin.Exec(context.Background(), "CREATE DATABASE "+name))
	dbOpts := *opts
	dbOpts.Auth.Database = name
	conn, err := clickhouse.Open(&dbOpts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &chtest.DB{Name: name, Conn: conn, Options: &dbOpts}
}

// childCollector is a collector process (the test binary re-executed as
// TestCollectorChild).
type childCollector struct {
	c       *collector
	uris    []string
	env     []string
	cmd     *exec.Cmd
	out     *bytes.Buffer
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
}

// startChild starts a collector process running the demo config plus
// overrides, writing to db, on fresh ports.
func startChild(t testing.TB, db *chtest.DB, overrides ...string) *childCollector {
	t.Helper()
	t.Chdir(repoRoot(t))
	c := &collector{grpc: freeAddr(t), http: freeAddr(t), budget: freeAddr(t), db: db}
	ch := &childCollector{c: c, uris: append([]string{"file:" + demoConfig}, overrides...)}
	ch.env = append(os.Environ(),
		envChild+"=1", envChildURIs+"="+strings.Join(ch.uris, "\n"),
		"AGENTCOST_OTLP_GRPC_ENDPOINT="+c.grpc, "AGENTCOST_OTLP_HTTP_ENDPOINT="+c.http,
		"AGENTCOST_BUDGET_ENDPOINT="+c.budget, "AGENTCOST_DEMO_DB="+db.Name,
		"AGENTCOST_CLICKHOUSE_ENDPOINT=tcp://"+db.Options.Addr[0])
	ch.start(t)
	t.Cleanup(func() { ch.stop(t) })
	return ch
}

func (ch *childCollector) start(t testing.TB) {
	t.Helper()
	if err := ch.tryStart(); err != nil {
		t.Fatal(err)
	}
}

// tryStart starts the process and waits until it listens; on failure the
// process is gone and the error holds its output.
func (ch *childCollector) tryStart() error {
	ch.out = &bytes.Buffer{}
	ch.cmd = exec.Command(os.Args[0], "-test.run", "^TestCollectorChild$", "-test.count", "1", "-test.timeout", "30m")
	ch.cmd.Env = ch.env
	ch.cmd.Dir = filepath.Join(rootDir, "e2e") // the package directory, as go test runs it
	ch.cmd.Stdout, ch.cmd.Stderr = ch.out, ch.out
	if err := ch.cmd.Start(); err != nil {
		ch.cmd = nil
		return err
	}
	ch.done = make(chan struct{})
	go func(ch *childCollector, cmd *exec.Cmd, done chan struct{}) {
		ch.waitErr = cmd.Wait()
		close(done)
	}(ch, ch.cmd, ch.done)
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := net.DialTimeout("tcp", ch.c.grpc, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-ch.done:
			ch.cmd = nil
			return fmt.Errorf("collector process exited while starting: %v\n%s", ch.waitErr, ch.out)
		default:
		}
		if time.Now().After(deadline) {
			_ = ch.cmd.Process.Kill()
			<-ch.done
			ch.cmd = nil
			return fmt.Errorf("collector process not listening after a minute:\n%s", ch.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (ch *childCollector) kill(t testing.TB) {
	t.Helper()
	require.NoError(t, ch.cmd.Process.Signal(syscall.SIGKILL))
	<-ch.done
	ch.cmd = nil
}

// stop asks the process to shut down (SIGTERM) and waits for it.
func (ch *childCollector) stop(t testing.TB) {
	t.Helper()
	if ch.cmd == nil {
		return
	}
	_ = ch.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-ch.done:
	case <-time.After(time.Minute):
		_ = ch.cmd.Process.Kill()
		<-ch.done
		t.Errorf("collector process did not stop within a minute:\n%s", ch.out)
	}
	ch.cmd = nil
	if t.Failed() {
		t.Logf("collector process output:\n%s", ch.out)
	}
}

// ackSender sends simulator traffic one trace per OTLP request, with the
// exporter's own retries off, and records which requests were acknowledged
// (the Export call returned success) and which failed, by seed: each seed is
// one trace (sim.Run with Traces 1), so its Expectation is that trace's.
type ackSender struct {
	mu     sync.Mutex
	acked  map[uint64]*sim.Expectation
	failed map[uint64]failedTrace
}

type failedTrace struct {
	want    *sim.Expectation
	traceID trace.TraceID
	err     error
}

// traceExporter records the trace id and result of the one request of a
// one-trace run.
type traceExporter struct {
	sdktrace.SpanExporter
	mu      sync.Mutex
	calls   int
	traceID trace.TraceID
	err     error
}

func (e *traceExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	if len(spans) > 0 {
		e.traceID = spans[0].SpanContext().TraceID()
	}
	if err != nil {
		e.err = err
	}
	return err
}

// run sends traces from seeds base, base+1, ... with workers in parallel
// until ctx ends or n traces were sent, at most rate traces/s overall.
func (s *ackSender) run(ctx context.Context, t testing.TB, endpoint string, pr *sim.Pricer, base uint64, n, workers int, rate float64) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {})) // failures are counted, not logged
	if s.acked == nil {
		s.acked, s.failed = map[uint64]*sim.Expectation{}, map[uint64]failedTrace{}
	}
	var wg sync.WaitGroup
	next := make(chan uint64)
	go func() {
		defer close(next)
		tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
		for i := 0; i < n; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			select {
			case <-ctx.Done():
				return
			case next <- base + uint64(i):
			}
		}
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seed := range next {
				s.sendOne(t, endpoint, pr, seed)
			}
		}()
	}
	wg.Wait()
}

func (s *ackSender) sendOne(t testing.TB, endpoint string, pr *sim.Pricer, seed uint64) {
	ctx := context.Background()
	inner, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}), otlptracegrpc.WithTimeout(10*time.Second))
	if err != nil {
		t.Errorf("otlp exporter: %v", err)
		return
	}
	defer inner.Shutdown(ctx)
	exp := &traceExporter{SpanExporter: inner}
	want, runErr := sim.Run(ctx, sim.Config{Seed: seed, Rate: 1e6, Traces: 1}, exp, pr, nil)
	exp.mu.Lock()
	defer exp.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case exp.calls != 1:
		t.Errorf("seed %d: %d export requests for one trace, want 1 (err %v)", seed, exp.calls, runErr)
	case exp.err == nil && runErr == nil:
		s.acked[seed] = want
	default:
		s.failed[seed] = failedTrace{want: want, traceID: exp.traceID, err: errOr(exp.err, runErr)}
	}
}

func errOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (s *ackSender) counts() (acked, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked), len(s.failed)
}
