// Package e2e holds the end-to-end tests of agentcost: the example collector
// configs load and validate through the real component factories; the full
// pipeline (OTLP receiver, memory_limiter, agentcost processor,
// agentcost_clickhouse exporter, agentcost_budget extension) runs in-process
// against the local ClickHouse while cmd/agentsim sends traffic, and the
// stored totals must equal the simulator's expected totals exactly; and every
// panel query of the Grafana dashboard runs against that data.
//
// Fault tests (faults_test.go, runtime_test.go) kill a test-owned ClickHouse
// (cmd/chlocal on ports 19000-19999/18000-18999) or a collector process (the
// test binary re-executed as TestCollectorChild) with SIGKILL under load,
// replace the registry and catalog files by invalid ones at run time, and
// take the alert webhook receiver down; bad-input tests (badinput_test.go,
// cardinality_test.go) send one batch spanning 312 months, oversized
// attribute values, and a million distinct agent ids. Each asserts exact
// totals between what was sent and what ClickHouse holds.
//
// The tests need the local ClickHouse (`make clickhouse`); without one they
// are skipped, and under CI=true they fail.
package e2e
