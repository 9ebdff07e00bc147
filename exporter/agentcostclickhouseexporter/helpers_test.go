package agentcostclickhouseexporter

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/agentcost/agentcost/exporter/agentcostclickhouseexporter/internal/metadata"
	"github.com/agentcost/agentcost/internal/attrs"
	"github.com/agentcost/agentcost/internal/chtest"
)

// call describes one span as the agentcost processor leaves it. Zero fields
// are not written as attributes.
type call struct {
	traceID, spanID, parentID       string // any strings; hashed into ids
	start                           time.Time
	dur                             time.Duration
	isError                         bool
	service, env                    string
	agent, agentName, root          string
	team, project, bu, costCenter   string
	user, conversation              string
	operation, provider             string
	reqModel, respModel, priceModel string
	tool, toolHash                  string
	status, reason, source, priceID string
	in, out, cacheRead, cacheWrite  int64
	reasoning                       int64
	inCost, cacheReadCost           string
	cacheWriteCost, outCost         string
	reasoningCost, otherCost, total string
	extra                           map[string]string
	noStatus                        bool // not a cost event
}

func traceIDOf(s string) pcommon.TraceID {
	h := sha256.Sum256([]byte("trace:" + s))
	var id pcommon.TraceID
	copy(id[:], h[:16])
	return id
}

func spanIDOf(s string) pcommon.SpanID {
	h := sha256.Sum256([]byte("span:" + s))
	var id pcommon.SpanID
	copy(id[:], h[:8])
	return id
}

// traces builds one ptrace.Traces; calls with a different service/env get
// their own ResourceSpans.
func traces(calls ...call) ptrace.Traces {
	td := ptrace.NewTraces()
	byRes := map[string]ptrace.SpanSlice{}
	for _, c := range calls {
		key := c.service + "\x00" + c.env
		spans, ok := byRes[key]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			if c.service != "" {
				rs.Resource().Attributes().PutStr("service.name", c.service)
			}
			if c.env != "" {
				rs.Resource().Attributes().PutStr("deployment.environment.name", c.env)
			}
			spans = rs.ScopeSpans().AppendEmpty().Spans()
			byRes[key] = spans
		}
		s := spans.AppendEmpty()
		s.SetName("chat " + c.reqModel)
		s.SetTraceID(traceIDOf(c.traceID))
		s.SetSpanID(spanIDOf(c.spanID))
		if c.parentID != "" {
			s.SetParentSpanID(spanIDOf(c.parentID))
		}
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(c.start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(c.start.Add(c.dur)))
		if c.isError {
			s.Status().SetCode(ptrace.StatusCodeError)
		}
		a := s.Attributes()
		// Content the exporter must never copy.
		a.PutStr("gen_ai.input.messages", `[{"role":"user","content":"secret prompt"}]`)
		a.PutStr("gen_ai.tool.call.arguments", `{"q":"secret args"}`)
		put := func(k, v string) {
			if v != "" {
				a.PutStr(k, v)
			}
		}
		putInt := func(k string, v int64) {
			if v != 0 {
				a.PutInt(k, v)
			}
		}
		if !c.noStatus {
			status := c.status
			if status == "" {
				status = attrs.StatusPriced
			}
			a.PutStr(attrs.CostStatus, status)
		}
		put(attrs.CostReason, c.reason)
		put(attrs.CostSource, c.source)
		put(attrs.AgentID, c.agent)
		put(attrs.AgentName, c.agentName)
		put(attrs.RootAgentID, c.root)
		put(attrs.Team, c.team)
		put(attrs.Project, c.project)
		put(attrs.BusinessUnit, c.bu)
		put(attrs.CostCenter, c.costCenter)
		put(attrs.UserID, c.user)
		put(attrs.ConversationID, c.conversation)
		put(attrs.Operation, c.operation)
		put(attrs.Provider, c.provider)
		put(attrs.RequestModel, c.reqModel)
		put(attrs.ResponseModel, c.respModel)
		put(attrs.PricingModel, c.priceModel)
		put(attrs.PricingPriceID, c.priceID)
		put(attrs.ToolName, c.tool)
		put(attrs.ToolCallHash, c.toolHash)
		putInt(attrs.UsageInputTokens, c.in)
		putInt(attrs.UsageOutputTokens, c.out)
		putInt(attrs.UsageCacheReadTokens, c.cacheRead)
		putInt(attrs.UsageCacheWriteTokens, c.cacheWrite)
		putInt(attrs.UsageReasoningTokens, c.reasoning)
		put(attrs.CostInput, c.inCost)
		put(attrs.CostCacheRead, c.cacheReadCost)
		put(attrs.CostCacheWrite, c.cacheWriteCost)
		put(attrs.CostOutput, c.outCost)
		put(attrs.CostReasoning, c.reasoningCost)
		put(attrs.CostOther, c.otherCost)
		put(attrs.CostTotal, c.total)
		if c.total != "" {
			a.PutStr(attrs.Currency, "USD")
		}
		for k, v := range c.extra {
			a.PutStr(k, v)
		}
	}
	return td
}

// testConfig returns a config for db (create_schema on).
func testConfig(db *chtest.DB) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = "tcp://" + db.Options.Addr[0]
	cfg.Database = db.Name
	return cfg
}

// startDirect returns a started costExporter without exporterhelper, so
// pushes return their errors synchronously.
func startDirect(t testing.TB, cfg *Config) *costExporter {
	t.Helper()
	e, err := newExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { _ = e.shutdown(context.Background()) })
	return e
}

// queryStrings runs q, whose columns must all be String (wrap them in
// toString), and returns every row tab-joined.
func queryStrings(t testing.TB, conn driver.Conn, q string, args ...any) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), q, args...)
	require.NoError(t, err, q)
	defer rows.Close()
	n := len(rows.ColumnTypes())
	var out []string
	for rows.Next() {
		vals := make([]string, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		out = append(out, strings.Join(vals, "\t"))
	}
	require.NoError(t, rows.Err())
	return out
}

// seqSpanID gives distinct ids for generated rows.
func seqID(prefix string, i int) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(i))
	return fmt.Sprintf("%s-%x", prefix, b)
}
