package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/agentcost/agentcost/pricing"
)

// GenAIPricesVersion is the genai-prices release the importer was written for.
const GenAIPricesVersion = "0.1.8"

// genai-prices data shapes (embedded-providers.json).
type gpProvider struct {
	ID                     string          `json:"id"`
	Name                   string          `json:"name"`
	PricingURLs            []string        `json:"pricing_urls"`
	APIPattern             string          `json:"api_pattern"`
	ModelMatch             json.RawMessage `json:"model_match"`
	FallbackModelProviders []string        `json:"fallback_model_providers"`
	Models                 []gpModel       `json:"models"`
}

type gpModel struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	Match         json.RawMessage `json:"match"`
	PriceComments string          `json:"price_comments"`
	Prices        json.RawMessage `json:"prices"`
}

type gpMatch struct {
	Or         []gpMatch `json:"or"`
	And        []gpMatch `json:"and"`
	Equals     *string   `json:"equals"`
	StartsWith *string   `json:"starts_with"`
	EndsWith   *string   `json:"ends_with"`
	Contains   *string   `json:"contains"`
	Regex      *string   `json:"regex"`
}

type gpConditional struct {
	Constraint *struct {
		Type      string `json:"type"`
		StartDate string `json:"start_date"`
		StartTime string `json:"start_time"`
		EndTime   string `json:"end_time"`
	} `json:"constraint"`
	Prices map[string]json.RawMessage `json:"prices"`
}

// genai-prices price keys -> catalog price keys.
var gpKeys = map[string]string{
	"input_mtok":              "input_mtok",
	"output_mtok":             "output_mtok",
	"cache_read_mtok":         "cache_read_mtok",
	"cache_write_mtok":        "cache_write_mtok",
	"cache_write_1h_mtok":     "cache_write_1h_mtok",
	"output_reasoning_mtok":   "output_reasoning_mtok",
	"input_audio_mtok":        "input_audio_mtok",
	"output_audio_mtok":       "output_audio_mtok",
	"cache_audio_read_mtok":   "cache_audio_read_mtok",
	"input_image_mtok":        "input_image_mtok",
	"output_image_mtok":       "output_image_mtok",
	"cache_image_read_mtok":   "cache_image_read_mtok",
	"input_video_mtok":        "input_video_mtok",
	"output_video_mtok":       "output_video_mtok",
	"requests_kcount":         "requests_kcount",
	"web_searches_kcount":     "web_searches_kcount",
	"storage_searches_kcount": "file_searches_kcount",
	"audio_hours":             "audio_hours",
	"input_audio_hours":       "input_audio_hours",
	"output_audio_hours":      "output_audio_hours",
}

// minimumAudioSeconds mirrors genai-prices' special case: Groq bills
// whisper transcriptions for at least 10 seconds.
var minimumAudioSeconds = map[[2]string]uint64{
	{"groq", "whisper-large-v3"}:       10,
	{"groq", "whisper-large-v3-turbo"}: 10,
}

// Stats counts what an import did.
type Stats struct {
	Providers, Models int
	DroppedKeys       map[string]int // upstream price keys the engine cannot bill
	Skipped           int            // upstream entries skipped
	TierEntries       int            // service-tier/batch price entries added (LiteLLM)
	TierMismatch      int            // LiteLLM entries whose standard price disagreed (tiers not taken)
	Free              int            // upstream price entries with no price at all, imported as explicit zeros
	Notes             []string
}

func (s *Stats) drop(keys ...string) {
	if s.DroppedKeys == nil {
		s.DroppedKeys = map[string]int{}
	}
	for _, k := range keys {
		s.DroppedKeys[k]++
	}
}

