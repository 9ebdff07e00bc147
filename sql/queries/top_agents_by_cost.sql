-- Question: which agents cost the most in a time window?
-- Reads: cost_hourly (rollup; answers a month in milliseconds)
-- Parameters: {from:DateTime} inclusive, {to:DateTime} exclusive (UTC), {limit:UInt32}
SELECT
    agent_id,
    team,
    sum(calls) AS calls,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(total_cost) AS total_cost
FROM cost_hourly
WHERE hour >= {from:DateTime('UTC')} AND hour < {to:DateTime('UTC')}
GROUP BY agent_id, team
ORDER BY total_cost DESC, agent_id
LIMIT {limit:UInt32}
