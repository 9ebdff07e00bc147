// Package genai is the one place that knows the GenAI span attribute names of
// every instrumentation dialect (OpenTelemetry GenAI v1.41 and the renames on
// the conventions' main branch, their deprecated names, OpenInference,
// OpenLLMetry/traceloop, the Vercel AI SDK v4-v6, LiteLLM and OpenLIT) and
// normalises one span's attributes into a Call: what kind of span it is,
// provider, model, usage in the pricing usage model, reported cost and the
// agent identity the span carries itself.
//
// When several dialects name the same quantity, the current semantic
// convention name wins, then its deprecated names, then the other dialects in
// the order listed above. Extract makes one pass over the attributes and does
// not allocate.
package genai

import (
	"math"
	"strconv"
	"strings"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/agentcost/agentcost/pricing"
)

// Kind is what a span is, as far as cost goes.
type Kind uint8

const (
	// KindNone: not a GenAI span.
	KindNone Kind = iota
	// KindInference: a leaf model call (chat, text completion, generate
	// content, a Vercel doGenerate/doStream): billable.
	KindInference
	// KindEmbedding: a leaf embeddings call: billable.
	KindEmbedding
	// KindTool: a tool execution: attributed, priced per call when the tool
	// has a price.
	KindTool
	// KindAgent: an agent span (invoke_agent, create_agent, OpenInference
	// AGENT, traceloop agent). Its usage repeats its children's: never priced.
	KindAgent
	// KindAggregate: a workflow, chain, task or outer SDK span (Vercel
	// ai.generateText) that repeats its children's usage: never priced.
	KindAggregate
)

var kindNames = [...]string{"none", "inference", "embedding", "tool", "agent", "aggregate"}

// String returns the lower-case kind name.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Billable reports whether spans of this kind are cost events.
func (k Kind) Billable() bool { return k == KindInference || k == KindEmbedding || k == KindTool }

// Dialect is the instrumentation dialect whose names decided the span kind.
type Dialect uint8

// Dialects.
const (
	DialectUnknown Dialect = iota
	DialectOTel
	DialectOpenInference
	DialectOpenLLMetry
	DialectVercel
	DialectLiteLLM
	DialectOpenLIT
)

var dialectNames = [...]string{"unknown", "otel", "openinference", "openllmetry", "vercel", "litellm", "openlit"}

// String returns the dialect name.
func (d Dialect) String() string {
	if int(d) < len(dialectNames) {
		return dialectNames[d]
	}
	return "unknown"
}

// Problem says why a usage value could not be used. The zero value is no
// problem.
type Problem uint8

// Problems with usage values.
const (
	ProblemNone Problem = iota
	ProblemNegative
	ProblemNaN
	ProblemInfinite
	ProblemFractional
	ProblemNotANumber
	ProblemWrongType
	ProblemOverflow
)

var problemNames = [...]string{"", "negative_tokens", "nan_tokens", "infinite_tokens", "fractional_tokens", "invalid_tokens", "invalid_token_type", "token_overflow"}

// String returns the problem's reason code ("" for none).
func (p Problem) String() string {
	if int(p) < len(problemNames) {
		return problemNames[p]
	}
	return "invalid_tokens"
}

// Usage fields, indexes into Call.nums.
const (
	fInput = iota
	fOutput
	fCacheRead
	fCacheWrite
	fCacheWrite1h
	fReasoning
	fInAudio
	fOutAudio
	fInImage
	fOutImage
	fTotal
	numFields
)

var fieldNames = [numFields]string{"input", "output", "cache_read", "cache_write", "cache_write_1h", "reasoning", "input_audio", "output_audio", "input_image", "output_image", "total"}

type num struct {
	v    uint64
	rank uint8 // 0 = unset; lower wins
	bad  Problem
}

type str struct {
	v    string
	rank uint8
}

func (s *str) set(v string, rank uint8) {
	if v == "" {
		return
	}
	if s.rank == 0 || rank < s.rank {
		s.v, s.rank = v, rank
	}
}

