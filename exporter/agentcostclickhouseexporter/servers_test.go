package agentcostclickhouseexporter

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentcost/agentcost/internal/chtest"
)

// Test-owned ClickHouse servers: started with the project's chlocal
// launcher, built by the test from this checkout. Packages' tests run in
// parallel under go test ./..., so each draws from its own slice of the
// ranges: this package uses native ports 19000-19399 with their HTTP twins
// p-1000 (18000-18399); e2e and loadtest use 19400-19899 / 18400-18899,
// cmd/chlocal's test 19950 / 18950. "Nothing listens" is 127.0.0.1:1.

var (
	buildOnce  sync.Once
	chlocalBin string
	buildErr   error
)

// chlocal builds cmd/chlocal from this checkout once per test binary (into
// the user cache directory; go build's cache makes repeats cheap) and
// returns its path.
func chlocal(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		goBin := "go"
		if root := os.Getenv("GOROOT"); root != "" {
			if _, err := os.Stat(filepath.Join(root, "bin", "go")); err == nil {
				goBin = filepath.Join(root, "bin", "go")
			}
		}
		out, err := exec.Command(goBin, "env", "GOMOD").Output()
		if err != nil {
			buildErr = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		modRoot := filepath.Dir(strings.TrimSpace(string(out)))
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		buildDir := filepath.Join(cache, "agentcost", "test-bin")
		if buildErr = os.MkdirAll(buildDir, 0o755); buildErr != nil {
			return
		}
		chlocalBin = filepath.Join(buildDir, "chlocal")
		cmd := exec.Command(goBin, "build", "-o", chlocalBin, "./cmd/chlocal")
		cmd.Dir = modRoot
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/chlocal: %w\n%s", err, b)
		}
	})
	require.NoError(t, buildErr)
	return chlocalBin
}

// server is a ClickHouse server owned by one test.
type server struct {
	t          testing.TB
	bin        string
	dir        string
	tcp, http  int
	configFile string
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

var portMu sync.Mutex
var portsTaken = map[int]bool{}

// Native ports this package's servers use; HTTP is p-httpOffset.
const (
	portLow    = 19000
	portHigh   = 19399 // inclusive
	httpOffset = 1000
)

// freePorts returns n native ports p in portLow-portHigh whose HTTP twin
// p-1000 is free too.
func freePorts(t testing.TB, n int) []int {
	portMu.Lock()
	defer portMu.Unlock()
	const span = portHigh - portLow + 1
	var out []int
	start := rand.IntN(span)
	for i := 0; i < span && len(out) < n; i++ {
		p := portLow + (start+i)%span
		if !portsTaken[p] && portFree(p) && portFree(p-httpOffset) {
			portsTaken[p] = true
			out = append(out, p)
		}
	}
	require.Len(t, out, n, "free ports in %d-%d (HTTP %d-%d)", portLow, portHigh, portLow-httpOffset, portHigh-httpOffset)
	return out
}

// newServer prepares a server (not started) on tcp port p, HTTP p-httpOffset.
func newServer(t testing.TB, p int, configFile string) *server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts its own ClickHouse servers; skipped with -short")
	}
	chtest.Options(t) // skip (or fail under CI) like every ClickHouse test when the engine is missing
	s := &server{t: t, bin: chlocal(t), dir: t.TempDir(), tcp: p, http: p - httpOffset, configFile: configFile}
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *server) args(cmd string) []string {
	a := []string{cmd, "-dir", s.dir, "-tcp-port", strconv.Itoa(s.tcp), "-http-port", strconv.Itoa(s.http)}
	if s.configFile != "" && cmd == "start" {
		a = append(a, "-config-file", s.configFile)
	}
	return a
}

func (s *server) start() {
	s.t.Helper()
	out, err := exec.Command(s.bin, s.args("start")...).CombinedOutput()
	require.NoError(s.t, err, "chlocal start: %s", out)
}

func (s *server) stop() {
	out, err := exec.Command(s.bin, s.args("stop")...).CombinedOutput()
	if err != nil {
		s.t.Logf("chlocal stop: %v: %s", err, out)
	}
}

func (s *server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.tcp) }

func (s *server) conn() driver.Conn {
	s.t.Helper()
	c, err := clickhouse.Open(&clickhouse.Options{Addr: []string{s.addr()}, DialTimeout: 5 * time.Second})
	require.NoError(s.t, err)
	s.t.Cleanup(func() { _ = c.Close() })
	require.NoError(s.t, c.Ping(context.Background()))
	return c
}

// scalar runs a query returning one String value.
func scalar(t testing.TB, c driver.Conn, q string) string {
	t.Helper()
	var s string
	require.NoError(t, c.QueryRow(context.Background(), q).Scan(&s), q)
	return s
}

func TestFreePortsStayInPartition(t *testing.T) {
	ports := freePorts(t, 3)
	seen := map[int]bool{}
	for _, p := range ports {
		assert.GreaterOrEqual(t, p, portLow)
		assert.LessOrEqual(t, p, portHigh)
		assert.False(t, seen[p], "distinct")
		seen[p] = true
	}
}
