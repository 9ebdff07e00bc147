package genai

import (
	"math"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// FuzzExtract feeds arbitrary keys and values of every attribute type to
// Extract and checks it never panics and keeps its invariants: a usage
// problem is reported for the winning field, the normalised input covers
// cache reads and writes, and reported costs are finite.
//
// Bounded run: go test ./internal/genai -run '^$' -fuzz '^FuzzExtract$' -fuzztime 30s
func FuzzExtract(f *testing.F) {
	keys := []string{
		"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens",
		"gen_ai.usage.cache_write.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt",
		"ai.usage.inputTokens", "gen_ai.usage.cost", "gen_ai.cost.total_cost", "llm.cost.total",
		"gen_ai.operation.name", "openinference.span.kind", "traceloop.span.kind", "ai.operationId",
	}
	for i, k := range keys {
		f.Add(k, "chat", int64(i*100), float64(i)+0.5, uint8(i%4), "ai.generateText.doGenerate")
	}
	f.Add("gen_ai.usage.input_tokens", "NaN", int64(-1), math.NaN(), uint8(0), "")
	f.Add("gen_ai.usage.cost", "1e400", int64(math.MaxInt64), math.Inf(1), uint8(1), "x")
	f.Add("gen_ai.usage.cache_read.input_tokens", "18446744073709551615", int64(math.MaxInt64), 1e19, uint8(2), "")
	f.Fuzz(func(t *testing.T, key, s string, i int64, d float64, typ uint8, spanName string) {
		m := pcommon.NewMap()
		m.PutStr("gen_ai.operation.name", "chat")
		m.PutInt("gen_ai.usage.input_tokens", 10)
		m.PutStr("gen_ai.usage.cache_read.input_tokens", s)
		switch typ % 4 {
		case 0:
			m.PutStr(key, s)
		case 1:
			m.PutInt(key, i)
		case 2:
			m.PutDouble(key, d)
		case 3:
			m.PutBool(key, i%2 == 0)
		}
		var c Call
		Extract(&c, spanName, m)
		u, mode := c.Usage(InputAuto)
		if mode == InputExclusive && u.InputTokens < u.CacheReadTokens {
			t.Fatalf("exclusive input %d below cache read %d", u.InputTokens, u.CacheReadTokens)
		}
		if c.HasReportedCost && math.IsNaN(c.ReportedCost.Float64()) {
			t.Fatal("NaN reported cost")
		}
		if p, field := c.UsageProblem(); p != ProblemNone && field == "" {
			t.Fatal("problem without field")
		}
		_ = c.Kind.String()
		_ = c.Dialect.String()
	})
}
