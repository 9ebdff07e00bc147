-- golden: schema rendered for options default; regenerate with go test ./schema -run TestRenderGolden -update

CREATE DATABASE IF NOT EXISTS `agentcost`;

CREATE TABLE IF NOT EXISTS `agentcost`.`schema_migrations`
(
    `version` UInt32,
    `name` String,
    `checksum` String,
    `applied_at` DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY `version`
COMMENT 'agentcost: applied schema migrations';

-- ===== migration cost_events =====
-- Migration 0001: the cost_events table, one row per priced GenAI span.
--
-- ORDER BY (team, agent_id, event_time) serves the two main queries:
--   1. spend by team / agent over time: rows of one team and agent are
--      contiguous and time-ordered, so GROUP BY team, agent_id, toStartOfDay(...)
--      reads in key order with no re-sort;
--   2. one scope's spend in a window (budget reconciliation): WHERE team = ?
--      [AND agent_id = ?] AND event_time >= ? AND event_time < ? is a primary
--      key range: only the granules of that team (and agent) inside the window
--      are read. PARTITION BY month prunes whole months first.
-- project and business_unit scopes use the set skip indexes; trace lookups the
-- bloom filter on trace_id. Costs arrive as exact pico-USD integers in the
-- EPHEMERAL *_pico columns and are turned into Decimal(38, 12) USD by the
-- server (an exact multiplication, no rounding); the pico columns are not stored.
CREATE TABLE IF NOT EXISTS `agentcost`.`cost_events`
(
    `event_time` DateTime64(9, 'UTC') CODEC(Delta(8), ZSTD(1)),
    `trace_id` String CODEC(ZSTD(1)),
    `span_id` String CODEC(ZSTD(1)),
    `parent_span_id` String CODEC(ZSTD(1)),
    `service_name` LowCardinality(String),
    `environment` LowCardinality(String),
    `agent_id` LowCardinality(String),
    `agent_name` LowCardinality(String),
    `agent_version` LowCardinality(String),
    `root_agent_id` LowCardinality(String),
    `team` LowCardinality(String),
    `project` LowCardinality(String),
    `business_unit` LowCardinality(String),
    `cost_center` LowCardinality(String),
    `user_id` String CODEC(ZSTD(1)),
    `conversation_id` String CODEC(ZSTD(1)),
    `operation` LowCardinality(String),
    `provider` LowCardinality(String),
    `request_model` LowCardinality(String),
    `response_model` LowCardinality(String),
    `pricing_model` LowCardinality(String),
    `tool_name` LowCardinality(String),
    `tool_call_hash` String CODEC(ZSTD(1)),
    `service_tier` LowCardinality(String),
    `input_tokens` UInt64 CODEC(T64, ZSTD(1)),
    `output_tokens` UInt64 CODEC(T64, ZSTD(1)),
    `cache_read_tokens` UInt64 CODEC(T64, ZSTD(1)),
    `cache_write_tokens` UInt64 CODEC(T64, ZSTD(1)),
    `reasoning_tokens` UInt64 CODEC(T64, ZSTD(1)),
    `input_cost_pico` UInt64 EPHEMERAL,
    `cache_read_cost_pico` UInt64 EPHEMERAL,
    `cache_write_cost_pico` UInt64 EPHEMERAL,
    `output_cost_pico` UInt64 EPHEMERAL,
    `reasoning_cost_pico` UInt64 EPHEMERAL,
    `other_cost_pico` UInt64 EPHEMERAL,
    `total_cost_pico` UInt64 EPHEMERAL,
    `input_cost` Decimal(38, 12) DEFAULT toDecimal128(`input_cost_pico`, 0) * toDecimal128('0.000000000001', 12) CODEC(ZSTD(1)),
    `cache_read_cost` Decimal(38, 12) DEFAULT toDecimal128(`cache_read_cost_pico`, 0) * toDecimal128('0.000000000001', 12) CODEC(ZSTD(1)),
    `cache_write_cost` Decimal(38, 12) DEFAULT toDecimal128(`cache_write_cost_pico`, 0) * toDecimal128('0.000000000001', 12) CODEC(ZSTD(1)),
    `output_cost` Decimal(38, 12) DEFAULT toDecimal128(`output_cost_pico`, 0) * toDecimal128('0.000000000001', 12) CODEC(ZSTD(1)),
    `reasoning_cost` Decimal(38, 12) DEFAULT toDecimal128(`reasoning_cost_pico`, 0) * toDecimal128('0.000000000001', 12) CODEC(ZSTD(1)),
    `other_cost` Decimal(38, 12) DEFAULT toDecimal128(`other_cost_pico`, 0) * toDecimal128('0.000000000001', 12) CODEC(ZSTD(1)),
    `total_cost` Decimal(38, 12) DEFAULT toDecimal128(`total_cost_pico`, 0) * toDecimal128('0.000000000001', 12) CODEC(ZSTD(1)),
    `currency` LowCardinality(String),
    `cost_status` LowCardinality(String),
    `cost_reason` LowCardinality(String),
    `cost_source` LowCardinality(String),
    `price_id` LowCardinality(String),
    `catalog_version` LowCardinality(String),
    `identity_status` LowCardinality(String),
    `duration_ns` UInt64 CODEC(T64, ZSTD(1)),
    `is_error` Bool,
    `extra` Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    INDEX `idx_project` `project` TYPE set(1000) GRANULARITY 4,
    INDEX `idx_business_unit` `business_unit` TYPE set(1000) GRANULARITY 4,
    INDEX `idx_trace_id` `trace_id` TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(event_time)
ORDER BY (`team`, `agent_id`, `event_time`)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'agentcost: one row per priced GenAI span (written by the agentcost_clickhouse exporter)';

-- ===== migration rollups =====
-- Migration 0002: hourly and daily rollups kept by materialized views.
--
-- SummingMergeTree keyed by every dimension: merges add up calls, tokens and
-- costs of rows with equal keys. Parts are merged eventually, so readers always
-- aggregate: SELECT sum(total_cost) ... GROUP BY ... Costs are Decimal(38, 12):
-- a Decimal(18, 12) sum overflows past 999,999.999999999999 USD.
-- Scope columns lead the key so that one scope's spend in a window
-- (WHERE team = ? AND hour >= ? AND hour < ?) is a primary key range.
-- cost_hourly is fed from each cost_events insert; cost_daily from the
-- (already aggregated, much smaller) blocks written to cost_hourly, which
-- halves the aggregation work of an insert.
CREATE TABLE IF NOT EXISTS `agentcost`.`cost_hourly`
(
    `hour` DateTime('UTC') CODEC(Delta, ZSTD(1)),
    `team` LowCardinality(String),
    `project` LowCardinality(String),
    `business_unit` LowCardinality(String),
    `cost_center` LowCardinality(String),
    `agent_id` LowCardinality(String),
    `root_agent_id` LowCardinality(String),
    `provider` LowCardinality(String),
    `pricing_model` LowCardinality(String),
    `operation` LowCardinality(String),
    `environment` LowCardinality(String),
    `cost_status` LowCardinality(String),
    `currency` LowCardinality(String),
    `calls` UInt64 CODEC(T64, ZSTD(1)),
    `error_calls` UInt64 CODEC(T64, ZSTD(1)),
    `input_tokens` UInt64 CODEC(T64, ZSTD(1)),
    `output_tokens` UInt64 CODEC(T64, ZSTD(1)),
    `cache_read_tokens` UInt64 CODEC(T64, ZSTD(1)),
    `cache_write_tokens` UInt64 CODEC(T64, ZSTD(1)),
    `reasoning_tokens` UInt64 CODEC(T64, ZSTD(1)),
    `input_cost` Decimal(38, 12) CODEC(ZSTD(1)),
    `cache_read_cost` Decimal(38, 12) CODEC(ZSTD(1)),
    `cache_write_cost` Decimal(38, 12) CODEC(ZSTD(1)),
    `output_cost` Decimal(38, 12) CODEC(ZSTD(1)),
    `reasoning_cost` Decimal(38, 12) CODEC(ZSTD(1)),
    `other_cost` Decimal(38, 12) CODEC(ZSTD(1)),
    `total_cost` Decimal(38, 12) CODEC(ZSTD(1)),
    `duration_ns` UInt64 CODEC(T64, ZSTD(1))
)
ENGINE = SummingMergeTree
PARTITION BY toYYYYMM(`hour`)
ORDER BY (`team`, `project`, `business_unit`, `cost_center`, `agent_id`, `root_agent_id`, `hour`, `provider`, `pricing_model`, `operation`, `environment`, `cost_status`, `currency`)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'agentcost: hourly calls, tokens and cost by team, project, business unit, agent, provider, model, operation';

CREATE MATERIALIZED VIEW IF NOT EXISTS `agentcost`.`cost_hourly_mv`
TO `agentcost`.`cost_hourly`
AS SELECT
    toStartOfHour(`event_time`) AS `hour`,
    `team`,
    `project`,
    `business_unit`,
    `cost_center`,
    `agent_id`,
    `root_agent_id`,
    `provider`,
    `pricing_model`,
    `operation`,
    `environment`,
    `cost_status`,
    `currency`,
    count() AS `calls`,
    countIf(`is_error`) AS `error_calls`,
    sum(`input_tokens`) AS `input_tokens`,
    sum(`output_tokens`) AS `output_tokens`,
    sum(`cache_read_tokens`) AS `cache_read_tokens`,
    sum(`cache_write_tokens`) AS `cache_write_tokens`,
    sum(`reasoning_tokens`) AS `reasoning_tokens`,
    sum(`input_cost`) AS `input_cost`,
    sum(`cache_read_cost`) AS `cache_read_cost`,
    sum(`cache_write_cost`) AS `cache_write_cost`,
    sum(`output_cost`) AS `output_cost`,
    sum(`reasoning_cost`) AS `reasoning_cost`,
    sum(`other_cost`) AS `other_cost`,
    sum(`total_cost`) AS `total_cost`,
    sum(`duration_ns`) AS `duration_ns`
FROM `agentcost`.`cost_events`
GROUP BY `team`, `project`, `business_unit`, `cost_center`, `agent_id`, `root_agent_id`, `hour`, `provider`, `pricing_model`, `operation`, `environment`, `cost_status`, `currency`;

CREATE TABLE IF NOT EXISTS `agentcost`.`cost_daily`
(
    `day` Date CODEC(Delta, ZSTD(1)),
    `team` LowCardinality(String),
    `project` LowCardinality(String),
    `business_unit` LowCardinality(String),
    `cost_center` LowCardinality(String),
    `agent_id` LowCardinality(String),
    `root_agent_id` LowCardinality(String),
    `provider` LowCardinality(String),
    `pricing_model` LowCardinality(String),
    `operation` LowCardinality(String),
    `environment` LowCardinality(String),
    `cost_status` LowCardinality(String),
    `currency` LowCardinality(String),
    `calls` UInt64 CODEC(T64, ZSTD(1)),
    `error_calls` UInt64 CODEC(T64, ZSTD(1)),
    `input_tokens` UInt64 CODEC(T64, ZSTD(1)),
    `output_tokens` UInt64 CODEC(T64, ZSTD(1)),
    `cache_read_tokens` UInt64 CODEC(T64, ZSTD(1)),
    `cache_write_tokens` UInt64 CODEC(T64, ZSTD(1)),
    `reasoning_tokens` UInt64 CODEC(T64, ZSTD(1)),
    `input_cost` Decimal(38, 12) CODEC(ZSTD(1)),
    `cache_read_cost` Decimal(38, 12) CODEC(ZSTD(1)),
    `cache_write_cost` Decimal(38, 12) CODEC(ZSTD(1)),
    `output_cost` Decimal(38, 12) CODEC(ZSTD(1)),
    `reasoning_cost` Decimal(38, 12) CODEC(ZSTD(1)),
    `other_cost` Decimal(38, 12) CODEC(ZSTD(1)),
    `total_cost` Decimal(38, 12) CODEC(ZSTD(1)),
    `duration_ns` UInt64 CODEC(T64, ZSTD(1))
)
ENGINE = SummingMergeTree
PARTITION BY toYear(`day`)
ORDER BY (`team`, `project`, `business_unit`, `cost_center`, `agent_id`, `root_agent_id`, `day`, `provider`, `pricing_model`, `operation`, `environment`, `cost_status`, `currency`)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'agentcost: daily calls, tokens and cost by team, project, business unit, agent, provider, model, operation';

CREATE MATERIALIZED VIEW IF NOT EXISTS `agentcost`.`cost_daily_mv`
TO `agentcost`.`cost_daily`
AS SELECT
    toDate(`hour`) AS `day`,
    `team`,
    `project`,
    `business_unit`,
    `cost_center`,
    `agent_id`,
    `root_agent_id`,
    `provider`,
    `pricing_model`,
    `operation`,
    `environment`,
    `cost_status`,
    `currency`,
    sum(`calls`) AS `calls`,
    sum(`error_calls`) AS `error_calls`,
    sum(`input_tokens`) AS `input_tokens`,
    sum(`output_tokens`) AS `output_tokens`,
    sum(`cache_read_tokens`) AS `cache_read_tokens`,
    sum(`cache_write_tokens`) AS `cache_write_tokens`,
    sum(`reasoning_tokens`) AS `reasoning_tokens`,
    sum(`input_cost`) AS `input_cost`,
    sum(`cache_read_cost`) AS `cache_read_cost`,
    sum(`cache_write_cost`) AS `cache_write_cost`,
    sum(`output_cost`) AS `output_cost`,
    sum(`reasoning_cost`) AS `reasoning_cost`,
    sum(`other_cost`) AS `other_cost`,
    sum(`total_cost`) AS `total_cost`,
    sum(`duration_ns`) AS `duration_ns`
FROM `agentcost`.`cost_hourly`
GROUP BY `team`, `project`, `business_unit`, `cost_center`, `agent_id`, `root_agent_id`, `day`, `provider`, `pricing_model`, `operation`, `environment`, `cost_status`, `currency`;

-- ===== migration focus_v1 =====
-- Migration 0003: focus_v1, the cost rows as FinOps FOCUS 1.2 cost and usage
-- rows. One FOCUS row per hour (charge period), agent, model, price and
-- identity: the grain a FinOps tool imports. See the exporter README for the
-- column mapping.
CREATE VIEW IF NOT EXISTS `agentcost`.`focus_v1`
AS SELECT
    sum(`total_cost`) AS `BilledCost`,
    sum(`total_cost`) AS `EffectiveCost`,
    sum(`total_cost`) AS `ListCost`,
    sum(`total_cost`) AS `ContractedCost`,
    any(`currency`) AS `BillingCurrency`,
    `business_unit` AS `BillingAccountId`,
    `business_unit` AS `BillingAccountName`,
    'Business Unit' AS `BillingAccountType`,
    `project` AS `SubAccountId`,
    `project` AS `SubAccountName`,
    'Project' AS `SubAccountType`,
    toDateTime(toStartOfMonth(`event_time`), 'UTC') AS `BillingPeriodStart`,
    toDateTime(toStartOfMonth(`event_time`) + toIntervalMonth(1), 'UTC') AS `BillingPeriodEnd`,
    toDateTime(toStartOfHour(`event_time`), 'UTC') AS `ChargePeriodStart`,
    toDateTime(toStartOfHour(`event_time`), 'UTC') + toIntervalHour(1) AS `ChargePeriodEnd`,
    'Usage' AS `ChargeCategory`,
    CAST(NULL AS Nullable(String)) AS `ChargeClass`,
    concat(`operation`, ' on ', `pricing_model`, ' (', `provider`, ')') AS `ChargeDescription`,
    'Usage-Based' AS `ChargeFrequency`,
    `provider` AS `ProviderName`,
    `provider` AS `PublisherName`,
    `provider` AS `InvoiceIssuerName`,
    CAST(NULL AS Nullable(String)) AS `InvoiceId`,
    `provider` AS `ServiceName`,
    'AI and Machine Learning' AS `ServiceCategory`,
    'Generative AI' AS `ServiceSubcategory`,
    `agent_id` AS `ResourceId`,
    any(`agent_name`) AS `ResourceName`,
    'AI Agent' AS `ResourceType`,
    `pricing_model` AS `SkuId`,
    `price_id` AS `SkuPriceId`,
    'USD' AS `PricingCurrency`,
    sum(`input_tokens` + `output_tokens`) AS `ConsumedQuantity`,
    'Tokens' AS `ConsumedUnit`,
    sum(`input_tokens` + `output_tokens`) AS `PricingQuantity`,
    'Tokens' AS `PricingUnit`,
    map(
        'x_agent_id', `agent_id`,
        'x_agent_name', any(`agent_name`),
        'x_root_agent_id', `root_agent_id`,
        'x_team', `team`,
        'x_project', `project`,
        'x_business_unit', `business_unit`,
        'x_cost_center', `cost_center`,
        'x_environment', `environment`,
        'x_operation', `operation`,
        'x_cost_status', `cost_status`
    ) AS `Tags`,
    count() AS `x_Calls`,
    sum(`input_tokens`) AS `x_InputTokens`,
    sum(`output_tokens`) AS `x_OutputTokens`,
    sum(`cache_read_tokens`) AS `x_CacheReadTokens`,
    `cost_status` AS `x_CostStatus`
FROM `agentcost`.`cost_events`
GROUP BY
    toStartOfMonth(`event_time`), toStartOfHour(`event_time`),
    `business_unit`, `project`, `team`, `cost_center`, `environment`,
    `agent_id`, `root_agent_id`, `provider`, `pricing_model`, `price_id`,
    `operation`, `cost_status`;

-- ===== migration cost_allocations =====
-- Migration 0004: cost_allocations, the allocated view of cost_events.
--
-- A parameterized view: SELECT ... FROM cost_allocations(from = '2026-11-01',
-- to = '2026-12-01', orchestrator = 'keep') returns, for every cost_events
-- row of the UTC days [from, to), the pieces its cost is allocated to (one
-- row per source row, rule and beneficiary agent). The rules, formulas and
-- remainder rule are in docs/allocation.md; package allocation is the
-- reference implementation, checked against this view.
--
-- Why a view over cost_events and not a table filled by a collector: rows of
-- one trace or conversation may arrive through different collectors, and
-- cache writes are allocated to reads that come later; a view reads every
-- row of the database whatever collector wrote it, at query time, so late
-- rows are never missed and nothing is counted twice. Each source row's
-- pieces are split in exact pico-USD integers (UInt256) by the largest
-- remainder method, so they add up to the row's total_cost to the last
-- digit, and every piece keeps its source row's day and share group:
-- allocated totals per share group and per day equal the direct totals.
-- Every input is a row of the window, except cache reads up to one hour
-- after it (the longest cache lifetime); so the same day's allocation does
-- not depend on the window it is read through.
CREATE VIEW IF NOT EXISTS `agentcost`.`cost_allocations`
AS WITH
`src` AS (
    SELECT
        *,
        row_number() OVER (
            PARTITION BY `trace_id`, `span_id`
            ORDER BY `event_time`, `agent_id`, `root_agent_id`, `team`, `project`, `business_unit`,
                `provider`, `model`, `share_group`, `total_pico`, `cw_pico`, `cache_read_tokens`,
                `long_ttl`, `beneficiaries`
        ) AS `dup`
    FROM
    (
        SELECT
            `event_time`,
            toDate(`event_time`) AS `day`,
            `trace_id`,
            `span_id`,
            `agent_id`,
            `root_agent_id`,
            `team`,
            `project`,
            `business_unit`,
            `provider`,
            if(`pricing_model` != '', `pricing_model`, `request_model`) AS `model`,
            multiIf(`conversation_id` != '', concat('c:', `conversation_id`), `trace_id` != '', concat('t:', `root_agent_id`, ':', `trace_id`), '') AS `share_group`,
            toUInt256(toDecimal256(`total_cost`, 12) * toDecimal256(1000000000000, 0)) AS `total_pico`,
            least(toUInt256(toDecimal256(`cache_write_cost`, 12) * toDecimal256(1000000000000, 0)), `total_pico`) AS `cw_pico`,
            `cache_read_tokens`,
            toUInt64OrZero(`extra`['agentcost.usage.cache_write_1h_tokens']) > 0 AS `long_ttl`,
            `extra`['agentcost.share.beneficiaries'] AS `beneficiaries`
        FROM `agentcost`.`cost_events`
        WHERE toDate(`event_time`) >= {from:Date} AND toDate(`event_time`) < {to:Date}
    )
),
`readers` AS (
    SELECT
        `event_time`,
        `agent_id`,
        `provider`,
        if(`pricing_model` != '', `pricing_model`, `request_model`) AS `model`,
        multiIf(`conversation_id` != '', concat('c:', `conversation_id`), `trace_id` != '', concat('t:', `root_agent_id`, ':', `trace_id`), '') AS `share_group`,
        `cache_read_tokens`
    FROM `agentcost`.`cost_events`
    WHERE toDate(`event_time`) >= {from:Date} AND toDate(`event_time`) <= {to:Date}
      AND `cache_read_tokens` > 0
),
`cache` AS (
    SELECT `trace_id`, `span_id`, `dup`, groupArray((`agent`, `weight`)) AS `readers`
    FROM
    (
        SELECT
            `w`.`trace_id` AS `trace_id`,
            `w`.`span_id` AS `span_id`,
            `w`.`dup` AS `dup`,
            `r`.`agent_id` AS `agent`,
            toUInt256(sum(`r`.`cache_read_tokens`)) AS `weight`
        FROM (SELECT * FROM `src` WHERE `beneficiaries` = '' AND `cw_pico` > 0 AND `share_group` != '') AS `w`
        INNER JOIN `readers` AS `r`
            ON `w`.`share_group` = `r`.`share_group` AND `w`.`provider` = `r`.`provider` AND `w`.`model` = `r`.`model`
        WHERE `r`.`event_time` > `w`.`event_time`
          AND `r`.`event_time` <= `w`.`event_time` + toIntervalSecond(if(`w`.`long_ttl`, 3600, 300))
        GROUP BY `w`.`trace_id`, `w`.`span_id`, `w`.`dup`, `r`.`agent_id`
    )
    GROUP BY `trace_id`, `span_id`, `dup`
),
`subagents` AS (
    SELECT `trace_id`, `day`, `root_agent_id`, groupArray((`sub_agent`, `sub_weight`)) AS `subs`
    FROM
    (
        SELECT
            `trace_id`,
            `day`,
            `root_agent_id`,
            `agent_id` AS `sub_agent`,
            if({orchestrator:String} = 'even', toUInt256(1), sum(`total_pico`)) AS `sub_weight`
        FROM `src`
        WHERE `trace_id` != '' AND `agent_id` != '' AND `root_agent_id` != '' AND `agent_id` != `root_agent_id`
        GROUP BY `trace_id`, `day`, `root_agent_id`, `agent_id`
    )
    GROUP BY `trace_id`, `day`, `root_agent_id`
    HAVING sum(`sub_weight`) > 0
),
`pieces` AS (
    SELECT
        `s`.`event_time` AS `event_time`,
        `s`.`day` AS `day`,
        `s`.`trace_id` AS `trace_id`,
        `s`.`span_id` AS `span_id`,
        `s`.`dup` AS `dup`,
        `s`.`agent_id` AS `agent_id`,
        `s`.`team` AS `team`,
        `s`.`project` AS `project`,
        `s`.`business_unit` AS `business_unit`,
        `s`.`provider` AS `provider`,
        `s`.`model` AS `model`,
        `s`.`share_group` AS `share_group`,
        arrayMap(x -> extractGroups(x, '^ *([^,= ]+) *(?:= *([1-9][0-9]{0,8}) *)?$'), splitByChar(',', `s`.`beneficiaries`)) AS `items`,
        length(`items`) <= 64
            AND arrayAll(g -> length(g) = 2, `items`)
            AND arrayUniq(arrayMap(g -> g[1], `items`)) = length(`items`) AS `valid`,
        toUInt256(`s`.`total_pico` - if(notEmpty(`c`.`readers`), `s`.`cw_pico`, toUInt256(0))) AS `rest_pico`,
        arrayJoin(multiIf(
            `s`.`beneficiaries` != '' AND `valid`,
                arrayMap(g -> ('shared_call', `s`.`total_pico`, g[1], toUInt256(if(g[2] = '', 1, toUInt64(g[2])))), `items`),
            `s`.`beneficiaries` != '',
                [('invalid_share', `s`.`total_pico`, `s`.`agent_id`, toUInt256(1))],
            arrayConcat(
                arrayMap(r -> ('cache_write', `s`.`cw_pico`, r.1, r.2), `c`.`readers`),
                if(notEmpty(`o`.`subs`),
                    arrayMap(x -> ('orchestrator', `rest_pico`, x.1, x.2), `o`.`subs`),
                    [('direct', `rest_pico`, `s`.`agent_id`, toUInt256(1))]))
        )) AS `piece`,
        `piece`.1 AS `rule`,
        `piece`.2 AS `amount`,
        `piece`.3 AS `agent`,
        `piece`.4 AS `weight`
    FROM `src` AS `s`
    LEFT JOIN `cache` AS `c`
        ON `s`.`trace_id` = `c`.`trace_id` AND `s`.`span_id` = `c`.`span_id` AND `s`.`dup` = `c`.`dup`
    LEFT JOIN `subagents` AS `o`
        ON if(`s`.`agent_id` != '' AND `s`.`agent_id` = `s`.`root_agent_id` AND `s`.`trace_id` != ''
                AND `s`.`beneficiaries` = '' AND {orchestrator:String} != 'keep', `s`.`trace_id`, '') = `o`.`trace_id`
            AND `s`.`day` = `o`.`day` AND `s`.`agent_id` = `o`.`root_agent_id`
),
`split` AS (
    SELECT
        *,
        sum(`base`) OVER `p` AS `given`,
        row_number() OVER (`p` ORDER BY `rem` DESC, `agent`) AS `rank`
    FROM
    (
        SELECT
            *,
            intDiv(`amount` * `weight`, `wsum`) AS `base`,
            (`amount` * `weight`) % `wsum` AS `rem`
        FROM
        (
            SELECT *, sum(`weight`) OVER (PARTITION BY `trace_id`, `span_id`, `dup`, `rule`) AS `wsum`
            FROM `pieces`
        )
        WHERE `wsum` > 0
    )
    WINDOW `p` AS (PARTITION BY `trace_id`, `span_id`, `dup`, `rule`)
),
`ids` AS (
    SELECT
        `agent_id`,
        argMax((`team`, `project`, `business_unit`), (`day`, `team`, `project`, `business_unit`)) AS `identity`
    FROM `agentcost`.`cost_daily`
    WHERE `day` < {to:Date} AND `agent_id` != ''
    GROUP BY `agent_id`
)
SELECT
    `p`.`event_time` AS `event_time`,
    `p`.`day` AS `day`,
    `p`.`trace_id` AS `trace_id`,
    `p`.`span_id` AS `span_id`,
    `p`.`share_group` AS `share_group`,
    `p`.`provider` AS `provider`,
    `p`.`model` AS `model`,
    `p`.`rule` AS `rule`,
    `p`.`agent_id` AS `payer_agent_id`,
    `p`.`team` AS `payer_team`,
    `p`.`project` AS `payer_project`,
    `p`.`business_unit` AS `payer_business_unit`,
    `p`.`agent` AS `agent_id`,
    if(`p`.`rule` IN ('direct', 'invalid_share'), `p`.`team`, `i`.`identity`.1) AS `team`,
    if(`p`.`rule` IN ('direct', 'invalid_share'), `p`.`project`, `i`.`identity`.2) AS `project`,
    if(`p`.`rule` IN ('direct', 'invalid_share'), `p`.`business_unit`, `i`.`identity`.3) AS `business_unit`,
    `p`.`weight` AS `weight`,
    toDecimal128(`amount_pico`, 0) * toDecimal128('0.000000000001', 12) AS `cost`
FROM
(
    SELECT *, `base` + if(`rank` <= `amount` - `given`, 1, 0) AS `amount_pico`
    FROM `split`
) AS `p`
LEFT JOIN `ids` AS `i` ON `i`.`agent_id` = `p`.`agent`
WHERE `p`.`amount_pico` > 0
  AND throwIf({orchestrator:String} NOT IN ('keep', 'proportional', 'even'),
      'orchestrator must be keep, proportional or even') = 0;

-- ===== migration allocation_rollups =====
-- Migration 0005: daily rollups of the allocated view, by team, project,
-- business unit and agent (parameterized views over cost_allocations; the
-- direct rollups are cost_hourly and cost_daily).
--
-- cost_allocated_daily(from, to, orchestrator): the allocated cost per day,
-- beneficiary team / project / business unit / agent and rule.
-- cost_direct_vs_allocated_daily(from, to, orchestrator): both views side by
-- side per day, team, project, business unit and agent: direct_cost is what
-- the agent's own calls cost (the payer side of every piece), allocated_cost
-- what is allocated to it; each day's sums of the two columns are equal.
CREATE VIEW IF NOT EXISTS `agentcost`.`cost_allocated_daily`
AS SELECT
    `day`,
    `team`,
    `project`,
    `business_unit`,
    `agent_id`,
    `rule`,
    count() AS `pieces`,
    sum(`cost`) AS `cost`
FROM `agentcost`.`cost_allocations`(from = {from:Date}, to = {to:Date}, orchestrator = {orchestrator:String})
GROUP BY `day`, `team`, `project`, `business_unit`, `agent_id`, `rule`;

CREATE VIEW IF NOT EXISTS `agentcost`.`cost_direct_vs_allocated_daily`
AS SELECT
    `day`,
    `side`.1 AS `team`,
    `side`.2 AS `project`,
    `side`.3 AS `business_unit`,
    `side`.4 AS `agent_id`,
    sum(`side`.5) AS `direct_cost`,
    sum(`side`.6) AS `allocated_cost`
FROM
(
    SELECT
        `day`,
        arrayJoin([
            (`payer_team`, `payer_project`, `payer_business_unit`, `payer_agent_id`, `cost`, toDecimal128(0, 12)),
            (`team`, `project`, `business_unit`, `agent_id`, toDecimal128(0, 12), `cost`)
        ]) AS `side`
    FROM `agentcost`.`cost_allocations`(from = {from:Date}, to = {to:Date}, orchestrator = {orchestrator:String})
)
GROUP BY `day`, `team`, `project`, `business_unit`, `agent_id`;

-- ===== migration cost_pico_hi =====
-- Migration 0006: costs of 2^64 pico-USD (about 18.4 million USD) and more.
--
-- Migration 0001 receives each cost as one UInt64 EPHEMERAL pico-USD column,
-- so a single call costing 18,446,744.073709551616 USD or more could not be
-- sent, although the Decimal(38, 12) columns hold up to 10^26 USD. This adds
-- a high-word EPHEMERAL column per cost (*_cost_pico_hi, UInt64, 0 when
-- absent) and derives each Decimal(38, 12) column from both words:
-- (hi * 2^64 + lo) * 10^-12, an exact integer computation in Decimal128.
-- Inserts that do not send the high words (older exporters) still get the
-- same values as before. Nothing stored changes: the pico columns are not
-- stored, and a new DEFAULT applies to inserted rows only.
-- The column list is spelled out (not taken from Go) so that this migration
-- never changes once released.
ALTER TABLE `agentcost`.`cost_events`
    ADD COLUMN IF NOT EXISTS `input_cost_pico_hi` UInt64 EPHEMERAL 0,
    ADD COLUMN IF NOT EXISTS `cache_read_cost_pico_hi` UInt64 EPHEMERAL 0,
    ADD COLUMN IF NOT EXISTS `cache_write_cost_pico_hi` UInt64 EPHEMERAL 0,
    ADD COLUMN IF NOT EXISTS `output_cost_pico_hi` UInt64 EPHEMERAL 0,
    ADD COLUMN IF NOT EXISTS `reasoning_cost_pico_hi` UInt64 EPHEMERAL 0,
    ADD COLUMN IF NOT EXISTS `other_cost_pico_hi` UInt64 EPHEMERAL 0,
    ADD COLUMN IF NOT EXISTS `total_cost_pico_hi` UInt64 EPHEMERAL 0,
    MODIFY COLUMN `input_cost` DEFAULT (toDecimal128(`input_cost_pico_hi`, 0) * toDecimal128('18446744073709551616', 0) + toDecimal128(`input_cost_pico`, 0)) * toDecimal128('0.000000000001', 12),
    MODIFY COLUMN `cache_read_cost` DEFAULT (toDecimal128(`cache_read_cost_pico_hi`, 0) * toDecimal128('18446744073709551616', 0) + toDecimal128(`cache_read_cost_pico`, 0)) * toDecimal128('0.000000000001', 12),
    MODIFY COLUMN `cache_write_cost` DEFAULT (toDecimal128(`cache_write_cost_pico_hi`, 0) * toDecimal128('18446744073709551616', 0) + toDecimal128(`cache_write_cost_pico`, 0)) * toDecimal128('0.000000000001', 12),
    MODIFY COLUMN `output_cost` DEFAULT (toDecimal128(`output_cost_pico_hi`, 0) * toDecimal128('18446744073709551616', 0) + toDecimal128(`output_cost_pico`, 0)) * toDecimal128('0.000000000001', 12),
    MODIFY COLUMN `reasoning_cost` DEFAULT (toDecimal128(`reasoning_cost_pico_hi`, 0) * toDecimal128('18446744073709551616', 0) + toDecimal128(`reasoning_cost_pico`, 0)) * toDecimal128('0.000000000001', 12),
    MODIFY COLUMN `other_cost` DEFAULT (toDecimal128(`other_cost_pico_hi`, 0) * toDecimal128('18446744073709551616', 0) + toDecimal128(`other_cost_pico`, 0)) * toDecimal128('0.000000000001', 12),
    MODIFY COLUMN `total_cost` DEFAULT (toDecimal128(`total_cost_pico_hi`, 0) * toDecimal128('18446744073709551616', 0) + toDecimal128(`total_cost_pico`, 0)) * toDecimal128('0.000000000001', 12);

-- ===== migration stored_spans =====
-- Migration 0007: the keys of the spans already stored, for the exporter's
-- lookup before each insert (skip_stored_spans).
--
-- Why: insert_deduplication_token recognises a batch sent again as it was.
-- A persistent sending queue with batching can replay requests after a crash
-- merged into a different batch, and a client can send a span twice in two
-- requests; those rows come in a batch never seen before. Before inserting,
-- the exporter asks this table which of the batch's (event_time, span_key)
-- are stored and leaves them out, so cost_events and the rollups count every
-- span once.
--
-- span_key is cityHash64(concat(trace_id, span_id)) of the hex ids; with the
-- exact event_time beside it two different spans would need the same
-- nanosecond and a 64-bit hash collision to be confused. A numeric key makes
-- the lookup about 2.5 times cheaper than the id strings (the set the server
-- builds from the batch, and the granules it reads) and the table a third
-- of the size.
--
-- ORDER BY (event_time, span_key): a batch's spans are close in time, so its
-- lookup reads the few granules around their event times. The keys of a
-- day's inserts form one partition, dropped whole 7 days after that day
-- (inserted_at, not event_time: a span from a past month stays known for a
-- week after it was written). The view copies every row inserted into
-- cost_events, with the inserts' deduplication, so the keys are exactly the
-- stored spans of the last 7 days. On a cluster each shard's view writes its
-- own local keys; the Distributed table is read only.
CREATE TABLE IF NOT EXISTS `agentcost`.`cost_event_keys`
(
    `event_time` DateTime64(9, 'UTC') CODEC(Delta(8), ZSTD(1)),
    `span_key` UInt64 CODEC(ZSTD(1)),
    `inserted_at` DateTime('UTC') DEFAULT now() CODEC(Delta, ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(`inserted_at`)
ORDER BY (`event_time`, `span_key`)
TTL `inserted_at` + INTERVAL 7 DAY
SETTINGS non_replicated_deduplication_window = 10000, ttl_only_drop_parts = 1
COMMENT 'agentcost: keys of the spans stored in cost_events in the last 7 days (read by the exporter to skip spans already stored)';

CREATE MATERIALIZED VIEW IF NOT EXISTS `agentcost`.`cost_event_keys_mv`
TO `agentcost`.`cost_event_keys`
AS SELECT
    `event_time`,
    cityHash64(concat(`trace_id`, `span_id`)) AS `span_key`
FROM `agentcost`.`cost_events`;

-- The spans stored before this migration whose event_time is in the last 7
-- days get their keys too, so that a queue replaying requests written by an
-- earlier version right after the upgrade is recognised. (Two collectors
-- migrating at once may both copy them: a key stored twice changes nothing.)
INSERT INTO `agentcost`.`cost_event_keys` (`event_time`, `span_key`)
SELECT `event_time`, cityHash64(concat(`trace_id`, `span_id`))
FROM `agentcost`.`cost_events`
WHERE `event_time` >= now64(9) - INTERVAL 7 DAY AND `trace_id` != '' AND `span_id` != '';

