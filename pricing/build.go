package pricing

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidCatalog wraps every error about catalog content.
var ErrInvalidCatalog = errors.New("invalid pricing catalog")

type provider struct {
	id, name  string
	fallbacks []*provider
	byName    map[string]*model // lowercased ids and aliases
	patterns  []modelPattern    // in catalog order
	tools     map[string]toolFee
	models    []*model
	file      *FileProvider
}

type modelPattern struct {
	match, exclude *regexp.Regexp
	m              *model
}

type provPattern struct {
	re *regexp.Regexp
	p  *provider
}

type toolFee struct {
	price Money
	id    string
}

type model struct {
	id, name, source string
	prov             *provider
	prices           []price
	file             *FileModel
}

// rate is an exact unit price: the cost of n units is n*mant/div pico-USD.
// A price with up to 12 fractional digits (per `per` units) has
// div == per; finer prices (up to 18 digits) scale div by powers of ten.
type rate struct {
	mant, div uint64
}

type tierPrice struct {
	above uint64
	rate  rate
}

type price struct {
	id             string
	from, to       int64 // unix ms, half-open [from, to)
	win            bool
	winStart       int64 // ms of day, UTC
	winEnd         int64
	tier           string // "" is the standard tier
	batch          bool
	priced         uint32           // bitmask of priced units
	desc           [numUnits]uint32 // priced strict descendants of each unit
	base           [numUnits]rate
	tiers          [numUnits][]tierPrice // ascending thresholds
	order          [numUnits]unit        // priced units, most specific first
	n              uint8                 // len of order
	minAudioMs     uint64                // minimum billed audio duration
	tiered         bool
	unsupportedKey []string // upstream keys this engine cannot bill (kept for show)
}

func (p *price) has(u unit) bool { return p.priced&(1<<u) != 0 }

// mergeLayers folds later layers over the first.
func mergeLayers(files []*File) *File {
	out := &File{SchemaVersion: SchemaVersion}
	if len(files) == 0 {
		return out
	}
	out.Description = files[0].Description
	for _, f := range files {
		out.Attribution = append(out.Attribution, f.Attribution...)
		for _, lp := range f.Providers {
			i := slices.IndexFunc(out.Providers, func(p FileProvider) bool { return strings.EqualFold(p.ID, lp.ID) })
			if lp.Remove {
				if i >= 0 {
					out.Providers = slices.Delete(out.Providers, i, i+1)
				}
				continue
			}
			if i < 0 {
				cp := lp
				cp.Models = slices.Clone(lp.Models)
				out.Providers = append(out.Providers, cp)
				continue
			}
			mergeProvider(&out.Providers[i], &lp)
		}
	}
	return out
}

func appendUnique(dst []string, src ...string) []string {
	for _, s := range src {
		if !slices.ContainsFunc(dst, func(d string) bool { return strings.EqualFold(d, s) }) {
			dst = append(dst, s)
		}
	}
	return dst
}

func mergeProvider(dst, src *FileProvider) {
	if src.Name != "" {
		dst.Name = src.Name
	}
	if src.PricingURL != "" {
		dst.PricingURL = src.PricingURL
	}
	dst.Aliases = appendUnique(slices.Clone(dst.Aliases), src.Aliases...)
	dst.ServerAddressPatterns = appendUnique(slices.Clone(dst.ServerAddressPatterns), src.ServerAddressPatterns...)
	dst.ModelPatterns = appendUnique(slices.Clone(dst.ModelPatterns), src.ModelPatterns...)
	if src.Fallbacks != nil {
		dst.Fallbacks = slices.Clone(src.Fallbacks)
	}
	if len(src.Tools) > 0 {
		t := make(map[string]string, len(dst.Tools)+len(src.Tools))
		for k, v := range dst.Tools {
			t[k] = v
		}
		for k, v := range src.Tools {
			t[k] = v
		}
		dst.Tools = t
	}
	models := slices.Clone(dst.Models)
	var added []FileModel
	for _, lm := range src.Models {
		i := slices.IndexFunc(models, func(m FileModel) bool { return strings.EqualFold(m.ID, lm.ID) })
		switch {
		case lm.Remove:
			if i >= 0 {
				models = slices.Delete(models, i, i+1)
			}
		case i < 0:
			added = append(added, lm)
		default:
			m := &models[i]
			if lm.Name != "" {
				m.Name = lm.Name
			}
			m.Aliases = appendUnique(slices.Clone(m.Aliases), lm.Aliases...)
			if len(lm.Patterns) > 0 {
				m.Patterns = append(slices.Clone(lm.Patterns), m.Patterns...)
			}
			if lm.Source != "" {
				m.Source = lm.Source
			}
			if lm.Provenance != nil {
				m.Provenance = lm.Provenance
			}
			if lm.Notes != "" {
				m.Notes = lm.Notes
			}
			if len(lm.Prices) > 0 {
				m.Prices = slices.Clone(lm.Prices)
			}
		}
	}
	// A name the layer gives one of its models is taken from the other
	// models (e.g. a layer prices a snapshot that was an alias).
	claimedBy := map[string]string{}
	for _, lm := range src.Models {
		if lm.Remove {
			continue
		}
		id := strings.ToLower(lm.ID)
		claimedBy[id] = id
		for _, a := range lm.Aliases {
			claimedBy[strings.ToLower(a)] = id
		}
	}
	for i := range models {
		m := &models[i]
		id := strings.ToLower(m.ID)
		taken := func(a string) bool {
			owner, ok := claimedBy[strings.ToLower(a)]
			return ok && owner != id
		}
		if slices.ContainsFunc(m.Aliases, taken) {
			m.Aliases = slices.DeleteFunc(slices.Clone(m.Aliases), taken)
		}
	}
	// Models a layer adds are matched before those below it.
	dst.Models = append(added, models...)
}

