package difftest

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agentcost/agentcost/pricing"
	"github.com/agentcost/agentcost/pricing/importer"
)

const refVersion = "0.1.8"

// ensureReference returns the directory holding the installed npm package,
// installing it when missing. Without node/npm the test skips, except under
// CI=true where it fails.
func ensureReference(t *testing.T) string {
	t.Helper()
	fail := t.Skipf
	if os.Getenv("CI") == "true" {
		fail = t.Fatalf
	}
	if _, err := exec.LookPath("node"); err != nil {
		fail("node not found: %v", err)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "agentcost", "genai-prices-"+refVersion)
	pj := filepath.Join(dir, "node_modules", "@pydantic", "genai-prices", "package.json")
	if b, err := os.ReadFile(pj); err == nil && bytes.Contains(b, []byte(`"version": "`+refVersion+`"`)) {
		return dir
	}
	if _, err := exec.LookPath("npm"); err != nil {
		fail("npm not found: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"private":true}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "@pydantic/genai-prices@"+refVersion)
	out, err := cmd.CombinedOutput()
	if err != nil {
		fail("npm install @pydantic/genai-prices@%s: %v\n%s", refVersion, err, out)
	}
	if _, err := os.Stat(pj); err != nil {
		t.Fatalf("npm install did not produce %s: %v", pj, err)
	}
	return dir
}

func runNode(t *testing.T, pkgDir, mode string, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "reference.mjs"), pkgDir, mode)
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("node reference.mjs %s: %v\n%s", mode, err, stderr.String())
	}
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("decode node output: %v", err)
	}
}

type refModel struct {
	ID     string          `json:"id"`
	Prices json.RawMessage `json:"prices"`
}

type refProvider struct {
	ID     string     `json:"id"`
	Models []refModel `json:"models"`
}

type refCase struct {
	Provider  string            `json:"provider"`
	Model     string            `json:"model"`
	Usage     map[string]uint64 `json:"usage"`
	Timestamp string            `json:"timestamp"`
	shape     string
	ourProv   string
}

type refResult struct {
	Total *float64 `json:"total"`
	Error *string  `json:"error"`
}

var shapes = []struct {
	name  string
	usage map[string]uint64
}{
	{"zero", map[string]uint64{"input_tokens": 0, "output_tokens": 0}},
	{"one", map[string]uint64{"input_tokens": 1, "output_tokens": 1}},
	{"plain", map[string]uint64{"input_tokens": 1000, "output_tokens": 500}},
	{"cache_read", map[string]uint64{"input_tokens": 10000, "cache_read_tokens": 4000, "output_tokens": 700}},
	{"cache_write", map[string]uint64{"input_tokens": 10000, "cache_read_tokens": 1000, "cache_write_tokens": 3000, "cache_write_1h_tokens": 1000, "output_tokens": 700}},
	{"reasoning", map[string]uint64{"input_tokens": 2000, "output_tokens": 3000, "output_reasoning_tokens": 2500}},
	{"web_search", map[string]uint64{"input_tokens": 1000, "output_tokens": 200, "web_searches": 3}},
	{"multimodal", map[string]uint64{
		"input_tokens": 20000, "cache_read_tokens": 5000, "input_audio_tokens": 3000, "cache_audio_read_tokens": 500,
		"input_image_tokens": 2000, "cache_image_read_tokens": 300, "output_tokens": 4000,
		"output_audio_tokens": 600, "output_image_tokens": 200, "storage_searches": 2,
	}},
	{"audio_duration", map[string]uint64{"audio_seconds": 95, "input_audio_seconds": 95}},
	{"audio_short", map[string]uint64{"audio_seconds": 4, "input_audio_seconds": 4}},
}

func toUsage(m map[string]uint64) pricing.Usage {
	return pricing.Usage{
		InputTokens: m["input_tokens"], CacheReadTokens: m["cache_read_tokens"],
		CacheWriteTokens: m["cache_write_tokens"], CacheWrite1hTokens: m["cache_write_1h_tokens"],
		OutputTokens: m["output_tokens"], ReasoningTokens: m["output_reasoning_tokens"],
		InputAudioTokens: m["input_audio_tokens"], CacheAudioReadTokens: m["cache_audio_read_tokens"],
		InputImageTokens: m["input_image_tokens"], CacheImageReadTokens: m["cache_image_read_tokens"],
		OutputAudioTokens: m["output_audio_tokens"], OutputImageTokens: m["output_image_tokens"],
		WebSearches: m["web_searches"], FileSearches: m["storage_searches"],
		AudioMs: m["audio_seconds"] * 1000, InputAudioMs: m["input_audio_seconds"] * 1000,
	}
}

