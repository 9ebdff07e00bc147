package sim

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Emitter writes planned traces as spans through the OpenTelemetry SDK, one
// tracer provider (one resource) per service, all sharing one exporter.
type Emitter struct {
	exporter  sdktrace.SpanExporter
	ids       *idGenerator
	providers map[string]*sdktrace.TracerProvider
	order     []string
	batchOpts []sdktrace.BatchSpanProcessorOption
	mu        sync.Mutex
	sent      int
}

// NewEmitter returns an emitter exporting to exp with ids drawn from seed.
// The batch span processors block instead of dropping when their queue is
// full, so that every planned span is exported. Shutdown does not shut exp
// down: its owner does.
func NewEmitter(exp sdktrace.SpanExporter, seed uint64) *Emitter {
	return &Emitter{
		exporter:  keepOpen{exp},
		ids:       &idGenerator{rng: rand.New(rand.NewPCG(seed^0x5deece66d, seed))},
		providers: map[string]*sdktrace.TracerProvider{},
		batchOpts: []sdktrace.BatchSpanProcessorOption{
			sdktrace.WithBlocking(),
			sdktrace.WithMaxQueueSize(8192),
			sdktrace.WithMaxExportBatchSize(1024),
			sdktrace.WithBatchTimeout(200 * time.Millisecond),
		},
	}
}

// keepOpen lets several tracer providers share one exporter.
type keepOpen struct{ sdktrace.SpanExporter }

func (keepOpen) Shutdown(context.Context) error { return nil }

// idGenerator draws trace and span ids from a seeded generator, so that a
// seed gives the same ids.
type idGenerator struct {
	mu  sync.Mutex
	rng *rand.Rand
}

func (g *idGenerator) NewIDs(context.Context) (trace.TraceID, trace.SpanID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var t trace.TraceID
	binary.BigEndian.PutUint64(t[:8], g.rng.Uint64())
	binary.BigEndian.PutUint64(t[8:], g.rng.Uint64()|1)
	return t, g.span()
}

func (g *idGenerator) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.span()
}

func (g *idGenerator) span() trace.SpanID {
	var s trace.SpanID
	binary.BigEndian.PutUint64(s[:], g.rng.Uint64()|1)
	return s
}

func (e *Emitter) provider(service string) *sdktrace.TracerProvider {
	if tp, ok := e.providers[service]; ok {
		return tp
	}
	res := sdkresource.NewSchemaless(
		attribute.String("service.name", service),
		attribute.String("service.version", "1.0.0"),
		attribute.String("deployment.environment.name", "demo"),
		attribute.String("telemetry.sdk.language", "go"),
	)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithIDGenerator(e.ids),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(e.exporter, e.batchOpts...),
	)
	e.providers[service] = tp
	e.order = append(e.order, service)
	return tp
}

// Sent returns the number of spans ended so far.
func (e *Emitter) Sent() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sent
}

// Emit writes trace t, whose root starts at start. Children end before their
// parents, as in a real process.
func (e *Emitter) Emit(ctx context.Context, t *Trace, start time.Time) {
	tr := e.provider(t.Service).Tracer("github.com/agentcost/agentcost/cmd/agentsim")
	n := e.emit(ctx, tr, t, t.Root, start)
	e.mu.Lock()
	e.sent += n
	e.mu.Unlock()
}

