package importer

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/agentcost/agentcost/pricing"
)

// LiteLLMSnapshot is the date of the LiteLLM price map the default catalog
// was built from.
const LiteLLMSnapshot = "2026-07-24"

const litellmURL = "https://github.com/BerriAI/litellm/blob/main/model_prices_and_context_window.json"

// litellmModes are the entry modes priced per token that the engine bills.
var litellmModes = map[string]bool{"": true, "chat": true, "completion": true, "responses": true, "embedding": true}

// regionalProviders are providers whose LiteLLM keys may carry region or
// deployment paths ("bedrock/us-east-1/..."), which are not model names.
var regionalProviders = map[string]bool{"aws.bedrock": true, "azure.ai.openai": true, "gcp.vertex_ai": true}

type llEntry map[string]json.RawMessage

func (e llEntry) str(k string) string {
	var s string
	if v, ok := e[k]; ok {
		_ = json.Unmarshal(v, &s)
	}
	return s
}

func (e llEntry) num(k string) (float64, bool) {
	v, ok := e[k]
	if !ok {
		return 0, false
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		return 0, false
	}
	return f, true
}

var aboveRe = regexp.MustCompile(`^(.*)_above_(\d+)k_tokens(.*)$`)

// llUnits maps catalog price keys to LiteLLM per-token keys (before a
// service-tier suffix) and the power of ten that turns the LiteLLM value
// into the catalog unit.
var llUnits = []struct {
	key, ll string
	pow     int
	tiers   bool // the key may carry a service-tier suffix
}{
	{"input_mtok", "input_cost_per_token", 6, true},
	{"output_mtok", "output_cost_per_token", 6, true},
	{"cache_read_mtok", "cache_read_input_token_cost", 6, true},
	{"cache_write_mtok", "cache_creation_input_token_cost", 6, true},
	{"cache_write_1h_mtok", "cache_creation_input_token_cost_above_1hr", 6, false},
	{"output_reasoning_mtok", "output_cost_per_reasoning_token", 6, true},
	{"input_audio_mtok", "input_cost_per_audio_token", 6, true},
	{"output_audio_mtok", "output_cost_per_audio_token", 6, true},
	{"cache_audio_read_mtok", "cache_read_input_audio_token_cost", 6, false},
	{"input_image_mtok", "input_cost_per_image_token", 6, false},
	{"output_image_mtok", "output_cost_per_image_token", 6, false},
	{"output_video_mtok", "output_cost_per_video_token", 6, false},
	{"requests_kcount", "input_cost_per_request", 3, false},
}

