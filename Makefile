# agentcost: run `make help` for the targets.

SHELL        := /usr/bin/env bash
.SHELLFLAGS  := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO           ?= go
BIN          := $(CURDIR)/bin
OCB_VERSION  := v0.165.0
CH_DIR       ?= $(CURDIR)/.clickhouse
CH_TCP_PORT  ?= 9000
CH_HTTP_PORT ?= 8123
export AGENTCOST_CLICKHOUSE_DSN ?= clickhouse://127.0.0.1:$(CH_TCP_PORT)/default
CH_FLAGS     := -dir $(CH_DIR) -tcp-port $(CH_TCP_PORT) -http-port $(CH_HTTP_PORT)
TEST_FLAGS   ?= -race -count=1 -timeout 30m
BENCH        ?= .
BENCH_FLAGS  ?= -run '^$$' -bench '$(BENCH)' -benchmem -count 6

.PHONY: help
help: ## List the targets with what they do.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(BIN)/chlocal: $(wildcard cmd/chlocal/*.go) go.mod
	$(GO) build -o $@ ./cmd/chlocal

$(BIN)/builder:
	GOBIN=$(BIN) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)

$(BIN)/mdatagen: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(BIN)/mdatagen go.opentelemetry.io/collector/cmd/mdatagen

.PHONY: tools
tools: $(BIN)/chlocal $(BIN)/builder $(BIN)/mdatagen ## Build the launcher and install the pinned ocb and mdatagen into ./bin.

.PHONY: clickhouse
clickhouse: $(BIN)/chlocal ## Start the local ClickHouse (fetched once with npm; no-op when one answers).
	$(BIN)/chlocal start $(CH_FLAGS)

.PHONY: clickhouse-stop
clickhouse-stop: $(BIN)/chlocal ## Stop the local ClickHouse and free its ports.
	$(BIN)/chlocal stop $(CH_FLAGS)

.PHONY: clickhouse-status
clickhouse-status: $(BIN)/chlocal ## Say whether the local ClickHouse answers, and its version.
	$(BIN)/chlocal status $(CH_FLAGS)

.PHONY: fmt-check
fmt-check: ## Fail when gofmt would change a file.
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^dist/') 2>&1); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: test
test: clickhouse build vet fmt-check ## Start ClickHouse if needed, build the collector, then vet, gofmt check and go test -race ./... against it.
	$(GO) test $(TEST_FLAGS) ./...

.PHONY: test-short
test-short: ## Unit tests only (no ClickHouse needed: its tests skip outside CI).
	$(GO) test -short -count=1 ./...

FUZZTIME ?= 30s

.PHONY: fuzz
fuzz: ## Bounded fuzz runs (FUZZTIME=30s each): span attributes, held-span records, catalog and registry loading, budget HTTP API.
	$(GO) test ./internal/genai -run '^$$' -fuzz '^FuzzExtract$$' -fuzztime $(FUZZTIME)
	$(GO) test ./processor/agentcostprocessor -run '^$$' -fuzz '^FuzzProcess$$' -fuzztime $(FUZZTIME)
	$(GO) test ./processor/agentcostprocessor -run '^$$' -fuzz '^FuzzDecodeHeld$$' -fuzztime $(FUZZTIME)
	$(GO) test ./pricing -run '^$$' -fuzz '^FuzzParseCatalog$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/registry -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./extension/agentcostbudgetextension -run '^$$' -fuzz '^FuzzHTTPAPI$$' -fuzztime $(FUZZTIME)

.PHONY: fuzz-long
fuzz-long: ## Every fuzzer for FUZZTIME_LONG each (default 10m; findings land in testdata/fuzz).
	$(MAKE) fuzz FUZZTIME=$(or $(FUZZTIME_LONG),10m)

.PHONY: loadtest
loadtest: build clickhouse ## Stepped load test of the built collector with agentsim against the local ClickHouse (LOADTEST_FLAGS=...; about 7 min).
	$(GO) run ./loadtest $(LOADTEST_FLAGS)

.PHONY: bench
bench: clickhouse ## Run the Go benchmarks (BENCH=regexp to select); compare runs with benchstat.
	$(GO) test $(BENCH_FLAGS) ./...

.PHONY: generate
generate: $(BIN)/mdatagen ## Regenerate internal/metadata with mdatagen v0.159.0 and fail on drift.
	@for f in $$(git ls-files '*metadata.yaml'); do \
		echo "mdatagen $$f"; (cd $$(dirname $$f) && $(BIN)/mdatagen metadata.yaml); \
	done
	@gofmt -w $$(git ls-files '*.go') >/dev/null
	@if [ -n "$$(git status --porcelain -- '*internal/metadata*' '*generated_*')" ]; then \
		echo "generated files drifted from metadata.yaml; commit them:"; \
		git status --porcelain -- '*internal/metadata*' '*generated_*'; exit 1; fi

.PHONY: build
build: $(BIN)/builder ## Build the otelcol-agentcost collector with ocb into ./dist.
	$(BIN)/builder --config builder-config.yaml
	@./dist/otelcol-agentcost --version

.PHONY: demo
demo: ## Build the collector, start ClickHouse and the demo collector, simulate 30 s of agents, print the cost report.
	@CH_TCP_PORT=$(CH_TCP_PORT) CH_HTTP_PORT=$(CH_HTTP_PORT) scripts/demo.sh

.PHONY: demo-stop
demo-stop: ## Stop the demo collector, drop its demo databases and remove .demo/ (ClickHouse keeps running).
	@CH_HTTP_PORT=$(CH_HTTP_PORT) scripts/demo-stop.sh

.PHONY: clean
clean: ## Remove build output (./bin, ./dist); keeps ClickHouse data.
	rm -rf $(BIN) ./dist