func contentHash(layers [][]byte) string {
	h := sha256.New()
	var n [8]byte
	for _, l := range layers {
		binary.BigEndian.PutUint64(n[:], uint64(len(l)))
		h.Write(n[:])
		h.Write(l)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

func compileRegexp(expr string) (*regexp.Regexp, error) {
	if !strings.HasPrefix(expr, "^") || !strings.HasSuffix(expr, "$") || strings.HasSuffix(expr, `\$`) {
		return nil, fmt.Errorf("pattern %q is not anchored: it must start with ^ and end with $", expr)
	}
	return regexp.Compile(expr)
}

// compile builds the runtime catalog from a merged file.
func compile(f *File, version string) (*Catalog, error) {
	c := &Catalog{
		version:    version,
		provByName: make(map[string]*provider),
		merged:     f,
	}
	c.cache.init(cacheSize)
	for pi := range f.Providers {
		fp := &f.Providers[pi]
		if fp.ID == "" {
			return nil, fmt.Errorf("%w: providers[%d]: id is empty", ErrInvalidCatalog, pi)
		}
		p := &provider{id: fp.ID, name: fp.Name, byName: make(map[string]*model), file: fp}
		for _, name := range append([]string{fp.ID}, fp.Aliases...) {
			key := strings.ToLower(strings.TrimSpace(name))
			if other, ok := c.provByName[key]; ok && other != p {
				return nil, fmt.Errorf("%w: provider %q: name %q already names provider %q", ErrInvalidCatalog, fp.ID, name, other.id)
			}
			c.provByName[key] = p
		}
		for _, expr := range fp.ServerAddressPatterns {
			re, err := compileRegexp(expr)
			if err != nil {
				return nil, fmt.Errorf("%w: provider %q: server_address_patterns: %w", ErrInvalidCatalog, fp.ID, err)
			}
			c.serverPats = append(c.serverPats, provPattern{re, p})
		}
		for _, expr := range fp.ModelPatterns {
			re, err := compileRegexp(expr)
			if err != nil {
				return nil, fmt.Errorf("%w: provider %q: model_patterns: %w", ErrInvalidCatalog, fp.ID, err)
			}
			c.modelPats = append(c.modelPats, provPattern{re, p})
		}
		if len(fp.Tools) > 0 {
			p.tools = make(map[string]toolFee, len(fp.Tools))
			for name, s := range fp.Tools {
				m, err := ParseMoney(s)
				if err != nil {
					return nil, fmt.Errorf("%w: provider %q: tools.%s: %w", ErrInvalidCatalog, fp.ID, name, err)
				}
				p.tools[strings.ToLower(name)] = toolFee{price: m, id: fp.ID + "/tool:" + name}
			}
		}
		for mi := range fp.Models {
			fm := &fp.Models[mi]
			m, err := compileModel(p, fm)
			if err != nil {
				return nil, fmt.Errorf("%w: provider %q model %q: %w", ErrInvalidCatalog, fp.ID, fm.ID, err)
			}
			p.models = append(p.models, m)
		}
		c.providers = append(c.providers, p)
	}
	for pi, p := range c.providers {
		for _, fb := range f.Providers[pi].Fallbacks {
			q := c.provByName[strings.ToLower(fb)]
			if q == nil {
				return nil, fmt.Errorf("%w: provider %q: fallbacks: unknown provider %q", ErrInvalidCatalog, p.id, fb)
			}
			if q == p {
				return nil, fmt.Errorf("%w: provider %q: fallbacks: names itself", ErrInvalidCatalog, p.id)
			}
			p.fallbacks = append(p.fallbacks, q)
		}
	}
	return c, nil
}

func compileModel(p *provider, fm *FileModel) (*model, error) {
	if fm.ID == "" {
		return nil, errors.New("id is empty")
	}
	m := &model{id: fm.ID, name: fm.Name, source: fm.Source, prov: p, file: fm}
	// Names: the id first, then aliases; a duplicate within the provider is an error.
	for i, name := range append([]string{fm.ID}, fm.Aliases...) {
		key := strings.ToLower(strings.TrimSpace(name))
		if key == "" {
			return nil, errors.New("empty alias")
		}
		if other, ok := p.byName[key]; ok {
			what := "alias"
			if i == 0 {
				what = "id"
			}
			return nil, fmt.Errorf("%s %q is already used by model %q (aliases must be unique within a provider)", what, name, other.id)
		}
		p.byName[key] = m
	}
	for _, fpat := range fm.Patterns {
		re, err := compileRegexp(fpat.Match)
		if err != nil {
			return nil, fmt.Errorf("patterns: %w", err)
		}
		mp := modelPattern{match: re, m: m}
		if fpat.Exclude != "" {
			if mp.exclude, err = compileRegexp(fpat.Exclude); err != nil {
				return nil, fmt.Errorf("patterns: exclude: %w", err)
			}
		}
		p.patterns = append(p.patterns, mp)
	}
	for i := range fm.Prices {
		pr, err := compilePrice(&fm.Prices[i])
		if err != nil {
			return nil, fmt.Errorf("prices[%d]: %w", i, err)
		}
		if pr.id == "" {
			pr.id = p.id + "/" + fm.ID + "#" + strconv.Itoa(i)
		}
		m.prices = append(m.prices, pr)
	}
	return m, nil
}

// parseInstant reads a date (midnight UTC) or an RFC 3339 time.
func parseInstant(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a date (2006-01-02) nor an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

// parseTimeOfDay reads "HH:MM", "HH:MM:SS" or either with a "Z" suffix (UTC).
func parseTimeOfDay(s string) (int64, error) {
	v := strings.TrimSuffix(s, "Z")
	for _, layout := range []string{"15:04:05", "15:04", "15:04:05.000"} {
		if t, err := time.Parse(layout, v); err == nil {
			return int64(t.Hour())*3_600_000 + int64(t.Minute())*60_000 + int64(t.Second())*1000 + int64(t.Nanosecond()/1e6), nil
		}
	}
	return 0, fmt.Errorf("time of day %q: want HH:MM[:SS] UTC", s)
}

// maxPriceDigits is the number of fractional digits a price may have.
const maxPriceDigits = 18

// parseRate reads a non-negative decimal price per `per` units exactly.
func parseRate(s string, per uint64) (rate, error) {
	s = strings.TrimSpace(s)
	intPart, frac, _ := strings.Cut(s, ".")
	frac = strings.TrimRight(frac, "0")
	if intPart == "" && frac == "" {
		return rate{}, fmt.Errorf("%w %q", ErrMoneySyntax, s)
	}
	if len(frac) > maxPriceDigits {
		return rate{}, fmt.Errorf("%w %q: more than %d fractional digits", ErrMoneySyntax, s, maxPriceDigits)
	}
	scale := max(len(frac), MoneyScale)
	var mant uint64
	for _, part := range []string{intPart, frac + strings.Repeat("0", scale-len(frac))} {
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c < '0' || c > '9' {
				return rate{}, fmt.Errorf("%w %q", ErrMoneySyntax, s)
			}
			hi, lo := bits.Mul64(mant, 10)
			lo, carry := bits.Add64(lo, uint64(c-'0'), 0)
			if hi != 0 || carry != 0 {
				return rate{}, fmt.Errorf("%w %q: out of range", ErrMoneySyntax, s)
			}
			mant = lo
		}
	}
	div := per
	for i := MoneyScale; i < scale; i++ {
		div *= 10
	}
	return rate{mant: mant, div: div}, nil
}

func compilePrice(fp *FilePrice) (price, error) {
	pr := price{id: fp.ID, from: math.MinInt64, to: math.MaxInt64, batch: fp.Batch, minAudioMs: fp.MinimumAudioSeconds * 1000}
	switch t := strings.ToLower(fp.ServiceTier); t {
	case "", "default", "standard", "auto":
	default:
		pr.tier = t
	}
	if fp.EffectiveFrom != "" {
		t, err := parseInstant(fp.EffectiveFrom)
		if err != nil {
			return pr, fmt.Errorf("effective_from: %w", err)
		}
		pr.from = t.UnixMilli()
	}
	if fp.EffectiveTo != "" {
		t, err := parseInstant(fp.EffectiveTo)
		if err != nil {
			return pr, fmt.Errorf("effective_to: %w", err)
		}
		pr.to = t.UnixMilli()
	}
	if pr.to <= pr.from {
		return pr, fmt.Errorf("effective_to %q is not after effective_from %q", fp.EffectiveTo, fp.EffectiveFrom)
	}
	if w := fp.TimeOfDay; w != nil {
		var err error
		if pr.winStart, err = parseTimeOfDay(w.Start); err != nil {
			return pr, fmt.Errorf("time_of_day.start: %w", err)
		}
		if pr.winEnd, err = parseTimeOfDay(w.End); err != nil {
			return pr, fmt.Errorf("time_of_day.end: %w", err)
		}
		if pr.winStart == pr.winEnd {
			return pr, fmt.Errorf("time_of_day: start %q equals end %q (empty window)", w.Start, w.End)
		}
		pr.win = true
	}
	keys := make([]string, 0, len(fp.Units))
	for k := range fp.Units {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := fp.Units[k]
		u, ok := unitByKey[k]
		if !ok {
			valid := make([]string, 0, numUnits)
			for _, d := range units {
				valid = append(valid, d.key)
			}
			return pr, fmt.Errorf("unknown key %q (valid price keys: %s)", k, strings.Join(valid, ", "))
		}
		base, err := parseRate(v.Base, units[u].per)
		if err != nil {
			return pr, fmt.Errorf("%s: %w", k, err)
		}
		pr.base[u] = base
		pr.priced |= 1 << u
		last := uint64(0)
		for i, t := range v.Tiers {
			tp, err := parseRate(t.Price, units[u].per)
			if err != nil {
				return pr, fmt.Errorf("%s.tiers[%d]: %w", k, i, err)
			}
			if i > 0 && t.AboveInputTokens <= last {
				return pr, fmt.Errorf("%s.tiers: above_input_tokens must ascend strictly (%d after %d)", k, t.AboveInputTokens, last)
			}
			last = t.AboveInputTokens
			pr.tiers[u] = append(pr.tiers[u], tierPrice{above: t.AboveInputTokens, rate: tp})
			pr.tiered = true
		}
	}
	// Every ancestor of a priced unit must be priced (a part falls back to
	// its parent's price), and overlapping priced units need a priced join.
	for u := unit(0); u < numUnits; u++ {
		if !pr.has(u) {
			continue
		}
		for _, a := range units[u].anc {
			if !pr.has(a) {
				return pr, fmt.Errorf("%s is priced but its parent %s is not", units[u].key, units[a].key)
			}
		}
	}
	for _, j := range joins {
		if pr.has(j.a) && pr.has(j.b) && !pr.has(j.join) {
			return pr, fmt.Errorf("%s and %s are both priced, so %s must be priced too", units[j.a].key, units[j.b].key, units[j.join].key)
		}
	}
	for _, cf := range conflicts {
		if pr.has(cf[0]) && pr.has(cf[1]) {
			return pr, fmt.Errorf("%s and %s overlap and cannot both be priced", units[cf[0]].key, units[cf[1]].key)
		}
	}
	for _, u := range unitOrder {
		if !pr.has(u) {
			continue
		}
		pr.order[pr.n] = u
		pr.n++
		for d := unit(0); d < numUnits; d++ {
			if pr.has(d) && isAncestor(u, d) {
				pr.desc[u] |= 1 << d
			}
		}
	}
	return pr, nil
}
