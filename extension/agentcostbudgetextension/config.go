package agentcostbudgetextension

import (
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // IANA zones for budgets even where the host has no zoneinfo

	"github.com/ClickHouse/clickhouse-go/v2"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"

	"github.com/agentcost/agentcost/pricing"
)

// Actions taken when a budget reaches its limit.
const (
	ActionAlert    = "alert"
	ActionThrottle = "throttle"
	ActionSuspend  = "suspend"
)

// Actions as compiled (cheap to compare on the check path).
const (
	actAlert uint8 = iota
	actThrottle
	actSuspend
)

// Fail modes: what a check answers when a budget's spend cannot be known.
const (
	FailOpen   = "open"
	FailClosed = "closed"
)

// Calendar window periods.
const (
	PeriodDay   = "day"
	PeriodWeek  = "week"
	PeriodMonth = "month"
)

// Webhook payload formats.
const (
	FormatJSON  = "json"
	FormatSlack = "slack"
)

// scopeKeys are the identity dimensions a budget scope may select on, in the
// order of the ledger's columns.
var scopeKeys = []string{"agent_id", "root_agent_id", "team", "project", "business_unit", "cost_center", "provider", "model"}

var (
	budgetNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	identRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	prefixRE     = regexp.MustCompile(`^[A-Za-z0-9_]*$`)
	headerRE     = regexp.MustCompile(`^[A-Za-z0-9-]+$`)
)

// Config is the agentcost_budget extension's configuration.
type Config struct {
	// HTTP serves the decision API; an empty endpoint serves nothing.
	HTTP confighttp.ServerConfig `mapstructure:"http"`
	// ClickHouse is the shared cost ledger; an empty endpoint keeps spend local.
	ClickHouse ClickHouseConfig `mapstructure:"clickhouse"`
	// ReconcileInterval is how often spend is re-read from ClickHouse.
	ReconcileInterval time.Duration `mapstructure:"reconcile_interval"`
	// ReconcileLag is how far behind now the ledger is trusted: charges newer
	// than now-lag are counted locally, older ones from ClickHouse.
	ReconcileLag time.Duration `mapstructure:"reconcile_lag"`
	// StaleAfter: spend is unknown (fail_mode applies) when no reconcile
	// succeeded for this long.
	StaleAfter time.Duration `mapstructure:"stale_after"`
	// EvaluationInterval is how often alert thresholds are evaluated.
	EvaluationInterval time.Duration `mapstructure:"evaluation_interval"`
	// ReplicaID names this collector in persisted alerts (default: host name).
	ReplicaID string `mapstructure:"replica_id"`
	// Budgets are the budgets defined inline.
	Budgets []BudgetConfig `mapstructure:"budgets"`
	// BudgetsFile is an optional YAML file with a top-level `budgets:` list,
	// re-read when it changes.
	BudgetsFile string `mapstructure:"budgets_file"`
	// BudgetsFileCheckInterval is how often BudgetsFile is checked for changes.
	BudgetsFileCheckInterval time.Duration `mapstructure:"budgets_file_check_interval"`
	// Notifiers deliver alerts.
	Notifiers NotifiersConfig `mapstructure:"notifiers"`
	_         struct{}
}

// ClickHouseConfig locates the cost ledger written by agentcost_clickhouse.
type ClickHouseConfig struct {
	// Endpoint is a clickhouse-go DSN, e.g. clickhouse://127.0.0.1:9000.
	Endpoint string              `mapstructure:"endpoint"`
	Username string              `mapstructure:"username"`
	Password configopaque.String `mapstructure:"password"`
	// Database holds the ledger tables (default agentcost).
	Database string `mapstructure:"database"`
	// TablePrefix is prepended to cost_events and budget_alerts.
	TablePrefix string `mapstructure:"table_prefix"`
	// Timeout bounds each query.
	Timeout time.Duration `mapstructure:"timeout"`
	// CreateAlertsTable creates {table_prefix}budget_alerts when missing.
	CreateAlertsTable bool `mapstructure:"create_alerts_table"`
	// UseHourlyRollup reads whole hours from {table_prefix}cost_hourly and
	// only partial hours from cost_events.
	UseHourlyRollup bool `mapstructure:"use_hourly_rollup"`
}

