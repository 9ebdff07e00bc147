-- Question: how much of each agent's input is served from the prompt cache,
-- and how much did the cache save?
-- cache_hit_ratio = cache_read_tokens / input_tokens (input includes cached tokens).
-- cache_savings estimates, call by call, what the cache-read tokens would have
-- cost at the call's uncached input price, minus what they did cost
-- (input_cost * cache_read_tokens / uncached input tokens - cache_read_cost;
-- multiplied before divided, so the one truncation of the decimal division
-- to 12 digits happens last, on the result, not on a per-token price).
-- Reads: cost_events
-- Parameters: {from:DateTime} inclusive, {to:DateTime} exclusive (UTC)
SELECT
    agent_id,
    sum(input_tokens) AS total_input_tokens,
    sum(cache_read_tokens) AS total_cache_read_tokens,
    round(if(sum(input_tokens) = 0, 0, sum(cache_read_tokens) / sum(input_tokens)), 4) AS cache_hit_ratio,
    sum(cache_read_cost) AS total_cache_read_cost,
    sum(if(input_tokens > cache_read_tokens + cache_write_tokens,
           input_cost * cache_read_tokens / (input_tokens - cache_read_tokens - cache_write_tokens) - cache_read_cost,
           toDecimal128(0, 12))) AS cache_savings
FROM cost_events
WHERE event_time >= {from:DateTime('UTC')} AND event_time < {to:DateTime('UTC')}
  AND input_tokens > 0
GROUP BY agent_id
ORDER BY cache_savings DESC, agent_id
