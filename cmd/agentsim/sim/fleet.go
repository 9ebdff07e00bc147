// Package sim generates deterministic, realistic multi-agent GenAI traffic
// for the agentcost pipeline and computes, with the pricing package, what that
// traffic must cost.
//
// A Plan is a pure function of a seed and a trace count: the same seed gives
// the same traces, calls, usage and ids. An Emitter turns the plan into spans
// through the OpenTelemetry Go SDK, in one of several instrumentation dialects
// per agent. Expect prices every billable call of a plan and sums it per team,
// project, agent and model, which is what the collector must store.
package sim

// Dialect is the instrumentation dialect an agent's spans are written in.
type Dialect string

// Dialects the simulator writes.
const (
	// DialectOTel: OpenTelemetry GenAI semantic conventions v1.41 names
	// (gen_ai.provider.name, gen_ai.usage.input_tokens, invoke_agent, ...).
	DialectOTel Dialect = "otel"
	// DialectOTelDeprecated: the deprecated names still emitted by many
	// instrumentations (gen_ai.system, gen_ai.usage.prompt_tokens,
	// gen_ai.usage.completion_tokens, openai.request.service_tier).
	DialectOTelDeprecated Dialect = "otel_deprecated"
	// DialectOpenInference: Arize OpenInference (openinference.span.kind,
	// llm.model_name, llm.token_count.*).
	DialectOpenInference Dialect = "openinference"
	// DialectVercel: the Vercel AI SDK (ai.generateText outer span and its
	// ai.generateText.doGenerate inner span, ai.usage.*).
	DialectVercel Dialect = "vercel"
)

// Dialects lists every dialect the simulator writes, in a stable order.
var Dialects = []Dialect{DialectOTel, DialectOTelDeprecated, DialectOpenInference, DialectVercel}

// Model is a model an agent may call.
type Model struct {
	// Provider is the gen_ai.provider.name value (openai, anthropic,
	// gcp.gemini, aws.bedrock, mistral_ai, ...).
	Provider string
	// Name is the model name as sent in the request.
	Name string
	// Embedding marks an embeddings model.
	Embedding bool
	// Reasoning marks a model that reports reasoning tokens.
	Reasoning bool
	// Caching marks a model whose calls read and write a prompt cache.
	Caching bool
	// Tiers are the OpenAI service tiers calls may carry ("" = none).
	Tiers []string
	// Unknown marks a model no catalog prices (the calls are unpriced).
	Unknown bool
	// Server is the server.address of the provider's API.
	Server string
}

// Tool is a tool an agent may call.
type Tool struct {
	Name string
	// Provider, when set, is written as gen_ai.provider.name on the tool span
	// so that a provider-hosted tool (web search, code interpreter) can be
	// priced per call.
	Provider string
	// MinMillis, MaxMillis bound the tool's latency.
	MinMillis, MaxMillis int
}

// Agent is one agent of the simulated fleet.
type Agent struct {
	ID, Name, Version string
	// Team and Project are what the sample registry (examples/registry.yaml)
	// says for a registered agent, and the registry's defaults for an
	// unregistered one.
	Team, Project string
	// Registered says whether examples/registry.yaml lists the agent.
	Registered bool
	Dialect    Dialect
	// Service is the service.name resource attribute of the agent's process.
	Service string
	// SubAgents are the ids of the agents this one invokes (orchestrators).
	SubAgents []string
	Models    []Model
	Tools     []Tool
	// Steps bounds the number of model/tool steps per invocation.
	MinSteps, MaxSteps int
	// Weight is the relative frequency of the agent as a trace root (0 for
	// an agent only ever invoked as a sub-agent).
	Weight int
}

// Registry defaults: the identity of an agent the registry does not list.
const (
	DefaultTeam    = "unassigned"
	DefaultProject = "unassigned"
)

