-- Question: how is each root agent's cost split between the root agent itself
-- and the sub-agents it delegated to?
-- Reads: cost_hourly (rollup)
-- Parameters: {from:DateTime} inclusive, {to:DateTime} exclusive (UTC)
SELECT
    root_agent_id,
    sumIf(total_cost, agent_id = root_agent_id) AS root_cost,
    sumIf(total_cost, agent_id != root_agent_id) AS subagent_cost,
    sum(total_cost) AS cost,
    uniqExactIf(agent_id, agent_id != root_agent_id) AS subagents
FROM cost_hourly
WHERE hour >= {from:DateTime('UTC')} AND hour < {to:DateTime('UTC')}
  AND root_agent_id != ''
GROUP BY root_agent_id
ORDER BY cost DESC, root_agent_id
