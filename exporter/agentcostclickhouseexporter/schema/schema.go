// Package schema renders and applies the agentcost ClickHouse schema: the
// cost_events table, the hourly and daily rollups kept by materialized views
// and the FOCUS 1.2 view focus_v1.
//
// The schema is a list of versioned migrations embedded in the binary
// (migrations/NNNN_name.sql.tmpl). Each is a text/template rendered with
// validated, back-quoted identifiers only; values never appear in DDL.
// Applied versions are recorded in the {prefix}schema_migrations table, so a
// migration runs once per database; old migrations are never edited, a schema
// change is a new file.
package schema

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// Table names without the prefix. Readers (the budget extension, analysts)
// use these through Options.Table.
const (
	EventsTable = "cost_events"
	HourlyTable = "cost_hourly"
	DailyTable  = "cost_daily"
	FocusView   = "focus_v1"
	// KeysTable holds the keys of the spans stored in the last 7 days
	// (migration 0007), read before each insert to skip spans already stored.
	KeysTable       = "cost_event_keys"
	MigrationsTable = "schema_migrations"
)

// DefaultDatabase is the database used when none is configured.
const DefaultDatabase = "agentcost"

// Dimensions are the rollup key columns besides the time column, named as in
// cost_events.
var Dimensions = []string{
	"team", "project", "business_unit", "cost_center",
	"agent_id", "root_agent_id", "provider", "pricing_model",
	"operation", "environment", "cost_status", "currency",
}

// TokenColumns are the UInt64 usage columns, in cost_events and the rollups.
var TokenColumns = []string{
	"input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
}

// CostColumns are the Decimal(38, 12) USD columns, in cost_events and the rollups.
var CostColumns = []string{
	"input_cost", "cache_read_cost", "cache_write_cost", "output_cost",
	"reasoning_cost", "other_cost", "total_cost",
}

// Options select how the schema is rendered.
type Options struct {
	// Database holds every table; DefaultDatabase when empty.
	Database string
	// TablePrefix is prepended to every table and view name.
	TablePrefix string
	// Cluster, when set, makes every table a *_local table on each node with
	// a Distributed table of the plain name over it.
	Cluster string
	// Replicated selects Replicated* engines for the local tables (needs
	// ClickHouse Keeper). Meaningful with Cluster.
	Replicated bool
	// OnCluster renders ON CLUSTER on every statement so that one node's DDL
	// reaches all nodes (needs the distributed DDL queue, hence Keeper).
	// Without it the statements must be run on every node.
	OnCluster bool
	// TTL, when positive, expires cost_events rows that long after event_time.
	// Rollups keep their rows.
	TTL time.Duration
}

var (
	identRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	prefixRE = regexp.MustCompile(`^[A-Za-z0-9_]*$`)
)

// ValidateIdentifier reports whether s can name a ClickHouse database,
// table or cluster: a letter or underscore, then letters, digits and
// underscores, at most 128 characters.
func ValidateIdentifier(s string) error {
	if len(s) > 128 || !identRE.MatchString(s) {
		return fmt.Errorf("%q is not a valid identifier (want [A-Za-z_][A-Za-z0-9_]*, at most 128 characters)", s)
	}
	return nil
}

// Validate checks every identifier of o.
func (o Options) Validate() error {
	if err := ValidateIdentifier(o.database()); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	if len(o.TablePrefix) > 64 || !prefixRE.MatchString(o.TablePrefix) {
		return fmt.Errorf("table_prefix: %q is not valid (want [A-Za-z0-9_]*, at most 64 characters)", o.TablePrefix)
	}
	if o.Cluster != "" {
		if err := ValidateIdentifier(o.Cluster); err != nil {
			return fmt.Errorf("cluster_name: %w", err)
		}
	}
	if o.TTL < 0 {
		return fmt.Errorf("ttl: %s is negative", o.TTL)
	}
	return nil
}

func (o Options) database() string {
	if o.Database == "" {
		return DefaultDatabase
	}
	return o.Database
}

// Quote back-quotes an identifier that ValidateIdentifier accepted.
func Quote(ident string) string { return "`" + ident + "`" }

