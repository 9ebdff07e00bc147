// Package budgetclient is a small client for the HTTP API of the
// agentcost_budget collector extension, for gateways and agents that ask
// "may this agent spend now?" before calling a model.
//
// The wire types here are the API's contract: the extension encodes exactly
// these structures. Amounts are decimal strings of USD with 12 fractional
// digits (exact); never parse them into float64 to add them up.
package budgetclient

import "time"

// Decision outcomes.
const (
	Allow    = "allow"
	Throttle = "throttle"
	Deny     = "deny"
)

// Identity selects the budgets a check applies to: a budget is involved when
// every key of its scope matches the corresponding field. Empty fields are
// not sent.
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

// CheckResponse is the body of GET /v1/check.
type CheckResponse struct {
	// Decision is allow, throttle or deny: the most severe decision of the
	// budgets involved.
	Decision string `json:"decision"`
	// RetryAfterSeconds is set for deny: when to ask again (also sent as the
	// Retry-After header with HTTP 429).
	RetryAfterSeconds int64 `json:"retry_after_seconds,omitempty"`
	// DelayMillis is set for throttle: the suggested delay before the call.
	DelayMillis int64 `json:"delay_ms,omitempty"`
	// Budgets are the budgets whose scope matched the identity.
	Budgets []BudgetStatus `json:"budgets"`
}

// BudgetStatus is one budget's state in its current window.
type BudgetStatus struct {
	Name   string `json:"name"`
	Action string `json:"action"`
	// Decision is this budget's own decision.
	Decision string `json:"decision"`
	// Reason explains a non-allow decision: limit_reached, suspended,
	// spend_unknown; or "resumed" for a suspension lifted by an operator.
	Reason string `json:"reason,omitempty"`
	// Spend and Limit are decimal USD strings with 12 fractional digits.
	Spend string `json:"spend"`
	Limit string `json:"limit"`
	// Utilization is spend/limit, for display.
	Utilization float64 `json:"utilization"`
	// SpendKnown is false when the shared ledger could not be read recently
	// (the budget's fail_mode then decides).
	SpendKnown  bool      `json:"spend_known"`
	Window      string    `json:"window"`
	WindowStart time.Time `json:"window_start"`
	// WindowEnd is the end of a calendar window; zero for rolling windows.
	WindowEnd time.Time `json:"window_end,omitzero"`
	// Suspended is true when a suspend budget is at its limit and not resumed.
	Suspended bool `json:"suspended"`
	// Resumed is true when an operator lifted the suspension for this window.
	Resumed bool `json:"resumed"`
	// AlertsFired lists the thresholds (e.g. "0.8") and "projected" alerts
	// already fired in this window.
	AlertsFired []string `json:"alerts_fired"`
}

// BudgetsResponse is the body of GET /v1/budgets.
type BudgetsResponse struct {
	Budgets []BudgetStatus `json:"budgets"`
}

// ErrorResponse is the body of every 4xx/5xx answer.
type ErrorResponse struct {
	Error string `json:"error"`
}
