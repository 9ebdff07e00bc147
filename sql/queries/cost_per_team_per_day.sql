-- Question: what does each team cost per day?
-- Reads: cost_daily (rollup)
-- Parameters: {from:Date} inclusive, {to:Date} exclusive
SELECT
    day,
    team,
    sum(calls) AS calls,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(total_cost) AS total_cost
FROM cost_daily
WHERE day >= {from:Date} AND day < {to:Date}
GROUP BY day, team
ORDER BY day, total_cost DESC, team
