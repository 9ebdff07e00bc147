package genai

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/agentcost/agentcost/pricing"
)

func mapOf(t testing.TB, raw map[string]any) pcommon.Map {
	m := pcommon.NewMap()
	require.NoError(t, m.FromRaw(raw))
	return m
}

func TestExtractDialects(t *testing.T) {
	tests := []struct {
		name     string
		span     string
		attrs    map[string]any
		kind     Kind
		dialect  Dialect
		op       string
		provider string
		model    string
		usage    pricing.Usage
		mode     InputMode
	}{
		{
			name: "otel v1.41 chat with cache",
			attrs: map[string]any{
				"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
				"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 200,
				"gen_ai.usage.cache_read.input_tokens": 400, "gen_ai.usage.cache_creation.input_tokens": 100,
				"gen_ai.usage.reasoning.output_tokens": 50,
			},
			kind: KindInference, dialect: DialectOTel, op: "chat", provider: "openai", model: "gpt-4o",
			usage: pricing.Usage{InputTokens: 1000, OutputTokens: 200, CacheReadTokens: 400, CacheWriteTokens: 100, ReasoningTokens: 50},
			mode:  InputInclusive,
		},
		{
			name: "cache_write rename wins over cache_creation",
			attrs: map[string]any{
				"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4",
				"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 10,
				"gen_ai.usage.cache_write.input_tokens": 300, "gen_ai.usage.cache_creation.input_tokens": 999,
			},
			kind: KindInference, dialect: DialectOTel, op: "chat", provider: "anthropic", model: "claude-sonnet-4",
			usage: pricing.Usage{InputTokens: 1000, OutputTokens: 10, CacheWriteTokens: 300},
			mode:  InputInclusive,
		},
		{
			name: "anthropic exclusive input detected",
			attrs: map[string]any{
				"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4",
				"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 10,
				"gen_ai.usage.cache_read.input_tokens": 5000, "gen_ai.usage.cache_write.input_tokens": 20,
			},
			kind: KindInference, dialect: DialectOTel, op: "chat", provider: "anthropic", model: "claude-sonnet-4",
			usage: pricing.Usage{InputTokens: 5030, OutputTokens: 10, CacheReadTokens: 5000, CacheWriteTokens: 20},
			mode:  InputExclusive,
		},
		{
			name: "deprecated names, values as strings and doubles",
			attrs: map[string]any{
				"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini", "llm.request.type": "chat",
				"gen_ai.usage.prompt_tokens": "120", "gen_ai.usage.completion_tokens": 30.0,
			},
			kind: KindInference, dialect: DialectOpenLLMetry, op: "chat", provider: "openai", model: "gpt-4o-mini",
			usage: pricing.Usage{InputTokens: 120, OutputTokens: 30}, mode: InputInclusive,
		},
		{
			name: "current name wins over deprecated",
			attrs: map[string]any{
				"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.system": "azure.ai.openai",
				"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 7, "gen_ai.usage.prompt_tokens": 9,
			},
			kind: KindInference, dialect: DialectOTel, op: "chat", provider: "openai", model: "gpt-4o",
			usage: pricing.Usage{InputTokens: 7}, mode: InputInclusive,
		},
		{
			name: "openllmetry cache names",
			attrs: map[string]any{
				"gen_ai.system": "Anthropic", "gen_ai.request.model": "claude-3-5-haiku", "llm.request.type": "chat",
				"gen_ai.usage.prompt_tokens": 100, "gen_ai.usage.completion_tokens": 5,
				"gen_ai.usage.cache_read_input_tokens": 60, "gen_ai.usage.cache_creation_input_tokens": 10,
			},
			kind: KindInference, dialect: DialectOpenLLMetry, op: "chat", provider: "Anthropic", model: "claude-3-5-haiku",
			usage: pricing.Usage{InputTokens: 100, OutputTokens: 5, CacheReadTokens: 60, CacheWriteTokens: 10}, mode: InputInclusive,
		},
		{
			name:  "traceloop workflow is aggregate",
			attrs: map[string]any{"traceloop.span.kind": "workflow", "traceloop.entity.name": "pipeline", "gen_ai.usage.input_tokens": 100},
			kind:  KindAggregate, dialect: DialectOpenLLMetry, op: "workflow",
			usage: pricing.Usage{InputTokens: 100}, mode: InputInclusive,
		},
		{
			name: "openinference llm",
			attrs: map[string]any{
				"openinference.span.kind": "LLM", "llm.model_name": "gpt-4.1", "llm.provider": "openai",
				"llm.token_count.prompt": 500, "llm.token_count.completion": 40,
				"llm.token_count.prompt_details.cache_read": 100, "llm.token_count.completion_details.reasoning": 12,
			},
			kind: KindInference, dialect: DialectOpenInference, op: "chat", provider: "openai", model: "gpt-4.1",
			usage: pricing.Usage{InputTokens: 500, OutputTokens: 40, CacheReadTokens: 100, ReasoningTokens: 12}, mode: InputInclusive,
		},
		{
			name:  "openinference chain is aggregate",
			attrs: map[string]any{"openinference.span.kind": "CHAIN", "llm.token_count.prompt": 500},
			kind:  KindAggregate, dialect: DialectOpenInference, op: "chain",
			usage: pricing.Usage{InputTokens: 500}, mode: InputInclusive,
		},
		{
			name: "vercel v4 inner doGenerate",
			span: "ai.generateText.doGenerate",
			attrs: map[string]any{
				"ai.operationId": "ai.generateText.doGenerate", "ai.model.provider": "openai.chat", "ai.model.id": "gpt-4o",
				"ai.usage.promptTokens": 50, "ai.usage.completionTokens": 7, "ai.telemetry.functionId": "support-bot",
			},
			kind: KindInference, dialect: DialectVercel, op: "chat", provider: "openai", model: "gpt-4o",
			usage: pricing.Usage{InputTokens: 50, OutputTokens: 7}, mode: InputInclusive,
		},
		{
			name: "vercel v5 outer span is aggregate",
			span: "ai.streamText",
			attrs: map[string]any{
				"ai.operationId": "ai.streamText", "ai.model.provider": "anthropic.messages", "ai.model.id": "claude-sonnet-4",
				"ai.usage.inputTokens": 50, "ai.usage.outputTokens": 7, "ai.usage.cachedInputTokens": 10,
			},
			kind: KindAggregate, dialect: DialectVercel, op: "ai.streamText", provider: "anthropic", model: "claude-sonnet-4",
			usage: pricing.Usage{InputTokens: 50, OutputTokens: 7, CacheReadTokens: 10}, mode: InputInclusive,
		},
		{
			name: "vercel v6 detail names",
			span: "ai.streamText.doStream",
			attrs: map[string]any{
				"ai.model.provider": "anthropic.messages", "ai.model.id": "claude-sonnet-4",
				"ai.usage.inputTokens": 50, "ai.usage.outputTokens": 70,
				"ai.usage.inputTokenDetails.cacheReadTokens": 20, "ai.usage.inputTokenDetails.cacheWriteTokens": 5,
				"ai.usage.outputTokenDetails.reasoningTokens": 30, "ai.usage.reasoningTokens": 1,
			},
			kind: KindInference, dialect: DialectVercel, op: "chat", provider: "anthropic", model: "claude-sonnet-4",
			usage: pricing.Usage{InputTokens: 50, OutputTokens: 70, CacheReadTokens: 20, CacheWriteTokens: 5, ReasoningTokens: 30}, mode: InputInclusive,
		},
		{
			name:  "vercel embed",
			span:  "ai.embed.doEmbed",
			attrs: map[string]any{"ai.model.provider": "openai.embedding", "ai.model.id": "text-embedding-3-small", "ai.usage.tokens": 12},
			kind:  KindEmbedding, dialect: DialectVercel, op: "embeddings", provider: "openai", model: "text-embedding-3-small",
			usage: pricing.Usage{InputTokens: 12}, mode: InputInclusive,
		},
		{
			name: "litellm without operation name",
			span: "litellm_request",
			attrs: map[string]any{
				"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.prompt_tokens": 10,
				"gen_ai.usage.completion_tokens": 2, "gen_ai.cost.total_cost": 0.0001, "metadata.user_api_key_end_user_id": "u1",
			},
			kind: KindInference, dialect: DialectLiteLLM, op: "chat", provider: "openai", model: "gpt-4o",
			usage: pricing.Usage{InputTokens: 10, OutputTokens: 2}, mode: InputInclusive,
		},
		{
			name: "openlit cost",
			attrs: map[string]any{
				"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
				"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 2, "gen_ai.usage.cost": 0.5,
			},
			kind: KindInference, dialect: DialectOpenLIT, op: "chat", provider: "openai", model: "gpt-4o",
			usage: pricing.Usage{InputTokens: 10, OutputTokens: 2}, mode: InputInclusive,
		},
		{
			name:  "invoke_agent with aggregate usage",
			attrs: map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner", "gen_ai.usage.input_tokens": 9000},
			kind:  KindAgent, dialect: DialectOTel, op: "invoke_agent",
			usage: pricing.Usage{InputTokens: 9000}, mode: InputInclusive,
		},
		{
			name:  "plain http span",
			span:  "GET /",
			attrs: map[string]any{"http.method": "GET"},
			kind:  KindNone, mode: InputInclusive,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Call
			Extract(&c, tt.span, mapOf(t, tt.attrs))
			assert.Equal(t, tt.kind, c.Kind, "kind %s", c.Kind)
			assert.Equal(t, tt.dialect, c.Dialect, "dialect %s", c.Dialect)
			assert.Equal(t, tt.op, c.Operation)
			assert.Equal(t, tt.provider, c.Provider)
			assert.Equal(t, tt.model, c.RequestModel)
			p, _ := c.UsageProblem()
			assert.Equal(t, ProblemNone, p)
			u, mode := c.Usage(InputAuto)
			assert.Equal(t, tt.usage, u)
			assert.Equal(t, tt.mode, mode)
		})
	}
}

