#!/usr/bin/env bash
# make demo: build the agentcost collector, start the local ClickHouse, run
# the demo collector config (examples/demo/config.yaml) in the background,
# send ~30 s of simulated multi-agent traffic (cmd/agentsim), wait until
# ClickHouse holds every cost row, and print a report from SQL and from the
# budget extension's HTTP API.
#
# The collector keeps running afterwards so that you can query it; `make
# demo-stop` stops it and cleans .demo/. Each run writes to a fresh database
# (agentcost_demo_<UTC time>), so the demo can run again at once.
#
# Knobs (environment): DEMO_DURATION (30s), DEMO_RATE (20 traces/s),
# DEMO_SEED (42), DEMO_SKIP_BUILD=1 (use the existing dist/otelcol-agentcost),
# AGENTCOST_COLLECTOR (path of another collector binary), CH_TCP_PORT (9000),
# CH_HTTP_PORT (8123).
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR=.demo
DURATION=${DEMO_DURATION:-30s}
RATE=${DEMO_RATE:-20}
SEED=${DEMO_SEED:-42}
CH_TCP_PORT=${CH_TCP_PORT:-9000}
CH_HTTP_PORT=${CH_HTTP_PORT:-8123}
CH_HTTP=http://127.0.0.1:${CH_HTTP_PORT}
COLLECTOR=${AGENTCOST_COLLECTOR:-dist/otelcol-agentcost}
CONFIG=examples/demo/config.yaml
BUDGET_API=http://127.0.0.1:8790
export PATH="/usr/local/go/bin:$PATH"

