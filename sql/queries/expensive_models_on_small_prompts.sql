-- Question: where do agents send small prompts to expensive models? These
-- calls are candidates for routing to a cheaper model.
-- A call is small when input_tokens <= {max_input_tokens}; a model is
-- expensive when its blended cost on those calls, USD per million tokens
-- (input + output), is at least {min_usd_per_mtok}.
-- Reads: cost_events
-- Parameters: {from:DateTime} inclusive, {to:DateTime} exclusive (UTC),
--   {max_input_tokens:UInt64}, {min_usd_per_mtok:Decimal(38, 12)}
SELECT
    agent_id,
    provider,
    pricing_model,
    count() AS calls,
    round(avg(input_tokens), 1) AS avg_input_tokens,
    sum(total_cost) AS cost,
    sum(total_cost) * 1000000 / sum(input_tokens + output_tokens) AS usd_per_mtok
FROM cost_events
WHERE event_time >= {from:DateTime('UTC')} AND event_time < {to:DateTime('UTC')}
  AND operation = 'chat' AND cost_status IN ('priced', 'provider_reported')
  AND input_tokens <= {max_input_tokens:UInt64}
  AND input_tokens + output_tokens > 0
GROUP BY agent_id, provider, pricing_model
HAVING usd_per_mtok >= {min_usd_per_mtok:Decimal(38, 12)}
ORDER BY cost DESC, agent_id, pricing_model
