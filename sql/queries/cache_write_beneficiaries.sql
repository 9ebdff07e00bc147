-- Question: who benefits from whose prompt-cache writes?
-- One row per writer agent and reader agent: the cache-write cost moved from
-- the writer to the reader (rule cache_write of docs/allocation.md: a write's
-- cost goes to the agents that read that cache within its 5-minute or 1-hour
-- lifetime, by read tokens), the number of writes it read and the read
-- tokens that weighed (a read inside several writes' lifetimes counts for
-- each). writer = reader rows are the writer's own later reads; writes
-- nobody read stay with the writer and do not appear.
-- Reads: cost_allocations (view over cost_events)
-- Parameters: {from:Date} inclusive, {to:Date} exclusive (UTC days of the writes)
SELECT
    payer_agent_id AS writer_agent_id,
    payer_team AS writer_team,
    agent_id AS reader_agent_id,
    team AS reader_team,
    count() AS writes_read,
    toUInt64(sum(weight)) AS read_tokens,
    sum(cost) AS cache_write_cost
FROM cost_allocations(from = {from:Date}, to = {to:Date}, orchestrator = 'keep')
WHERE rule = 'cache_write'
GROUP BY writer_agent_id, writer_team, reader_agent_id, reader_team
ORDER BY cache_write_cost DESC, writer_agent_id, reader_agent_id