if [[ -t 1 ]]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
die() { printf '\nmake demo: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "needs $1 on PATH"; }
need go
need curl

# sql QUERY: run QUERY on the demo database over HTTP, pretty-printed.
sql() {
	curl -sS --fail-with-body "${CH_HTTP}/?database=${DB}&default_format=PrettyCompactMonoBlock&output_format_pretty_row_numbers=0&output_format_pretty_color=0" \
		--data-binary "$1"
}
# scalar QUERY: one value, tab-separated.
scalar() {
	curl -sS --fail-with-body "${CH_HTTP}/?database=${DB}&default_format=TabSeparated" --data-binary "$1"
}

# 0. A previous demo's collector would hold the ports: stop it.
scripts/demo-stop.sh --keep-data --quiet
mkdir -p "$DEMO_DIR"

# 1. The collector.
if [[ -n "${AGENTCOST_COLLECTOR:-}" || "${DEMO_SKIP_BUILD:-}" == 1 ]]; then
	step "Using the collector $COLLECTOR (no build)"
else
	step "Building the collector with ocb (make build; about 1.5 min the first time)"
	make --no-print-directory build
fi
[[ -x "$COLLECTOR" ]] || die "no collector binary at $COLLECTOR"
if ! "$COLLECTOR" components 2>/dev/null | grep -q 'name: agentcost_clickhouse'; then
	die "$COLLECTOR has no agentcost components: builder-config.yaml must list the agentcost processor, the agentcost_clickhouse exporter and the agentcost_budget extension (gomod github.com/agentcost/agentcost v0.0.0, path ./)"
fi

# 2. ClickHouse.
step "Starting the local ClickHouse (make clickhouse)"
make --no-print-directory clickhouse CH_TCP_PORT="$CH_TCP_PORT" CH_HTTP_PORT="$CH_HTTP_PORT"

# 3. The collector, in the background, on a fresh database.
DB="agentcost_demo_$(date -u +%Y%m%d_%H%M%S)"
echo "$DB" >>"$DEMO_DIR/databases"
step "Starting the collector with $CONFIG (database $DB; log $DEMO_DIR/collector.log)"
AGENTCOST_DEMO_DB="$DB" AGENTCOST_CLICKHOUSE_ENDPOINT="tcp://127.0.0.1:${CH_TCP_PORT}" \
	nohup "$COLLECTOR" --config "$CONFIG" >"$DEMO_DIR/collector.log" 2>&1 &
echo $! >"$DEMO_DIR/collector.pid"
for i in $(seq 1 120); do
	if ! kill -0 "$(cat "$DEMO_DIR/collector.pid")" 2>/dev/null; then
		tail -n 30 "$DEMO_DIR/collector.log" >&2
		die "the collector exited while starting (log above, full log in $DEMO_DIR/collector.log)"
	fi
	if curl -s -o /dev/null "$BUDGET_API/v1/budgets" && [[ "$(scalar "EXISTS TABLE cost_events" 2>/dev/null)" == 1 ]]; then
		break
	fi
	[[ $i == 120 ]] && die "the collector did not come up within 60 s (see $DEMO_DIR/collector.log)"
	sleep 0.5
done
echo "collector running (pid $(cat "$DEMO_DIR/collector.pid")): OTLP on 127.0.0.1:4317 (gRPC) and :4318 (HTTP), budget API on $BUDGET_API"

# 4. Traffic.
step "Sending simulated agent traffic for $DURATION (agentsim, $RATE traces/s, seed $SEED)"
go build -o bin/agentsim ./cmd/agentsim
bin/agentsim -config "$CONFIG" -endpoint 127.0.0.1:4317 -rate "$RATE" -duration "$DURATION" -seed "$SEED" \
	-expect-out "$DEMO_DIR/expected.json" | tee "$DEMO_DIR/agentsim.log"

# 5. Wait for every cost row.
want=$(sed -n 's/^  "billable_spans": \([0-9]*\),$/\1/p' "$DEMO_DIR/expected.json")
[[ -n "$want" ]] || die "no billable_spans in $DEMO_DIR/expected.json"
step "Waiting for ClickHouse to hold all $want cost rows"
for i in $(seq 1 120); do
	got=$(scalar "SELECT count() FROM cost_events")
	[[ -t 1 ]] && printf '\r  %s / %s rows' "$got" "$want"
	[[ "$got" -ge "$want" ]] && break
	[[ $i == 120 ]] && { echo; die "only $got of $want rows after 60 s (see $DEMO_DIR/collector.log)"; }
	sleep 0.5
done
[[ -t 1 ]] && echo
echo "  all $got rows stored"

# The budget extension counts fresh charges locally and reads older ones back
# from ClickHouse every 5 s: wait until its org-wide spend is the stored total.
printf '  waiting for the budget extension to reconcile'
for i in $(seq 1 60); do
	org=$(curl -s "$BUDGET_API/v1/budgets" | sed -n 's/.*"name":"org-monthly"[^}]*"spend":"\([0-9.]*\)".*/\1/p')
	[[ -n "$org" && "$(scalar "SELECT sum(total_cost) = toDecimal128('${org}', 12) FROM cost_events")" == 1 ]] && break
	[[ $i == 60 ]] && printf ' (not yet after 30 s: budget spend below may differ from the rows)'
	printf '.'
	sleep 0.5
done
echo

# 6. The report.
expected_total=$(sed -n '/^  "total": {/,/}/s/^    "cost_usd": "\(.*\)",$/\1/p' "$DEMO_DIR/expected.json")
stored_total=$(scalar "SELECT toString(sum(total_cost)) FROM cost_events")
exact=$(scalar "SELECT sum(total_cost) = toDecimal128('${expected_total}', 12) FROM cost_events")
step "Report (database $DB)"
printf 'cost rows: %s (simulator sent %s billable spans)   total spend: %s USD (simulator expected %s)  %s\n' \
	"$got" "$want" "$stored_total" "$expected_total" "$([[ "$exact" == 1 && "$got" == "$want" ]] && echo '=> exact match' || echo '=> MISMATCH')"

echo; echo "Spend by team"
sql "SELECT team, count() AS calls, countIf(cost_status = 'unpriced') AS unpriced,
	round(sum(total_cost), 4) AS cost_usd,
	round(100 * toFloat64(sum(total_cost)) / (SELECT toFloat64(sum(total_cost)) FROM cost_events), 1) AS share_pct
FROM cost_events GROUP BY team ORDER BY sum(total_cost) DESC"

echo; echo "Top 10 agents"
sql "SELECT agent_id AS agent, team, root_agent_id AS invoked_by, count() AS calls, round(sum(total_cost), 4) AS cost_usd
FROM cost_events GROUP BY agent_id, team, root_agent_id ORDER BY sum(total_cost) DESC LIMIT 10"

echo; echo "Spend by model (tool fees below)"
sql "SELECT provider, if(pricing_model = '', request_model, pricing_model) AS model, count() AS calls,
	sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, round(sum(total_cost), 4) AS cost_usd
FROM cost_events WHERE operation != 'execute_tool' GROUP BY provider, model ORDER BY sum(total_cost) DESC, model"
sql "SELECT tool_name AS tool, count() AS calls, countIf(cost_status = 'priced') AS with_fee, round(sum(total_cost), 4) AS fees_usd
FROM cost_events WHERE operation = 'execute_tool' GROUP BY tool_name ORDER BY sum(total_cost) DESC, tool"

echo; echo "Prompt-cache savings (cache reads valued at each model's uncached input price)"
sql "SELECT provider, pricing_model AS model,
	round(100 * sum(cache_read_tokens) / sum(input_tokens), 1) AS cache_hit_pct,
	sum(cache_read_tokens) AS cached_tokens,
	round(sum(cache_read_cost), 4) AS cache_read_usd,
	round(sum(cache_write_cost), 4) AS cache_write_usd,
	round(sum(cache_read_tokens) * (sum(input_cost) / sum(input_tokens - cache_read_tokens - cache_write_tokens)) - sum(cache_read_cost), 4) AS saved_usd
FROM cost_events WHERE cost_status = 'priced' AND operation != 'execute_tool'
GROUP BY provider, model HAVING sum(cache_read_tokens) > 0 AND sum(input_tokens - cache_read_tokens - cache_write_tokens) > 0
ORDER BY saved_usd DESC"

echo; echo "Unpriced volume (calls the catalog cannot price: cost unknown, not zero)"
sql "SELECT provider, request_model AS model, cost_reason AS reason, count() AS calls,
	sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, groupUniqArray(agent_id) AS agents
FROM cost_events WHERE cost_status IN ('unpriced', 'usage_error') GROUP BY provider, model, reason ORDER BY calls DESC"

echo; echo "Budgets (GET $BUDGET_API/v1/budgets)"
budgets=$(curl -sS --fail-with-body "$BUDGET_API/v1/budgets")
budgets_sql=${budgets//\\/\\\\}
budgets_sql=${budgets_sql//\'/\\\'}
sql "SELECT JSONExtractString(b, 'name') AS budget, JSONExtractString(b, 'action') AS action,
	JSONExtractString(b, 'window') AS window,
	round(toDecimal128(JSONExtractString(b, 'spend'), 12), 4) AS spend_usd,
	round(toDecimal128(JSONExtractString(b, 'limit'), 12), 2) AS limit_usd,
	round(100 * JSONExtractFloat(b, 'utilization'), 1) AS used_pct,
	JSONExtractString(b, 'decision') AS decision,
	arrayStringConcat(JSONExtract(b, 'alerts_fired', 'Array(String)'), ',') AS alerts_fired
FROM (SELECT arrayJoin(JSONExtractArrayRaw('${budgets_sql}', 'budgets')) AS b)"

echo; echo "Budget checks now (GET $BUDGET_API/v1/check: what a gateway asks before a model call)"
for who in research-lead:research web-researcher:research code-reviewer:engineering support-triage:support; do
	agent=${who%%:*} team=${who#*:}
	code=$(curl -s -o "$DEMO_DIR/check.json" -w '%{http_code}' "$BUDGET_API/v1/check?agent_id=$agent&team=$team")
	decision=$(sed -n 's/^{"decision":"\([a-z]*\)".*/\1/p' "$DEMO_DIR/check.json")
	printf '  %-15s (team %-11s) -> %-8s HTTP %s\n' "$agent" "$team" "$decision" "$code"
done

echo; echo "Alerts that fired (table budget_alerts)"
sql "SELECT budget, kind, threshold, round(argMin(spend, fired_at), 4) AS spend_usd, round(argMin(limit_usd, fired_at), 2) AS limit_usd,
	formatDateTime(min(fired_at), '%H:%i:%S') AS fired_at_utc
FROM budget_alerts GROUP BY budget, window_start, kind, threshold ORDER BY min(fired_at), budget, threshold"

cat <<MSG

Query further (the collector keeps running; 'make demo-stop' stops it):
  curl -s '$BUDGET_API/v1/check?team=research'          # may research spend now? (suspended: deny, HTTP 429)
  curl -s '$BUDGET_API/v1/budgets'                      # every budget's window, spend, limit and alerts
  curl -s '$CH_HTTP/?database=$DB' --data-binary \\
    "SELECT agent_id, pricing_model, sum(total_cost) FROM cost_events GROUP BY ALL ORDER BY 3 DESC FORMAT PrettyCompact"
  tables in $DB: cost_events (one row per call), cost_hourly, cost_daily (rollups; always sum()), focus_v1 (FinOps FOCUS view), budget_alerts
  Grafana: import dashboards/agentcost.json (ClickHouse data source, database $DB)
  simulator's expectation: $DEMO_DIR/expected.json; collector log: $DEMO_DIR/collector.log
MSG
