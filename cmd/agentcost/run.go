package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/agentcost/agentcost/pricing"
	"github.com/agentcost/agentcost/pricing/importer"
	"go.yaml.in/yaml/v3"
)

// Exit codes.
const (
	exitOK       = 0
	exitUnpriced = 1
	exitUsage    = 2 // command line
	exitBadUsage = 3 // token usage inconsistent
	exitCatalog  = 4
)

const usageText = `usage:
  agentcost price --provider P --model M [--input-tokens N] [--cache-read-tokens N] [--cache-write-tokens N]
                  [--cache-write-1h-tokens N] [--output-tokens N] [--reasoning-tokens N] [--web-searches N]
                  [--requests N] [--tool-calls N] [--audio-ms N] [--at RFC3339] [--service-tier T] [--batch]
                  [--server-address HOST] [--catalog FILE]... [--json]
  agentcost catalog validate [--standalone] [FILE...]
  agentcost catalog import --from genai-prices|litellm FILE [--base CATALOG] [-o OUT]
  agentcost catalog show PROVIDER/MODEL [--catalog FILE]...
`

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	switch args[0] {
	case "price":
		return cmdPrice(args[1:], stdout, stderr)
	case "catalog":
		if len(args) < 2 {
			fmt.Fprint(stderr, usageText)
			return exitUsage
		}
		switch args[1] {
		case "validate":
			return cmdValidate(args[2:], stdout, stderr)
		case "import":
			return cmdImport(args[2:], stdout, stderr)
		case "show":
			return cmdShow(args[2:], stdout, stderr)
		}
		fmt.Fprintf(stderr, "agentcost catalog: unknown subcommand %q (valid: validate, import, show)\n", args[1])
		return exitUsage
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usageText)
		return exitOK
	}
	fmt.Fprintf(stderr, "agentcost: unknown command %q (valid: price, catalog)\n%s", args[0], usageText)
	return exitUsage
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// priceJSON is the --json output of price.
type priceJSON struct {
	Status            string `json:"status"`
	Reason            string `json:"reason,omitempty"`
	Provider          string `json:"provider,omitempty"`
	ModelID           string `json:"model_id,omitempty"`
	PriceID           string `json:"price_id,omitempty"`
	Match             string `json:"match"`
	CatalogVersion    string `json:"catalog_version"`
	Currency          string `json:"currency"`
	Input             string `json:"input"`
	CacheRead         string `json:"cache_read"`
	CacheWrite        string `json:"cache_write"`
	Output            string `json:"output"`
	Reasoning         string `json:"reasoning"`
	Other             string `json:"other"`
	Total             string `json:"total"`
	ConditionFallback bool   `json:"condition_fallback,omitempty"`
}