// scenario extracts the dated changes, daily windows and tier thresholds of
// a model's reference prices.
func scenario(raw json.RawMessage) (dates []string, windows [][2]string, thresholds []uint64, durations bool) {
	type tiered struct {
		Tiers []struct {
			Start uint64 `json:"start"`
		} `json:"tiers"`
	}
	collect := func(prices map[string]json.RawMessage) {
		for k, v := range prices {
			if strings.HasSuffix(k, "_hours") {
				durations = true
			}
			var tp tiered
			if len(v) > 0 && v[0] == '{' && json.Unmarshal(v, &tp) == nil {
				for _, tr := range tp.Tiers {
					if !slices.Contains(thresholds, tr.Start) {
						thresholds = append(thresholds, tr.Start)
					}
				}
			}
		}
	}
	if len(raw) > 0 && raw[0] == '[' {
		var list []struct {
			Constraint *struct {
				Type      string `json:"type"`
				StartDate string `json:"start_date"`
				StartTime string `json:"start_time"`
				EndTime   string `json:"end_time"`
			} `json:"constraint"`
			Prices map[string]json.RawMessage `json:"prices"`
		}
		_ = json.Unmarshal(raw, &list)
		for _, e := range list {
			collect(e.Prices)
			if c := e.Constraint; c != nil {
				switch c.Type {
				case "start_date":
					dates = append(dates, c.StartDate)
				case "time_of_date":
					windows = append(windows, [2]string{c.StartTime, c.EndTime})
				}
			}
		}
	} else {
		var one map[string]json.RawMessage
		_ = json.Unmarshal(raw, &one)
		collect(one)
	}
	slices.Sort(thresholds)
	return dates, windows, thresholds, durations
}

func clock(day time.Time, hhmmss string) time.Time {
	t, err := time.Parse("15:04:05", strings.TrimSuffix(hhmmss, "Z"))
	if err != nil {
		panic(err)
	}
	return day.Add(time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second)
}

// TestDifferentialGenAIPrices compares every model of the reference data.
func TestDifferentialGenAIPrices(t *testing.T) {
	pkgDir := ensureReference(t)
	cat, err := pricing.Default()
	if err != nil {
		t.Fatal(err)
	}
	// Every provider name our catalog knows, so the reference can tell its ids.
	var names []string
	for _, p := range cat.File().Providers {
		names = append(names, p.ID)
		names = append(names, p.Aliases...)
	}
	var provs []refProvider
	runNode(t, pkgDir, "dump", names, &provs)
	if len(provs) == 0 {
		t.Fatal("reference returned no providers")
	}

	base := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	var cases []refCase
	nModels := 0
	for _, p := range provs {
		ourProv := importer.CatalogProviderID(p.ID)
		for _, m := range p.Models {
			nModels++
			if info, ok := cat.Lookup(ourProv, m.ID); !ok || info.Model != m.ID || info.Match != pricing.MatchExact {
				t.Errorf("model %s/%s: our catalog resolves its id to %+v (ok=%v), want the model by exact match", p.ID, m.ID, info.Model, ok)
				continue
			}
			dates, windows, thresholds, durations := scenario(m.Prices)
			times := []time.Time{base}
			for _, d := range dates {
				day, err := time.Parse("2006-01-02", d)
				if err != nil {
					t.Fatalf("%s/%s: bad start_date %q", p.ID, m.ID, d)
				}
				times = append(times, day.Add(-time.Second), day, day.Add(36*time.Hour))
			}
			day := base.Truncate(24 * time.Hour)
			for _, w := range windows {
				s, e := clock(day, w[0]), clock(day, w[1])
				times = append(times, s, s.Add(time.Minute), s.Add(-time.Second), e, e.Add(-time.Second))
			}
			add := func(shape string, u map[string]uint64, at time.Time) {
				cases = append(cases, refCase{Provider: p.ID, Model: m.ID, Usage: u, Timestamp: at.Format(time.RFC3339Nano), shape: shape, ourProv: ourProv})
			}
			for _, at := range times {
				for _, s := range shapes {
					if strings.HasPrefix(s.name, "audio_") && !durations {
						continue // duration usage only for models priced per audio hour
					}
					add(s.name, s.usage, at)
				}
			}
			for _, th := range thresholds {
				for _, in := range []uint64{th, th + 1} {
					add(fmt.Sprintf("tier_%d", in), map[string]uint64{"input_tokens": in, "output_tokens": 100}, base)
					add(fmt.Sprintf("tier_%d_cached", in), map[string]uint64{"input_tokens": in, "cache_read_tokens": in / 2, "cache_write_tokens": in / 4, "output_tokens": 100}, base)
				}
			}
		}
	}
	var refs []refResult
	runNode(t, pkgDir, "price", cases, &refs)
	if len(refs) != len(cases) {
		t.Fatalf("reference returned %d results for %d cases", len(refs), len(cases))
	}
	var agree, refRejects, unpricedZero, failures int
	rejectReasons := map[string]int{}
	for i, c := range cases {
		at, _ := time.Parse(time.RFC3339Nano, c.Timestamp)
		res := cat.Price(pricing.Query{Provider: c.ourProv, Model: c.Model, At: at}, toUsage(c.Usage))
		ref := refs[i]
		if ref.Error != nil {
			// The reference refuses usage it cannot split unambiguously (e.g.
			// audio input beside cache reads with no cache-audio price); our
			// importer drops the ambiguous unit, so the tokens bill at the parent.
			refRejects++
			rejectReasons[c.shape]++
			continue
		}
		want := strconv.FormatFloat(*ref.Total, 'f', 12, 64)
		if res.Status == pricing.StatusUnpriced && (res.Reason == "no_supported_price" || res.Reason == "no_price_for_usage") && *ref.Total == 0 {
			unpricedZero++
			continue
		}
		if res.Status != pricing.StatusPriced || res.Total.String() != want {
			failures++
			if failures <= 40 {
				t.Errorf("%s/%s shape=%s at=%s usage=%v: ours %s %s (reason %q, price %s), reference %s",
					c.Provider, c.Model, c.shape, c.Timestamp, c.Usage, res.Status, res.Total, res.Reason, res.PriceID, want)
			}
			continue
		}
		agree++
	}
	t.Logf("differential vs @pydantic/genai-prices@%s: %d providers, %d models, %d cases: %d equal, %d unpriced by us where the reference says 0 (usage no price covers), %d rejected by the reference %v, %d different",
		refVersion, len(provs), nModels, len(cases), agree, unpricedZero, refRejects, rejectReasons, failures)
	if failures > 0 {
		t.Errorf("%d cases differ", failures)
	}
	if nModels < 1600 {
		t.Errorf("only %d reference models compared", nModels)
	}
}

