package agentcostclickhouseexporter

import (
	"strings"
	"unicode/utf8"
)

// contentPrefixes are attribute keys that carry prompts, completions, tool
// arguments or tool results in one of the dialects the processor reads.
// A key is refused when it equals an entry or continues it after a '.'
// (indexed and nested keys such as gen_ai.prompt.0.content or
// llm.input_messages.0.message.content). Entries marked open (trailing '*'
// in the comment) also match any continuation, e.g. gen_ai.prompt_tokens is
// not a real key but gen_ai.prompts would be. Matching ignores case.
var contentPrefixes = []struct {
	key  string
	open bool // any continuation, not only after '.'
}{
	// OpenTelemetry GenAI, current.
	{key: "gen_ai.input.messages"},
	{key: "gen_ai.output.messages"},
	{key: "gen_ai.system_instructions"},
	{key: "gen_ai.tool.call.arguments"},
	{key: "gen_ai.tool.call.result"},
	{key: "gen_ai.tool.definitions"},
	{key: "gen_ai.embeddings.input"},
	// OpenTelemetry GenAI, deprecated (and OpenLLMetry's indexed form).
	{key: "gen_ai.prompt", open: true},     // gen_ai.prompt*, gen_ai.prompt.0.content
	{key: "gen_ai.completion", open: true}, // gen_ai.completion*, gen_ai.completion.0.content
	{key: "gen_ai.request.messages"},
	{key: "gen_ai.content"}, // gen_ai.content.prompt / .completion events as attributes
	// OpenInference (Arize Phoenix, LiteLLM's Arize integration).
	{key: "input.value"},
	{key: "output.value"},
	{key: "llm.input_messages", open: true},
	{key: "llm.output_messages", open: true},
	{key: "llm.prompts", open: true},
	{key: "llm.prompt_template", open: true},
	{key: "llm.tools", open: true},
	{key: "tool.parameters"},
	{key: "retrieval.documents"},
	{key: "reranker.input_documents"},
	{key: "reranker.output_documents"},
	{key: "reranker.query"},
	{key: "embedding.embeddings"},
	// OpenLLMetry (Traceloop).
	{key: "traceloop.entity.input"},
	{key: "traceloop.entity.output"},
	{key: "llm.request.functions"},
	// Vercel AI SDK.
	{key: "ai.prompt", open: true}, // ai.prompt, ai.prompt.messages, ai.prompt.tools, ai.prompt.toolChoice
	{key: "ai.response.text"},
	{key: "ai.response.object"},
	{key: "ai.response.reasoning", open: true},
	{key: "ai.response.toolCalls"},
	{key: "ai.toolCall.args"},
	{key: "ai.toolCall.result"},
	{key: "ai.value"},
	{key: "ai.values"},
}

// contentSegments are key segments (between dots) that name content in any
// namespace: LiteLLM's OpenTelemetry callback writes the raw request and
// response as llm.<provider>.<param> (llm.openai.messages,
// llm.anthropic.system, llm.openai.choices) and request metadata as
// metadata.<key>, which may hold the messages too.
var contentSegments = map[string]bool{
	"messages": true, "input_messages": true, "output_messages": true,
	"prompt": true, "prompts": true, "completion": true, "completions": true,
	"choices": true, "content": true, "contents": true, "system_instructions": true,
	"arguments": true, "tool_calls": true, "toolcalls": true,
}

// contentMatch returns the deny-list entry that key falls under, or "".
func contentMatch(key string) string {
	k := strings.ToLower(key)
	for _, p := range contentPrefixes {
		f := strings.ToLower(p.key)
		if !strings.HasPrefix(k, f) {
			continue
		}
		rest := k[len(f):]
		if rest == "" || rest[0] == '.' || p.open {
			return p.key
		}
	}
	for seg := range strings.SplitSeq(k, ".") {
		if contentSegments[seg] {
			return "*." + seg + ".*"
		}
	}
	return ""
}

// maxExtraValueBytes caps one extra_dimensions value in the extra Map
// column. A longer value is cut on a UTF-8 boundary and ends with
// truncatedMarker; the row is always kept.
const (
	maxExtraValueBytes = 256
	truncatedMarker    = "…[truncated]"
)

// capExtra returns v, or its first bytes plus truncatedMarker when v is
// longer than maxExtraValueBytes (the result is at most that long). It
// allocates only when it truncates.
func capExtra(v string) string {
	if len(v) <= maxExtraValueBytes {
		return v
	}
	cut := maxExtraValueBytes - len(truncatedMarker)
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + truncatedMarker
}