func cmdPrice(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("agentcost price", stderr)
	var (
		q        pricing.Query
		u        pricing.Usage
		at       string
		catalogs multiFlag
		asJSON   bool
	)
	fs.StringVar(&q.Provider, "provider", "", "provider (gen_ai.provider.name or legacy gen_ai.system)")
	fs.StringVar(&q.Model, "model", "", "model name as on the span")
	fs.StringVar(&q.ServerAddress, "server-address", "", "server.address, for provider detection")
	fs.StringVar(&q.ServiceTier, "service-tier", "", "service tier (flex, priority, ...)")
	fs.BoolVar(&q.Batch, "batch", false, "the call went through a batch API")
	fs.StringVar(&at, "at", "", "span start time, RFC 3339 (default now)")
	fs.Uint64Var(&u.InputTokens, "input-tokens", 0, "total input tokens, cache reads and writes included")
	fs.Uint64Var(&u.CacheReadTokens, "cache-read-tokens", 0, "cache read tokens (part of input)")
	fs.Uint64Var(&u.CacheWriteTokens, "cache-write-tokens", 0, "cache write tokens, 1 h writes included (part of input)")
	fs.Uint64Var(&u.CacheWrite1hTokens, "cache-write-1h-tokens", 0, "1 h cache write tokens (part of cache writes)")
	fs.Uint64Var(&u.OutputTokens, "output-tokens", 0, "output tokens, reasoning included")
	fs.Uint64Var(&u.ReasoningTokens, "reasoning-tokens", 0, "reasoning tokens (part of output)")
	fs.Uint64Var(&u.WebSearches, "web-searches", 0, "web search calls")
	fs.Uint64Var(&u.Requests, "requests", 0, "requests (0 means 1)")
	fs.Uint64Var(&u.ToolCalls, "tool-calls", 0, "other billable tool calls")
	fs.Uint64Var(&u.AudioMs, "audio-ms", 0, "audio duration in milliseconds (models priced per audio hour)")
	fs.Var(&catalogs, "catalog", "user catalog file layered over the default (repeatable)")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "agentcost price: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if q.Model == "" {
		fmt.Fprintln(stderr, "agentcost price: --model is required")
		return exitUsage
	}
	if at != "" {
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			fmt.Fprintf(stderr, "agentcost price: --at %q: want an RFC 3339 time such as 2025-06-01T12:00:00Z\n", at)
			return exitUsage
		}
		q.At = t
	}
	cat, err := pricing.Load(catalogs...)
	if err != nil {
		fmt.Fprintf(stderr, "agentcost price: %v\n", err)
		return exitCatalog
	}
	r := cat.Price(q, u)
	if asJSON {
		out := priceJSON{
			Status: r.Status.String(), Reason: r.Reason, Provider: r.Provider, ModelID: r.Model, PriceID: r.PriceID,
			Match: r.Match.String(), CatalogVersion: r.CatalogVersion, Currency: r.Currency,
			Input: r.Input.String(), CacheRead: r.CacheRead.String(), CacheWrite: r.CacheWrite.String(),
			Output: r.Output.String(), Reasoning: r.Reasoning.String(), Other: r.Other.String(), Total: r.Total.String(),
			ConditionFallback: r.ConditionFallback,
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	} else if r.Status == pricing.StatusPriced {
		fmt.Fprintf(stdout, "provider     %s\nmodel        %s (%s match)\nprice        %s\n", r.Provider, r.Model, r.Match, r.PriceID)
		if r.ConditionFallback {
			fmt.Fprintf(stdout, "note         no price for the requested service tier/batch; standard price used\n")
		}
		for _, row := range []struct {
			name string
			v    pricing.Money
		}{{"input", r.Input}, {"cache read", r.CacheRead}, {"cache write", r.CacheWrite}, {"output", r.Output}, {"reasoning", r.Reasoning}, {"other", r.Other}, {"total", r.Total}} {
			fmt.Fprintf(stdout, "%-12s %s %s\n", row.name, row.v, r.Currency)
		}
		fmt.Fprintf(stdout, "catalog      %s\n", r.CatalogVersion)
	}
	switch r.Status {
	case pricing.StatusPriced:
		return exitOK
	case pricing.StatusUsageError:
		fmt.Fprintf(stderr, "agentcost price: invalid usage: %s\n", r.Reason)
		return exitBadUsage
	}
	what := fmt.Sprintf("provider %q model %q", q.Provider, q.Model)
	fmt.Fprintf(stderr, "agentcost price: unpriced: %s (%s)\n", r.Reason, what)
	return exitUnpriced
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("agentcost catalog validate", stderr)
	standalone := fs.Bool("standalone", false, "validate the files alone, not layered over the default catalog")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 && *standalone {
		fmt.Fprintln(stderr, "agentcost catalog validate: --standalone needs at least one catalog file")
		return exitUsage
	}
	var layers [][]byte
	if !*standalone {
		layers = append(layers, pricing.DefaultYAML()) // alone: validates the embedded catalog
	}
	for _, path := range fs.Args() {
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stderr, "agentcost catalog validate: %v\n", err)
			return exitCatalog
		}
		layers = append(layers, b)
	}
	cat, err := pricing.Parse(layers...)
	if err != nil {
		fmt.Fprintf(stderr, "agentcost catalog validate: %v\n", err)
		return exitCatalog
	}
	providers, models := 0, 0
	for _, p := range cat.File().Providers {
		providers++
		models += len(p.Models)
	}
	fmt.Fprintf(stdout, "ok: %d providers, %d models, catalog version %s\n", providers, models, cat.Version())
	return exitOK
}

