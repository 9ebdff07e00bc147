package budgetclient

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClientEncodesIdentityAndDecodes(t *testing.T) {
	var gotQuery, gotAuth, gotPath, gotMethod string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotQuery, gotAuth, gotPath, gotMethod = r.URL.RawQuery, r.Header.Get("Authorization"), r.URL.EscapedPath(), r.Method
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/check":
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"decision":"deny","retry_after_seconds":30,"budgets":[{"name":"b","decision":"deny","spend":"1.000000000000","limit":"1.000000000000"}]}`))
		case "/v1/budgets/a b/resume":
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"unknown budget \"a b\""}`))
		default:
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("plain failure"))
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL+"/", WithHeader("Authorization", "Bearer t"))
	require.NoError(t, err)
	ctx := context.Background()

	resp, err := c.Check(ctx, Identity{AgentID: "a-1", Team: "ml", Model: "gpt-4o"})
	require.NoError(t, err)
	assert.Equal(t, "agent_id=a-1&model=gpt-4o&team=ml", gotQuery)
	assert.Equal(t, "Bearer t", gotAuth)
	assert.Equal(t, Deny, resp.Decision)
	assert.Equal(t, int64(30), resp.RetryAfterSeconds)
	assert.Equal(t, "1.000000000000", resp.Budgets[0].Spend)

	_, err = c.Resume(ctx, "a b")
	assert.Equal(t, "/v1/budgets/a%20b/resume", gotPath)
	assert.Equal(t, http.MethodPost, gotMethod)
	assert.True(t, IsNotFound(err))
	assert.EqualError(t, err, `budget API: HTTP 404: unknown budget "a b"`)

	_, err = c.Budgets(ctx)
	assert.EqualError(t, err, "budget API: HTTP 500: plain failure")
}

func TestNewRejectsBadEndpoint(t *testing.T) {
	for _, ep := range []string{"", "localhost:8790", "ftp://x", "http://"} {
		_, err := New(ep)
		assert.Error(t, err, ep)
	}
}
