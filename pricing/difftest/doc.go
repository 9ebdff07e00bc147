// Package difftest holds the differential test of the pricing engine against
// the reference implementation, @pydantic/genai-prices 0.1.8 (npm). The test
// installs the package with npm into the user cache directory
// ($XDG_CACHE_HOME/agentcost/genai-prices-0.1.8) when missing, prices every
// model of its data under a set of usage shapes and timestamps through one
// node process, and requires our total to equal the reference total rounded
// to 12 decimals. Outside CI a missing node/npm skips the test; under CI=true
// it fails.
package difftest
