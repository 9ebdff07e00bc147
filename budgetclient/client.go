package budgetclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client calls the budget extension's HTTP API. The zero value is not
// usable; build one with New.
type Client struct {
	base   string
	http   *http.Client
	header http.Header
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (TLS, timeouts, transport).
func WithHTTPClient(c *http.Client) Option { return func(cl *Client) { cl.http = c } }

// WithHeader adds a header to every request (e.g. Authorization for the
// collector's auth extension).
func WithHeader(key, value string) Option {
	return func(cl *Client) { cl.header.Add(key, value) }
}

// New returns a client for the API at endpoint, e.g. "http://localhost:8790".
func New(endpoint string, opts ...Option) (*Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("budgetclient: endpoint %q must be an http(s) URL with a host", endpoint)
	}
	c := &Client{base: strings.TrimRight(endpoint, "/"), http: http.DefaultClient, header: http.Header{}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// APIError is a non-success answer other than a deny (HTTP 429 from
// /v1/check is a decision, not an error).
type APIError struct {
	StatusCode int
	Message    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("budget API: HTTP %d: %s", e.StatusCode, e.Message)
}

// Check asks for a decision for id. A deny is returned as a response with
// Decision == Deny, not as an error.
func (c *Client) Check(ctx context.Context, id Identity) (*CheckResponse, error) {
	q := url.Values{}
	for _, kv := range [...]struct{ k, v string }{
		{"agent_id", id.AgentID}, {"root_agent_id", id.RootAgentID}, {"team", id.Team},
		{"project", id.Project}, {"business_unit", id.BusinessUnit}, {"cost_center", id.CostCenter},
		{"provider", id.Provider}, {"model", id.Model},
	} {
		if kv.v != "" {
			q.Set(kv.k, kv.v)
		}
	}
	var out CheckResponse
	if err := c.do(ctx, http.MethodGet, "/v1/check?"+q.Encode(), &out, http.StatusOK, http.StatusTooManyRequests); err != nil {
		return nil, err
	}
	return &out, nil
}

// Budgets lists every budget's state.
func (c *Client) Budgets(ctx context.Context) ([]BudgetStatus, error) {
	var out BudgetsResponse
	if err := c.do(ctx, http.MethodGet, "/v1/budgets", &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out.Budgets, nil
}

// Resume lifts the suspension of the named budget for its current window.
func (c *Client) Resume(ctx context.Context, name string) (*BudgetStatus, error) {
	var out BudgetStatus
	if err := c.do(ctx, http.MethodPost, "/v1/budgets/"+url.PathEscape(name)+"/resume", &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) do(ctx context.Context, method, path string, out any, okCodes ...int) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return fmt.Errorf("budgetclient: %w", err)
	}
	for k, vs := range c.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("budgetclient: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("budgetclient: read answer: %w", err)
	}
	for _, code := range okCodes {
		if resp.StatusCode == code {
			if err := json.Unmarshal(body, out); err != nil {
				return fmt.Errorf("budgetclient: decode answer: %w", err)
			}
			return nil
		}
	}
	apiErr := &APIError{StatusCode: resp.StatusCode}
	var e ErrorResponse
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		apiErr.Message = e.Error
	} else {
		apiErr.Message = strings.TrimSpace(string(body))
	}
	return apiErr
}

// IsNotFound reports whether err is an API answer of HTTP 404.
func IsNotFound(err error) bool {
	var a *APIError
	return errors.As(err, &a) && a.StatusCode == http.StatusNotFound
}
