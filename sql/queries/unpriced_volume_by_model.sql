-- Question: which models run without a price (unpriced or usage_error), and
-- how much volume is therefore missing from the cost totals?
-- Reads: cost_events
-- Parameters: {from:DateTime} inclusive, {to:DateTime} exclusive (UTC)
SELECT
    provider,
    request_model,
    cost_status,
    cost_reason,
    count() AS calls,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    uniqExact(agent_id) AS agents
FROM cost_events
WHERE event_time >= {from:DateTime('UTC')} AND event_time < {to:DateTime('UTC')}
  AND cost_status IN ('unpriced', 'usage_error')
GROUP BY provider, request_model, cost_status, cost_reason
ORDER BY calls DESC, provider, request_model
