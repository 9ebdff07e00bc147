package agentcostprocessor

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/agentcost/agentcost/internal/attrs"
	"github.com/agentcost/agentcost/internal/spend"
	"github.com/agentcost/agentcost/pricing"
	"github.com/agentcost/agentcost/processor/agentcostprocessor/internal/metadata"
)

type hostWithExtensions struct {
	component.Host
	ext map[component.ID]component.Component
}

func (h hostWithExtensions) GetExtensions() map[component.ID]component.Component { return h.ext }

type fakeAccruer struct {
	component.StartFunc
	component.ShutdownFunc
	mu      sync.Mutex
	charges []spend.Charge
}

func (f *fakeAccruer) Accrue(c spend.Charge) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.charges = append(f.charges, c)
}

type notAnAccruer struct {
	component.StartFunc
	component.ShutdownFunc
}

func testConfig(t testing.TB) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.DefaultCatalog = false
	cfg.Catalogs = []string{filepath.Join("testdata", "catalog.yaml")}
	cfg.Registry.Path = filepath.Join("testdata", "agents.yaml")
	cfg.Registry.ReloadInterval = 0
	require.NoError(t, cfg.Validate())
	return cfg
}

func testSettings() processor.Settings { return processortest.NewNopSettings(metadata.Type) }

func newTestProcessor(t *testing.T, cfg *Config, next *consumertest.TracesSink) processor.Traces {
	p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, next)
	require.NoError(t, err)
	return p
}

// chatTrace is one chat span; parent may be empty.
func chatTrace(trace byte, span, parent byte, agent string) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("chat gpt-4o")
	sp.SetTraceID(pcommon.TraceID{15: trace})
	sp.SetSpanID(pcommon.SpanID{7: span})
	if parent != 0 {
		sp.SetParentSpanID(pcommon.SpanID{7: parent})
	}
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)))
	a := sp.Attributes()
	a.PutStr("gen_ai.operation.name", "chat")
	a.PutStr("gen_ai.provider.name", "openai")
	a.PutStr("gen_ai.request.model", "gpt-4o")
	a.PutInt("gen_ai.usage.input_tokens", 1000)
	a.PutInt("gen_ai.usage.output_tokens", 100)
	if agent != "" {
		a.PutStr("gen_ai.agent.id", agent)
	}
	return td
}

func firstSpanAttrs(t *testing.T, sink *consumertest.TracesSink) pcommon.Map {
	all := sink.AllTraces()
	require.NotEmpty(t, all)
	return all[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
}

func str(t *testing.T, m pcommon.Map, k string) string {
	v, ok := m.Get(k)
	require.True(t, ok, "attribute %s missing", k)
	return v.AsString()
}

func TestBudgetAccrue(t *testing.T) {
	cfg := testConfig(t)
	id := component.MustNewID("agentcost_budget")
	cfg.Budget = &id
	acc := &fakeAccruer{}
	sink := new(consumertest.TracesSink)
	p := newTestProcessor(t, cfg, sink)
	require.NoError(t, p.Start(context.Background(), hostWithExtensions{componenttest.NewNopHost(), map[component.ID]component.Component{id: acc}}))
	require.NoError(t, p.ConsumeTraces(context.Background(), chatTrace(1, 1, 0, "support-bot")))
	require.NoError(t, p.Shutdown(context.Background()))
	require.Len(t, acc.charges, 1)
	c := acc.charges[0]
	// 1000 input at $2.50/Mtok + 100 output at $10/Mtok (testdata/catalog.yaml).
	assert.Equal(t, pricing.MustParseMoney("0.0035"), c.Cost)
	assert.Equal(t, "support-bot", c.AgentID)
	assert.Equal(t, "support", c.Team)
	assert.Equal(t, "CC-1200", c.CostCenter)
	assert.Equal(t, "openai", c.Provider)
	assert.Equal(t, "gpt-4o", c.Model)
	assert.Equal(t, time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC), c.Time.UTC())
	assert.Equal(t, "0.003500000000", str(t, firstSpanAttrs(t, sink), attrs.CostTotal))
}

func TestBudgetExtensionErrors(t *testing.T) {
	id := component.MustNewID("agentcost_budget")
	for name, ext := range map[string]map[component.ID]component.Component{
		"missing":    {},
		"wrong type": {id: &notAnAccruer{}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Budget = &id
			p := newTestProcessor(t, cfg, new(consumertest.TracesSink))
			err := p.Start(context.Background(), hostWithExtensions{componenttest.NewNopHost(), ext})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "`budget`")
			assert.Contains(t, err.Error(), `"agentcost_budget"`)
			require.NoError(t, p.Shutdown(context.Background()))
		})
	}
}

func TestStartErrors(t *testing.T) {
	cfg := testConfig(t)
	cfg.Registry.Path = filepath.Join(t.TempDir(), "missing.yaml")
	p := newTestProcessor(t, cfg, new(consumertest.TracesSink))
	err := p.Start(context.Background(), componenttest.NewNopHost())
	require.ErrorContains(t, err, "`registry.path`")
	require.NoError(t, p.Shutdown(context.Background()))

	cfg = testConfig(t)
	cfg.Catalogs = []string{filepath.Join(t.TempDir(), "missing.yaml")}
	p = newTestProcessor(t, cfg, new(consumertest.TracesSink))
	require.ErrorContains(t, p.Start(context.Background(), componenttest.NewNopHost()), "`catalogs`")
	require.NoError(t, p.Shutdown(context.Background()))

	cfg = testConfig(t)
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("schema_version: 99\n"), 0o600))
	cfg.Catalogs = []string{bad}
	p = newTestProcessor(t, cfg, new(consumertest.TracesSink))
	require.ErrorContains(t, p.Start(context.Background(), componenttest.NewNopHost()), "`catalogs`")
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestShutdownWithoutStart(t *testing.T) {
	p := newTestProcessor(t, createDefaultConfig().(*Config), new(consumertest.TracesSink))
	require.NoError(t, p.Shutdown(context.Background()))
}