// Enabled reports whether a ledger is configured.
func (c ClickHouseConfig) Enabled() bool { return c.Endpoint != "" }

// BudgetConfig is one budget.
type BudgetConfig struct {
	Name string `mapstructure:"name"`
	// Scope selects charges by identity: keys from scopeKeys, values exact or
	// globs (* and ?); all keys must match (AND). Empty: all spend.
	Scope map[string]string `mapstructure:"scope"`
	// Limit in USD, a decimal string (at most 12 fractional digits).
	Limit  string       `mapstructure:"limit"`
	Window WindowConfig `mapstructure:"window"`
	// AlertThresholds are fractions of the limit, each alerting once per window.
	AlertThresholds []float64 `mapstructure:"alert_thresholds"`
	// ProjectedAlert fires once per calendar window when the spend rate so
	// far would exhaust the limit before the window ends.
	ProjectedAlert bool `mapstructure:"projected_alert"`
	// ProjectedAlertMinElapsed is the fraction of the window that must have
	// elapsed before projecting.
	ProjectedAlertMinElapsed float64 `mapstructure:"projected_alert_min_elapsed"`
	// Action at the limit: alert, throttle or suspend.
	Action string `mapstructure:"action"`
	// FailMode when spend cannot be known: open (allow) or closed (deny).
	FailMode string `mapstructure:"fail_mode"`
	// ThrottleDelay is the delay suggested by a throttle decision.
	ThrottleDelay time.Duration `mapstructure:"throttle_delay"`
}

// WindowConfig is a calendar period in a time zone, or a rolling duration.
type WindowConfig struct {
	// Calendar is day, week or month.
	Calendar string `mapstructure:"calendar"`
	// TimeZone is an IANA zone name for calendar windows (default UTC).
	TimeZone string `mapstructure:"time_zone"`
	// WeekStart is the first day of calendar weeks (default monday).
	WeekStart string `mapstructure:"week_start"`
	// Rolling is the length of a rolling window (instead of Calendar).
	Rolling time.Duration `mapstructure:"rolling"`
}

// NotifiersConfig lists where alerts go.
type NotifiersConfig struct {
	// Log writes every alert as a structured log line.
	Log bool `mapstructure:"log"`
	// Webhooks receive every alert as an HTTP POST.
	Webhooks []WebhookConfig `mapstructure:"webhooks"`
	// QueueSize bounds alerts waiting for delivery per webhook.
	QueueSize int `mapstructure:"queue_size"`
}

// WebhookConfig is a webhook notifier.
type WebhookConfig struct {
	// Name identifies the webhook in logs and metrics.
	Name string `mapstructure:"name"`
	// Format is json (the Alert document) or slack (Slack-compatible text).
	Format string `mapstructure:"format"`
	// ClientConfig holds endpoint, timeout, headers, TLS, auth.
	confighttp.ClientConfig `mapstructure:",squash"`
	// Secret, when set, signs the body with HMAC-SHA256.
	Secret configopaque.String `mapstructure:"secret"`
	// SignatureHeader carries "sha256=<hex>" of the body.
	SignatureHeader string `mapstructure:"signature_header"`
	// MaxRetries after the first attempt on network errors, HTTP 429 and 5xx.
	MaxRetries int `mapstructure:"max_retries"`
	// InitialInterval is the first backoff; it doubles up to MaxInterval.
	InitialInterval time.Duration `mapstructure:"initial_interval"`
	MaxInterval     time.Duration `mapstructure:"max_interval"`
}

// Budget defaults.
const (
	defaultAction             = ActionAlert
	defaultFailMode           = FailOpen
	defaultThrottleDelay      = time.Second
	defaultTimeZone           = "UTC"
	defaultWeekStart          = "monday"
	defaultProjectedMinElapse = 0.1
)

var defaultThresholds = []float64{0.5, 0.8, 1.0}