// GenAIPrices converts genai-prices provider data (the JSON array bundled
// by @pydantic/genai-prices) into a catalog file.
func GenAIPrices(data []byte) (*pricing.File, *Stats, error) {
	var provs []gpProvider
	if err := json.Unmarshal(data, &provs); err != nil {
		return nil, nil, fmt.Errorf("decode genai-prices data: %w", err)
	}
	st := &Stats{}
	f := &pricing.File{
		SchemaVersion: pricing.SchemaVersion,
		Attribution: []pricing.Source{{
			Name: "genai-prices", Version: GenAIPricesVersion,
			URL: "https://github.com/pydantic/genai-prices", License: "MIT",
		}},
	}
	for _, gp := range provs {
		id := CatalogProviderID(gp.ID)
		fp := pricing.FileProvider{ID: id, Name: gp.Name, Fallbacks: nil}
		if id != gp.ID {
			fp.Aliases = append(fp.Aliases, gp.ID)
		}
		for _, a := range extraAliases[id] {
			if !slices.Contains(fp.Aliases, a) && a != id {
				fp.Aliases = append(fp.Aliases, a)
			}
		}
		if len(gp.PricingURLs) > 0 {
			fp.PricingURL = gp.PricingURLs[0]
		}
		for _, fb := range gp.FallbackModelProviders {
			fp.Fallbacks = append(fp.Fallbacks, CatalogProviderID(fb))
		}
		if host, ok := hostPattern(gp.APIPattern); ok {
			fp.ServerAddressPatterns = []string{host}
		}
		if len(gp.ModelMatch) > 0 {
			var mm gpMatch
			if err := json.Unmarshal(gp.ModelMatch, &mm); err != nil {
				return nil, nil, fmt.Errorf("provider %q model_match: %w", gp.ID, err)
			}
			if re, err := matchRegexp(mm); err == nil {
				fp.ModelPatterns = []string{"^" + re + "$"}
			} else {
				st.Notes = append(st.Notes, fmt.Sprintf("provider %s: model_match not imported: %v", gp.ID, err))
			}
		}
		names := map[string]bool{}
		for _, gm := range gp.Models {
			names[strings.ToLower(gm.ID)] = true
		}
		for _, gm := range gp.Models {
			fm, err := gpModelToFile(gp, gm, names, st)
			if err != nil {
				return nil, nil, fmt.Errorf("provider %q model %q: %w", gp.ID, gm.ID, err)
			}
			fp.Models = append(fp.Models, fm)
			st.Models++
		}
		f.Providers = append(f.Providers, fp)
		st.Providers++
	}
	// Providers that genai-prices folds into another: Vertex AI serves the
	// Gemini (and partner) models of "google".
	has := func(id string) bool {
		return slices.ContainsFunc(f.Providers, func(p pricing.FileProvider) bool { return p.ID == id })
	}
	if has("gcp.gemini") && has("anthropic") && !has("gcp.vertex_ai") {
		f.Providers = append(f.Providers, pricing.FileProvider{
			ID: "gcp.vertex_ai", Name: "Google Vertex AI", Aliases: extraAliases["gcp.vertex_ai"],
			Fallbacks: []string{"gcp.gemini", "anthropic"},
		})
		st.Providers++
	}
	return f, st, nil
}

func gpModelToFile(gp gpProvider, gm gpModel, names map[string]bool, st *Stats) (pricing.FileModel, error) {
	fm := pricing.FileModel{
		ID: gm.ID, Name: gm.Name, Source: "genai-prices", Notes: strings.TrimSpace(gm.PriceComments),
		Provenance: &pricing.Provenance{ImportedFrom: "genai-prices " + GenAIPricesVersion, Checked: "2026-09-23"},
	}
	if len(gp.PricingURLs) > 0 {
		fm.Provenance.SourceURL = gp.PricingURLs[0]
	}
	var mt gpMatch
	if err := json.Unmarshal(gm.Match, &mt); err != nil {
		return fm, fmt.Errorf("match: %w", err)
	}
	clauses := []gpMatch{mt}
	if mt.Or != nil {
		clauses = mt.Or
	}
	for _, c := range clauses {
		if c.Equals != nil {
			a := strings.ToLower(*c.Equals)
			if a == strings.ToLower(gm.ID) || slices.Contains(fm.Aliases, a) {
				continue
			}
			if names[a] {
				// Another model's id: the id wins (aliases are unique per provider).
				continue
			}
			names[a] = true
			fm.Aliases = append(fm.Aliases, a)
			continue
		}
		pat, err := patternFor(c)
		if err != nil {
			return fm, err
		}
		fm.Patterns = append(fm.Patterns, pat)
	}
	prices, err := gpPrices(gm.Prices, st)
	if err != nil {
		return fm, err
	}
	if minSec := minimumAudioSeconds[[2]string{gp.ID, gm.ID}]; minSec > 0 {
		for i := range prices {
			prices[i].MinimumAudioSeconds = minSec
		}
	}
	fm.Prices = prices
	return fm, nil
}