// Call is one span's GenAI content, normalised. Strings alias the span's
// attribute values (no copies).
type Call struct {
	Kind    Kind
	Dialect Dialect
	// Operation is the normalised operation: chat, text_completion,
	// generate_content, embeddings, execute_tool, invoke_agent, create_agent,
	// invoke_workflow, or the dialect's own word when it has no equivalent.
	Operation string
	// Provider is the raw provider name (gen_ai.provider.name, a legacy
	// gen_ai.system value, llm.provider, a Vercel provider id without its
	// ".chat"-style suffix).
	Provider      string
	RequestModel  string
	ResponseModel string
	ServerAddress string
	ServiceTier   string
	Batch         bool

	AgentID, AgentName, AgentVersion string
	ToolName                         string
	ToolArguments                    string
	ConversationID, UserID           string

	// ReportedCost is the instrumentation- or provider-reported cost in USD.
	ReportedCost    pricing.Money
	HasReportedCost bool

	// HasAgentcostKeys is true when an agentcost.* attribute was already on
	// the span (an upstream agentcost tier priced it).
	HasAgentcostKeys bool
	// HasUsageCost is true when gen_ai.usage.cost was already on the span.
	HasUsageCost bool

	nums                                          [numFields]num
	provider, reqModel, respModel, tier, agentID  str
	agentName, agentVersion, toolName, toolArgs   str
	conversation, user, op, oiKind, tlKind, tlEnt str
	vercelOp, llmReqType, reportedCost            str
	reportedCostD                                 float64
	reportedCostRank                              uint8
	sawGenAI, sawLiteLLM, sawOpenLIT              bool
}

// Reset clears c for reuse.
func (c *Call) Reset() { *c = Call{} }

// Extract fills c from a span's name and attributes. It does not allocate.
func Extract(c *Call, spanName string, attrs pcommon.Map) {
	c.Reset()
	for k, v := range attrs.All() {
		c.attr(k, v)
	}
	c.finish(spanName)
}

func (c *Call) tok(f int, rank uint8, v pcommon.Value) {
	n := &c.nums[f]
	if n.rank != 0 && n.rank <= rank {
		return
	}
	val, p := TokenValue(v)
	if p == ProblemNone && v.Type() == pcommon.ValueTypeStr && strings.TrimSpace(v.Str()) == "" {
		return // an empty string is an absent value
	}
	n.v, n.rank, n.bad = val, rank, p
}

func strOf(v pcommon.Value) string {
	if v.Type() == pcommon.ValueTypeStr {
		return v.Str()
	}
	return ""
}

