-- Question: what does each agent (and its team) cost directly, and what is
-- charged to it once shared calls, prompt-cache writes and orchestrator
-- overhead are allocated (docs/allocation.md)?
-- direct: the cost of the agent's own calls; allocated: what the allocation
-- rules charge it; shifted = allocated - direct (negative: others carry part
-- of its calls). Over all agents the two columns add up to the same total.
-- cache_savings: what the agent's cache reads would have cost uncached,
-- minus what they cost (per call: input_cost * cache_read_tokens /
-- uncached input tokens - cache_read_cost; multiplied before divided, so the
-- decimal division truncates to 12 digits once, on the result).
-- Reads: cost_direct_vs_allocated_daily (view over cost_allocations), cost_events
-- Parameters: {from:Date} inclusive, {to:Date} exclusive (UTC days),
-- {orchestrator:String} keep | proportional | even
SELECT
    v.agent_id AS agent_id,
    v.team AS team,
    v.direct AS direct,
    v.allocated AS allocated,
    v.allocated - v.direct AS shifted,
    s.savings AS cache_savings
FROM
(
    SELECT agent_id, team, sum(direct_cost) AS direct, sum(allocated_cost) AS allocated
    FROM cost_direct_vs_allocated_daily(from = {from:Date}, to = {to:Date}, orchestrator = {orchestrator:String})
    GROUP BY agent_id, team
) AS v
LEFT JOIN
(
    SELECT
        agent_id,
        team,
        sum(if(input_tokens > cache_read_tokens + cache_write_tokens,
               input_cost * cache_read_tokens / (input_tokens - cache_read_tokens - cache_write_tokens) - cache_read_cost,
               toDecimal128(0, 12))) AS savings
    FROM cost_events
    WHERE toDate(event_time) >= {from:Date} AND toDate(event_time) < {to:Date}
      AND cache_read_tokens > 0
    GROUP BY agent_id, team
) AS s ON s.agent_id = v.agent_id AND s.team = v.team
ORDER BY allocated DESC, agent_id, team
