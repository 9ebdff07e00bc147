package agentcostbudgetextension

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// redactDSN hides the credentials of a ClickHouse DSN (user info password
// and a `password` query parameter) for logs and error messages.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		if i := strings.LastIndex(dsn, "@"); i >= 0 {
			return "xxxxx" + dsn[i:]
		}
		return dsn
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redactWebhookURL names a webhook endpoint without its secret parts: the
// scheme and host only (Slack-style URLs carry the secret in the path).
func redactWebhookURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unparsable URL)"
	}
	if u.Path == "" && u.RawQuery == "" {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// stripURL removes the URL a *url.Error carries (net/http and url.Parse
// errors quote the full URL, which may hold a secret), keeping the cause.
func stripURL(err error) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) {
		return err
	}
	return fmt.Errorf("%s request: %w", strings.ToLower(ue.Op), ue.Err)
}
