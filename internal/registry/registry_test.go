package registry

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agentcost/agentcost/internal/glob"
)

const sample = `
agents:
  - id: support-bot
    team: support
    project: helpdesk
    business_unit: cx
    cost_center: CC-1
    owner: alice@example.com
    labels: {tier: gold, env: prod}
  - id: "research-*"
    team: research
  - id: "*"
    team: catch-all
`

func TestParseLookup(t *testing.T) {
	r, err := Parse([]byte(sample))
	require.NoError(t, err)
	assert.Equal(t, 3, r.Len())
	e, ok := r.Lookup("support-bot")
	require.True(t, ok)
	assert.Equal(t, "support", e.Team)
	assert.Equal(t, "CC-1", e.CostCenter)
	assert.Equal(t, []KV{{"agentcost.label.env", "prod"}, {"agentcost.label.tier", "gold"}}, e.LabelAttrs)

	e, ok = r.Lookup("research-web/v2")
	require.True(t, ok)
	assert.Equal(t, "research", e.Team)
	e, ok = r.Lookup("research-web/v2") // cached path
	require.True(t, ok)
	assert.Equal(t, "research", e.Team)

	e, ok = r.Lookup("other")
	require.True(t, ok)
	assert.Equal(t, "catch-all", e.Team)

	_, ok = r.Lookup("")
	assert.False(t, ok)
	var nilReg *Registry
	_, ok = nilReg.Lookup("x")
	assert.False(t, ok)
}

func TestParseErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty id":       "agents:\n  - team: x\n",
		"duplicate":      "agents:\n  - id: a\n  - id: a\n",
		"duplicate glob": "agents:\n  - id: 'a*'\n  - id: 'a*'\n",
		"unknown key":    "agents:\n  - id: a\n    tem: x\n",
		"not yaml":       "agents: [",
		"empty label":    "agents:\n  - id: a\n    labels: {'': x}\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(in))
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrInvalid), err)
		})
	}
	for _, empty := range []string{"", "  \n", "# only a comment\n"} {
		_, err := Parse([]byte(empty))
		require.ErrorIs(t, err, ErrInvalid, "empty file %q must be refused", empty)
	}
	r, err := Parse([]byte("agents: []\n"))
	require.NoError(t, err)
	assert.Equal(t, 0, r.Len())
}

func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"a*", "abc", true}, {"a*c", "abxc", true}, {"a*c", "abxd", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*-bot", "team/support-bot", true},
		{"a*b*c", "aXbYbZc", true}, {"a*b*c", "aXbYbZ", false}, {"abc", "abc", true},
	} {
		assert.Equal(t, tt.want, glob.Match(tt.p, tt.s), "%q %q", tt.p, tt.s)
	}
}

func TestWatcherReloadKeepsLastGood(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agents.yaml")
	require.NoError(t, os.WriteFile(path, []byte(sample), 0o600))
	w, err := NewWatcher(path, time.Hour, nil)
	require.NoError(t, err)
	var results []error
	w.OnReload = func(err error) { results = append(results, err) }
	v1 := w.Current().Version()

	// A bad version keeps the last good one.
	require.NoError(t, os.WriteFile(path, []byte("agents:\n  - team: nobody\n"), 0o600))
	bump(t, path, 1)
	assert.False(t, w.Check())
	assert.Equal(t, v1, w.Current().Version())
	require.Len(t, results, 1)
	require.Error(t, results[0])

	// A good new version replaces it.
	require.NoError(t, os.WriteFile(path, []byte("agents:\n  - id: x\n    team: tx\n"), 0o600))
	bump(t, path, 2)
	assert.True(t, w.Check())
	e, ok := w.Current().Lookup("x")
	require.True(t, ok)
	assert.Equal(t, "tx", e.Team)
	require.Len(t, results, 2)
	require.NoError(t, results[1])

	// Unchanged: nothing happens.
	assert.False(t, w.Check())

	// Removed file: failure reported, last good kept.
	require.NoError(t, os.Remove(path))
	assert.False(t, w.Check())
	_, ok = w.Current().Lookup("x")
	assert.True(t, ok)
	w.Stop()
}

func TestWatcherPolls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agents.yaml")
	require.NoError(t, os.WriteFile(path, []byte(sample), 0o600))
	w, err := NewWatcher(path, 10*time.Millisecond, nil)
	require.NoError(t, err)
	reloaded := make(chan error, 10)
	w.OnReload = func(err error) { reloaded <- err }
	w.Start()
	defer w.Stop()
	require.NoError(t, os.WriteFile(path, []byte("agents:\n  - id: y\n"), 0o600))
	bump(t, path, 3)
	select {
	case err := <-reloaded:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("no reload")
	}
	_, ok := w.Current().Lookup("y")
	assert.True(t, ok)
}

func TestNewWatcherErrors(t *testing.T) {
	_, err := NewWatcher(filepath.Join(t.TempDir(), "missing.yaml"), time.Second, nil)
	require.Error(t, err)
	path := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(path, []byte("agents: ["), 0o600))
	_, err = NewWatcher(path, time.Second, nil)
	require.ErrorIs(t, err, ErrInvalid)
}

// bump moves the file's modification time so a rewrite within the file
// system's timestamp granularity is still seen as a change.
func bump(t *testing.T, path string, n int) {
	ts := time.Now().Add(time.Duration(n) * time.Minute)
	require.NoError(t, os.Chtimes(path, ts, ts))
}
