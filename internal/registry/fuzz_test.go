package registry

import (
	"errors"
	"testing"

	"github.com/agentcost/agentcost/internal/glob"
)

// FuzzParse feeds arbitrary bytes to the registry loader. It must never
// panic: it fails with an error (and no registry) or yields a registry whose
// lookups are consistent: every exact id resolves to its own entry, and a
// lookup of an arbitrary id returns an entry only with ok set.
//
//	go test ./internal/registry -run '^$' -fuzz '^FuzzParse$' -fuzztime 30s
func FuzzParse(f *testing.F) {
	f.Add([]byte("agents:\n  - id: support-triage\n    team: support\n    project: helpdesk\n    labels: {tier: gold}\n"), "support-triage")
	f.Add([]byte("agents:\n  - id: \"bot-*\"\n    team: bots\n  - id: \"?x*y*\"\n    team: q\n"), "bot-7")
	f.Add([]byte("agents:\n  - id: a\n  - id: a\n"), "a")
	f.Add([]byte("agents: {}\n"), "")
	f.Add([]byte("agents:\n  - id: ''\n"), "x")
	f.Add([]byte("unknown_key: 1\n"), "x")
	f.Add([]byte("\x00\xff"), "\x00")
	f.Add([]byte("agents:\n  - id: \"***************************************a\"\n    team: t\n"), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab")
	f.Fuzz(func(t *testing.T, data []byte, id string) {
		if len(data) > 1<<16 {
			return
		}
		r, err := Parse(data)
		if err != nil {
			if r != nil || !errors.Is(err, ErrInvalid) {
				t.Fatalf("registry %v with error %v (want an ErrInvalid)", r, err)
			}
			return
		}
		if r.Version() == "" {
			t.Fatal("registry without version")
		}
		if e, ok := r.Lookup(id); ok != (e != nil) {
			t.Fatalf("Lookup(%q) = %v, %v", id, e, ok)
		}
		for agent, e := range r.exact {
			got, ok := r.Lookup(agent)
			if !ok || got != e {
				t.Fatalf("exact id %q resolves to %+v, want %+v", agent, got, e)
			}
		}
		// A glob matches the id it was written as (with its wildcards
		// standing for themselves).
		for _, g := range r.globs {
			if !glob.Match(g.ID, g.ID) {
				t.Fatalf("glob %q does not match itself", g.ID)
			}
		}
	})
}
