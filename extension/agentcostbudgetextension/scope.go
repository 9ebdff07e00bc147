package agentcostbudgetextension

import (
	"fmt"
	"sort"
	"strings"

	"github.com/agentcost/agentcost/internal/glob"
	"github.com/agentcost/agentcost/internal/spend"
)

// Identity is what a check is about; its fields mirror spend.Charge's.
type Identity struct {
	AgentID      string
	RootAgentID  string
	Team         string
	Project      string
	BusinessUnit string
	CostCenter   string
	Provider     string
	Model        string
}

// field indexes, in the order of scopeKeys.
const (
	fAgent = iota
	fRootAgent
	fTeam
	fProject
	fBusinessUnit
	fCostCenter
	fProvider
	fModel
)

// ledgerColumns are the cost_events columns for each field.
var ledgerColumns = [...]string{"agent_id", "root_agent_id", "team", "project", "business_unit", "cost_center", "provider", "pricing_model"}

func (id *Identity) field(f int) string {
	switch f {
	case fAgent:
		return id.AgentID
	case fRootAgent:
		return id.RootAgentID
	case fTeam:
		return id.Team
	case fProject:
		return id.Project
	case fBusinessUnit:
		return id.BusinessUnit
	case fCostCenter:
		return id.CostCenter
	case fProvider:
		return id.Provider
	default:
		return id.Model
	}
}

func identityOf(c *spend.Charge) Identity {
	return Identity{AgentID: c.AgentID, RootAgentID: c.RootAgentID, Team: c.Team, Project: c.Project,
		BusinessUnit: c.BusinessUnit, CostCenter: c.CostCenter, Provider: c.Provider, Model: c.Model}
}

// selector is one scope key: a field and an exact value or a glob.
type selector struct {
	field   int
	pattern string
	glob    bool
}

// scope is an AND of selectors; empty matches everything.
type scope []selector

func compileScope(m map[string]string) (scope, error) {
	var sc scope
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := -1
		for i, name := range scopeKeys {
			if name == k {
				f = i
			}
		}
		if f < 0 {
			return nil, fmt.Errorf("scope key %q is not one of %s", k, strings.Join(scopeKeys, ", "))
		}
		v := m[k]
		if v == "" {
			return nil, fmt.Errorf("scope.%s: empty value (omit the key to match every value)", k)
		}
		sc = append(sc, selector{field: f, pattern: v, glob: glob.IsPattern(v)})
	}
	return sc, nil
}

// String is a canonical form (sorted keys).
func (s scope) String() string {
	var b strings.Builder
	for i, sel := range s {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(scopeKeys[sel.field])
		b.WriteString("=")
		b.WriteString(sel.pattern)
	}
	return b.String()
}

// match reports whether id satisfies every selector. It does not allocate.
func (s scope) match(id *Identity) bool {
	for i := range s {
		v := id.field(s[i].field)
		if s[i].glob {
			if !glob.Match(s[i].pattern, v) {
				return false
			}
		} else if v != s[i].pattern {
			return false
		}
	}
	return true
}

// likePattern turns a glob into a ClickHouse LIKE pattern: * -> %, ? -> _,
// and LIKE's own metacharacters escaped.
func likePattern(glob string) string {
	var b strings.Builder
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '*':
			b.WriteByte('%')
		case '?':
			b.WriteByte('_')
		case '%', '_', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
