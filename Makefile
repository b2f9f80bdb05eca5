# Tether's developer and CI entry points. `make test` is the one command that
# sets everything up (a local Kafka broker and ClickHouse server, see
# deploy/local/services.sh) and runs every test, integration tests included.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

GO        ?= go
AGENTDOJO ?= ../shared/datasets/agentdojo
FUZZTIME  ?= 10s
BENCHTIME ?= 1s

.PHONY: build test test-short services-up services-down services-status demo eval bench bench-contain fuzz vet lint fmt

## build: compile the tether binary into bin/tether
build:
	$(GO) build -o bin/tether ./cmd/tether

## test: start Kafka and ClickHouse (idempotent), then run all tests against them
test:
	env_lines="$$(deploy/local/services.sh up)"; \
	set -a; eval "$$env_lines"; set +a; \
	echo "testing with TETHER_TEST_KAFKA=$$TETHER_TEST_KAFKA TETHER_TEST_CLICKHOUSE=$${TETHER_TEST_CLICKHOUSE:-}"; \
	$(GO) test -count=1 ./...

## test-short: unit tests only, no services needed
test-short:
	$(GO) test -short ./...

## services-up / services-down / services-status: the local Kafka and ClickHouse
services-up:
	deploy/local/services.sh up

services-down:
	deploy/local/services.sh down

services-status:
	deploy/local/services.sh status

## demo: the embedded demo (in-process broker, simulated fleet, Parquet findings)
demo:
	$(GO) run ./cmd/tether demo

## eval: import AgentDojo runs and score the detectors (AGENTDOJO=path to override)
eval:
	$(GO) run ./cmd/tether import agentdojo --out out/agentdojo $(AGENTDOJO)
	$(GO) run ./cmd/tether eval --events out/agentdojo/events.jsonl --labels out/agentdojo/labels.jsonl \
		--inventory out/agentdojo/inventory.yaml --json out/eval.json --plot out/roc.png

## bench: every benchmark, no tests
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

## fuzz: run each Fuzz target for FUZZTIME (default 10s)
fuzz:
	found=0; \
	for dir in $$($(GO) list -f '{{.Dir}}' ./...); do \
		for target in $$(grep -hoE '^func Fuzz[A-Za-z0-9_]*' "$$dir"/*_test.go 2>/dev/null | awk '{print $$2}'); do \
			found=1; \
			echo "fuzz: $$target in $$dir for $(FUZZTIME)"; \
			(cd "$$dir" && $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) .); \
		done; \
	done; \
	if [[ $$found == 0 ]]; then echo "fuzz: no Fuzz targets found"; fi

## vet: go vet
vet:
	$(GO) vet ./...

## lint: go vet and staticcheck (fetched through the Go module proxy, pinned)
lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

## fmt: gofmt -s every package in place
fmt:
	gofmt -s -w $$($(GO) list -f '{{.Dir}}' ./...)

## bench-contain: containment loop latency on the real broker and ClickHouse (1,000 and 20,000 events/s)
bench-contain:
	$(GO) test -run '^$$' -bench BenchmarkContainLoop -benchtime 1x -timeout 20m ./bench/contain/