func newDefaultBudget() BudgetConfig {
	return BudgetConfig{
		AlertThresholds:          append([]float64(nil), defaultThresholds...),
		ProjectedAlert:           true,
		ProjectedAlertMinElapsed: defaultProjectedMinElapse,
		Action:                   defaultAction,
		FailMode:                 defaultFailMode,
		ThrottleDelay:            defaultThrottleDelay,
		Window:                   WindowConfig{TimeZone: defaultTimeZone, WeekStart: defaultWeekStart},
	}
}

// Unmarshal applies the per-budget defaults before decoding, so list items
// get them too.
func (b *BudgetConfig) Unmarshal(conf *confmap.Conf) error {
	*b = newDefaultBudget()
	type plain BudgetConfig
	if conf.IsSet("alert_thresholds") {
		b.AlertThresholds = nil
	}
	return conf.Unmarshal((*plain)(b))
}

func newDefaultWebhook() WebhookConfig {
	cc := confighttp.NewDefaultClientConfig()
	cc.Timeout = 10 * time.Second
	return WebhookConfig{
		Format:          FormatJSON,
		ClientConfig:    cc,
		SignatureHeader: "X-Agentcost-Signature",
		MaxRetries:      5,
		InitialInterval: 500 * time.Millisecond,
		MaxInterval:     30 * time.Second,
	}
}

// Unmarshal applies the webhook defaults before decoding.
func (w *WebhookConfig) Unmarshal(conf *confmap.Conf) error {
	*w = newDefaultWebhook()
	type plain WebhookConfig
	return conf.Unmarshal((*plain)(w))
}

var (
	_ confmap.Unmarshaler = (*BudgetConfig)(nil)
	_ confmap.Unmarshaler = (*WebhookConfig)(nil)
	_ confmap.Validator   = (*Config)(nil)
)

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.ReconcileInterval <= 0 {
		errs = append(errs, fmt.Errorf("reconcile_interval must be positive, got %s", c.ReconcileInterval))
	}
	if c.ReconcileLag < 0 {
		errs = append(errs, fmt.Errorf("reconcile_lag must not be negative, got %s", c.ReconcileLag))
	}
	if c.StaleAfter <= c.ReconcileInterval {
		errs = append(errs, fmt.Errorf("stale_after (%s) must be greater than reconcile_interval (%s)", c.StaleAfter, c.ReconcileInterval))
	}
	if c.EvaluationInterval <= 0 {
		errs = append(errs, fmt.Errorf("evaluation_interval must be positive, got %s", c.EvaluationInterval))
	}
	if c.BudgetsFile != "" && c.BudgetsFileCheckInterval <= 0 {
		errs = append(errs, fmt.Errorf("budgets_file_check_interval must be positive, got %s", c.BudgetsFileCheckInterval))
	}
	if c.ClickHouse.Enabled() {
		if _, err := clickhouse.ParseDSN(c.ClickHouse.Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("clickhouse.endpoint %q: %w", redactDSN(c.ClickHouse.Endpoint), stripURL(err)))
		}
		if !identRE.MatchString(c.ClickHouse.Database) {
			errs = append(errs, fmt.Errorf("clickhouse.database %q must match %s", c.ClickHouse.Database, identRE))
		}
		if !prefixRE.MatchString(c.ClickHouse.TablePrefix) {
			errs = append(errs, fmt.Errorf("clickhouse.table_prefix %q must match %s", c.ClickHouse.TablePrefix, prefixRE))
		}
		if c.ClickHouse.Timeout <= 0 {
			errs = append(errs, fmt.Errorf("clickhouse.timeout must be positive, got %s", c.ClickHouse.Timeout))
		}
	}
	if _, err := compileBudgets(c.Budgets); err != nil {
		errs = append(errs, err)
	}
	if c.Notifiers.QueueSize <= 0 {
		errs = append(errs, fmt.Errorf("notifiers.queue_size must be positive, got %d", c.Notifiers.QueueSize))
	}
	names := map[string]bool{}
	for i, w := range c.Notifiers.Webhooks {
		errs = append(errs, w.validate(i, names))
	}
	return errors.Join(errs...)
}

