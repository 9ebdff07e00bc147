package pricing

import (
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

// cacheSize bounds the resolution cache; when full it is emptied (names
// seen on spans are few, so this only guards against unbounded growth).
const cacheSize = 8192

type cacheKey struct{ provider, model, server string }

type resolved struct {
	m      *model
	kind   MatchKind
	reason string // unknown_provider / unknown_model when m is nil
	prov   *provider
}

// resolveCache maps (provider, model, server) to a resolution. It is keyed
// by model name (a string-keyed map lookup is the fastest Go map path); the
// few entries sharing a model name are scanned. Reads are lock-free: a
// read-only snapshot map behind an atomic pointer; new entries go to a
// mutex-guarded dirty map that is promoted to the snapshot once it has
// absorbed as many misses as it holds names (the sync.Map scheme, without
// boxing keys into interfaces, so lookups do not allocate). Entry slices are
// never modified once stored. The cache holds at most max entries; when
// full it starts over.
type resolveCache struct {
	read    atomic.Pointer[map[string][]cacheEntry]
	mu      sync.Mutex
	dirty   map[string][]cacheEntry // nil or a superset of *read
	misses  int
	entries int
	max     int
}

type cacheEntry struct {
	provider, server string
	r                resolved
}

func (rc *resolveCache) init(max int) {
	rc.max = max
	empty := map[string][]cacheEntry{}
	rc.read.Store(&empty)
}

func find(list []cacheEntry, k *cacheKey) (resolved, bool) {
	for i := range list {
		if list[i].provider == k.provider && list[i].server == k.server {
			return list[i].r, true
		}
	}
	return resolved{}, false
}

func (rc *resolveCache) get(k cacheKey) (resolved, bool) {
	if r, ok := find((*rc.read.Load())[k.model], &k); ok {
		return r, true
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.dirty == nil {
		return resolved{}, false
	}
	r, ok := find(rc.dirty[k.model], &k)
	if ok {
		rc.misses++
		if rc.misses >= len(rc.dirty) {
			m := rc.dirty
			rc.read.Store(&m)
			rc.dirty, rc.misses = nil, 0
		}
	}
	return r, ok
}

func (rc *resolveCache) put(k cacheKey, r resolved) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.dirty == nil {
		read := *rc.read.Load()
		rc.dirty = make(map[string][]cacheEntry, len(read)+1)
		for key, v := range read {
			rc.dirty[key] = v
		}
	}
	if rc.entries >= rc.max {
		empty := map[string][]cacheEntry{}
		rc.read.Store(&empty)
		rc.dirty, rc.misses, rc.entries = make(map[string][]cacheEntry), 0, 0
	}
	old := rc.dirty[k.model]
	if _, ok := find(old, &k); ok {
		return
	}
	list := make([]cacheEntry, len(old), len(old)+1)
	copy(list, old)
	rc.dirty[k.model] = append(list, cacheEntry{provider: k.provider, server: k.server, r: r})
	rc.entries++
}

// len returns the number of cached resolutions (for tests).
func (rc *resolveCache) len() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.entries
}

func (c *Catalog) resolve(q *Query) resolved {
	k := cacheKey{q.Provider, q.Model, q.ServerAddress}
	if r, ok := c.cache.get(k); ok {
		return r
	}
	r := c.resolveSlow(q.Provider, q.Model, q.ServerAddress)
	// Copy the key's strings so the cache does not pin callers' buffers
	// (span attribute strings may alias larger memory).
	k = cacheKey{strings.Clone(q.Provider), strings.Clone(q.Model), strings.Clone(q.ServerAddress)}
	c.cache.put(k, r)
	return r
}

func (c *Catalog) providerByName(name string) *provider {
	if p := c.provByName[name]; p != nil {
		return p
	}
	return c.provByName[strings.ToLower(strings.TrimSpace(name))]
}