// attr dispatches one attribute.
func (c *Call) attr(k string, v pcommon.Value) {
	if len(k) > 10 && k[:10] == "agentcost." {
		c.HasAgentcostKeys = true
		if k == "agentcost.batch" && v.Type() == pcommon.ValueTypeBool {
			c.Batch = v.Bool()
		}
		return
	}
	switch k {
	// --- OpenTelemetry GenAI v1.41 and renames (rank 1), deprecated (rank 2)
	case "gen_ai.operation.name":
		c.op.set(strOf(v), 1)
		c.sawGenAI = true
	case "gen_ai.provider.name":
		c.provider.set(strOf(v), 1)
	case "gen_ai.system":
		c.provider.set(strOf(v), 2)
	case "gen_ai.request.model":
		c.reqModel.set(strOf(v), 1)
	case "gen_ai.response.model":
		c.respModel.set(strOf(v), 1)
	case "server.address":
		c.ServerAddress = strOf(v)
	case "gen_ai.usage.input_tokens":
		c.tok(fInput, 1, v)
	case "gen_ai.usage.prompt_tokens":
		c.tok(fInput, 2, v)
	case "gen_ai.usage.output_tokens":
		c.tok(fOutput, 1, v)
	case "gen_ai.usage.completion_tokens":
		c.tok(fOutput, 2, v)
	case "gen_ai.usage.cache_read.input_tokens":
		c.tok(fCacheRead, 1, v)
	case "gen_ai.usage.cache_write.input_tokens":
		c.tok(fCacheWrite, 1, v)
	case "gen_ai.usage.cache_creation.input_tokens":
		c.tok(fCacheWrite, 2, v)
	case "gen_ai.usage.reasoning.output_tokens":
		c.tok(fReasoning, 1, v)
	case "gen_ai.usage.total_tokens":
		c.tok(fTotal, 1, v)
	case "gen_ai.agent.id":
		c.agentID.set(strOf(v), 1)
	case "gen_ai.agent.name":
		c.agentName.set(strOf(v), 1)
	case "gen_ai.agent.version":
		c.agentVersion.set(strOf(v), 1)
	case "gen_ai.tool.name":
		c.toolName.set(strOf(v), 1)
	case "gen_ai.tool.call.arguments":
		c.toolArgs.set(strOf(v), 1)
	case "gen_ai.conversation.id":
		c.conversation.set(strOf(v), 1)
	case "openai.response.service_tier":
		c.tier.set(strOf(v), 1)
	case "openai.request.service_tier":
		c.tier.set(strOf(v), 2)
	case "user.id":
		c.user.set(strOf(v), 1)
	case "enduser.id":
		c.user.set(strOf(v), 2)

	// --- OpenLIT (rank 1 for its cost: it is the conventional name)
	case "gen_ai.usage.cost":
		c.HasUsageCost = true
		c.cost(v, 1)
		c.sawOpenLIT = true

	// --- OpenLLMetry / traceloop (rank 3)
	case "gen_ai.usage.cache_read_input_tokens":
		c.tok(fCacheRead, 3, v)
	case "gen_ai.usage.cache_creation_input_tokens":
		c.tok(fCacheWrite, 3, v)
	case "gen_ai.usage.reasoning_tokens":
		c.tok(fReasoning, 3, v)
	case "llm.usage.total_tokens":
		c.tok(fTotal, 3, v)
	case "llm.request.type":
		c.llmReqType.set(strOf(v), 1)
	case "traceloop.span.kind":
		c.tlKind.set(strOf(v), 1)
	case "traceloop.entity.name":
		c.tlEnt.set(strOf(v), 1)

	// --- OpenInference (rank 4)
	case "openinference.span.kind":
		c.oiKind.set(strOf(v), 1)
	case "llm.model_name":
		c.reqModel.set(strOf(v), 4)
	case "llm.provider":
		c.provider.set(strOf(v), 4)
	case "llm.system":
		c.provider.set(strOf(v), 5)
	case "llm.token_count.prompt":
		c.tok(fInput, 4, v)
	case "llm.token_count.completion":
		c.tok(fOutput, 4, v)
	case "llm.token_count.total":
		c.tok(fTotal, 4, v)
	case "llm.token_count.prompt_details.cache_read":
		c.tok(fCacheRead, 4, v)
	case "llm.token_count.prompt_details.cache_write":
		c.tok(fCacheWrite, 4, v)
	case "llm.token_count.prompt_details.audio":
		c.tok(fInAudio, 4, v)
	case "llm.token_count.completion_details.reasoning":
		c.tok(fReasoning, 4, v)
	case "llm.token_count.completion_details.audio":
		c.tok(fOutAudio, 4, v)
	case "llm.cost.total":
		c.cost(v, 4)
	case "agent.name":
		c.agentName.set(strOf(v), 4)
	case "tool.name":
		c.toolName.set(strOf(v), 4)
	case "tool.parameters":
		c.toolArgs.set(strOf(v), 4)
	case "session.id":
		c.conversation.set(strOf(v), 4)

	// --- Vercel AI SDK v4-v6 (rank 5; v6 detail names first)
	case "ai.operationId":
		c.vercelOp.set(strOf(v), 1)
	case "ai.model.id":
		c.reqModel.set(strOf(v), 5)
	case "ai.response.model":
		c.respModel.set(strOf(v), 5)
	case "ai.model.provider":
		c.provider.set(strOf(v), 6)
	case "ai.usage.inputTokens":
		c.tok(fInput, 5, v)
	case "ai.usage.promptTokens":
		c.tok(fInput, 6, v)
	case "ai.usage.tokens":
		c.tok(fInput, 7, v)
	case "ai.usage.outputTokens":
		c.tok(fOutput, 5, v)
	case "ai.usage.completionTokens":
		c.tok(fOutput, 6, v)
	case "ai.usage.totalTokens":
		c.tok(fTotal, 5, v)
	case "ai.usage.inputTokenDetails.cacheReadTokens":
		c.tok(fCacheRead, 5, v)
	case "ai.usage.cachedInputTokens":
		c.tok(fCacheRead, 6, v)
	case "ai.usage.inputTokenDetails.cacheWriteTokens":
		c.tok(fCacheWrite, 5, v)
	case "ai.usage.outputTokenDetails.reasoningTokens":
		c.tok(fReasoning, 5, v)
	case "ai.usage.reasoningTokens":
		c.tok(fReasoning, 6, v)
	case "ai.telemetry.functionId":
		c.agentID.set(strOf(v), 5)
		c.agentName.set(strOf(v), 5)
	case "ai.toolCall.name":
		c.toolName.set(strOf(v), 5)
	case "ai.toolCall.args":
		c.toolArgs.set(strOf(v), 5)

	// --- LiteLLM (rank 6)
	case "gen_ai.cost.total_cost":
		c.cost(v, 6)
		c.sawLiteLLM = true
	case "metadata.user_api_key_end_user_id":
		c.user.set(strOf(v), 6)
		c.sawLiteLLM = true
	case "metadata.user_api_key_user_id":
		c.user.set(strOf(v), 7)
		c.sawLiteLLM = true
	case "metadata.user_api_key_alias":
		// A LiteLLM virtual key usually belongs to one app or agent: its
		// alias is the agent of last resort among span attributes.
		c.agentID.set(strOf(v), 7)
		c.agentName.set(strOf(v), 7)
		c.sawLiteLLM = true
	}
}