// llPrice builds the unit prices of an entry for a service-tier suffix
// ("", "_batches", "_flex", "_priority"); nil when the entry has none.
func llPrice(e llEntry, sfx string, st *Stats) (map[string]pricing.PriceValue, error) {
	out := map[string]pricing.PriceValue{}
	for _, u := range llUnits {
		if sfx != "" && !u.tiers {
			continue
		}
		f, ok := e.num(u.ll + sfx)
		if !ok {
			continue
		}
		s, err := decimalTimesPow10(f, u.pow)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", u.ll+sfx, err)
		}
		pv := pricing.PriceValue{Base: s}
		// Cliff tiers: <key>_above_<N>k_tokens<sfx>.
		var tiers []pricing.Tier
		for k := range e {
			m := aboveRe.FindStringSubmatch(k)
			if m == nil || m[1] != u.ll || m[3] != sfx {
				continue
			}
			n, _ := strconv.ParseUint(m[2], 10, 64)
			tf, ok := e.num(k)
			if !ok {
				continue
			}
			ts, err := decimalTimesPow10(tf, u.pow)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			tiers = append(tiers, pricing.Tier{AboveInputTokens: n * 1000, Price: ts})
		}
		sort.Slice(tiers, func(i, j int) bool { return tiers[i].AboveInputTokens < tiers[j].AboveInputTokens })
		pv.Tiers = tiers
		out[u.key] = pv
	}
	if sfx == "" {
		if v, ok := e["search_context_cost_per_query"]; ok {
			var sc map[string]float64
			if json.Unmarshal(v, &sc) == nil {
				if f, ok := sc["search_context_size_medium"]; ok {
					s, err := decimalTimesPow10(f, 3)
					if err != nil {
						return nil, err
					}
					out["web_searches_kcount"] = pricing.PriceValue{Base: s}
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	st.drop(fixUnits(out)...)
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func normDecimal(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// MergeLiteLLM adds LiteLLM's price map to base (normally the genai-prices
// import) and returns the merged catalog file:
//   - for a model of base that LiteLLM names by id, alias or dated snapshot
//     and whose standard input and output prices agree, the batch, flex and priority prices
//     LiteLLM has (entries with source "litellm");
//   - models that resolve to nothing in base, with their standard and
//     service-tier prices, flagged source "litellm" (new providers too).
//
// Entries priced otherwise than per token (per second, per image, per
// character) are skipped.
func MergeLiteLLM(base *pricing.File, data []byte) (*pricing.File, *Stats, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, fmt.Errorf("decode litellm price map: %w", err)
	}
	all := make(map[string]llEntry, len(raw))
	for k, v := range raw {
		var e llEntry
		if len(v) == 0 || v[0] != '{' || json.Unmarshal(v, &e) != nil {
			continue // metadata such as "last_updated"
		}
		all[k] = e
	}
	y, err := base.Marshal()
	if err != nil {
		return nil, nil, err
	}
	cat, err := pricing.Parse(y)
	if err != nil {
		return nil, nil, fmt.Errorf("base catalog: %w", err)
	}
	out := *base
	out.Providers = slices.Clone(base.Providers)
	for i := range out.Providers {
		out.Providers[i].Models = slices.Clone(out.Providers[i].Models)
	}
	out.Attribution = append(slices.Clone(base.Attribution), pricing.Source{
		Name: "litellm", Version: LiteLLMSnapshot, URL: "https://github.com/BerriAI/litellm", License: "MIT",
	})
	st := &Stats{}
	keys := make([]string, 0, len(all))
	for k := range all {
		if k != "sample_spec" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	added := map[string]bool{}     // provider \x00 lowercased model id
	withTiers := map[string]bool{} // provider \x00 model id
	prov := func(id string) *pricing.FileProvider {
		for i := range out.Providers {
			if out.Providers[i].ID == id {
				return &out.Providers[i]
			}
		}
		return nil
	}
	for _, key := range keys {
		e := all[key]
		llProv := e.str("litellm_provider")
		if llProv == "" || !litellmModes[e.str("mode")] {
			st.Skipped++
			continue
		}
		pid := CatalogProviderID(llProv)
		name := strings.ToLower(key)
		if i := strings.IndexByte(name, '/'); i > 0 && (name[:i] == llProv || CatalogProviderID(name[:i]) == pid) {
			name = name[i+1:]
		}
		if regionalProviders[pid] && strings.Contains(name, "/") {
			st.Skipped++
			continue
		}
		std, err := llPrice(e, "", st)
		if err != nil {
			return nil, nil, fmt.Errorf("litellm %q: %w", key, err)
		}
		if std == nil {
			st.Skipped++
			continue
		}
		var conds []pricing.FilePrice
		for _, c := range []struct {
			sfx, tier string
			batch     bool
		}{{"_batches", "", true}, {"_flex", "flex", false}, {"_priority", "priority", false}} {
			u, err := llPrice(e, c.sfx, st)
			if err != nil {
				return nil, nil, fmt.Errorf("litellm %q: %w", key, err)
			}
			if u != nil {
				conds = append(conds, pricing.FilePrice{ServiceTier: c.tier, Batch: c.batch, Source: "litellm", Units: u})
			}
		}
		info, ok := cat.Lookup(pid, name)
		if ok {
			if len(conds) == 0 || info.Provider != pid || (info.Match != pricing.MatchExact && info.Match != pricing.MatchAlias && info.Match != pricing.MatchSnapshot) {
				continue
			}
			id := pid + "\x00" + info.Model
			if withTiers[id] {
				continue
			}
			p := prov(pid)
			mi := slices.IndexFunc(p.Models, func(m pricing.FileModel) bool { return m.ID == info.Model })
			m := &p.Models[mi]
			// Only trust LiteLLM's tier prices when its standard price is the one we have.
			cur := latestStandard(m.Prices)
			if cur == nil || normDecimal(cur.Units["input_mtok"].Base) != normDecimal(std["input_mtok"].Base) ||
				normDecimal(cur.Units["output_mtok"].Base) != normDecimal(std["output_mtok"].Base) {
				st.TierMismatch++
				continue
			}
			if slices.ContainsFunc(m.Prices, func(p pricing.FilePrice) bool { return p.Batch || p.ServiceTier != "" }) {
				continue
			}
			withTiers[id] = true
			prices := slices.Clone(m.Prices)
			for _, c := range conds {
				c.EffectiveFrom = cur.EffectiveFrom
				c.Provenance = &pricing.Provenance{SourceURL: litellmURL, Checked: LiteLLMSnapshot, ImportedFrom: "litellm " + key}
				prices = append(prices, c)
				st.TierEntries++
			}
			m.Prices = prices
			continue
		}
		id := pid + "\x00" + name
		if added[id] {
			continue
		}
		added[id] = true
		p := prov(pid)
		if p == nil {
			np := pricing.FileProvider{ID: pid}
			if llProv != pid {
				np.Aliases = append(np.Aliases, llProv)
			}
			for _, a := range extraAliases[pid] {
				if !slices.Contains(np.Aliases, a) {
					np.Aliases = append(np.Aliases, a)
				}
			}
			out.Providers = append(out.Providers, np)
			st.Providers++
			p = &out.Providers[len(out.Providers)-1]
		}
		fm := pricing.FileModel{
			ID: name, Source: "litellm",
			Notes:      "Not in genai-prices; prices from LiteLLM's price map (less curated).",
			Provenance: &pricing.Provenance{SourceURL: litellmURL, Checked: LiteLLMSnapshot, ImportedFrom: "litellm " + key},
			Prices:     append([]pricing.FilePrice{{Units: std}}, conds...),
		}
		for i := range fm.Prices[1:] {
			fm.Prices[1+i].Source = ""
		}
		p.Models = append(p.Models, fm)
		st.Models++
		st.TierEntries += len(conds)
	}
	return &out, st, nil
}

// latestStandard returns the standard-tier, non-batch, all-day price with
// no end date (the one in force now), or nil.
func latestStandard(prices []pricing.FilePrice) *pricing.FilePrice {
	for i := len(prices) - 1; i >= 0; i-- {
		p := &prices[i]
		if !p.Batch && p.ServiceTier == "" && p.TimeOfDay == nil && p.EffectiveTo == "" {
			return p
		}
	}
	return nil
}