// Table returns the quoted, database-qualified name that readers and writers
// use for table (EventsTable, HourlyTable, ...): the Distributed table in
// cluster mode.
func (o Options) Table(table string) string {
	return Quote(o.database()) + "." + Quote(o.TablePrefix+table)
}

// LocalTable returns the quoted name of the per-node table behind Table in
// cluster mode, and Table otherwise.
func (o Options) LocalTable(table string) string {
	if o.Cluster == "" {
		return o.Table(table)
	}
	return Quote(o.database()) + "." + Quote(o.TablePrefix+table+"_local")
}

func (o Options) onCluster() string {
	if o.Cluster == "" || !o.OnCluster {
		return ""
	}
	return " ON CLUSTER " + Quote(o.Cluster)
}

func (o Options) engine(kind, table string) string {
	if o.Cluster == "" || !o.Replicated {
		return kind
	}
	// {shard} and {replica} are server macros; {database} and {table}
	// expand to the local table's names.
	return "Replicated" + kind + "('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')"
}

func (o Options) distributed(table, shardKey string) string {
	return fmt.Sprintf("Distributed(%s, %s, %s, %s)",
		literal(o.Cluster), literal(o.database()), literal(o.TablePrefix+table+"_local"), shardKey)
}

// literal renders a validated identifier as a string literal.
func literal(s string) string { return "'" + s + "'" }

func (o Options) ttl(column string) string {
	if o.TTL <= 0 {
		return ""
	}
	secs := int64(o.TTL / time.Second)
	if secs < 1 {
		secs = 1
	}
	interval := "toIntervalSecond(" + strconv.FormatInt(secs, 10) + ")"
	if secs%86400 == 0 {
		interval = "toIntervalDay(" + strconv.FormatInt(secs/86400, 10) + ")"
	}
	return "\nTTL toDateTime(" + Quote(column) + ") + " + interval
}

// rollup describes one rollup table for the 0002 template.
type rollup struct {
	Table, TimeColumn, TimeType, TimeExpr, Partition, Comment string
	// Source is the table whose inserts feed the view; FromHourly when it
	// is the hourly rollup (calls are summed, not counted).
	Source     string
	FromHourly bool
}

var rollups = []rollup{
	{
		Table: HourlyTable, TimeColumn: "hour", TimeType: "DateTime('UTC')",
		TimeExpr: "toStartOfHour(`event_time`)", Partition: "toYYYYMM(`hour`)", Source: EventsTable,
		Comment: "hourly calls, tokens and cost by team, project, business unit, agent, provider, model, operation",
	},
	{
		Table: DailyTable, TimeColumn: "day", TimeType: "Date",
		TimeExpr: "toDate(`hour`)", Partition: "toYear(`day`)", Source: HourlyTable, FromHourly: true,
		Comment: "daily calls, tokens and cost by team, project, business unit, agent, provider, model, operation",
	},
}

// keyColumns is the rollup ORDER BY: scopes first, then time, then the rest.
func keyColumns(timeColumn string) string {
	cols := make([]string, 0, len(Dimensions)+1)
	for _, d := range Dimensions[:6] { // team ... root_agent_id
		cols = append(cols, Quote(d))
	}
	cols = append(cols, Quote(timeColumn))
	for _, d := range Dimensions[6:] {
		cols = append(cols, Quote(d))
	}
	return strings.Join(cols, ", ")
}

func picoToUSD(col string) string {
	return "toDecimal128(" + Quote(col) + ", 0) * toDecimal128('0.000000000001', 12)"
}

// pico128ToUSD is the USD value of a pico-USD amount sent as two UInt64
// words (migration 0006): (hi * 2^64 + lo) * 10^-12, exact in Decimal128
// for every amount a Decimal(38, 12) column holds.
func pico128ToUSD(hi, lo string) string {
	return "(toDecimal128(" + Quote(hi) + ", 0) * toDecimal128('18446744073709551616', 0) + toDecimal128(" + Quote(lo) +
		", 0)) * toDecimal128('0.000000000001', 12)"
}

