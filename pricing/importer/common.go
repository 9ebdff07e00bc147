// Package importer converts upstream price data into agentcost catalog
// files (see pricing/SCHEMA.md): the genai-prices provider data (primary
// source) and LiteLLM's price map (service-tier and batch prices, and models
// genai-prices lacks, flagged with source "litellm").
package importer

import (
	"slices"
	"sort"
	"strings"

	"github.com/agentcost/agentcost/pricing"
)

// providerIDs maps upstream provider ids (genai-prices and LiteLLM) to
// catalog provider ids, which follow gen_ai.provider.name where the
// semantic conventions define one.
var providerIDs = map[string]string{
	// genai-prices
	"aws":     "aws.bedrock",
	"azure":   "azure.ai.openai",
	"google":  "gcp.gemini",
	"mistral": "mistral_ai",
	"x-ai":    "x_ai",
	// LiteLLM
	"bedrock":                       "aws.bedrock",
	"bedrock_converse":              "aws.bedrock",
	"azure_ai":                      "azure.ai.openai",
	"gemini":                        "gcp.gemini",
	"vertex_ai":                     "gcp.vertex_ai",
	"xai":                           "x_ai",
	"cohere_chat":                   "cohere",
	"together_ai":                   "together",
	"fireworks_ai":                  "fireworks",
	"moonshot":                      "moonshotai",
	"voyage":                        "voyageai",
	"watsonx":                       "ibm.watsonx.ai",
	"text-completion-openai":        "openai",
	"github_copilot":                "github-copilot",
	"fireworks_ai-embedding-models": "fireworks",
	"azure_text":                    "azure.ai.openai",
	"codestral":                     "mistral_ai",
	"text-completion-codestral":     "mistral_ai",
}

// CatalogProviderID returns the catalog id for an upstream provider id.
func CatalogProviderID(upstream string) string {
	if strings.HasPrefix(upstream, "vertex_ai") {
		return "gcp.vertex_ai"
	}
	if id, ok := providerIDs[upstream]; ok {
		return id
	}
	return upstream
}

// extraAliases are legacy gen_ai.system values and common spellings.
var extraAliases = map[string][]string{
	"aws.bedrock":     {"aws", "bedrock", "aws_bedrock", "amazon_bedrock", "bedrock_converse"},
	"azure.ai.openai": {"azure", "az.ai.openai", "azure_openai", "azure.ai.inference", "az.ai.inference", "azure_ai"},
	"gcp.gemini":      {"google", "gemini", "gcp.gen_ai", "google_genai", "google_ai_studio"},
	"gcp.vertex_ai":   {"vertex_ai", "vertexai", "google_vertex_ai"},
	"mistral_ai":      {"mistral", "mistralai"},
	"x_ai":            {"xai", "x-ai"},
	"together":        {"together_ai", "togetherai"},
	"fireworks":       {"fireworks_ai"},
	"cohere":          {"cohere_chat"},
	"moonshotai":      {"moonshot"},
	"voyageai":        {"voyage"},
	"ibm.watsonx.ai":  {"watsonx"},
}

// fixUnits removes price keys whose combination the engine cannot bill
// unambiguously (the same rules Parse enforces) and returns the removed keys.
func fixUnits(u map[string]pricing.PriceValue) []string {
	var dropped []string
	drop := func(k string) {
		if _, ok := u[k]; ok {
			delete(u, k)
			dropped = append(dropped, k)
		}
	}
	has := func(k string) bool { _, ok := u[k]; return ok }
	for _, m := range []string{"output_audio_mtok", "output_image_mtok", "output_video_mtok"} {
		if has("output_reasoning_mtok") && has(m) {
			drop("output_reasoning_mtok")
		}
	}
	for _, m := range []string{"input_audio_mtok", "input_image_mtok", "input_video_mtok"} {
		if has("cache_write_mtok") && has(m) {
			drop(m)
		}
	}
	if has("cache_read_mtok") && has("input_video_mtok") {
		drop("input_video_mtok")
	}
	if has("cache_read_mtok") && has("input_audio_mtok") && !has("cache_audio_read_mtok") {
		drop("input_audio_mtok")
	}
	if has("cache_read_mtok") && has("input_image_mtok") && !has("cache_image_read_mtok") {
		drop("input_image_mtok")
	}
	parents := map[string][]string{
		"cache_read_mtok": {"input_mtok"}, "cache_write_mtok": {"input_mtok"},
		"cache_write_1h_mtok": {"input_mtok", "cache_write_mtok"},
		"input_audio_mtok":    {"input_mtok"}, "input_image_mtok": {"input_mtok"}, "input_video_mtok": {"input_mtok"},
		"cache_audio_read_mtok": {"input_mtok", "cache_read_mtok", "input_audio_mtok"},
		"cache_image_read_mtok": {"input_mtok", "cache_read_mtok", "input_image_mtok"},
		"output_reasoning_mtok": {"output_mtok"}, "output_audio_mtok": {"output_mtok"},
		"output_image_mtok": {"output_mtok"}, "output_video_mtok": {"output_mtok"},
		"input_audio_hours": {"audio_hours"}, "output_audio_hours": {"audio_hours"},
	}
	for changed := true; changed; {
		changed = false
		keys := make([]string, 0, len(u))
		for k := range u {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, p := range parents[k] {
				if !has(p) {
					drop(k)
					changed = true
					break
				}
			}
		}
	}
	slices.Sort(dropped)
	return dropped
}
