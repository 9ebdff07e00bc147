package agentcostclickhouseexporter

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentcost/agentcost/internal/attrs"
)

func TestContentKeysRefused(t *testing.T) {
	refused := []string{
		// OpenTelemetry GenAI, current and deprecated.
		"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
		"gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "gen_ai.tool.definitions",
		"gen_ai.prompt", "gen_ai.prompt.0.content", "gen_ai.prompt.12.role", "gen_ai.prompts",
		"gen_ai.completion", "gen_ai.completion.0.content", "gen_ai.completions",
		"gen_ai.request.messages", "gen_ai.request.messages.0.content",
		// OpenInference.
		"input.value", "output.value", "llm.input_messages", "llm.input_messages.0.message.content",
		"llm.output_messages.1.message.tool_calls.0.tool_call.function.arguments",
		"llm.prompts", "llm.prompts.0", "llm.tools", "llm.tools.0.tool.json_schema", "tool.parameters",
		"llm.prompt_template.variables", "retrieval.documents.0.document.content",
		// OpenLLMetry.
		"traceloop.entity.input", "traceloop.entity.output",
		// Vercel AI SDK.
		"ai.prompt", "ai.prompt.messages", "ai.prompt.tools", "ai.prompt.toolChoice",
		"ai.response.text", "ai.response.object", "ai.response.toolCalls", "ai.toolCall.args", "ai.toolCall.result",
		// LiteLLM raw request / response and metadata.
		"llm.openai.messages", "llm.anthropic.system_instructions", "llm.openai.choices", "metadata.messages",
		"metadata.requester_metadata.messages",
		// Case does not matter.
		"GEN_AI.Input.Messages", "AI.TOOLCALL.ARGS", "ai.toolcall.args", "Input.Value", "LLM.Input_Messages.0.message.content",
	}
	for _, k := range refused {
		assert.NotEmpty(t, contentMatch(k), "%q must be refused", k)
		cfg := createDefaultConfig().(*Config)
		cfg.Endpoint = "tcp://127.0.0.1:9000"
		cfg.ExtraDimensions = []string{"tenant.id", k}
		err := cfg.Validate()
		require.Error(t, err, k)
		assert.Contains(t, err.Error(), `extra_dimensions[1]: "`+k+`" can carry prompts, completions or tool arguments`)
	}
	allowed := []string{
		"tenant.id", "k8s.namespace.name", "deployment.environment.name", "gen_ai.request.model",
		"gen_ai.usage.input_tokens", "gen_ai.tool.name", "gen_ai.tool.call.id", "ai.model.id", "ai.usage.promptTokens",
		"llm.model_name", "input.mime_type", "inputs", "traceloop.workflow.name", "ai.telemetry.functionId",
		"metadata.user_api_key_team_id", "http.response.header.content-type",
	}
	for _, k := range allowed {
		assert.Empty(t, contentMatch(k), "%q is not content", k)
	}
}

func TestCapExtra(t *testing.T) {
	assert.Equal(t, "acme", capExtra("acme"))
	exact := strings.Repeat("x", maxExtraValueBytes)
	assert.Equal(t, exact, capExtra(exact))

	long := strings.Repeat("é", maxExtraValueBytes) // 2 bytes each
	got := capExtra(long)
	assert.LessOrEqual(t, len(got), maxExtraValueBytes)
	assert.True(t, strings.HasSuffix(got, truncatedMarker))
	assert.True(t, utf8.ValidString(got), "cut on a rune boundary")
	assert.True(t, strings.HasPrefix(long, strings.TrimSuffix(got, truncatedMarker)))

	// In a row: truncated, never dropped, not an error; allocation
	// attributes the processor writes are never cut.
	huge := strings.Repeat("v", 10_000)
	td := traces(call{traceID: "a", spanID: "1", start: t0, total: "1", extra: map[string]string{"tenant.id": huge, attrs.ShareBeneficiaries: huge}})
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("k8s.namespace.name", huge)
	r := convertAll(t, []string{"tenant.id", "k8s.namespace.name", attrs.ShareBeneficiaries}, td)
	require.Equal(t, 1, r.len())
	assert.Equal(t, 0, r.invalid)
	assert.Equal(t, capExtra(huge), r.extra[0]["tenant.id"])
	assert.Equal(t, capExtra(huge), r.extra[0]["k8s.namespace.name"])
	assert.Len(t, r.extra[0]["tenant.id"], maxExtraValueBytes)
	assert.Equal(t, huge, r.extra[0][attrs.ShareBeneficiaries], "read by the allocation views: kept whole")
}