// An empty `agentcost:` section works: embedded catalog, identity defaults.
func TestEmptyConfig(t *testing.T) {
	sink := new(consumertest.TracesSink)
	p := newTestProcessor(t, createDefaultConfig().(*Config), sink)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeTraces(context.Background(), chatTrace(1, 1, 0, "")))
	require.NoError(t, p.Shutdown(context.Background()))
	m := firstSpanAttrs(t, sink)
	assert.Contains(t, []string{attrs.StatusPriced, attrs.StatusUnpriced}, str(t, m, attrs.CostStatus))
	assert.Equal(t, "svc", str(t, m, attrs.AgentID))
	assert.Equal(t, attrs.IdentityFallback, str(t, m, attrs.IdentityStatus))
	assert.Equal(t, "unassigned", str(t, m, attrs.Team))
}

// A held span is released by the processor's own goroutine when the wait
// runs out, with the fallback identity.
func TestHoldTimeout(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = 50 * time.Millisecond
	sink := new(consumertest.TracesSink)
	p := newTestProcessor(t, cfg, sink)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, p.ConsumeTraces(context.Background(), chatTrace(1, 2, 1, "")))
	assert.Equal(t, 0, sink.SpanCount(), "held, not passed on")
	require.Eventually(t, func() bool { return sink.SpanCount() == 1 }, 5*time.Second, 10*time.Millisecond)
	m := firstSpanAttrs(t, sink)
	assert.Equal(t, attrs.IdentityFallback, str(t, m, attrs.IdentityStatus))
	assert.Equal(t, "svc", str(t, m, attrs.AgentID))
	assert.Equal(t, attrs.StatusPriced, str(t, m, attrs.CostStatus))
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, 1, sink.SpanCount())
}

// Shutdown sends every held span downstream: nothing is lost.
func TestShutdownFlushesHeld(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = time.Hour
	sink := new(consumertest.TracesSink)
	p := newTestProcessor(t, cfg, sink)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	for i := byte(1); i <= 20; i++ {
		require.NoError(t, p.ConsumeTraces(context.Background(), chatTrace(i, 2, 1, "")))
	}
	assert.Equal(t, 0, sink.SpanCount())
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, 20, sink.SpanCount())
}

// Concurrent batches with holding active: run with -race.
func TestConcurrentConsume(t *testing.T) {
	cfg := testConfig(t)
	cfg.Hold.Wait = 20 * time.Millisecond
	sink := new(consumertest.TracesSink)
	p := newTestProcessor(t, cfg, sink)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				trace := byte(g*50 + i + 1)
				if i%2 == 0 {
					_ = p.ConsumeTraces(context.Background(), chatTrace(trace, 2, 1, "")) // held
				} else {
					_ = p.ConsumeTraces(context.Background(), chatTrace(trace, 2, 0, "support-bot"))
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, p.Shutdown(context.Background()))
	assert.Equal(t, 200, sink.SpanCount())
}

// The registry is reloaded when its file changes; a bad version keeps the
// last good one; both outcomes are counted.
func TestRegistryReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agents.yaml")
	require.NoError(t, os.WriteFile(path, []byte("agents:\n  - id: bot\n    team: alpha\n"), 0o600))
	cfg := testConfig(t)
	cfg.Registry.Path = path
	cfg.Registry.ReloadInterval = 10 * time.Millisecond
	cfg.Hold.Wait = 0
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	set := testSettings()
	set.TelemetrySettings = tel.NewTelemetrySettings()
	sink := new(consumertest.TracesSink)
	p, err := NewFactory().CreateTraces(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, p.Shutdown(context.Background())) }()

	team := func() string {
		sink.Reset()
		require.NoError(t, p.ConsumeTraces(context.Background(), chatTrace(1, 1, 0, "bot")))
		return str(t, firstSpanAttrs(t, sink), attrs.Team)
	}
	counter := func(name string) int64 {
		m, err := tel.GetMetric("otelcol_" + name)
		if err != nil {
			return 0
		}
		var n int64
		for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
			n += dp.Value
		}
		return n
	}
	assert.Equal(t, "alpha", team())

	// Replaced by rename: an in-place rewrite can be read while truncated,
	// and an empty file is a valid (empty) registry.
	writeAtomic := func(content string) {
		tmp := path + ".tmp"
		require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
		require.NoError(t, os.Rename(tmp, path))
	}
	writeAtomic("agents:\n  - id: bot\n    team: beta\n")
	future := time.Now().Add(time.Minute)
	require.NoError(t, os.Chtimes(path, future, future))
	require.Eventually(t, func() bool { return team() == "beta" }, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return counter("agentcost_registry_reloads") == 1 }, 5*time.Second, 10*time.Millisecond)

	writeAtomic("agents: [\n")
	future = future.Add(time.Minute)
	require.NoError(t, os.Chtimes(path, future, future))
	require.Eventually(t, func() bool { return counter("agentcost_registry_reload_failures") >= 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, "beta", team(), "last good version kept")
}