type refName struct {
	Provider string `json:"provider"`
	Model    string `json:"model"`
}

// TestDifferentialResolution compares name matching: for every model of the
// reference data, a name that only patterns can match (the id with a
// suffix) must resolve to the same model in both. Exact ids are not
// compared: there our rule (an id or alias always wins) deliberately differs
// from the reference's first-match order, and the count is logged.
func TestDifferentialResolution(t *testing.T) {
	pkgDir := ensureReference(t)
	cat, err := pricing.Default()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range cat.File().Providers {
		names = append(names, p.ID)
		names = append(names, p.Aliases...)
	}
	var provs []refProvider
	runNode(t, pkgDir, "dump", names, &provs)
	type q struct {
		Provider string `json:"provider"`
		Model    string `json:"model"`
		exact    bool
	}
	var qs []q
	for _, p := range provs {
		for _, m := range p.Models {
			qs = append(qs, q{Provider: p.ID, Model: m.ID, exact: true}, q{Provider: p.ID, Model: m.ID + "-zz-custom"})
		}
	}
	var refs []*refName
	runNode(t, pkgDir, "resolve", qs, &refs)
	if len(refs) != len(qs) {
		t.Fatalf("reference returned %d results for %d names", len(refs), len(qs))
	}
	var same, exactDiffer, bothNone, extra, differ int
	for i, c := range qs {
		ours, ok := cat.Lookup(importer.CatalogProviderID(c.Provider), c.Model)
		ref := refs[i]
		switch {
		case ref == nil && !ok:
			bothNone++
		case ref != nil && ok && ours.Model == ref.Model && ours.Provider == importer.CatalogProviderID(ref.Provider):
			same++
		case c.exact:
			exactDiffer++
		case ref == nil && ok && ours.Match != pricing.MatchPattern && ours.Match != pricing.MatchExact && ours.Match != pricing.MatchAlias:
			// Our extra rules (snapshot, router prefix, cloud variant) find a model the reference does not.
			extra++
		default:
			differ++
			if differ <= 30 {
				r := "<none>"
				if ref != nil {
					r = ref.Provider + "/" + ref.Model
				}
				t.Errorf("%s/%s: ours %s/%s (%s, found=%v), reference %s", c.Provider, c.Model, ours.Provider, ours.Model, ours.Match, ok, r)
			}
		}
	}
	t.Logf("name resolution vs @pydantic/genai-prices@%s: %d names: %d same model, %d unmatched by both, %d exact ids where the reference's first match picks another model (ours: the id wins), %d found only by our snapshot/router/cloud rules, %d different",
		refVersion, len(qs), same, bothNone, exactDiffer, extra, differ)
}
