// Package agentcostbudgetextension implements the agentcost_budget
// extension: budgets over AI-agent spend with calendar or rolling windows,
// alerts, and allow/throttle/deny decisions served in process (spend.Accruer,
// Checker) and over HTTP. Spend accrues locally from the agentcost processor
// and is reconciled from the ClickHouse cost ledger so that several collector
// replicas agree on a budget's spend.
//
//go:generate ../../bin/mdatagen metadata.yaml
package agentcostbudgetextension
