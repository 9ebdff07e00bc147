-- Question: what did one scope (here a team) spend in a window? This is the
-- budget reconciliation query; for another scope replace team by project,
-- business_unit, cost_center, agent_id or root_agent_id (all rollup columns).
-- Reads: cost_hourly (rollup; hour-aligned windows)
-- Parameters: {team:String}, {from:DateTime} inclusive, {to:DateTime} exclusive (UTC)
SELECT
    sum(total_cost) AS total_cost,
    sum(calls) AS calls
FROM cost_hourly
WHERE team = {team:String}
  AND hour >= {from:DateTime('UTC')} AND hour < {to:DateTime('UTC')}