func (e *Emitter) emit(ctx context.Context, tr trace.Tracer, t *Trace, s *Span, t0 time.Time) int {
	name, kind, attrs := spanShape(t, s)
	ctx, span := tr.Start(ctx, name, trace.WithTimestamp(t0.Add(s.Start)), trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	n := 1
	for _, c := range s.Children {
		n += e.emit(ctx, tr, t, c, t0)
	}
	span.End(trace.WithTimestamp(t0.Add(s.End)))
	return n
}

// ForceFlush exports every span ended so far.
func (e *Emitter) ForceFlush(ctx context.Context) error {
	for _, s := range e.order {
		if err := e.providers[s].ForceFlush(ctx); err != nil {
			return fmt.Errorf("flush spans of %s: %w", s, err)
		}
	}
	return nil
}

// Shutdown flushes and stops the tracer providers (not the exporter).
func (e *Emitter) Shutdown(ctx context.Context) error {
	for _, s := range e.order {
		if err := e.providers[s].Shutdown(ctx); err != nil {
			return fmt.Errorf("shut down tracer provider of %s: %w", s, err)
		}
	}
	return nil
}

// vercelProvider is the AI SDK provider id of a gen_ai.provider.name.
var vercelProvider = map[string]string{
	"openai":      "openai.chat",
	"anthropic":   "anthropic.messages",
	"gcp.gemini":  "google.generative-ai",
	"aws.bedrock": "amazon-bedrock",
	"mistral_ai":  "mistral.chat",
}

// legacySystem is the deprecated gen_ai.system value of a provider.
var legacySystem = map[string]string{
	"openai":      "openai",
	"anthropic":   "anthropic",
	"gcp.gemini":  "gemini",
	"aws.bedrock": "aws.bedrock",
	"mistral_ai":  "mistral_ai",
}

// openInferenceProvider is the llm.provider value of a provider.
var openInferenceProvider = map[string]string{
	"openai":      "openai",
	"anthropic":   "anthropic",
	"gcp.gemini":  "google",
	"aws.bedrock": "aws",
	"mistral_ai":  "mistralai",
}

// QueryProvider is the provider name the collector reads from a call span of
// dialect d for model m: what the simulator prices the call with.
func QueryProvider(d Dialect, m Model) string {
	switch d {
	case DialectOTelDeprecated:
		return legacySystem[m.Provider]
	case DialectOpenInference:
		return openInferenceProvider[m.Provider]
	case DialectVercel:
		p := vercelProvider[m.Provider]
		if i := strings.IndexByte(p, '.'); i > 0 {
			return p[:i]
		}
		return p
	}
	return m.Provider
}

func i64(v uint64) int64 { return int64(v) }

// exclusiveInput reports whether a call's input is written as Anthropic's raw
// counts do (excluding cache reads and writes). The simulator does so only
// where it is unambiguous (cached tokens exceed the uncached input), which is
// how the collector recognises exclusive counts.
func exclusiveInput(s *Span) bool {
	cached := s.Usage.CacheReadTokens + s.Usage.CacheWriteTokens
	return (s.Model.Provider == "anthropic") && cached > s.Usage.InputTokens-cached
}

// reportedInput is the input token count written on the span.
func reportedInput(s *Span) uint64 {
	if exclusiveInput(s) {
		return s.Usage.InputTokens - s.Usage.CacheReadTokens - s.Usage.CacheWriteTokens
	}
	return s.Usage.InputTokens
}

// spanShape returns a planned span's name, kind and attributes in its agent's
// dialect.
func spanShape(t *Trace, s *Span) (string, trace.SpanKind, []attribute.KeyValue) {
	a := s.Agent
	conv := fmt.Sprintf("conv-%s-%06d", s.Root.ID, t.Seq)
	switch a.Dialect {
	case DialectOTelDeprecated:
		return shapeDeprecated(s, conv)
	case DialectOpenInference:
		return shapeOpenInference(s, conv)
	case DialectVercel:
		return shapeVercel(s)
	}
	return shapeOTel(s, conv)
}

func shapeOTel(s *Span, conv string) (string, trace.SpanKind, []attribute.KeyValue) {
	a, m, u := s.Agent, s.Model, s.Usage
	switch s.Kind {
	case KindAgent:
		return "invoke_agent " + a.Name, trace.SpanKindInternal, []attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "invoke_agent"),
			attribute.String("gen_ai.agent.id", a.ID),
			attribute.String("gen_ai.agent.name", a.Name),
			attribute.String("gen_ai.agent.version", a.Version),
			attribute.String("gen_ai.conversation.id", conv),
		}
	case KindTool:
		kv := []attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "execute_tool"),
			attribute.String("gen_ai.tool.name", s.Tool.Name),
			attribute.String("gen_ai.tool.call.id", s.ToolCallID),
			attribute.String("gen_ai.tool.type", "function"),
		}
		if s.Tool.Provider != "" {
			kv = append(kv, attribute.String("gen_ai.provider.name", s.Tool.Provider))
			kv[3] = attribute.String("gen_ai.tool.type", "extension")
		}
		return "execute_tool " + s.Tool.Name, trace.SpanKindInternal, kv
	case KindEmbedding:
		return "embeddings " + m.Name, trace.SpanKindClient, []attribute.KeyValue{
			attribute.String("gen_ai.operation.name", "embeddings"),
			attribute.String("gen_ai.provider.name", m.Provider),
			attribute.String("gen_ai.request.model", m.Name),
			attribute.String("gen_ai.response.model", m.Name),
			attribute.String("server.address", m.Server),
			attribute.Int("server.port", 443),
			attribute.Int64("gen_ai.usage.input_tokens", i64(u.InputTokens)),
			attribute.Int("gen_ai.embeddings.dimension.count", 1536),
		}
	}
	kv := []attribute.KeyValue{
		attribute.String("gen_ai.operation.name", "chat"),
		attribute.String("gen_ai.provider.name", m.Provider),
		attribute.String("gen_ai.request.model", m.Name),
		attribute.String("gen_ai.response.model", m.Name),
		attribute.String("server.address", m.Server),
		attribute.Int("server.port", 443),
		attribute.String("gen_ai.conversation.id", conv),
		attribute.Int64("gen_ai.usage.input_tokens", i64(reportedInput(s))),
		attribute.Int64("gen_ai.usage.output_tokens", i64(u.OutputTokens)),
		attribute.StringSlice("gen_ai.response.finish_reasons", []string{"stop"}),
	}
	if u.CacheReadTokens > 0 {
		kv = append(kv, attribute.Int64("gen_ai.usage.cache_read.input_tokens", i64(u.CacheReadTokens)))
	}
	if u.CacheWriteTokens > 0 {
		kv = append(kv, attribute.Int64("gen_ai.usage.cache_creation.input_tokens", i64(u.CacheWriteTokens)))
	}
	if u.ReasoningTokens > 0 {
		kv = append(kv, attribute.Int64("gen_ai.usage.reasoning.output_tokens", i64(u.ReasoningTokens)))
	}
	if s.Tier != "" {
		kv = append(kv, attribute.String("openai.request.service_tier", "auto"),
			attribute.String("openai.response.service_tier", s.Tier))
	}
	return "chat " + m.Name, trace.SpanKindClient, kv
}

