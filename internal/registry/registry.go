// Package registry maps agent ids to the organisation that owns them (team,
// project, business unit, cost centre, owner, free labels) from a YAML file,
// and keeps the mapping current: a Watcher reloads the file when it changes
// and keeps the last good version when a new one is invalid.
//
// File format:
//
//	agents:
//	  - id: support-bot            # exact id
//	    team: support
//	    project: helpdesk
//	    business_unit: customer-experience
//	    cost_center: CC-1200
//	    owner: alice@example.com
//	    labels: {tier: gold}
//	  - id: "research-*"           # glob: * any run of characters, ? one character
//	    team: research
//
// Exact ids win over globs; globs are tried in file order.
package registry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"go.yaml.in/yaml/v3"

	"github.com/agentcost/agentcost/internal/glob"
)

// LabelPrefix is prepended to label keys when they are stamped on spans.
const LabelPrefix = "agentcost.label."

// Entry is the ownership of one agent (or glob of agents).
type Entry struct {
	ID           string            `yaml:"id"`
	Team         string            `yaml:"team"`
	Project      string            `yaml:"project"`
	BusinessUnit string            `yaml:"business_unit"`
	CostCenter   string            `yaml:"cost_center"`
	Owner        string            `yaml:"owner"`
	Labels       map[string]string `yaml:"labels"`

	// LabelAttrs holds the labels as span attribute keys (LabelPrefix+key)
	// and values, sorted by key, built once at load.
	LabelAttrs []KV `yaml:"-"`
}

// KV is one label as a span attribute.
type KV struct{ Key, Value string }

type file struct {
	Agents []Entry `yaml:"agents"`
}

// maxCached bounds the glob-resolution cache (agent ids are attacker-free
// but unbounded in principle).
const maxCached = 10000

// Registry is an immutable, validated agent registry, safe for concurrent use.
type Registry struct {
	exact   map[string]*Entry
	globs   []*Entry
	version string
	cache   sync.Map // agent id -> *Entry (nil entry: no match)
	cached  atomic.Int64
}

// Version is a short content hash of the file the registry was parsed from.
func (r *Registry) Version() string { return r.version }

// Len is the number of entries.
func (r *Registry) Len() int { return len(r.exact) + len(r.globs) }

// ErrInvalid wraps every validation error.
var ErrInvalid = errors.New("invalid agent registry")

// Parse parses and validates a registry file's content.
func Parse(b []byte) (*Registry, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			// An empty file is most often one caught mid-write: refuse it so
			// the watcher keeps the last good version. An intentionally empty
			// registry says `agents: []`.
			return nil, fmt.Errorf("%w: the file is empty (write `agents: []` for a registry without agents)", ErrInvalid)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	sum := sha256.Sum256(b)
	r := &Registry{exact: make(map[string]*Entry, len(f.Agents)), version: hex.EncodeToString(sum[:6])}
	for i := range f.Agents {
		e := &f.Agents[i]
		if strings.TrimSpace(e.ID) == "" {
			return nil, fmt.Errorf("%w: agents[%d]: `id` is empty", ErrInvalid, i)
		}
		if glob.IsPattern(e.ID) {
			for _, g := range r.globs {
				if g.ID == e.ID {
					return nil, fmt.Errorf("%w: agents[%d]: duplicate id %q", ErrInvalid, i, e.ID)
				}
			}
			r.globs = append(r.globs, e)
		} else {
			if _, dup := r.exact[e.ID]; dup {
				return nil, fmt.Errorf("%w: agents[%d]: duplicate id %q", ErrInvalid, i, e.ID)
			}
			r.exact[e.ID] = e
		}
		keys := make([]string, 0, len(e.Labels))
		for k := range e.Labels {
			if k == "" {
				return nil, fmt.Errorf("%w: agents[%d] (%q): empty label key", ErrInvalid, i, e.ID)
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			e.LabelAttrs = append(e.LabelAttrs, KV{Key: LabelPrefix + k, Value: e.Labels[k]})
		}
	}
	return r, nil
}

// Load reads and parses the registry file at path.
func Load(path string) (*Registry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("agent registry %q: %w", path, err)
	}
	return r, nil
}

// Lookup returns the entry owning agentID: an exact entry, else the first
// matching glob. A nil registry has no entries.
func (r *Registry) Lookup(agentID string) (*Entry, bool) {
	if r == nil || agentID == "" {
		return nil, false
	}
	if e, ok := r.exact[agentID]; ok {
		return e, true
	}
	if len(r.globs) == 0 {
		return nil, false
	}
	if v, ok := r.cache.Load(agentID); ok {
		e := v.(*Entry)
		return e, e != nil
	}
	var found *Entry
	for _, g := range r.globs {
		if glob.Match(g.ID, agentID) {
			found = g
			break
		}
	}
	if r.cached.Load() < maxCached {
		r.cached.Add(1)
		r.cache.Store(agentID, found)
	}
	return found, found != nil
}