// patternFor turns one match clause into an anchored pattern.
func patternFor(c gpMatch) (pricing.FilePattern, error) {
	if c.And != nil {
		var pos []string
		var exclude string
		for _, a := range c.And {
			if a.Regex != nil && strings.HasPrefix(*a.Regex, "^(?!") && strings.HasSuffix(*a.Regex, ")") && strings.Count(*a.Regex, "(?!") == 1 {
				inner := strings.TrimSuffix(strings.TrimPrefix(*a.Regex, "^(?!"), ")")
				exclude = "^(?:" + inner + ")(?s:.*)$"
				continue
			}
			re, err := matchRegexp(a)
			if err != nil {
				return pricing.FilePattern{}, err
			}
			pos = append(pos, re)
		}
		if len(pos) != 1 {
			return pricing.FilePattern{}, fmt.Errorf("unsupported 'and' match with %d positive clauses", len(pos))
		}
		p := pricing.FilePattern{Match: "^" + pos[0] + "$", Exclude: exclude}
		return p, checkRegexp(p.Match, p.Exclude)
	}
	re, err := matchRegexp(c)
	if err != nil {
		return pricing.FilePattern{}, err
	}
	p := pricing.FilePattern{Match: "^" + re + "$"}
	return p, checkRegexp(p.Match)
}

func checkRegexp(exprs ...string) error {
	for _, e := range exprs {
		if e == "" {
			continue
		}
		if _, err := regexp.Compile(e); err != nil {
			return fmt.Errorf("pattern %q: %w", e, err)
		}
	}
	return nil
}

// matchRegexp returns R such that a lowercased name matches the clause iff it
// matches ^R$.
func matchRegexp(c gpMatch) (string, error) {
	q := func(s string) string { return regexp.QuoteMeta(strings.ToLower(s)) }
	switch {
	case c.Or != nil:
		parts := make([]string, 0, len(c.Or))
		for _, o := range c.Or {
			re, err := matchRegexp(o)
			if err != nil {
				return "", err
			}
			parts = append(parts, re)
		}
		return "(?:" + strings.Join(parts, "|") + ")", nil
	case c.And != nil:
		return "", errors.New("'and' match clauses are only supported at model level")
	case c.Equals != nil:
		return q(*c.Equals), nil
	case c.StartsWith != nil:
		return q(*c.StartsWith) + "(?s:.*)", nil
	case c.EndsWith != nil:
		return "(?s:.*)" + q(*c.EndsWith), nil
	case c.Contains != nil:
		return "(?s:.*)" + q(*c.Contains) + "(?s:.*)", nil
	case c.Regex != nil:
		if _, err := regexp.Compile(*c.Regex); err != nil {
			return "", fmt.Errorf("regex %q: %w", *c.Regex, err)
		}
		return "(?s:.*?)(?:" + *c.Regex + ")(?s:.*)", nil
	}
	return "", errors.New("empty match clause")
}