// shapeDeprecated writes OpenLLMetry-style spans: deprecated gen_ai.system and
// prompt/completion token names, traceloop agent and tool spans.
func shapeDeprecated(s *Span, _ string) (string, trace.SpanKind, []attribute.KeyValue) {
	a, m, u := s.Agent, s.Model, s.Usage
	switch s.Kind {
	case KindAgent:
		return a.ID + ".agent", trace.SpanKindInternal, []attribute.KeyValue{
			attribute.String("traceloop.span.kind", "agent"),
			attribute.String("traceloop.entity.name", a.ID),
			attribute.String("traceloop.workflow.name", s.Root.ID),
		}
	case KindTool:
		kv := []attribute.KeyValue{
			attribute.String("traceloop.span.kind", "tool"),
			attribute.String("traceloop.entity.name", s.Tool.Name),
			attribute.String("traceloop.workflow.name", s.Root.ID),
		}
		if s.Tool.Provider != "" {
			kv = append(kv, attribute.String("gen_ai.system", legacySystem[s.Tool.Provider]))
		}
		return s.Tool.Name + ".tool", trace.SpanKindInternal, kv
	case KindEmbedding:
		return legacySystem[m.Provider] + ".embeddings", trace.SpanKindClient, []attribute.KeyValue{
			attribute.String("llm.request.type", "embedding"),
			attribute.String("gen_ai.system", legacySystem[m.Provider]),
			attribute.String("gen_ai.request.model", m.Name),
			attribute.String("gen_ai.response.model", m.Name),
			attribute.Int64("gen_ai.usage.prompt_tokens", i64(u.InputTokens)),
			attribute.Int64("llm.usage.total_tokens", i64(u.InputTokens)),
		}
	}
	kv := []attribute.KeyValue{
		attribute.String("llm.request.type", "chat"),
		attribute.String("gen_ai.system", legacySystem[m.Provider]),
		attribute.String("gen_ai.request.model", m.Name),
		attribute.String("gen_ai.response.model", m.Name),
		attribute.Int64("gen_ai.usage.prompt_tokens", i64(reportedInput(s))),
		attribute.Int64("gen_ai.usage.completion_tokens", i64(u.OutputTokens)),
		attribute.Int64("llm.usage.total_tokens", i64(reportedInput(s)+u.OutputTokens)),
	}
	if u.CacheReadTokens > 0 {
		kv = append(kv, attribute.Int64("gen_ai.usage.cache_read_input_tokens", i64(u.CacheReadTokens)))
	}
	if u.CacheWriteTokens > 0 {
		kv = append(kv, attribute.Int64("gen_ai.usage.cache_creation_input_tokens", i64(u.CacheWriteTokens)))
	}
	if u.ReasoningTokens > 0 {
		kv = append(kv, attribute.Int64("gen_ai.usage.reasoning_tokens", i64(u.ReasoningTokens)))
	}
	if s.Tier != "" {
		kv = append(kv, attribute.String("openai.request.service_tier", s.Tier))
	}
	return legacySystem[m.Provider] + ".chat", trace.SpanKindClient, kv
}