func cmdImport(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("agentcost catalog import", stderr)
	from := fs.String("from", "", "source format: genai-prices or litellm")
	base := fs.String("base", "", "litellm only: catalog to merge into (default: the embedded default catalog)")
	out := fs.String("o", "", "output file (default stdout)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "agentcost catalog import: give exactly one input FILE")
		return exitUsage
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "agentcost catalog import: %v\n", err)
		return exitCatalog
	}
	var f *pricing.File
	var st *importer.Stats
	switch *from {
	case "genai-prices":
		f, st, err = importer.GenAIPrices(data)
	case "litellm":
		baseYAML := pricing.DefaultYAML()
		if *base != "" {
			if baseYAML, err = os.ReadFile(*base); err != nil {
				fmt.Fprintf(stderr, "agentcost catalog import: --base: %v\n", err)
				return exitCatalog
			}
		}
		var bf *pricing.File
		if bf, err = pricing.ParseFile(baseYAML); err == nil {
			f, st, err = importer.MergeLiteLLM(bf, data)
		}
	default:
		fmt.Fprintf(stderr, "agentcost catalog import: --from %q: valid values are genai-prices, litellm\n", *from)
		return exitUsage
	}
	if err == nil {
		var y []byte
		if y, err = f.Marshal(); err == nil {
			if _, err = pricing.Parse(y); err == nil {
				if *out == "" {
					_, err = stdout.Write(y)
				} else {
					err = os.WriteFile(*out, y, 0o644)
				}
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "agentcost catalog import: %v\n", err)
		return exitCatalog
	}
	fmt.Fprintf(stderr, "imported %s: %d new providers, %d models, %d service-tier/batch prices, %d free models\n",
		*from, st.Providers, st.Models, st.TierEntries, st.Free)
	return exitOK
}

func cmdShow(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("agentcost catalog show", stderr)
	var catalogs multiFlag
	fs.Var(&catalogs, "catalog", "user catalog file layered over the default (repeatable)")
	// Accept flags before or after the PROVIDER/MODEL argument.
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 || !strings.Contains(pos[0], "/") {
		fmt.Fprintln(stderr, "agentcost catalog show: give one PROVIDER/MODEL argument, e.g. openai/gpt-4o")
		return exitUsage
	}
	provider, model, _ := strings.Cut(pos[0], "/")
	cat, err := pricing.Load(catalogs...)
	if err != nil {
		fmt.Fprintf(stderr, "agentcost catalog show: %v\n", err)
		return exitCatalog
	}
	info, ok := cat.Lookup(provider, model)
	if !ok {
		reason := "unknown_model"
		if cat.NormalizeProvider(provider) == "" {
			reason = "unknown_provider"
		}
		fmt.Fprintf(stderr, "agentcost catalog show: %s: provider %q model %q\n", reason, provider, model)
		return exitUnpriced
	}
	fmt.Fprintf(stdout, "# provider %s, model %s (%s match), catalog %s\n", info.Provider, info.Model, info.Match, cat.Version())
	for i, p := range info.Entry.Prices {
		id := p.ID
		if id == "" {
			id = fmt.Sprintf("%s/%s#%d", info.Provider, info.Model, i)
		}
		fmt.Fprintf(stdout, "# prices[%d]: price_id %s\n", i, id)
	}
	enc := yaml.NewEncoder(stdout)
	enc.SetIndent(2)
	if err := enc.Encode(info.Entry); err != nil {
		fmt.Fprintf(stderr, "agentcost catalog show: %v\n", err)
		return exitCatalog
	}
	_ = enc.Close()
	return exitOK
}