var (
	gpt4o        = Model{Provider: "openai", Name: "gpt-4o", Caching: true, Tiers: []string{"default", "default", "default", "priority"}, Server: "api.openai.com"}
	gpt41mini    = Model{Provider: "openai", Name: "gpt-4.1-mini", Caching: true, Tiers: []string{"default", "default", "flex"}, Server: "api.openai.com"}
	gpt4omini    = Model{Provider: "openai", Name: "gpt-4o-mini", Caching: true, Tiers: []string{"default"}, Server: "api.openai.com"}
	o4mini       = Model{Provider: "openai", Name: "o4-mini", Reasoning: true, Caching: true, Tiers: []string{"default", "flex", "priority"}, Server: "api.openai.com"}
	embed3small  = Model{Provider: "openai", Name: "text-embedding-3-small", Embedding: true, Server: "api.openai.com"}
	sonnet45     = Model{Provider: "anthropic", Name: "claude-sonnet-4-5", Caching: true, Server: "api.anthropic.com"}
	haiku45      = Model{Provider: "anthropic", Name: "claude-haiku-4-5", Caching: true, Server: "api.anthropic.com"}
	gemini25pro  = Model{Provider: "gcp.gemini", Name: "gemini-2.5-pro", Reasoning: true, Caching: true, Server: "generativelanguage.googleapis.com"}
	gemini25fl   = Model{Provider: "gcp.gemini", Name: "gemini-2.5-flash", Reasoning: true, Caching: true, Server: "generativelanguage.googleapis.com"}
	geminiEmbed  = Model{Provider: "gcp.gemini", Name: "gemini-embedding-001", Embedding: true, Server: "generativelanguage.googleapis.com"}
	novaPro      = Model{Provider: "aws.bedrock", Name: "amazon.nova-pro-v1:0", Server: "bedrock-runtime.us-east-1.amazonaws.com"}
	bedrockHaiku = Model{Provider: "aws.bedrock", Name: "us.anthropic.claude-3-5-haiku-20241022-v1:0", Server: "bedrock-runtime.us-east-1.amazonaws.com"}
	titanEmbed   = Model{Provider: "aws.bedrock", Name: "amazon.titan-embed-text-v1", Embedding: true, Server: "bedrock-runtime.us-east-1.amazonaws.com"}
	mistralSmall = Model{Provider: "mistral_ai", Name: "mistral-small-latest", Server: "api.mistral.ai"}
	// Models no catalog knows: an in-house fine-tune behind an OpenAI
	// compatible gateway and a model announced after the catalog was cut.
	acmeInternal = Model{Provider: "openai", Name: "acme-support-ft-7b", Unknown: true, Server: "llm-gateway.acme.internal"}
	futureModel  = Model{Provider: "anthropic", Name: "claude-nova-9-preview", Unknown: true, Server: "api.anthropic.com"}
)

var (
	toolWebSearch  = Tool{Name: "web_search", Provider: "openai", MinMillis: 400, MaxMillis: 2500}
	toolCodeInterp = Tool{Name: "code_interpreter", Provider: "openai", MinMillis: 800, MaxMillis: 6000}
	toolKBLookup   = Tool{Name: "kb_lookup", MinMillis: 20, MaxMillis: 300}
	toolRefund     = Tool{Name: "issue_refund", MinMillis: 100, MaxMillis: 900}
	toolSQL        = Tool{Name: "run_sql", MinMillis: 50, MaxMillis: 3000}
	toolGitDiff    = Tool{Name: "git_diff", MinMillis: 10, MaxMillis: 200}
	toolRunTests   = Tool{Name: "run_tests", MinMillis: 2000, MaxMillis: 9000}
	toolCRM        = Tool{Name: "crm_lookup", MinMillis: 30, MaxMillis: 400}
)