// cost records a reported cost (USD) of the given rank.
func (c *Call) cost(v pcommon.Value, rank uint8) {
	if c.reportedCostRank != 0 && c.reportedCostRank <= rank {
		return
	}
	switch v.Type() {
	case pcommon.ValueTypeDouble:
		c.reportedCost = str{}
		c.reportedCostD = v.Double()
	case pcommon.ValueTypeInt:
		c.reportedCost = str{}
		c.reportedCostD = float64(v.Int())
	case pcommon.ValueTypeStr:
		c.reportedCost = str{v: strings.TrimSpace(v.Str()), rank: rank}
	default:
		return
	}
	c.reportedCostRank = rank
}

// maxFloatUSD bounds float reported costs (and strings in exponent
// notation) below 2^64 pico-dollars (about 18.4 million USD), as before;
// plain decimal strings are bounded only by pricing.Money's range.
const maxFloatUSD = 1.8e7

// moneyFromFloat converts a reported USD amount given as a float exactly:
// the float's shortest decimal representation (strconv 'f', -1: the digits
// the instrumentation most likely wrote) rounded to 12 fractional digits by
// roundDecimal. No binary arithmetic: math.Round(f*1e12) is off by a pico
// above about 9,007 USD.
func moneyFromFloat(f float64) (pricing.Money, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f >= maxFloatUSD {
		return pricing.Money{}, false
	}
	if f == 0 { // also -0, which formats as "-0"
		return pricing.Money{}, true
	}
	var buf [64]byte // on the stack: no allocation for the usual floats
	b, ok := roundDecimal(strconv.AppendFloat(buf[:0], f, 'f', -1, 64), pricing.MoneyScale, true)
	if !ok {
		return pricing.Money{}, false
	}
	pico, ok := picoFromDecimal(b)
	return pricing.MoneyFromPico(pico), ok
}

