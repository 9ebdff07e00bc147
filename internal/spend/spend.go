// Package spend is the interface between the agentcost processor, which
// prices spans, and a budget extension, which accrues their cost. The
// processor finds the extension by the component ID named in its config and
// reports every priced span through Accruer.
package spend

import (
	"time"

	"github.com/agentcost/agentcost/pricing"
)

// Charge is the cost of one priced span and the identity it is billed to.
type Charge struct {
	// Time is the span's start time: the charge belongs to the budget window
	// that contains it.
	Time         time.Time
	Cost         pricing.Money
	AgentID      string
	RootAgentID  string
	Team         string
	Project      string
	BusinessUnit string
	CostCenter   string
	Provider     string
	Model        string
}

// Accruer receives charges. Implementations must be safe for concurrent use
// and must not block: the processor calls Accrue on its hot path.
type Accruer interface {
	Accrue(c Charge)
}