//go:embed migrations/*.sql.tmpl
var migrationFS embed.FS

// Migration is one rendered schema version.
type Migration struct {
	Version int
	Name    string
	// Checksum is the SHA-256 of the template source: it changes only when
	// someone edits an old migration, which must never happen.
	Checksum string
	// Statements are the rendered DDL statements, in order.
	Statements []string
}

// SQL returns the statements joined for display and golden files.
func (m Migration) SQL() string {
	return strings.Join(m.Statements, ";\n\n") + ";\n"
}

var fileRE = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql\.tmpl$`)

type source struct {
	version  int
	name     string
	text     string
	checksum string
}

func sources() ([]source, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var out []source
	for _, e := range entries {
		m := fileRE.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q: name must be NNNN_name.sql.tmpl", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		b, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out = append(out, source{version: v, name: m[2], text: string(b), checksum: hex.EncodeToString(sum[:])})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, s := range out {
		if s.version != i+1 {
			return nil, fmt.Errorf("migration %04d_%s: versions must run 1, 2, 3... without gaps", s.version, s.name)
		}
	}
	return out, nil
}

// Render renders every migration for o.
func Render(o Options) ([]Migration, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	srcs, err := sources()
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{
		"table":        o.Table,
		"local":        o.LocalTable,
		"onCluster":    o.onCluster,
		"engine":       o.engine,
		"distributed":  o.distributed,
		"ttl":          o.ttl,
		"cluster":      func() bool { return o.Cluster != "" },
		"pico":         picoToUSD,
		"pico128":      pico128ToUSD,
		"rollups":      func() []rollup { return rollups },
		"dimensions":   func() []string { return Dimensions },
		"tokenColumns": func() []string { return TokenColumns },
		"costColumns":  func() []string { return CostColumns },
		"keyColumns":   keyColumns,
	}
	out := make([]Migration, 0, len(srcs))
	for _, s := range srcs {
		tmpl, err := template.New(s.name).Option("missingkey=error").Funcs(funcs).Parse(s.text)
		if err != nil {
			return nil, fmt.Errorf("parse migration %04d_%s: %w", s.version, s.name, err)
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, nil); err != nil {
			return nil, fmt.Errorf("render migration %04d_%s: %w", s.version, s.name, err)
		}
		stmts := splitStatements(buf.String())
		if len(stmts) == 0 {
			return nil, fmt.Errorf("migration %04d_%s renders no statement", s.version, s.name)
		}
		out = append(out, Migration{Version: s.version, Name: s.name, Checksum: s.checksum, Statements: stmts})
	}
	return out, nil
}

// splitStatements splits rendered SQL on lines holding only ";". Leading
// comment-only statements are dropped.
func splitStatements(sql string) []string {
	var out []string
	var cur []string
	flush := func() {
		s := strings.TrimSpace(strings.Join(cur, "\n"))
		cur = cur[:0]
		if s == "" || onlyComments(s) {
			return
		}
		out = append(out, s)
	}
	for _, line := range strings.Split(sql, "\n") {
		if strings.TrimSpace(line) == ";" {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return out
}

func onlyComments(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if t != "" && !strings.HasPrefix(t, "--") {
			return false
		}
	}
	return true
}

// migrationsTableDDL creates the table recording applied versions.
func (o Options) migrationsTableDDL() []string {
	stmts := []string{"CREATE DATABASE IF NOT EXISTS " + Quote(o.database()) + o.onCluster()}
	engine := "ReplacingMergeTree"
	if o.Cluster != "" && o.Replicated {
		engine = "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')"
	}
	stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+o.Table(MigrationsTable)+o.onCluster()+`
(
    `+"`version`"+` UInt32,
    `+"`name`"+` String,
    `+"`checksum`"+` String,
    `+"`applied_at`"+` DateTime64(3, 'UTC')
)
ENGINE = `+engine+`
ORDER BY `+"`version`"+`
COMMENT 'agentcost: applied schema migrations'`)
	return stmts
}

// ErrChecksum reports that an applied migration differs from the embedded one.
var ErrChecksum = errors.New("applied migration differs from the embedded one")