// picoFromDecimal reads a plain decimal with at most 12 fractional digits
// (roundDecimal's output) as pico-units, false past uint64.
func picoFromDecimal(b []byte) (uint64, bool) {
	var v uint64
	frac := -1
	for _, c := range b {
		if c == '.' {
			frac = 0
			continue
		}
		if frac >= 0 {
			frac++
		}
		if v > (math.MaxUint64-9)/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	for frac = max(frac, 0); frac < pricing.MoneyScale; frac++ {
		if v > math.MaxUint64/10 {
			return 0, false
		}
		v *= 10
	}
	return v, true
}

// moneyFromDecimal parses a plain decimal ("123", "0.5", ".5", "1.") with
// any number of fractional digits, rounded to 12 by roundDecimal.
func moneyFromDecimal(b []byte) (pricing.Money, bool) {
	b, ok := roundDecimal(b, pricing.MoneyScale, false)
	if !ok {
		return pricing.Money{}, false
	}
	m, err := pricing.ParseMoney(unsafe.String(unsafe.SliceData(b), len(b)))
	return m, err == nil
}

// roundDecimal rounds a plain unsigned decimal to at most scale fractional
// digits, half to even (banker's rounding: exactly half a pico goes to the
// even neighbour, so ties do not bias sums). It rounds in decimal, digit by
// digit. It reports false when b is not a plain decimal (sign, exponent,
// other characters, no digit). Rounding down returns a prefix of b.
// Rounding up writes into b when inPlace is set, else (b may view a
// string) it rounds a copy.
func roundDecimal(b []byte, scale int, inPlace bool) ([]byte, bool) {
	dot, digits := -1, 0
	for i, c := range b {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && dot < 0:
			dot = i
		default:
			return nil, false
		}
	}
	if digits == 0 {
		return nil, false
	}
	if dot < 0 || len(b)-dot-1 <= scale {
		return b, true
	}
	keep, rest := b[:dot+1+scale], b[dot+1+scale:]
	up := false
	switch {
	case rest[0] > '5':
		up = true
	case rest[0] == '5':
		up = strings.TrimRight(unsafe.String(unsafe.SliceData(rest[1:]), len(rest)-1), "0") != ""
		if !up { // a tie: to even
			last := byte('0') // no digit kept counts as 0
			for i := len(keep) - 1; i >= 0; i-- {
				if keep[i] != '.' {
					last = keep[i]
					break
				}
			}
			up = (last-'0')%2 == 1
		}
	}
	if !up {
		return keep, true
	}
	out := keep
	if !inPlace {
		out = append([]byte(nil), keep...)
	}
	for i := len(out) - 1; i >= 0; i-- {
		switch {
		case out[i] == '.':
			continue
		case out[i] == '9':
			out[i] = '0'
			continue
		default:
			out[i]++
			return out, true
		}
	}
	// All nines: one more integer digit.
	out = append(out, 0)
	copy(out[1:], out)
	out[0] = '1'
	return out, true
}

// finish resolves kinds and winners after the pass.
func (c *Call) finish(spanName string) {
	c.Provider = vercelProvider(c.provider.v)
	c.RequestModel = c.reqModel.v
	c.ResponseModel = c.respModel.v
	c.ServiceTier = c.tier.v
	c.AgentID = c.agentID.v
	c.AgentName = c.agentName.v
	c.AgentVersion = c.agentVersion.v
	c.ToolName = c.toolName.v
	c.ToolArguments = c.toolArgs.v
	c.ConversationID = c.conversation.v
	c.UserID = c.user.v

	if c.reportedCostRank != 0 {
		if c.reportedCost.rank != 0 {
			if m, err := pricing.ParseMoney(c.reportedCost.v); err == nil {
				c.ReportedCost, c.HasReportedCost = m, true
			} else if m, ok := moneyFromDecimal(unsafe.Slice(unsafe.StringData(c.reportedCost.v), len(c.reportedCost.v))); ok {
				// More than 12 fractional digits: rounded in decimal.
				c.ReportedCost, c.HasReportedCost = m, true
			} else if f, err := strconv.ParseFloat(c.reportedCost.v, 64); err == nil {
				// Exponent notation ("1.5e-3") and the like.
				c.ReportedCost, c.HasReportedCost = moneyFromFloat(f)
			}
		} else {
			c.ReportedCost, c.HasReportedCost = moneyFromFloat(c.reportedCostD)
		}
	}

	c.classify(spanName)

	if c.Kind == KindTool && c.ToolName == "" && c.tlEnt.v != "" {
		c.ToolName = c.tlEnt.v
	}
	if c.Kind == KindAgent && c.tlKind.v == "agent" && c.AgentName == "" {
		c.AgentName = c.tlEnt.v
	}
	if c.AgentID == "" {
		c.AgentID = c.AgentName
	}
}

func (c *Call) setKind(k Kind, d Dialect, op string) {
	c.Kind, c.Dialect = k, d
	if c.Operation == "" {
		c.Operation = op
	}
}

