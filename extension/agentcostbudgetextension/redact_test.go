package agentcostbudgetextension

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/agentcost/agentcost/extension/agentcostbudgetextension/internal/metadata"
	"github.com/agentcost/agentcost/internal/spend"
)

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"clickhouse://bob:s3cret@ch:9000/db":                "clickhouse://bob:xxxxx@ch:9000/db",
		"clickhouse://ch:9000?username=bob&password=s3cret": "clickhouse://ch:9000?password=xxxxx&username=bob",
		"clickhouse://127.0.0.1:9000":                       "clickhouse://127.0.0.1:9000",
		"bob:s3cret@ch:9000 %zz":                            "xxxxx@ch:9000 %zz",
	} {
		assert.Equal(t, want, redactDSN(in), in)
	}
}

// Neither a webhook URL (Slack URLs are secrets) nor a DSN password shows in
// config errors, open errors or delivery-failure logs.
func TestSecretsNotInErrorsOrLogs(t *testing.T) {
	const secretPath = "T0SECRET/B0SECRET/XSECRET"
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = ""
	cfg.ClickHouse.Endpoint = "clickhouse://bob:pw-s3cret@127.0.0.1:9000?dial_timeout=soon"
	wh := newDefaultWebhook()
	wh.Name, wh.Endpoint = "slack", "ftp://hooks.example.com/services/"+secretPath
	cfg.Notifiers.Webhooks = []WebhookConfig{wh}
	err := cfg.Validate()
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "pw-s3cret")
	assert.NotContains(t, err.Error(), "SECRET")
	assert.Contains(t, err.Error(), "clickhouse.endpoint")
	assert.Contains(t, err.Error(), "notifiers.webhooks[0].endpoint")
	_, err = openLedger(cfg.ClickHouse)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "pw-s3cret")

	// A receiver that accepts and closes every connection: delivery fails
	// with a transport error (a *url.Error quoting the URL).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	cfg = createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = ""
	cfg.Notifiers.Log = false
	wh = newDefaultWebhook()
	wh.Name, wh.Endpoint = "slack", "http://"+ln.Addr().String()+"/services/"+secretPath
	wh.MaxRetries, wh.InitialInterval, wh.MaxInterval = 1, time.Millisecond, time.Millisecond
	cfg.Notifiers.Webhooks = []WebhookConfig{wh}
	cfg.Budgets = []BudgetConfig{budgetCfg("b", "1", WindowConfig{Calendar: PeriodDay}, func(b *BudgetConfig) {
		b.AlertThresholds = []float64{0.5}
		b.ProjectedAlert = false
	})}
	cfg.EvaluationInterval = time.Hour
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zap.DebugLevel)
	set := extensiontest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	e, err := newExtension(cfg, set)
	require.NoError(t, err)
	require.NoError(t, e.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { _ = e.Shutdown(context.Background()) }()
	e.Accrue(spend.Charge{Time: time.Now(), Cost: usd("1"), Team: "ml"})
	require.Len(t, e.evaluate(e.now()), 1)
	require.Eventually(t, func() bool { return logs.FilterMessageSnippet("not delivered").Len() > 0 }, 10*time.Second, 10*time.Millisecond)
	for _, entry := range logs.All() {
		line := entry.Message
		for k, v := range entry.ContextMap() {
			line += " " + k + "=" + strings.TrimSpace(toString(v))
		}
		assert.NotContains(t, line, "SECRET", "log line %q", line)
	}
	entry := logs.FilterMessageSnippet("not delivered").All()[0]
	assert.Equal(t, "slack", entry.ContextMap()["webhook"])
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}

// Start bounds its whole ledger load, however many budgets there are: a
// ClickHouse that accepts connections and never answers costs at most about
// 2 x clickhouse.timeout, not budgets x timeout.
func TestStartReconcileBoundedAsAWhole(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // never answers
			mu.Unlock()
		}
	}()
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = ""
	cfg.ClickHouse.Endpoint = "clickhouse://" + ln.Addr().String()
	cfg.ClickHouse.Timeout = 200 * time.Millisecond
	for i := range 30 {
		cfg.Budgets = append(cfg.Budgets, budgetCfg("b"+string(rune('a'+i%26))+string(rune('a'+i/26)), "10", WindowConfig{Calendar: PeriodDay}))
	}
	start := time.Now()
	e := startExt(t, cfg, "x")
	took := time.Since(start)
	t.Logf("Start with 30 budgets and a silent ClickHouse took %s (timeout %s)", took, cfg.ClickHouse.Timeout)
	assert.Less(t, took, 2*time.Second, "30 x 200ms would be 6s")
	d, res := e.Check(&Identity{Team: "any"}, nil)
	assert.Equal(t, Allow, d.Outcome, "fail_mode open by default")
	assert.NotEmpty(t, res)
}