// Fleet returns the simulated agents. It matches examples/registry.yaml: the
// e2e tests check that they agree.
func Fleet() []Agent {
	return []Agent{
		// support / helpdesk: an OTel-instrumented triage agent and its helpers.
		{ID: "support-triage", Name: "Support triage", Version: "3.2.0", Team: "support", Project: "helpdesk", Registered: true,
			Dialect: DialectOTel, Service: "helpdesk-agents", SubAgents: []string{"kb-answerer", "refund-agent"},
			Models: []Model{gpt4omini, gpt4omini, gpt41mini, acmeInternal}, Tools: []Tool{toolCRM},
			MinSteps: 1, MaxSteps: 3, Weight: 30},
		{ID: "kb-answerer", Name: "Knowledge base answerer", Version: "1.4.1", Team: "support", Project: "helpdesk", Registered: true,
			Dialect: DialectOTel, Service: "helpdesk-agents",
			Models: []Model{geminiEmbed, gemini25fl, gemini25fl}, Tools: []Tool{toolKBLookup},
			MinSteps: 2, MaxSteps: 4},
		{ID: "refund-agent", Name: "Refund agent", Version: "0.9.0", Team: "support", Project: "helpdesk", Registered: true,
			Dialect: DialectOTel, Service: "helpdesk-agents",
			Models: []Model{haiku45, haiku45, sonnet45}, Tools: []Tool{toolRefund, toolCRM},
			MinSteps: 1, MaxSteps: 3},

		// research / market-intel: an expensive Anthropic lead agent.
		{ID: "research-lead", Name: "Research lead", Version: "2.0.0", Team: "research", Project: "market-intel", Registered: true,
			Dialect: DialectOTel, Service: "research-swarm", SubAgents: []string{"web-researcher", "report-writer"},
			Models: []Model{sonnet45, sonnet45, futureModel}, MinSteps: 1, MaxSteps: 3, Weight: 14},
		{ID: "web-researcher", Name: "Web researcher", Version: "2.0.0", Team: "research", Project: "market-intel", Registered: true,
			Dialect: DialectOTel, Service: "research-swarm",
			Models: []Model{gpt41mini, gpt4o, embed3small}, Tools: []Tool{toolWebSearch, toolWebSearch},
			MinSteps: 2, MaxSteps: 5},
		{ID: "report-writer", Name: "Report writer", Version: "1.1.0", Team: "research", Project: "market-intel", Registered: true,
			Dialect: DialectOTel, Service: "research-swarm",
			Models: []Model{gemini25pro}, MinSteps: 1, MaxSteps: 2},

		// engineering / code-review: older OpenLLMetry-style deprecated names.
		{ID: "code-reviewer", Name: "Code reviewer", Version: "5.1.3", Team: "engineering", Project: "code-review", Registered: true,
			Dialect: DialectOTelDeprecated, Service: "review-bot", SubAgents: []string{"test-writer"},
			Models: []Model{gpt4o, o4mini, embed3small}, Tools: []Tool{toolGitDiff}, MinSteps: 1, MaxSteps: 3, Weight: 18},
		{ID: "test-writer", Name: "Test writer", Version: "5.1.3", Team: "engineering", Project: "code-review", Registered: true,
			Dialect: DialectOTelDeprecated, Service: "review-bot",
			Models: []Model{o4mini, mistralSmall}, Tools: []Tool{toolRunTests, toolCodeInterp}, MinSteps: 1, MaxSteps: 3},

		// data / analytics: OpenInference (Arize Phoenix) on Bedrock.
		{ID: "sql-analyst", Name: "SQL analyst", Version: "0.4.0", Team: "data", Project: "analytics", Registered: true,
			Dialect: DialectOpenInference, Service: "analytics-copilot", SubAgents: []string{"chart-maker"},
			Models: []Model{novaPro, bedrockHaiku, titanEmbed}, Tools: []Tool{toolSQL}, MinSteps: 2, MaxSteps: 4, Weight: 16},
		{ID: "chart-maker", Name: "Chart maker", Version: "0.2.0", Team: "data", Project: "analytics", Registered: true,
			Dialect: DialectOpenInference, Service: "analytics-copilot",
			Models: []Model{bedrockHaiku}, MinSteps: 1, MaxSteps: 2},

		// growth / campaigns: a Next.js app on the Vercel AI SDK.
		{ID: "campaign-copywriter", Name: "Campaign copywriter", Version: "1.0.0", Team: "growth", Project: "campaigns", Registered: true,
			Dialect: DialectVercel, Service: "campaign-studio",
			Models: []Model{gpt4o, gpt4omini, sonnet45}, MinSteps: 1, MaxSteps: 3, Weight: 14},

		// Not in the registry: billed to the registry's defaults.
		{ID: "shadow-it-bot", Name: "Shadow IT bot", Version: "0.0.1", Team: DefaultTeam, Project: DefaultProject, Registered: false,
			Dialect: DialectOTel, Service: "intern-hackathon",
			Models: []Model{gpt4omini, acmeInternal}, MinSteps: 1, MaxSteps: 2, Weight: 8},
	}
}
