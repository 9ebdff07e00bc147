-- Question: what does each project cost per day?
-- Reads: cost_daily (rollup)
-- Parameters: {from:Date} inclusive, {to:Date} exclusive
SELECT
    day,
    project,
    sum(calls) AS calls,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(total_cost) AS total_cost
FROM cost_daily
WHERE day >= {from:Date} AND day < {to:Date}
GROUP BY day, project
ORDER BY day, total_cost DESC, project