// classify decides Kind, Dialect and Operation. Current names win.
func (c *Call) classify(spanName string) {
	if op := c.op.v; op != "" {
		c.Operation = op
		d := DialectOTel
		switch {
		case c.sawLiteLLM:
			d = DialectLiteLLM
		case c.sawOpenLIT:
			d = DialectOpenLIT
		}
		switch op {
		case "chat", "text_completion", "generate_content", "completion", "responses":
			c.setKind(KindInference, d, op)
		case "embeddings", "embedding":
			c.setKind(KindEmbedding, d, op)
		case "execute_tool":
			c.setKind(KindTool, d, op)
		case "invoke_agent", "create_agent":
			c.setKind(KindAgent, d, op)
		default: // invoke_workflow, retrieval, unknown words: not a model call
			c.setKind(KindAggregate, d, op)
		}
		return
	}
	if k := c.oiKind.v; k != "" {
		switch strings.ToUpper(k) {
		case "LLM":
			c.setKind(KindInference, DialectOpenInference, "chat")
		case "EMBEDDING":
			c.setKind(KindEmbedding, DialectOpenInference, "embeddings")
		case "TOOL":
			c.setKind(KindTool, DialectOpenInference, "execute_tool")
		case "AGENT":
			c.setKind(KindAgent, DialectOpenInference, "invoke_agent")
		default: // CHAIN, RETRIEVER, RERANKER, GUARDRAIL, EVALUATOR
			c.setKind(KindAggregate, DialectOpenInference, strings.ToLower(k))
		}
		return
	}
	vop := c.vercelOp.v
	if vop == "" && strings.HasPrefix(spanName, "ai.") {
		vop = spanName
	}
	if vop != "" && strings.HasPrefix(vop, "ai.") {
		switch {
		case strings.HasSuffix(vop, ".doGenerate"), strings.HasSuffix(vop, ".doStream"):
			c.setKind(KindInference, DialectVercel, "chat")
		case strings.HasSuffix(vop, ".doEmbed"):
			c.setKind(KindEmbedding, DialectVercel, "embeddings")
		case vop == "ai.toolCall":
			c.setKind(KindTool, DialectVercel, "execute_tool")
		default: // ai.generateText, ai.streamText, ai.embed, ...: the outer span
			c.setKind(KindAggregate, DialectVercel, vop)
		}
		return
	}
	if k := c.tlKind.v; k != "" {
		switch k {
		case "agent":
			c.setKind(KindAgent, DialectOpenLLMetry, "invoke_agent")
		case "tool":
			c.setKind(KindTool, DialectOpenLLMetry, "execute_tool")
		default: // workflow, task
			c.setKind(KindAggregate, DialectOpenLLMetry, k)
		}
		return
	}
	if t := c.llmReqType.v; t != "" {
		switch t {
		case "embedding", "embeddings":
			c.setKind(KindEmbedding, DialectOpenLLMetry, "embeddings")
		case "completion":
			c.setKind(KindInference, DialectOpenLLMetry, "text_completion")
		case "rerank":
			c.setKind(KindInference, DialectOpenLLMetry, "rerank")
		default:
			c.setKind(KindInference, DialectOpenLLMetry, "chat")
		}
		return
	}
	// No kind marker: a span with a model and token counts is a model call
	// (LiteLLM's litellm_request, bare gen_ai.* instrumentations).
	if (c.RequestModel != "" || c.ResponseModel != "") && (c.nums[fInput].rank != 0 || c.nums[fOutput].rank != 0) {
		d := DialectOTel
		switch {
		case c.sawLiteLLM:
			d = DialectLiteLLM
		case c.sawOpenLIT:
			d = DialectOpenLIT
		}
		c.setKind(KindInference, d, "chat")
	}
}

// vercelProvider strips the Vercel AI SDK's API suffix ("openai.chat",
// "anthropic.messages", "google.generative-ai") down to the provider.
func vercelProvider(p string) string {
	if i := strings.IndexByte(p, '.'); i > 0 {
		switch p[:i] {
		case "openai", "anthropic", "google", "mistral", "groq", "xai", "cohere", "deepseek", "amazon-bedrock",
			"azure", "vertex", "togetherai", "fireworks", "perplexity", "cerebras", "deepinfra", "openrouter":
			return p[:i]
		}
	}
	return p
}

