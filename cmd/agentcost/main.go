// Command agentcost prices LLM usage with the agentcost pricing catalog and
// manages catalog files.
//
//	agentcost price --provider openai --model gpt-4o --input-tokens 1000 --output-tokens 200 [--json]
//	agentcost catalog validate [--standalone] [FILE...]
//	agentcost catalog import --from genai-prices|litellm FILE [--base CATALOG] [-o OUT]
//	agentcost catalog show PROVIDER/MODEL [--catalog FILE]...
//
// Exit status: 0 success; 1 unpriced (unknown provider/model, no price in
// effect); 2 invalid command line; 3 invalid usage (a part larger than its
// parent); 4 invalid catalog or I/O error.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
