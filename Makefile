# rabbitscale. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO            ?= go
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
FUZZTIME      ?= 15s
CACHE_DIR     ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/rabbitscale
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT := $(CACHE_DIR)/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint
# Packages that must never reach client-go or amqp091-go (STYLE.md rule 2).
PURE_PACKAGES := ./policy
# Packages that read brokers and know nothing of Kubernetes' API.
BROKER_PACKAGES := ./queue ./observe
# What the rabbitscale binary must never link: test-only infrastructure.
TEST_ONLY_DEPS := sigs.k8s.io/controller-runtime/pkg/envtest|github.com/testcontainers/testcontainers-go
# What only rabbitscale-adapter may link: the aggregated API server.
API_SERVER_DEPS := k8s.io/apiserver|sigs.k8s.io/custom-metrics-apiserver

.PHONY: help
help: ## List every target with what it does.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: test
test: deps tools check-layering test-unit fuzz test-integration ## Unit tests, bounded fuzzing, and integration tests against a real RabbitMQ and kube-apiserver.

.PHONY: test-unit
test-unit: ## Unit tests (race detector on).
	$(GO) test -race -count=1 ./...

.PHONY: test-integration
test-integration: deps tools ## Integration tests against a real RabbitMQ and kube-apiserver.
	KUBEBUILDER_ASSETS="$$(hack/tools.sh)" $(GO) test -tags integration -count=1 -timeout 30m ./integration/...

.PHONY: test-rules
test-rules: deps ## promtool check and unit-test the Prometheus alert rules.
	promtool check rules deploy/prometheus/rabbitscale-rules.yaml
	promtool test rules deploy/prometheus/rabbitscale-rules.test.yaml

.PHONY: test-adapter
test-adapter: deps tools ## The external metrics adapter behind a real aggregated API server, with a stock HPA.
	KUBEBUILDER_ASSETS="$$(hack/tools.sh)" $(GO) test -tags integration -count=1 -run TestAdapter ./integration/

.PHONY: fuzz
fuzz: ## Fuzz the policy engine for FUZZTIME per target (default 15s).
	$(GO) test -run '^$$' -fuzz '^FuzzParseSpec$$' -fuzztime $(FUZZTIME) ./policy
	$(GO) test -run '^$$' -fuzz '^FuzzDecide$$' -fuzztime $(FUZZTIME) ./policy

.PHONY: bench
bench: ## Run the unit benchmarks quoted in the README (policy.Decide and friends).
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: bench-controller
bench-controller: deps tools ## Benchmark a tick over 1,000 Deployments and queues on the real API server and broker, RSS and reaction.
	KUBEBUILDER_ASSETS="$$(hack/tools.sh)" $(GO) test -tags integration -run '^$$' -bench '^BenchmarkController$$' -benchtime 20x -timeout 30m ./integration/

.PHONY: demo
demo: deps build ## Watch the controller scale a worker through a burst on a local API server and RabbitMQ; writes demo.svg (DEMO_DURATION=150s).
	KUBEBUILDER_ASSETS="$$(hack/tools.sh etcd kube-apiserver)" $(GO) run ./hack/demo

.PHONY: simulate
simulate: ## Compare rabbitscale with KEDA, a CPU-only HPA and fixed:12 on the built-in scenarios (writes bin/simulate/).
	$(GO) run ./cmd/rabbitscale simulate --scenario burst,diurnal,spiky,ramp,outage --compare keda,hpa-cpu,fixed:12 --format markdown --out bin/simulate

.PHONY: simulate-keda
simulate-keda: ## Print the Markdown table of rabbitscale against KEDA on flash-crowd, batches and keda-e2e, each with its own settings on both sides.
	@$(GO) run ./cmd/rabbitscale simulate --scenario flash-crowd,batches,keda-e2e --compare keda --format versus

.PHONY: build
build: ## Build bin/rabbitscale and bin/rabbitscale-adapter, the binaries the image ships.
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/rabbitscale ./cmd/rabbitscale
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/rabbitscale-adapter ./cmd/rabbitscale-adapter

.PHONY: image
image: ## Build the container image rabbitscale:$(VERSION) (needs a Docker engine).
	docker build --build-arg VERSION=$(VERSION) -t rabbitscale:$(VERSION) .

.PHONY: verify
verify: fmt-check vet lint check-layering ## gofmt, go vet, golangci-lint and the layering check.

.PHONY: fmt-check
fmt-check: ## Fail when a Go file is not gofmt-formatted.
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: vet
vet: ## go vet, including the integration tests.
	$(GO) vet -tags integration ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## golangci-lint (installed into the cache on first use).
	$(GOLANGCI_LINT) run ./...

$(GOLANGCI_LINT):
	GOBIN="$(dir $@)" $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: check-layering
check-layering: ## Fail when policy reaches client-go or amqp091-go, queue or observe reach client-go or k8s.io/api, ./cmd links test-only code, or the controller (cmd/rabbitscale, autoscaler) reaches the API server libraries. .golangci.yml's depguard rules say the same for direct imports.
	@bad="$$($(GO) list -deps $(PURE_PACKAGES) | grep -E '^(k8s.io/client-go|github.com/rabbitmq/amqp091-go)(/|$$)' || true)"; \
	if [ -n "$$bad" ]; then echo "check-layering: $(PURE_PACKAGES) must stay pure but reaches:"; echo "$$bad"; exit 1; fi
	@bad="$$($(GO) list -deps ./cmd/... | grep -E '^($(TEST_ONLY_DEPS))(/|$$)' || true)"; \
	if [ -n "$$bad" ]; then echo "check-layering: ./cmd links test-only code:"; echo "$$bad"; exit 1; fi
	@bad="$$($(GO) list -deps ./cmd/rabbitscale | grep -E '^($(API_SERVER_DEPS))(/|$$)' || true)"; \
	if [ -n "$$bad" ]; then echo "check-layering: ./cmd/rabbitscale links the API server (only cmd/rabbitscale-adapter may):"; echo "$$bad"; exit 1; fi
	@bad="$$($(GO) list -deps ./autoscaler | grep -E '^k8s.io/apiserver(/|$$)' || true)"; \
	if [ -n "$$bad" ]; then echo "check-layering: ./autoscaler reaches k8s.io/apiserver:"; echo "$$bad"; exit 1; fi
	@bad="$$($(GO) list -deps $(BROKER_PACKAGES) | grep -E '^k8s.io/(client-go|api)(/|$$)' || true)"; \
	if [ -n "$$bad" ]; then echo "check-layering: $(BROKER_PACKAGES) must know nothing of Kubernetes' API but reach:"; echo "$$bad"; exit 1; fi
	@echo "check-layering: ok"

.PHONY: deps
deps: ## Install rabbitmq-server with apt-get when it is missing (root, Debian family).
	@hack/install-deps.sh

.PHONY: tools
tools: ## Build kube-apiserver, kube-controller-manager, etcd and helm into $(CACHE_DIR) (once).
	@hack/tools.sh
	@hack/helm.sh

.PHONY: generate
generate: ## Refresh generated files: the Helm chart's copies of the dashboard and alert rules (go generate ./deploy).
	$(GO) generate ./deploy

.PHONY: clean
clean: ## Remove build output (not the tools cache).
	rm -rf bin .demo
