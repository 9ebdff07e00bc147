-- Question: what did each conversation cost, across all the agents it involved?
-- Reads: cost_events
-- Parameters: {from:DateTime} inclusive, {to:DateTime} exclusive (UTC), {limit:UInt32}
SELECT
    conversation_id,
    count() AS calls,
    uniqExact(agent_id) AS agents,
    min(event_time) AS first_call,
    max(event_time) AS last_call,
    sum(total_cost) AS total_cost
FROM cost_events
WHERE event_time >= {from:DateTime('UTC')} AND event_time < {to:DateTime('UTC')}
  AND conversation_id != ''
GROUP BY conversation_id
ORDER BY total_cost DESC, conversation_id
LIMIT {limit:UInt32}
