// Package e2e holds the end-to-end tests of agentcost: the example collector
// configs load and validate through the real component factories; the full
// pipeline (OTLP receiver, memory_limiter, agentcost processor,
// agentcost_clickhouse exporter, agentcost_budget extension) runs in-process
// against the local ClickHouse while cmd/agentsim sends traffic, and the
// stored totals must equal the simulator's expected totals exactly; and every
// panel query of the Grafana dashboard runs against that data.
//
// The tests need the local ClickHouse (`make clickhouse`); without one they
// are skipped, and under CI=true they fail.
package e2e
