package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/agentcost/agentcost/cmd/agentsim/sim"
	"github.com/agentcost/agentcost/internal/chtest"
	"github.com/agentcost/agentcost/processor/agentcostprocessor"
)

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, b, 0o644))
}

// replaceFile writes b to path atomically (temp file and rename), as a
// config-management tool would, with a modification time that differs from
// the previous one.
func replaceFile(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, b, 0o644))
	later := time.Now().Add(time.Second)
	require.NoError(t, os.Chtimes(tmp, later, later))
	require.NoError(t, os.Rename(tmp, path))
}

// TestFaultRuntimeFilesReplacedByInvalid runs the demo collector on copies
// of the example registry and catalog, replaces both with invalid files
// while it runs, and checks that later spans are still attributed with the
// last good registry and priced with the catalog loaded at start (the
// catalog layer's hosted-tool fees included): the totals per team of all
// traffic equal the simulator's, which prices with the good files. A valid
// registry written afterwards is picked up (one agent moves team), so the
// test would see a registry that silently stopped being used.
//
// Catalogs are read at Start only (no reload); an invalid catalog at start
// is a start-up error, checked at the end.
func TestFaultRuntimeFilesReplacedByInvalid(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: needs ClickHouse and about 40 s")
	}
	dir := t.TempDir()
	reg, cat := filepath.Join(dir, "registry.yaml"), filepath.Join(dir, "catalog.yaml")
	root := repoRoot(t)
	copyFile(t, filepath.Join(root, "examples/registry.yaml"), reg)
	copyFile(t, filepath.Join(root, "examples/catalog.yaml"), cat)
	c := startCollectorWith(t, chtest.New(t),
		"yaml:processors::agentcost::registry::path: "+reg,
		"yaml:processors::agentcost::registry::reload_interval: 100ms",
		"yaml:processors::agentcost::catalogs: ["+cat+"]")
	pr, err := sim.PricerFromCollectorConfig(demoConfig)
	require.NoError(t, err)

	a := c.send(t, "grpc", sim.Config{Seed: 81, Rate: 1000, Traces: 150}, pr)

	// Invalid versions: YAML that does not parse, then a file that parses
	// but fails validation (duplicate id), then no file at all.
	for _, bad := range [][]byte{[]byte("agents: [\n  - id: {{{\n"), []byte("agents:\n  - id: a\n  - id: a\n"), nil} {
		if bad == nil {
			require.NoError(t, os.Remove(reg))
		} else {
			replaceFile(t, reg, bad)
		}
		replaceFile(t, cat, []byte("schema_version: 1\nproviders: {{{ not a catalog\n"))
		time.Sleep(400 * time.Millisecond) // four reload checks
		b := c.send(t, "grpc", sim.Config{Seed: 82 + uint64(len(bad)), Rate: 1000, Traces: 60}, pr)
		a = merge(a, b)
	}
	require.NotNil(t, a.ByModel["tool:web_search"], "the catalog layer's tool fee is exercised")
	require.Positive(t, a.ByModel["tool:web_search"].Priced)

	// A valid new registry moves kb-answerer from support to team "moved".
	good, err := os.ReadFile(filepath.Join(root, "examples/registry.yaml"))
	require.NoError(t, err)
	moved := append(append([]byte(nil), good...), []byte("\n")...)
	moved = []byte(replaceOnce(t, string(moved), "  - id: kb-answerer\n    team: support\n", "  - id: kb-answerer\n    team: moved\n"))
	replaceFile(t, reg, moved)
	time.Sleep(400 * time.Millisecond)
	d := c.send(t, "grpc", sim.Config{Seed: 99, Rate: 1000, Traces: 150}, pr)
	kb := d.ByAgent["kb-answerer"]
	require.NotNil(t, kb, "seed 99 has kb-answerer calls")
	want := merge(a, d)
	sub := want.ByTeam["support"]
	var ok bool
	sub.Cost, ok = sub.Cost.Sub(kb.Cost)
	require.True(t, ok)
	sub.Calls -= kb.Calls
	sub.Priced -= kb.Priced
	sub.Unpriced -= kb.Unpriced
	sub.NotBillable -= kb.NotBillable
	sub.InputTokens -= kb.InputTokens
	sub.OutputTokens -= kb.OutputTokens
	cp := *kb
	want.ByTeam["moved"] = &cp
	assertExact(t, c, want)

	// An invalid catalog at start is a clear start-up error.
	f := agentcostprocessor.NewFactory()
	cfg := f.CreateDefaultConfig().(*agentcostprocessor.Config)
	cfg.Catalogs = []string{cat}
	p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
	require.NoError(t, err)
	err = p.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), cat)
	_ = p.Shutdown(context.Background())
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	i := indexOf(s, old)
	require.GreaterOrEqual(t, i, 0, "%q not found", old)
	return s[:i] + new + s[i+len(old):]
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// hookReceiver records the alert documents posted to it.
type hookReceiver struct {
	mu  sync.Mutex
	got []map[string]any
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var doc map[string]any
	if json.Unmarshal(b, &doc) == nil {
		h.mu.Lock()
		h.got = append(h.got, doc)
		h.mu.Unlock()
	}
	w.WriteHeader(http.StatusNoContent)
}

// keys returns "budget/threshold" of every document received, sorted, with
// duplicates.
func (h *hookReceiver) keys() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, d := range h.got {
		if d["kind"] != "threshold" {
			continue
		}
		th, _ := d["threshold"].(float64)
		out = append(out, d["budget"].(string)+"/"+jsonNumber(th))
	}
	sort.Strings(out)
	return out
}

func jsonNumber(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

// TestFaultWebhookDown fires budget alerts while the webhook receiver is
// down (nothing listens on its port) and brings it up seconds later: every
// threshold alert the extension reports as fired reaches the receiver,
// exactly once.
func TestFaultWebhookDown(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: needs ClickHouse and about 30 s")
	}
	hookAddr := freeAddr(t)
	c := startCollectorWith(t, chtest.New(t),
		`yaml:extensions::agentcost_budget::notifiers::webhooks: [{name: ops, endpoint: "http://`+hookAddr+`/alerts", max_retries: 10, initial_interval: 200ms, max_interval: 2s, timeout: 2s}]`)
	pr, err := sim.PricerFromCollectorConfig(demoConfig)
	require.NoError(t, err)
	want := c.send(t, "grpc", sim.Config{Seed: 20261129, Rate: 1000, Traces: 400}, pr)
	c.waitRows(t, want.BillableSpans)

	// Alerts have fired (research exceeds its 12 USD hourly budget) and
	// every delivery so far failed.
	fired := firedAlerts(t, c)
	require.Contains(t, fired, "research-hourly/1")
	recv := &hookReceiver{}
	l, err := net.Listen("tcp", hookAddr)
	require.NoError(t, err)
	srv := &http.Server{Handler: recv, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && len(recv.keys()) < len(fired) {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // a duplicate would arrive within the backoff
	assert.Equal(t, fired, recv.keys(), "every fired alert delivered once after the receiver came up")
}

// firedAlerts lists "budget/threshold" of every fired threshold alert from
// the budget API (the labels are thresholds as fractions, e.g. "0.5").
func firedAlerts(t *testing.T, c *collector) []string {
	t.Helper()
	resp, err := getBudgets("http://" + c.budget + "/v1/budgets")
	require.NoError(t, err)
	var out []string
	for _, b := range resp.Budgets {
		for _, a := range b.AlertsFired {
			if a == "projected" {
				continue
			}
			out = append(out, b.Name+"/"+a)
		}
	}
	sort.Strings(out)
	return out
}
