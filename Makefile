# scim-operator — run `make help` for the targets.

IMG ?= scim-operator:dev
CONTROLLER_TOOLS_VERSION ?= v0.23.0
LOCALBIN ?= $(CURDIR)/bin
# Tools built from the Go module proxy are cached outside the clone, so fresh clones on the same
# machine (CI's among them) reuse them, like the control plane binaries.
TOOLS_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/scim-operator/tools
CONTROLLER_GEN ?= $(TOOLS_CACHE)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
# Helm, built from the Go module proxy by `make helm` (no download from GitHub).
HELM_VERSION ?= v3.22.0
HELM ?= $(TOOLS_CACHE)/helm-$(HELM_VERSION)
CHART ?= charts/scim-operator
# Fuzz budget per fuzz target in `make test`. An execution count, not a duration: a duration
# budget is a wall-clock deadline that Go's fuzz coordinator can race on a loaded machine
# ("context deadline exceeded" with no crasher). Run longer by hand: make fuzz FUZZTIME=10m
FUZZTIME ?= 50000x
GO ?= go

.DEFAULT_GOAL := help
SHELL := /usr/bin/env bash -o pipefail

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: dev
dev: control-plane ## Run the operator on an embedded local control plane (Ctrl-C stops it).
	$(GO) run ./hack/dev

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code, CRDs and RBAC from the API types and markers.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=scim-operator paths=./controllers/... paths=./internal/webhook/... output:rbac:artifacts:config=config/rbac
	$(CONTROLLER_GEN) webhook paths=./internal/webhook/... output:webhook:artifacts:config=config/webhook
	$(MAKE) --no-print-directory chart-crds

.PHONY: verify-generated
verify-generated: generate ## Fail when generated files differ from what is committed.
	@git diff --exit-code -- api config $(CHART)/files || { echo "generated files are stale: run 'make generate' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- api config $(CHART)/files)" || { git status --porcelain -- api config; echo "untracked generated files: run 'make generate' and commit"; exit 1; }

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: control-plane
control-plane: ## Build (once per machine, cached) kube-apiserver and etcd from Go modules.
	hack/control-plane.sh >/dev/null

##@ Test

.PHONY: test
test: control-plane verify-generated vet test-chart test-e2e ## Run every test: unit, fuzz (short), integration on a real kube-apiserver.
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" $(GO) test -count=1 ./...
	$(MAKE) fuzz FUZZTIME=$(FUZZTIME)

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each.
	@for f in $$(grep -rl --include='*_test.go' '^func Fuzz' api scimserver internal); do \
		pkg=./$$(dirname $$f); \
		for t in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | sed 's/func //'); do \
			echo "fuzz $$pkg $$t"; $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

.PHONY: bench
bench: control-plane ## Measure SCIM against the raw kube-apiserver on the local control plane (BENCH_FLAGS=-quick for a smoke run).
	KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" $(GO) run ./hack/bench $(BENCH_FLAGS)

.PHONY: bench-groups
bench-groups: control-plane ## Time one member add/remove in a 100-member and a 100,000-member group, side by side.
	KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" $(GO) run ./hack/groupbench $(BENCH_FLAGS)

# The chart is checked without a cluster (lint, template with every ci/*-values.yaml, drift of
# the copied CRDs, RBAC and webhook configuration), then installed into the local kube-apiserver
# by test/chart (server-side apply of every value set, and helm install/upgrade/uninstall).
.PHONY: test-chart
test-chart: control-plane verify-chart $(HELM) ## Lint, render and install the Helm chart into the local kube-apiserver.
	@for f in $(CHART)/ci/*-values.yaml; do \
		echo "helm lint $$f"; $(HELM) lint --strict $(CHART) -f $$f >/dev/null || { $(HELM) lint --strict $(CHART) -f $$f; exit 1; }; \
		$(HELM) template scim-operator $(CHART) -n scim-system -f $$f >/dev/null || exit 1; \
	done
	HELM=$(HELM) KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" $(GO) test -count=1 ./test/chart/...

# The operator binary, built from cmd/scim-operator, runs with the rendered chart's arguments and as
# its ServiceAccount (the chart's RBAC, not an admin) against the local kube-apiserver; a user is
# provisioned over HTTPS, then SIGTERM must stop it cleanly (test/e2e).
.PHONY: test-e2e
test-e2e: control-plane $(HELM) ## Run the operator binary with the chart's arguments and RBAC against the local kube-apiserver.
	GO=$(GO) HELM=$(HELM) KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" $(GO) test -count=1 ./test/e2e/...

.PHONY: verify-chart
verify-chart: ## Fail when the chart's copies of the CRDs, RBAC rules or webhook configuration differ from config/.
	@diff -r config/crd/bases $(CHART)/files/crds >/dev/null && \
	 diff config/rbac/role.yaml $(CHART)/files/rbac/role.yaml >/dev/null && \
	 diff config/webhook/manifests.yaml $(CHART)/files/webhook/manifests.yaml >/dev/null || \
	 { echo "the chart's generated files differ from config/: run 'make chart-crds'"; exit 1; }

##@ Build

.PHONY: chart-crds
chart-crds: ## Copy the generated CRDs, ClusterRole rules and webhook configuration into the chart.
	rm -rf $(CHART)/files/crds && mkdir -p $(CHART)/files/crds $(CHART)/files/rbac $(CHART)/files/webhook
	cp config/crd/bases/*.yaml $(CHART)/files/crds/
	cp config/rbac/role.yaml $(CHART)/files/rbac/role.yaml
	cp config/webhook/manifests.yaml $(CHART)/files/webhook/manifests.yaml

.PHONY: helm
helm: $(HELM) ## Build Helm from the Go module proxy (cached outside the clone).

.PHONY: build
build: ## Build the operator binary into bin/.
	$(GO) build -o $(LOCALBIN)/scim-operator ./cmd/scim-operator

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build --build-arg VERSION=$$(git describe --always --dirty) --build-arg REVISION=$$(git rev-parse HEAD) -t $(IMG) .

# Helm's version stamps and its default Kubernetes version (for `helm template` and `helm lint`
# without a cluster) are ldflags; the Kubernetes version is the one of k8s.io/api in go.mod.
$(HELM):
	k8s_minor=$$($(GO) list -m -f '{{.Version}}' k8s.io/api | cut -d. -f2); \
	GOBIN=$(TOOLS_CACHE) $(GO) install -ldflags "-s -w \
		-X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
		-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$$k8s_minor \
		-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$$k8s_minor" \
		helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(TOOLS_CACHE)/helm $(HELM)

$(CONTROLLER_GEN):
	GOBIN=$(TOOLS_CACHE) $(GO) install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(TOOLS_CACHE)/controller-gen $(CONTROLLER_GEN)
