package agentcostbudgetextension

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/agentcost/agentcost/budgetclient"
	"github.com/agentcost/agentcost/extension/agentcostbudgetextension/internal/metadata"
)

// tokenAuth is a minimal server authenticator for the tests: it wants
// "Authorization: Bearer good".
type tokenAuth struct {
	component.StartFunc
	component.ShutdownFunc
}

func (tokenAuth) Authenticate(ctx context.Context, h map[string][]string) (context.Context, error) {
	for k, v := range h {
		if http.CanonicalHeaderKey(k) == "Authorization" && len(v) == 1 && v[0] == "Bearer good" {
			return ctx, nil
		}
	}
	return ctx, errors.New("missing or bad bearer token")
}

var _ extensionauth.Server = tokenAuth{}

type testHost struct {
	ext map[component.ID]component.Component
}

func (h testHost) GetExtensions() map[component.ID]component.Component { return h.ext }

var authID = component.MustNewID("tokenauth")

// startHTTPExt starts an extension with the API on a loopback port and
// returns it with the API's base URL.
func startHTTPExt(t testing.TB, clock *fakeClock, auth bool, budgets ...BudgetConfig) (*budgetExtension, string) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.HTTP.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Notifiers.Log = false
	cfg.Budgets = budgets
	if auth {
		cfg.HTTP.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: authID}})
	}
	require.NoError(t, cfg.Validate())
	e, err := newExtension(cfg, extensiontest.NewNopSettings(metadata.Type))
	require.NoError(t, err)
	if clock != nil {
		e.useClock(clock.Now)
	}
	host := testHost{ext: map[component.ID]component.Component{authID: tokenAuth{}}}
	require.NoError(t, e.Start(context.Background(), host))
	t.Cleanup(func() { require.NoError(t, e.Shutdown(context.Background())) })
	return e, "http://" + e.addr.String()
}

func TestHTTPAPI(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 23, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0}
	e, base := startHTTPExt(t, clock, false,
		budgetCfg("ml-day", "10", WindowConfig{Calendar: PeriodDay}, func(b *BudgetConfig) {
			b.Scope = map[string]string{"team": "ml"}
			b.Action = ActionSuspend
		}),
		budgetCfg("bots-hour", "1", WindowConfig{Rolling: time.Hour}, func(b *BudgetConfig) {
			b.Scope = map[string]string{"agent_id": "bot-*"}
			b.Action = ActionThrottle
			b.ThrottleDelay = 1500 * time.Millisecond
		}),
	)
	cl, err := budgetclient.New(base)
	require.NoError(t, err)
	ctx := context.Background()

	resp, err := cl.Check(ctx, budgetclient.Identity{Team: "ml", AgentID: "bot-7"})
	require.NoError(t, err)
	assert.Equal(t, budgetclient.Allow, resp.Decision)
	require.Len(t, resp.Budgets, 2)
	assert.Equal(t, "ml-day", resp.Budgets[0].Name)
	assert.Equal(t, "0.000000000000", resp.Budgets[0].Spend)
	assert.Equal(t, "10.000000000000", resp.Budgets[0].Limit)
	assert.Equal(t, time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), resp.Budgets[0].WindowEnd)
	assert.True(t, resp.Budgets[1].WindowEnd.IsZero(), "rolling windows have no end")

	// Throttle: the bots budget is at its limit.
	e.Accrue(charge(t0, "1", "web")) // agent-1: not a bot, not in bots-hour
	c := charge(t0, "1", "web")
	c.AgentID = "bot-7"
	e.Accrue(c)
	resp, err = cl.Check(ctx, budgetclient.Identity{AgentID: "bot-7"})
	require.NoError(t, err)
	assert.Equal(t, budgetclient.Throttle, resp.Decision)
	assert.Equal(t, int64(1500), resp.DelayMillis)

	// Deny: 429 with Retry-After until the end of the day.
	e.Accrue(charge(t0, "10", "ml"))
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/check?team=ml&agent_id=a", nil)
	raw, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var body budgetclient.CheckResponse
	require.NoError(t, json.NewDecoder(raw.Body).Decode(&body))
	raw.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, raw.StatusCode)
	assert.Equal(t, "3600", raw.Header.Get("Retry-After"))
	assert.Equal(t, budgetclient.Deny, body.Decision)
	assert.Equal(t, int64(3600), body.RetryAfterSeconds)
	assert.Equal(t, "suspended", body.Budgets[0].Reason)
	assert.True(t, body.Budgets[0].Suspended)

	// The client reports a deny as a decision, not an error.
	resp, err = cl.Check(ctx, budgetclient.Identity{Team: "ml"})
	require.NoError(t, err)
	assert.Equal(t, budgetclient.Deny, resp.Decision)

	list, err := cl.Budgets(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	assert.Equal(t, "calendar day UTC", list[0].Window)
	assert.Equal(t, "rolling 1h0m0s", list[1].Window)

	st, err := cl.Resume(ctx, "ml-day")
	require.NoError(t, err)
	assert.True(t, st.Resumed)
	assert.Equal(t, budgetclient.Allow, st.Decision)
	resp, err = cl.Check(ctx, budgetclient.Identity{Team: "ml"})
	require.NoError(t, err)
	assert.Equal(t, budgetclient.Allow, resp.Decision)

	_, err = cl.Resume(ctx, "nope")
	assert.True(t, budgetclient.IsNotFound(err), "%v", err)
	_, err = cl.Resume(ctx, "bots-hour")
	var apiErr *budgetclient.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusConflict, apiErr.StatusCode)
	assert.Contains(t, apiErr.Message, `has action "throttle"`)
}