// TokenValue converts a token-count attribute value (int, double or string)
// into a count, or reports why it cannot be one.
func TokenValue(v pcommon.Value) (uint64, Problem) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		i := v.Int()
		if i < 0 {
			return 0, ProblemNegative
		}
		return uint64(i), ProblemNone
	case pcommon.ValueTypeDouble:
		return floatTokens(v.Double())
	case pcommon.ValueTypeStr:
		s := strings.TrimSpace(v.Str())
		if s == "" {
			return 0, ProblemNone
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u, ProblemNone
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return floatTokens(f)
		}
		if s[0] == '-' {
			if _, err := strconv.ParseInt(s, 10, 64); err == nil {
				return 0, ProblemNegative
			}
		}
		return 0, ProblemNotANumber
	default:
		return 0, ProblemWrongType
	}
}

func floatTokens(f float64) (uint64, Problem) {
	switch {
	case math.IsNaN(f):
		return 0, ProblemNaN
	case math.IsInf(f, 0):
		return 0, ProblemInfinite
	case f < 0:
		return 0, ProblemNegative
	case f != math.Trunc(f):
		return 0, ProblemFractional
	case f >= 1<<63:
		return 0, ProblemOverflow
	}
	return uint64(f), ProblemNone
}

// InputMode says how input tokens relate to cached tokens.
type InputMode uint8

// Input modes.
const (
	// InputAuto: exclusive when cache reads + writes exceed input, else inclusive.
	InputAuto InputMode = iota
	// InputInclusive: input already includes cache reads and writes.
	InputInclusive
	// InputExclusive: input excludes them (Anthropic's raw counts).
	InputExclusive
)

// ParseInputMode parses "auto", "inclusive" or "exclusive".
func ParseInputMode(s string) (InputMode, bool) {
	switch s {
	case "", "auto":
		return InputAuto, true
	case "inclusive":
		return InputInclusive, true
	case "exclusive":
		return InputExclusive, true
	}
	return InputAuto, false
}

// String returns "auto", "inclusive" or "exclusive".
func (m InputMode) String() string {
	switch m {
	case InputInclusive:
		return "inclusive"
	case InputExclusive:
		return "exclusive"
	}
	return "auto"
}

// UsageProblem returns the first problem among the winning usage values,
// with the name of the field it is in ("" when the usage is clean).
func (c *Call) UsageProblem() (Problem, string) {
	for i := range c.nums {
		if c.nums[i].bad != ProblemNone {
			return c.nums[i].bad, fieldNames[i]
		}
	}
	return ProblemNone, ""
}

// HasUsage reports whether any token count was present.
func (c *Call) HasUsage() bool {
	for i := range c.nums {
		if c.nums[i].rank != 0 && i != fTotal {
			return true
		}
	}
	return false
}

// Usage returns the call's usage in the pricing usage model under mode,
// and the mode applied (inclusive or exclusive, never auto). With
// InputExclusive (or auto deciding so because cache reads + writes exceed
// input) the cached tokens are added to input.
func (c *Call) Usage(mode InputMode) (pricing.Usage, InputMode) {
	u := pricing.Usage{
		InputTokens:        c.nums[fInput].v,
		OutputTokens:       c.nums[fOutput].v,
		CacheReadTokens:    c.nums[fCacheRead].v,
		CacheWriteTokens:   c.nums[fCacheWrite].v,
		CacheWrite1hTokens: c.nums[fCacheWrite1h].v,
		ReasoningTokens:    c.nums[fReasoning].v,
		InputAudioTokens:   c.nums[fInAudio].v,
		OutputAudioTokens:  c.nums[fOutAudio].v,
		InputImageTokens:   c.nums[fInImage].v,
		OutputImageTokens:  c.nums[fOutImage].v,
	}
	cached := u.CacheReadTokens + u.CacheWriteTokens
	if cached < u.CacheReadTokens { // overflow
		cached = math.MaxUint64
	}
	if mode == InputAuto {
		mode = InputInclusive
		if cached > u.InputTokens {
			mode = InputExclusive
		}
	}
	if mode == InputExclusive {
		if s := u.InputTokens + cached; s >= u.InputTokens {
			u.InputTokens = s
		} else {
			u.InputTokens = math.MaxUint64
		}
	}
	return u, mode
}