func (w *WebhookConfig) validate(i int, names map[string]bool) error {
	var errs []error
	key := fmt.Sprintf("notifiers.webhooks[%d]", i)
	if w.Name == "" {
		errs = append(errs, fmt.Errorf("%s.name is required", key))
	} else if names[w.Name] {
		errs = append(errs, fmt.Errorf("%s.name %q is used twice", key, w.Name))
	}
	names[w.Name] = true
	if u, err := url.Parse(w.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("%s.endpoint %q must be an http(s) URL", key, redactWebhookURL(w.Endpoint)))
	}
	if w.Format != FormatJSON && w.Format != FormatSlack {
		errs = append(errs, fmt.Errorf("%s.format %q is not one of %q, %q", key, w.Format, FormatJSON, FormatSlack))
	}
	if !headerRE.MatchString(w.SignatureHeader) {
		errs = append(errs, fmt.Errorf("%s.signature_header %q is not a valid header name", key, w.SignatureHeader))
	}
	if w.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("%s.max_retries must not be negative, got %d", key, w.MaxRetries))
	}
	if w.InitialInterval <= 0 || w.MaxInterval < w.InitialInterval {
		errs = append(errs, fmt.Errorf("%s: need 0 < initial_interval (%s) <= max_interval (%s)", key, w.InitialInterval, w.MaxInterval))
	}
	return errors.Join(errs...)
}

// budgetDef is a validated, compiled budget; immutable.
type budgetDef struct {
	cfg        BudgetConfig
	name       string
	scope      scope
	limit      pricing.Money
	thresholds []float64
	thMoney    []pricing.Money // limit x threshold, exact (floor to pico)
	thLabels   []string
	window     windowSpec
	action     string
	act        uint8 // action as actAlert, actThrottle, actSuspend
	failClosed bool
	throttle   time.Duration
	projected  bool
	projMin    float64
}

// key identifies what the budget's accrued state depends on: a reload that
// keeps it keeps the spend.
func (d *budgetDef) key() string {
	return d.name + "\x00" + d.scope.String() + "\x00" + d.window.String()
}

func compileBudgets(list []BudgetConfig) ([]*budgetDef, error) {
	var errs []error
	seen := map[string]bool{}
	defs := make([]*budgetDef, 0, len(list))
	for i := range list {
		d, err := compileBudget(&list[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("budgets[%d]: %w", i, err))
			continue
		}
		if seen[d.name] {
			errs = append(errs, fmt.Errorf("budgets[%d]: name %q is used twice", i, d.name))
			continue
		}
		seen[d.name] = true
		defs = append(defs, d)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return defs, nil
}

func compileBudget(b *BudgetConfig) (*budgetDef, error) {
	var errs []error
	if !budgetNameRE.MatchString(b.Name) {
		errs = append(errs, fmt.Errorf("name %q must match %s", b.Name, budgetNameRE))
	}
	d := &budgetDef{cfg: *b, name: b.Name, action: b.Action, throttle: b.ThrottleDelay,
		projected: b.ProjectedAlert, projMin: b.ProjectedAlertMinElapsed}
	sc, err := compileScope(b.Scope)
	if err != nil {
		errs = append(errs, err)
	}
	d.scope = sc
	lim, err := pricing.ParseMoney(b.Limit)
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("limit: %w (want a decimal USD string such as \"250.00\")", err))
	case lim.IsZero():
		errs = append(errs, fmt.Errorf("limit %q must be greater than zero", b.Limit))
	}
	d.limit = lim
	w, err := compileWindow(b.Window)
	if err != nil {
		errs = append(errs, err)
	}
	d.window = w
	th := append([]float64(nil), b.AlertThresholds...)
	sort.Float64s(th)
	if len(th) > 64 {
		errs = append(errs, fmt.Errorf("alert_thresholds: at most 64, got %d", len(th)))
	}
	for i, t := range th {
		if !(t > 0 && t <= 10) {
			errs = append(errs, fmt.Errorf("alert_thresholds: %v is not in (0, 10]", t))
			continue
		}
		if i > 0 && th[i-1] == t {
			errs = append(errs, fmt.Errorf("alert_thresholds: %v is listed twice", t))
			continue
		}
		label := strconv.FormatFloat(t, 'f', -1, 64)
		d.thresholds = append(d.thresholds, t)
		d.thLabels = append(d.thLabels, label)
		d.thMoney = append(d.thMoney, mulFraction(lim, label))
	}
	switch b.Action {
	case ActionAlert:
		d.act = actAlert
	case ActionThrottle:
		d.act = actThrottle
	case ActionSuspend:
		d.act = actSuspend
	default:
		errs = append(errs, fmt.Errorf("action %q is not one of %q, %q, %q", b.Action, ActionAlert, ActionThrottle, ActionSuspend))
	}
	switch b.FailMode {
	case FailOpen:
	case FailClosed:
		d.failClosed = true
	default:
		errs = append(errs, fmt.Errorf("fail_mode %q is not one of %q, %q", b.FailMode, FailOpen, FailClosed))
	}
	if b.ThrottleDelay < 0 {
		errs = append(errs, fmt.Errorf("throttle_delay must not be negative, got %s", b.ThrottleDelay))
	}
	if b.ProjectedAlert && !(b.ProjectedAlertMinElapsed > 0 && b.ProjectedAlertMinElapsed < 1) {
		errs = append(errs, fmt.Errorf("projected_alert_min_elapsed %v is not in (0, 1)", b.ProjectedAlertMinElapsed))
	}
	if err := errors.Join(errs...); err != nil {
		if b.Name != "" {
			return nil, fmt.Errorf("budget %q: %w", b.Name, err)
		}
		return nil, err
	}
	return d, nil
}

