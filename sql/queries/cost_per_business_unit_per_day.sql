-- Question: what does each business unit cost per day?
-- Reads: cost_daily (rollup)
-- Parameters: {from:Date} inclusive, {to:Date} exclusive
SELECT
    day,
    business_unit,
    sum(calls) AS calls,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(total_cost) AS total_cost
FROM cost_daily
WHERE day >= {from:Date} AND day < {to:Date}
GROUP BY day, business_unit
ORDER BY day, total_cost DESC, business_unit