// hostPattern turns an API URL pattern into an anchored server.address pattern.
func hostPattern(api string) (string, bool) {
	p := api
	for _, pre := range []string{"(https?://)?", "https?://", "https://", "http://"} {
		p = strings.TrimPrefix(p, pre)
	}
	for _, suf := range []string{"(?:/|$)", "(/|$)"} {
		p = strings.TrimSuffix(p, suf)
	}
	if strings.Contains(p, "/") || p == "" {
		return "", false
	}
	re := "^(?:" + p + ")$"
	if _, err := regexp.Compile(re); err != nil {
		return "", false
	}
	return re, true
}

func gpPrices(raw json.RawMessage, st *Stats) ([]pricing.FilePrice, error) {
	var list []gpConditional
	if len(raw) > 0 && raw[0] == '[' {
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, err
		}
	} else {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, err
		}
		list = []gpConditional{{Prices: one}}
	}
	out := make([]pricing.FilePrice, 0, len(list))
	lastDated := -1 // index in out of the latest dated (or base) entry
	seenWindow := false
	for i, e := range list {
		fp := pricing.FilePrice{Units: map[string]pricing.PriceValue{}}
		var upstreamDropped []string
		for k, v := range e.Prices {
			key, ok := gpKeys[k]
			if !ok {
				upstreamDropped = append(upstreamDropped, k)
				continue
			}
			pv, err := gpValue(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			fp.Units[key] = pv
		}
		if len(e.Prices) == 0 {
			// genai-prices lists free models (":free" variants, subscription
			// models) with no prices: bill them at an explicit zero.
			fp.Units["input_mtok"] = pricing.PriceValue{Base: "0"}
			fp.Units["output_mtok"] = pricing.PriceValue{Base: "0"}
			st.Free++
		}
		dropped := fixUnits(fp.Units)
		st.drop(upstreamDropped...)
		st.drop(dropped...)
		switch {
		case e.Constraint == nil:
			if i != 0 {
				return nil, errors.New("an unconditional price after the first entry")
			}
			lastDated = len(out)
		case e.Constraint.Type == "start_date":
			if seenWindow {
				return nil, errors.New("a start_date price after a time-of-day price is not representable")
			}
			fp.EffectiveFrom = e.Constraint.StartDate
			if lastDated >= 0 {
				if prev := out[lastDated].EffectiveFrom; prev != "" && prev >= fp.EffectiveFrom {
					return nil, fmt.Errorf("start_date %s is not after %s", fp.EffectiveFrom, prev)
				}
				out[lastDated].EffectiveTo = fp.EffectiveFrom
			}
			lastDated = len(out)
		case e.Constraint.Type == "time_of_date":
			seenWindow = true
			fp.TimeOfDay = &pricing.TimeWindow{Start: e.Constraint.StartTime, End: e.Constraint.EndTime}
		default:
			return nil, fmt.Errorf("unknown constraint type %q", e.Constraint.Type)
		}
		out = append(out, fp)
	}
	return out, nil
}

func gpValue(v json.RawMessage) (pricing.PriceValue, error) {
	var f float64
	if err := json.Unmarshal(v, &f); err == nil {
		s, err := decimalTimesPow10(f, 0)
		return pricing.PriceValue{Base: s}, err
	}
	var t struct {
		Base  float64 `json:"base"`
		Tiers []struct {
			Start uint64  `json:"start"`
			Price float64 `json:"price"`
		} `json:"tiers"`
	}
	if err := json.Unmarshal(v, &t); err != nil {
		return pricing.PriceValue{}, err
	}
	base, err := decimalTimesPow10(t.Base, 0)
	if err != nil {
		return pricing.PriceValue{}, err
	}
	pv := pricing.PriceValue{Base: base}
	slices.SortFunc(t.Tiers, func(a, b struct {
		Start uint64  `json:"start"`
		Price float64 `json:"price"`
	}) int {
		return int(a.Start) - int(b.Start)
	})
	for _, tr := range t.Tiers {
		p, err := decimalTimesPow10(tr.Price, 0)
		if err != nil {
			return pv, err
		}
		pv.Tiers = append(pv.Tiers, pricing.Tier{AboveInputTokens: tr.Start, Price: p})
	}
	return pv, nil
}