// shapeOpenInference writes Arize OpenInference spans.
func shapeOpenInference(s *Span, conv string) (string, trace.SpanKind, []attribute.KeyValue) {
	a, m, u := s.Agent, s.Model, s.Usage
	switch s.Kind {
	case KindAgent:
		return a.ID, trace.SpanKindInternal, []attribute.KeyValue{
			attribute.String("openinference.span.kind", "AGENT"),
			attribute.String("agent.name", a.ID),
			attribute.String("session.id", conv),
		}
	case KindTool:
		return s.Tool.Name, trace.SpanKindInternal, []attribute.KeyValue{
			attribute.String("openinference.span.kind", "TOOL"),
			attribute.String("tool.name", s.Tool.Name),
			attribute.String("tool.parameters", `{"query":"<redacted>"}`),
		}
	case KindEmbedding:
		return "Embeddings", trace.SpanKindClient, []attribute.KeyValue{
			attribute.String("openinference.span.kind", "EMBEDDING"),
			attribute.String("embedding.model_name", m.Name),
			attribute.String("llm.model_name", m.Name),
			attribute.String("llm.provider", openInferenceProvider[m.Provider]),
			attribute.Int64("llm.token_count.prompt", i64(u.InputTokens)),
			attribute.Int64("llm.token_count.total", i64(u.InputTokens)),
		}
	}
	kv := []attribute.KeyValue{
		attribute.String("openinference.span.kind", "LLM"),
		attribute.String("llm.model_name", m.Name),
		attribute.String("llm.provider", openInferenceProvider[m.Provider]),
		attribute.String("session.id", conv),
		attribute.Int64("llm.token_count.prompt", i64(u.InputTokens)),
		attribute.Int64("llm.token_count.completion", i64(u.OutputTokens)),
		attribute.Int64("llm.token_count.total", i64(u.InputTokens+u.OutputTokens)),
	}
	if u.CacheReadTokens > 0 {
		kv = append(kv, attribute.Int64("llm.token_count.prompt_details.cache_read", i64(u.CacheReadTokens)))
	}
	if u.CacheWriteTokens > 0 {
		kv = append(kv, attribute.Int64("llm.token_count.prompt_details.cache_write", i64(u.CacheWriteTokens)))
	}
	if u.ReasoningTokens > 0 {
		kv = append(kv, attribute.Int64("llm.token_count.completion_details.reasoning", i64(u.ReasoningTokens)))
	}
	return "ChatBedrockConverse", trace.SpanKindClient, kv
}

