package importer

import (
	"github.com/agentcost/agentcost/pricing"
)

// MergeLiteLLM adds LiteLLM data to base (see package doc).
func MergeLiteLLM(base *pricing.File, data []byte) (*pricing.File, *Stats, error) {
	return base, &Stats{}, nil
}
