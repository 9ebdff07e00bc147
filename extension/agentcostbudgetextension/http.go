package agentcostbudgetextension

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"

	"github.com/agentcost/agentcost/budgetclient"
)

// handler serves the decision API:
//
//	GET  /v1/check?agent_id=...&team=...   allow | throttle (200) or deny (429 + Retry-After)
//	GET  /v1/budgets                       every budget's state
//	POST /v1/budgets/{name}/resume         lift a suspension for the current window
func (e *budgetExtension) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/check", e.serveCheck)
	mux.HandleFunc("/v1/budgets", e.serveBudgets)
	mux.HandleFunc("/v1/budgets/{name}/resume", e.serveResume)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %q; see /v1/check, /v1/budgets, /v1/budgets/{name}/resume", r.URL.Path))
	})
	return mux
}

// httpErrorOption makes the collector's HTTP middleware (auth, decompression)
// answer with the API's JSON error body too.
func httpErrorOption() confighttp.ToServerOption {
	return confighttp.WithErrorHandler(func(w http.ResponseWriter, _ *http.Request, msg string, code int) {
		writeError(w, code, msg)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, budgetclient.ErrorResponse{Error: msg})
}

func methodAllowed(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use %s", r.Method, method))
	return false
}

var errNoIdentity = errors.New("give at least one of: " + strings.Join(scopeKeys, ", "))

// parseIdentity reads the identity keys from a query string; unknown or
// repeated keys are errors.
func parseIdentity(r *http.Request) (Identity, error) {
	var id Identity
	q := r.URL.Query()
	n := 0
	for k, vs := range q {
		f := -1
		for i, name := range scopeKeys {
			if name == k {
				f = i
			}
		}
		if f < 0 {
			return id, fmt.Errorf("unknown query parameter %q; valid: %s", k, strings.Join(scopeKeys, ", "))
		}
		if len(vs) != 1 {
			return id, fmt.Errorf("query parameter %q given %d times", k, len(vs))
		}
		if vs[0] == "" {
			continue
		}
		n++
		v := vs[0]
		switch f {
		case fAgent:
			id.AgentID = v
		case fRootAgent:
			id.RootAgentID = v
		case fTeam:
			id.Team = v
		case fProject:
			id.Project = v
		case fBusinessUnit:
			id.BusinessUnit = v
		case fCostCenter:
			id.CostCenter = v
		case fProvider:
			id.Provider = v
		default:
			id.Model = v
		}
	}
	if n == 0 {
		return id, errNoIdentity
	}
	return id, nil
}

func (e *budgetExtension) status(r Result) budgetclient.BudgetStatus {
	s := budgetclient.BudgetStatus{
		Name: r.Budget, Action: r.Action, Decision: r.Outcome.String(), Reason: r.Reason,
		Spend: r.Spend.String(), Limit: r.Limit.String(), Utilization: utilization(r.Spend, r.Limit),
		SpendKnown: r.SpendKnown, WindowStart: r.WindowStart.UTC(), Suspended: r.Suspended, Resumed: r.Resumed,
		AlertsFired: e.firedLabels(r.Budget),
	}
	if !r.WindowEnd.IsZero() {
		s.WindowEnd = r.WindowEnd.UTC()
	}
	if set := e.budgets.Load(); set != nil {
		if b := set.byName[r.Budget]; b != nil {
			s.Window = b.def.window.String()
		}
	}
	return s
}

func ceilSeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

func (e *budgetExtension) serveCheck(w http.ResponseWriter, r *http.Request) {
	if !methodAllowed(w, r, http.MethodGet) {
		return
	}
	id, err := parseIdentity(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var buf [8]Result
	d, results := e.Check(&id, buf[:0])
	resp := budgetclient.CheckResponse{Decision: d.Outcome.String(), Budgets: make([]budgetclient.BudgetStatus, 0, len(results))}
	for _, res := range results {
		resp.Budgets = append(resp.Budgets, e.status(res))
	}
	code := http.StatusOK
	switch d.Outcome {
	case Deny:
		resp.RetryAfterSeconds = ceilSeconds(d.RetryAfter)
		w.Header().Set("Retry-After", strconv.FormatInt(resp.RetryAfterSeconds, 10))
		code = http.StatusTooManyRequests
	case Throttle:
		resp.DelayMillis = d.Delay.Milliseconds()
	}
	writeJSON(w, code, resp)
}

func (e *budgetExtension) serveBudgets(w http.ResponseWriter, r *http.Request) {
	if !methodAllowed(w, r, http.MethodGet) {
		return
	}
	all := e.statuses()
	resp := budgetclient.BudgetsResponse{Budgets: make([]budgetclient.BudgetStatus, 0, len(all))}
	for _, res := range all {
		resp.Budgets = append(resp.Budgets, e.status(res))
	}
	writeJSON(w, http.StatusOK, resp)
}

func (e *budgetExtension) serveResume(w http.ResponseWriter, r *http.Request) {
	if !methodAllowed(w, r, http.MethodPost) {
		return
	}
	res, err := e.Resume(r.PathValue("name"))
	switch {
	case errors.Is(err, errUnknownBudget):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, errNotSuspendable), errors.Is(err, errNotSuspended):
		writeError(w, http.StatusConflict, err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		writeJSON(w, http.StatusOK, e.status(res))
	}
}
