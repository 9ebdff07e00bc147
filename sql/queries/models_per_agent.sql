-- Question: which models does each agent use, how often and at what cost?
-- models_used is the number of distinct models of the agent in the window.
-- Reads: cost_events (request_model: what the agent asked for, priced or not)
-- Parameters: {from:DateTime} inclusive, {to:DateTime} exclusive (UTC)
SELECT
    agent_id,
    provider,
    request_model,
    count() AS calls,
    sum(total_cost) AS total_cost,
    count() OVER (PARTITION BY agent_id) AS models_used
FROM cost_events
WHERE event_time >= {from:DateTime('UTC')} AND event_time < {to:DateTime('UTC')}
  AND request_model != ''
GROUP BY agent_id, provider, request_model
ORDER BY agent_id, total_cost DESC, request_model