// mulFraction returns m x frac (a decimal string) rounded down to a pico-dollar.
func mulFraction(m pricing.Money, frac string) pricing.Money {
	r, ok := new(big.Rat).SetString(frac)
	if !ok {
		return m
	}
	r.Mul(r, new(big.Rat).SetInt(m.BigInt()))
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if q.BitLen() > 128 {
		return pricing.MoneyFromPico128(^uint64(0), ^uint64(0))
	}
	lo := new(big.Int).And(q, new(big.Int).SetUint64(^uint64(0))).Uint64()
	hi := new(big.Int).Rsh(q, 64).Uint64()
	return pricing.MoneyFromPico128(hi, lo)
}

func compileWindow(w WindowConfig) (windowSpec, error) {
	var spec windowSpec
	switch {
	case w.Calendar != "" && w.Rolling != 0:
		return spec, fmt.Errorf("window: set either calendar or rolling, not both")
	case w.Rolling < 0:
		return spec, fmt.Errorf("window.rolling must be positive, got %s", w.Rolling)
	case w.Rolling > 0:
		if w.Rolling < time.Second {
			return spec, fmt.Errorf("window.rolling must be at least 1s, got %s", w.Rolling)
		}
		spec.rolling = w.Rolling
		return spec, nil
	}
	switch w.Calendar {
	case PeriodDay, PeriodWeek, PeriodMonth:
		spec.period = w.Calendar
	case "":
		return spec, fmt.Errorf("window: set calendar (%q, %q, %q) or rolling (a duration)", PeriodDay, PeriodWeek, PeriodMonth)
	default:
		return spec, fmt.Errorf("window.calendar %q is not one of %q, %q, %q", w.Calendar, PeriodDay, PeriodWeek, PeriodMonth)
	}
	tz := w.TimeZone
	if tz == "" {
		tz = defaultTimeZone
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return spec, fmt.Errorf("window.time_zone %q: not an IANA time zone: %w", tz, err)
	}
	spec.loc = loc
	ws := w.WeekStart
	if ws == "" {
		ws = defaultWeekStart
	}
	day, ok := weekdays[strings.ToLower(ws)]
	if !ok {
		return spec, fmt.Errorf("window.week_start %q is not a day name (monday..sunday)", ws)
	}
	spec.weekStart = day
	return spec, nil
}

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}