func (c *Catalog) resolveSlow(provName, modelName, server string) resolved {
	name := strings.ToLower(strings.TrimSpace(modelName))
	var p *provider
	if provName != "" {
		p = c.providerByName(provName)
	}
	if p == nil && server != "" {
		host := strings.ToLower(server)
		for _, sp := range c.serverPats {
			if sp.re.MatchString(host) {
				p = sp.p
				break
			}
		}
	}
	if p == nil && name == "" {
		return resolved{reason: "unknown_provider"}
	}
	if p == nil {
		// A router prefix naming a provider: "anthropic/claude-sonnet-4".
		if i := strings.IndexByte(name, '/'); i > 0 {
			if q := c.providerByName(name[:i]); q != nil {
				if m, kind := c.findModel(q, name[i+1:], true); m != nil {
					if kind == MatchExact || kind == MatchAlias {
						kind = MatchRouterPrefix
					}
					return resolved{m: m, kind: kind, prov: m.prov}
				}
			}
		}
		if provName != "" {
			return resolved{reason: "unknown_provider"}
		}
		for _, mp := range c.modelPats {
			if mp.re.MatchString(name) {
				p = mp.p
				break
			}
		}
		if p == nil {
			return resolved{reason: "unknown_provider"}
		}
	}
	if m, kind := c.findModel(p, name, true); m != nil {
		return resolved{m: m, kind: kind, prov: p}
	}
	return resolved{reason: "unknown_model", prov: p}
}

// findModel looks name (lowercased) up under p, then under p's fallbacks.
func (c *Catalog) findModel(p *provider, name string, fallbacks bool) (*model, MatchKind) {
	if name == "" {
		return nil, MatchNone
	}
	if m, kind := c.findInProvider(p, name, 0); m != nil {
		return m, kind
	}
	if fallbacks {
		for _, fb := range p.fallbacks {
			if m, _ := c.findInProvider(fb, name, 0); m != nil {
				return m, MatchFallbackProvider
			}
		}
	}
	return nil, MatchNone
}

func (c *Catalog) findInProvider(p *provider, name string, depth int) (*model, MatchKind) {
	if m, kind := lookupDirect(p, name); m != nil {
		return m, kind
	}
	if depth > 3 {
		return nil, MatchNone
	}
	// Router prefixes: "openai/gpt-4o", "models/gemini-2.5-pro", "openrouter/openai/gpt-4o".
	if i := strings.IndexByte(name, '/'); i > 0 && i < len(name)-1 {
		if m, _ := c.findInProvider(p, name[i+1:], depth+1); m != nil {
			return m, MatchRouterPrefix
		}
	}
	// Cloud variants: Bedrock region prefixes and version suffixes, Vertex @version.
	if v := cloudBase(name); v != name {
		if m, _ := c.findInProvider(p, v, depth+1); m != nil {
			return m, MatchCloudVariant
		}
	}
	return nil, MatchNone
}

// lookupDirect tries exact id/alias, dated snapshot, then patterns.
func lookupDirect(p *provider, name string) (*model, MatchKind) {
	if m := p.byName[name]; m != nil {
		if len(name) == len(m.id) && strings.EqualFold(name, m.id) {
			return m, MatchExact
		}
		return m, MatchAlias
	}
	if base := snapshotBase(name); base != name {
		if m := p.byName[base]; m != nil {
			return m, MatchSnapshot
		}
	}
	for _, mp := range p.patterns {
		if mp.match.MatchString(name) && (mp.exclude == nil || !mp.exclude.MatchString(name)) {
			return mp.m, MatchPattern
		}
	}
	return nil, MatchNone
}

var (
	snapshotRe = regexp.MustCompile(`^(.+?)-(?:20\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])|20\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])|(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))$`)
	regionRe   = regexp.MustCompile(`^(?:us|eu|apac|global|us-gov|jp|au|ca)\.(.+)$`)
	versionRe  = regexp.MustCompile(`^(.+?)(?:-v\d+(?::\d+)?|:\d+|@[0-9a-z.-]+)$`)
)

// snapshotBase strips a trailing snapshot date: -2024-08-06, -20240806, -0613.
func snapshotBase(name string) string {
	if m := snapshotRe.FindStringSubmatch(name); m != nil {
		return m[1]
	}
	return name
}

// cloudBase strips one cloud decoration: a Bedrock region prefix ("us."),
// a version suffix ("-v1:0", ":0") or a Vertex version ("@20240620", "@001").
func cloudBase(name string) string {
	if m := regionRe.FindStringSubmatch(name); m != nil {
		return m[1]
	}
	if m := versionRe.FindStringSubmatch(name); m != nil {
		return m[1]
	}
	return name
}

func lower(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
