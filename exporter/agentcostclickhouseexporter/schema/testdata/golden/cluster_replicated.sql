-- golden: schema rendered for options cluster_replicated; regenerate with go test ./schema -run TestRenderGolden -update

CREATE DATABASE IF NOT EXISTS `agentcost` ON CLUSTER `prod`;

CREATE TABLE IF NOT EXISTS `agentcost`.`schema_migrations` ON CLUSTER `prod`
(
    `version` UInt32,
    `name` String,
    `checksum` String,
    `applied_at` DateTime64(3, 'UTC')
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
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
CREATE TABLE IF NOT EXISTS `agentcost`.`cost_events_local` ON CLUSTER `prod`
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(event_time)
ORDER BY (`team`, `agent_id`, `event_time`)
TTL toDateTime(`event_time`) + toIntervalSecond(5400)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'agentcost: one row per priced GenAI span (written by the agentcost_clickhouse exporter)';

CREATE TABLE IF NOT EXISTS `agentcost`.`cost_events` ON CLUSTER `prod`
AS `agentcost`.`cost_events_local`
ENGINE = Distributed('prod', 'agentcost', 'cost_events_local', cityHash64(`trace_id`));

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
CREATE TABLE IF NOT EXISTS `agentcost`.`cost_hourly_local` ON CLUSTER `prod`
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
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(`hour`)
ORDER BY (`team`, `project`, `business_unit`, `cost_center`, `agent_id`, `root_agent_id`, `hour`, `provider`, `pricing_model`, `operation`, `environment`, `cost_status`, `currency`)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'agentcost: hourly calls, tokens and cost by team, project, business unit, agent, provider, model, operation';

CREATE MATERIALIZED VIEW IF NOT EXISTS `agentcost`.`cost_hourly_mv_local` ON CLUSTER `prod`
TO `agentcost`.`cost_hourly_local`
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
FROM `agentcost`.`cost_events_local`
GROUP BY `team`, `project`, `business_unit`, `cost_center`, `agent_id`, `root_agent_id`, `hour`, `provider`, `pricing_model`, `operation`, `environment`, `cost_status`, `currency`;

CREATE TABLE IF NOT EXISTS `agentcost`.`cost_hourly` ON CLUSTER `prod`
AS `agentcost`.`cost_hourly_local`
ENGINE = Distributed('prod', 'agentcost', 'cost_hourly_local', rand());

CREATE TABLE IF NOT EXISTS `agentcost`.`cost_daily_local` ON CLUSTER `prod`
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
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYear(`day`)
ORDER BY (`team`, `project`, `business_unit`, `cost_center`, `agent_id`, `root_agent_id`, `day`, `provider`, `pricing_model`, `operation`, `environment`, `cost_status`, `currency`)
SETTINGS non_replicated_deduplication_window = 10000
COMMENT 'agentcost: daily calls, tokens and cost by team, project, business unit, agent, provider, model, operation';

CREATE MATERIALIZED VIEW IF NOT EXISTS `agentcost`.`cost_daily_mv_local` ON CLUSTER `prod`
TO `agentcost`.`cost_daily_local`
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
FROM `agentcost`.`cost_hourly_local`
GROUP BY `team`, `project`, `business_unit`, `cost_center`, `agent_id`, `root_agent_id`, `day`, `provider`, `pricing_model`, `operation`, `environment`, `cost_status`, `currency`;

CREATE TABLE IF NOT EXISTS `agentcost`.`cost_daily` ON CLUSTER `prod`
AS `agentcost`.`cost_daily_local`
ENGINE = Distributed('prod', 'agentcost', 'cost_daily_local', rand());

-- ===== migration focus_v1 =====
-- Migration 0003: focus_v1, the cost rows as FinOps FOCUS 1.2 cost and usage
-- rows. One FOCUS row per hour (charge period), agent, model, price and
-- identity: the grain a FinOps tool imports. See the exporter README for the
-- column mapping.
CREATE VIEW IF NOT EXISTS `agentcost`.`focus_v1` ON CLUSTER `prod`
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