func TestIdentityAttributes(t *testing.T) {
	var c Call
	Extract(&c, "", mapOf(t, map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.id": "a-1", "gen_ai.agent.name": "Planner", "gen_ai.agent.version": "3"}))
	assert.Equal(t, "a-1", c.AgentID)
	assert.Equal(t, "Planner", c.AgentName)
	assert.Equal(t, "3", c.AgentVersion)

	Extract(&c, "", mapOf(t, map[string]any{"traceloop.span.kind": "agent", "traceloop.entity.name": "researcher"}))
	assert.Equal(t, KindAgent, c.Kind)
	assert.Equal(t, "researcher", c.AgentID)

	// traceloop.entity.name is not an agent on a task span.
	Extract(&c, "", mapOf(t, map[string]any{"traceloop.span.kind": "task", "traceloop.entity.name": "summarise"}))
	assert.Equal(t, "", c.AgentID)

	Extract(&c, "", mapOf(t, map[string]any{"openinference.span.kind": "AGENT", "agent.name": "triage"}))
	assert.Equal(t, "triage", c.AgentID)

	Extract(&c, "litellm_request", mapOf(t, map[string]any{"metadata.user_api_key_alias": "billing-agent-key", "gen_ai.request.model": "gpt-4o"}))
	assert.Equal(t, "billing-agent-key", c.AgentID)
	Extract(&c, "", mapOf(t, map[string]any{"metadata.user_api_key_alias": "key", "gen_ai.agent.id": "real"}))
	assert.Equal(t, "real", c.AgentID, "semconv wins over the LiteLLM key alias")

	Extract(&c, "ai.toolCall", mapOf(t, map[string]any{"ai.toolCall.name": "search", "ai.telemetry.functionId": "bot"}))
	assert.Equal(t, KindTool, c.Kind)
	assert.Equal(t, "search", c.ToolName)
	assert.Equal(t, "bot", c.AgentID)
}

func TestReportedCost(t *testing.T) {
	for _, tt := range []struct {
		name  string
		attrs map[string]any
		want  string
		has   bool
	}{
		{"openlit double", map[string]any{"gen_ai.usage.cost": 0.0025}, "0.002500000000", true},
		{"litellm string", map[string]any{"gen_ai.cost.total_cost": "0.000123456789"}, "0.000123456789", true},
		{"openinference", map[string]any{"llm.cost.total": 1.5}, "1.500000000000", true},
		{"semconv wins", map[string]any{"gen_ai.usage.cost": 2.0, "llm.cost.total": 1.5}, "2.000000000000", true},
		{"nan ignored", map[string]any{"gen_ai.usage.cost": math.NaN()}, "0.000000000000", false},
		{"negative ignored", map[string]any{"gen_ai.usage.cost": -1.0}, "0.000000000000", false},
		{"garbage ignored", map[string]any{"gen_ai.cost.total_cost": "lots"}, "0.000000000000", false},
		{"long string as float", map[string]any{"gen_ai.cost.total_cost": "0.00000000000012345"}, "0.000000000000", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c Call
			Extract(&c, "", mapOf(t, tt.attrs))
			assert.Equal(t, tt.has, c.HasReportedCost)
			assert.Equal(t, tt.want, c.ReportedCost.String())
		})
	}
}

func TestTokenValueProblems(t *testing.T) {
	for _, tt := range []struct {
		in   any
		want uint64
		p    Problem
	}{
		{int64(5), 5, ProblemNone},
		{int64(-5), 0, ProblemNegative},
		{12.0, 12, ProblemNone},
		{12.5, 0, ProblemFractional},
		{math.NaN(), 0, ProblemNaN},
		{math.Inf(1), 0, ProblemInfinite},
		{-3.0, 0, ProblemNegative},
		{1e30, 0, ProblemOverflow},
		{" 42 ", 42, ProblemNone},
		{"42.0", 42, ProblemNone},
		{"-42", 0, ProblemNegative},
		{"NaN", 0, ProblemNaN},
		{"lots", 0, ProblemNotANumber},
		{true, 0, ProblemWrongType},
	} {
		v := pcommon.NewValueEmpty()
		require.NoError(t, v.FromRaw(tt.in))
		got, p := TokenValue(v)
		assert.Equal(t, tt.want, got, "%v", tt.in)
		assert.Equal(t, tt.p, p, "%v: %s", tt.in, p)
	}
}

func TestUsageProblemOnlyFromWinner(t *testing.T) {
	var c Call
	// The deprecated name carries garbage but the current name wins.
	Extract(&c, "", mapOf(t, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 5, "gen_ai.usage.prompt_tokens": "garbage"}))
	p, _ := c.UsageProblem()
	assert.Equal(t, ProblemNone, p)

	Extract(&c, "", mapOf(t, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.usage.output_tokens": -1}))
	p, field := c.UsageProblem()
	assert.Equal(t, ProblemNegative, p)
	assert.Equal(t, "output", field)
	assert.Equal(t, "negative_tokens", p.String())
}

func TestInputModeOverride(t *testing.T) {
	var c Call
	Extract(&c, "", mapOf(t, map[string]any{"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 100, "gen_ai.usage.cache_read.input_tokens": 40}))
	u, m := c.Usage(InputExclusive)
	assert.Equal(t, uint64(140), u.InputTokens)
	assert.Equal(t, InputExclusive, m)
	u, m = c.Usage(InputInclusive)
	assert.Equal(t, uint64(100), u.InputTokens)
	assert.Equal(t, InputInclusive, m)
	for _, s := range []string{"auto", "inclusive", "exclusive", ""} {
		_, ok := ParseInputMode(s)
		assert.True(t, ok, s)
	}
	_, ok := ParseInputMode("sometimes")
	assert.False(t, ok)
}

func TestExtractDoesNotAllocate(t *testing.T) {
	m := mapOf(t, map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
		"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": "200", "gen_ai.usage.cost": 0.25,
		"http.url": "https://api.openai.com/v1/chat/completions",
	})
	var c Call
	allocs := testing.AllocsPerRun(100, func() { Extract(&c, "chat gpt-4o", m) })
	assert.Zero(t, allocs)
}

// BenchmarkExtract measures one pass over a typical chat span's attributes.
//
//	go test ./internal/genai -run '^$' -bench BenchmarkExtract -benchmem -count 6 | tee new.txt; benchstat old.txt new.txt
func BenchmarkExtract(b *testing.B) {
	m := mapOf(b, map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
		"gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.response.id": "chatcmpl-1", "server.address": "api.openai.com",
		"server.port": 443, "gen_ai.usage.input_tokens": 3000, "gen_ai.usage.cache_read.input_tokens": 1000,
		"gen_ai.usage.output_tokens": 400, "gen_ai.request.temperature": 0.2, "gen_ai.conversation.id": "conv-1",
	})
	var c Call
	Extract(&c, "chat gpt-4o", m)
	if c.Kind != KindInference || c.nums[fInput].v != 3000 {
		b.Fatalf("bad fixture: %s %d", c.Kind, c.nums[fInput].v)
	}
	b.ReportAllocs()
	for b.Loop() {
		Extract(&c, "chat gpt-4o", m)
	}
}
