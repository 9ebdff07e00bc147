//go:build tools

// Package tools pins the build tools: mdatagen generates each component's
// internal/metadata package. It lives in its own module because mdatagen
// v0.159.0 (the newest the proxy serves) must not pull the components'
// collector modules back to v0.159.
package tools

import (
	_ "go.opentelemetry.io/collector/cmd/mdatagen"
)
