package agentcostbudgetextension

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agentcost/agentcost/budgetclient"
)

// FuzzHTTPAPI sends arbitrary methods, paths, query strings and bodies to the
// budget HTTP API (the handler itself, no socket). Every answer must be a
// JSON document of the documented shape with a documented status code, and
// nothing may panic; a request that is not a valid resume of a suspended
// budget must not change any budget's state.
//
//	go test ./extension/agentcostbudgetextension -run '^$' -fuzz '^FuzzHTTPAPI$' -fuzztime 30s
func FuzzHTTPAPI(f *testing.F) {
	f.Add("GET", "/v1/check", "team=ml&agent_id=bot-7", "")
	f.Add("GET", "/v1/check", "team=ml&team=ml", "")
	f.Add("GET", "/v1/check", "colour=red", "")
	f.Add("GET", "/v1/check", "", "")
	f.Add("GET", "/v1/budgets", "", "")
	f.Add("POST", "/v1/budgets/ml-day/resume", "", "{}")
	f.Add("POST", "/v1/budgets/%00/resume", "", "")
	f.Add("DELETE", "/v1/budgets", "", "")
	f.Add("GET", "/nope", "a=%zz", "\xff")
	clock := &fakeClock{t: time.Date(2026, 11, 29, 23, 0, 0, 0, time.UTC)}
	e := newTestExt(f, clock, []BudgetConfig{
		budgetCfg("ml-day", "10", WindowConfig{Calendar: PeriodDay}, func(b *BudgetConfig) {
			b.Scope = map[string]string{"team": "ml"}
			b.Action = ActionSuspend
		}),
		budgetCfg("bots-hour", "1", WindowConfig{Rolling: time.Hour}, func(b *BudgetConfig) {
			b.Scope = map[string]string{"agent_id": "bot-*"}
			b.Action = ActionThrottle
			b.ThrottleDelay = 1500 * time.Millisecond
		}),
	})
	h := e.handler()
	before := budgetsJSON(f, h)
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		if !validMethod(method) || len(path) > 4096 || len(query) > 4096 {
			return
		}
		u := &url.URL{Path: "/" + strings.TrimPrefix(path, "/"), RawQuery: query}
		req := httptest.NewRequest(http.MethodGet, "/", strings.NewReader(body))
		req.Method = method
		req.URL = u
		req.RequestURI = u.RequestURI()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusTooManyRequests, http.StatusBadRequest, http.StatusNotFound,
			http.StatusMethodNotAllowed, http.StatusConflict, http.StatusMovedPermanently, http.StatusTemporaryRedirect,
			http.StatusPermanentRedirect:
		default:
			t.Fatalf("%s %s?%s: status %d", method, u.Path, query, rec.Code)
		}
		if rec.Code >= 300 && rec.Code < 400 {
			return // ServeMux path cleaning
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s: content type %q", method, u.Path, ct)
		}
		var anyBody map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &anyBody); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v: %q", method, u.Path, err, rec.Body.String())
		}
		if rec.Code >= 400 {
			var er budgetclient.ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &er); err != nil || er.Error == "" {
				t.Fatalf("%s %s: error %d without an error message: %q", method, u.Path, rec.Code, rec.Body.String())
			}
		}
		if method != http.MethodPost {
			if after := budgetsJSON(t, h); after != before {
				t.Fatalf("%s %s?%s changed the budgets:\n%s\n%s", method, u.Path, query, before, after)
			}
		}
	})
}

func validMethod(m string) bool {
	if m == "" || len(m) > 16 {
		return false
	}
	for _, c := range m {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

func budgetsJSON(t testing.TB, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/budgets", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /v1/budgets: %d %s", rec.Code, rec.Body.String())
	}
	return rec.Body.String()
}