// shapeVercel writes Vercel AI SDK spans: an HTTP route as the root, outer
// ai.generateText spans with v4 usage names and inner doGenerate spans with
// v6 usage names and gen_ai.* names.
func shapeVercel(s *Span) (string, trace.SpanKind, []attribute.KeyValue) {
	a, m, u := s.Agent, s.Model, s.Usage
	common := []attribute.KeyValue{
		attribute.String("ai.telemetry.functionId", a.ID),
		attribute.String("resource.name", a.ID),
	}
	switch s.Kind {
	case KindAgent:
		return "POST /api/campaigns/draft", trace.SpanKindServer, []attribute.KeyValue{
			attribute.String("http.request.method", "POST"),
			attribute.String("http.route", "/api/campaigns/draft"),
			attribute.Int("http.response.status_code", 200),
		}
	case KindTool:
		return "ai.toolCall", trace.SpanKindInternal, append(common,
			attribute.String("operation.name", "ai.toolCall"),
			attribute.String("ai.operationId", "ai.toolCall"),
			attribute.String("ai.toolCall.name", s.Tool.Name),
			attribute.String("ai.toolCall.id", s.ToolCallID),
		)
	case KindWrapper:
		return "ai.generateText", trace.SpanKindInternal, append(common,
			attribute.String("operation.name", "ai.generateText "+a.ID),
			attribute.String("ai.operationId", "ai.generateText"),
			attribute.String("ai.model.id", m.Name),
			attribute.String("ai.model.provider", vercelProvider[m.Provider]),
			attribute.Int64("ai.usage.promptTokens", i64(u.InputTokens)),
			attribute.Int64("ai.usage.completionTokens", i64(u.OutputTokens)),
			attribute.String("ai.response.finishReason", "stop"),
		)
	}
	kv := append(common,
		attribute.String("operation.name", "ai.generateText.doGenerate "+a.ID),
		attribute.String("ai.operationId", "ai.generateText.doGenerate"),
		attribute.String("ai.model.id", m.Name),
		attribute.String("ai.model.provider", vercelProvider[m.Provider]),
		attribute.String("ai.response.model", m.Name),
		attribute.Int64("ai.usage.inputTokens", i64(u.InputTokens)),
		attribute.Int64("ai.usage.outputTokens", i64(u.OutputTokens)),
		attribute.String("gen_ai.system", vercelProvider[m.Provider]),
		attribute.String("gen_ai.request.model", m.Name),
		attribute.String("gen_ai.response.model", m.Name),
		attribute.Int64("gen_ai.usage.input_tokens", i64(u.InputTokens)),
		attribute.Int64("gen_ai.usage.output_tokens", i64(u.OutputTokens)),
	)
	if u.CacheReadTokens > 0 {
		kv = append(kv, attribute.Int64("ai.usage.inputTokenDetails.cacheReadTokens", i64(u.CacheReadTokens)))
	}
	if u.CacheWriteTokens > 0 {
		kv = append(kv, attribute.Int64("ai.usage.inputTokenDetails.cacheWriteTokens", i64(u.CacheWriteTokens)))
	}
	if u.ReasoningTokens > 0 {
		kv = append(kv, attribute.Int64("ai.usage.outputTokenDetails.reasoningTokens", i64(u.ReasoningTokens)))
	}
	if s.Tier != "" {
		kv = append(kv, attribute.String("openai.response.service_tier", s.Tier))
	}
	return "ai.generateText.doGenerate", trace.SpanKindClient, kv
}
