-- Question: which identical tool calls (same tool, same arguments hash) repeat
-- within one trace? They are candidates for caching the tool result.
-- Only tool_call_hash is stored, never the arguments.
-- Reads: cost_events
-- Parameters: {from:DateTime} inclusive, {to:DateTime} exclusive (UTC)
SELECT
    trace_id,
    agent_id,
    tool_name,
    tool_call_hash,
    count() AS calls,
    count() - 1 AS repeated_calls,
    sum(duration_ns) AS duration_ns,
    sum(total_cost) AS total_cost
FROM cost_events
WHERE event_time >= {from:DateTime('UTC')} AND event_time < {to:DateTime('UTC')}
  AND operation = 'execute_tool' AND tool_call_hash != ''
GROUP BY trace_id, agent_id, tool_name, tool_call_hash
HAVING calls > 1
ORDER BY repeated_calls DESC, duration_ns DESC, trace_id