func TestHTTPErrorsAreJSON(t *testing.T) {
	_, base := startHTTPExt(t, nil, true, budgetCfg("b", "1", WindowConfig{Calendar: PeriodDay}))
	for _, tt := range []struct {
		method, path, token string
		code                int
		msg                 string
	}{
		{http.MethodGet, "/v1/check?team=a", "", http.StatusUnauthorized, "missing or bad bearer token"},
		{http.MethodGet, "/v1/check?team=a", "Bearer bad", http.StatusUnauthorized, "missing or bad bearer token"},
		{http.MethodGet, "/v1/check?team=a", "Bearer good", http.StatusOK, ""},
		{http.MethodGet, "/v1/check", "Bearer good", http.StatusBadRequest, "give at least one of: agent_id"},
		{http.MethodGet, "/v1/check?colour=red", "Bearer good", http.StatusBadRequest, `unknown query parameter "colour"`},
		{http.MethodGet, "/v1/check?team=a&team=b", "Bearer good", http.StatusBadRequest, `query parameter "team" given 2 times`},
		{http.MethodPost, "/v1/check?team=a", "Bearer good", http.StatusMethodNotAllowed, "method POST not allowed; use GET"},
		{http.MethodGet, "/v1/budgets/b/resume", "Bearer good", http.StatusMethodNotAllowed, "use POST"},
		{http.MethodGet, "/v2/nothing", "Bearer good", http.StatusNotFound, "no such endpoint"},
	} {
		t.Run(tt.method+tt.path+tt.token, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, nil)
			require.NoError(t, err)
			if tt.token != "" {
				req.Header.Set("Authorization", tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, tt.code, resp.StatusCode)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			if tt.msg != "" {
				var e budgetclient.ErrorResponse
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&e))
				assert.Contains(t, e.Error, tt.msg)
			}
		})
	}
	// The client sends the configured header.
	cl, err := budgetclient.New(base, budgetclient.WithHeader("Authorization", "Bearer good"))
	require.NoError(t, err)
	_, err = cl.Budgets(context.Background())
	require.NoError(t, err)
	cl, err = budgetclient.New(base)
	require.NoError(t, err)
	_, err = cl.Budgets(context.Background())
	var apiErr *budgetclient.APIError
	require.ErrorAs(t, err, &apiErr)
	assert.Equal(t, http.StatusUnauthorized, apiErr.StatusCode)
}
