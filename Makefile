# vault-azure-csi-provider
GO      ?= go
BIN     := bin/vault-azure-csi-provider
# The release version lives in one place, the chart's appVersion: the binary
# (--version), the image tag and the chart all use it.
CHART   := charts/vault-azure-csi-provider
VERSION ?= $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' $(CHART)/Chart.yaml)
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
PROVIDER := PROVIDER_BIN=$(CURDIR)/$(BIN)

.PHONY: all build demo test unit e2e vet fmt-check bench clean fuzz manifests manifests-test image push registry binaries \
	image-docker image-deps image-test version chart chart-push release \
	e2e-cluster e2e-cluster-if-root demo-cluster node-deps node-bins

all: build

## build: the provider binary (static, as in the image)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/vault-azure-csi-provider

## demo: embedded Vault + Azure emulator + provider + driver-like client; mounts into ./demo-mount
demo: build
	cd test && $(PROVIDER) $(GO) run ./cmd/demo -out $(CURDIR)/demo-mount -spc $(CURDIR)/deploy/examples/workload-identity.yaml

## test: formatting, vet, unit tests and end-to-end tests, all with -race; the real-node tests when root on Linux
test: fmt-check vet unit fuzz e2e manifests-test image-test e2e-cluster-if-root

fmt-check:
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	cd test && $(GO) vet ./...
	cd test/node && $(GO) vet ./...
	cd test/node/bins/driver/mlog && $(GO) vet ./...
	cd deploy/image && $(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

## fuzz: SecretProviderClass parsing on FUZZTIME generated inputs (seed corpus: provider/params/testdata/fuzz)
# A count, not a duration: with a duration, Go 1.26's fuzz coordinator can fail a
# run with a bare "context deadline exceeded" when the deadline fires while a
# starved worker is mid-input (go.dev/issue/75804, seen here in a loaded CI run).
# 200000 inputs: 15-70 s on this 2-core machine, depending on its load.
FUZZTIME ?= 200000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./provider/params

e2e: build
	cd test && $(PROVIDER) $(GO) test -race -count=1 -timeout 20m ./...

## bench: allocations per Mount (Go benchmarks, test/perf), then Mount latency, provider CPU per Mount, start-up, Vault and Azure requests per Mount and RSS of the binary, with and without caches (markdown tables; BENCHFLAGS=-h for options); exits non-zero when a count target or the budget (test/perf/budget.json) is missed
bench: build
	cd test && $(GO) test -count=1 -v -run '^TestAllocationBudget$$' ./perf -args -budget
	cd test && $(PROVIDER) $(GO) run ./cmd/bench $(BENCHFLAGS)

## manifests: regenerate deploy/vault-azure-csi-provider.yaml from the Helm chart (Helm v3 as a Go library)
manifests:
	cd test/manifests && $(GO) run ./cmd/render -chart $(CURDIR)/charts/vault-azure-csi-provider -out $(CURDIR)/deploy/vault-azure-csi-provider.yaml

## manifests-test: helm lint and render the chart, decode rendered and example manifests strictly, fail if deploy/ is stale
manifests-test: build
	cd test/manifests && $(GO) vet ./... && $(PROVIDER) $(GO) test -race -count=1 ./...

# --- The real node (test/node): kubelet, apiserver, CSI driver, containerd -----
NODE_CACHE  ?= $(CURDIR)/.cache/node
NODE_BIN    := $(NODE_CACHE)/bin
K8S_VERSION := v1.34.2
K8S_LDFLAGS := -s -w -X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34
KUBE_CMDS   := kube-apiserver kube-controller-manager kube-scheduler kubelet
NODE_ENV     = NODE_BIN_DIR=$(NODE_BIN) $(PROVIDER) NODE_KEEP_LOGS=$(NODE_CACHE)/logs \
	DRIVER_DEPLOY_DIR=$$(cd $(CURDIR)/test/node/bins/driver && $(GO) list -m -f '{{.Dir}}' sigs.k8s.io/secrets-store-csi-driver)/deploy

## node-deps: containerd, runc and the PostgreSQL server from Debian, when missing (root)
node-deps:
	@if command -v containerd >/dev/null && command -v ctr >/dev/null && command -v runc >/dev/null && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then :; \
	else echo "installing containerd, runc and postgresql (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends containerd runc postgresql; fi

# The heavy binaries are built once into NODE_CACHE and again only when their
# module files change (cold: about 6 minutes on 2 cores).
$(NODE_BIN)/.kube: test/node/bins/kube/go.mod test/node/bins/kube/go.sum
	cd test/node/bins/kube && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(K8S_LDFLAGS)" -o $(NODE_BIN)/ \
		$(addprefix k8s.io/kubernetes/cmd/,$(KUBE_CMDS))
	touch $@
$(NODE_BIN)/etcd: test/node/bins/etcd/go.mod test/node/bins/etcd/go.sum test/node/bins/etcd/main.go
	cd test/node/bins/etcd && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $@ .
$(NODE_BIN)/secrets-store-csi-driver: test/node/bins/driver/go.mod test/node/bins/driver/go.sum test/node/bins/driver/mlog/mlog.go
	cd test/node/bins/driver && CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $@ sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver

## node-bins: everything the real node runs (the light ones are rebuilt every time: the Go cache makes it quick)
node-bins: $(NODE_BIN)/.kube $(NODE_BIN)/etcd $(NODE_BIN)/secrets-store-csi-driver
	cd test && $(GO) build -o $(NODE_BIN)/world ./cmd/world && CGO_ENABLED=0 $(GO) build -trimpath -o $(NODE_BIN)/syncdrive ./cmd/syncdrive
	cd test/node && CGO_ENABLED=0 $(GO) build -trimpath -o $(NODE_BIN)/ ./cmd/pause ./cmd/app

## e2e-cluster: the provider on a real one-node cluster, installed from its Helm chart (root, Linux)
e2e-cluster: build node-deps node-bins
	rm -rf $(NODE_CACHE)/logs
	cd test/node/bins/driver/mlog && $(GO) test -race -count=1 ./...
	cd test/node && $(NODE_ENV) $(GO) test -race -count=1 -p 1 -timeout 30m -v ./...

e2e-cluster-if-root:
	@if [ "$$(uname -s)" = Linux ] && [ "$$(id -u)" = 0 ]; then $(MAKE) --no-print-directory e2e-cluster; \
	else echo "SKIPPED make e2e-cluster: the real-node tests need root on Linux (kubelet, containerd and the CSI driver mount filesystems and create cgroups); this is $$(uname -s) as uid $$(id -u). Run make e2e-cluster as root."; fi

## demo-cluster: bring the node up, install the chart, run an example pod, print its file and env var, tear down
demo-cluster: build node-deps node-bins
	cd test/node && $(NODE_ENV) $(GO) run ./cmd/demo -chart $(CURDIR)/charts/vault-azure-csi-provider

# --- Image and release (no container engine needed) ---------------------------
PLATFORMS    ?= linux/amd64 linux/arm64
IMAGE_REPO   ?= ghcr.io/vaultazure/vault-azure-csi-provider
IMAGE        ?= $(IMAGE_REPO):$(VERSION)
IMAGE_LAYOUT := bin/image
CA_BUNDLE    ?= /etc/ssl/certs/ca-certificates.crt
CREATED      ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
IMAGE_TOOL    = cd deploy/image && $(GO) run ./cmd/image-tool

## binaries: the static binary for each of PLATFORMS, as make build makes it, into bin/<os>-<arch>/
binaries:
	@for p in $(PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; echo "building $$p"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/$$os-$$arch/vault-azure-csi-provider ./cmd/vault-azure-csi-provider || exit 1; done

## image: the multi-platform OCI image (PLATFORMS) in Go, without Docker, into bin/image (an OCI layout)
image: binaries
	$(IMAGE_TOOL) build -out $(CURDIR)/$(IMAGE_LAYOUT) -version $(VERSION) -revision $(COMMIT) -created $(CREATED) -ca $(CA_BUNDLE) \
		$(foreach p,$(PLATFORMS),-bin $(p)=$(CURDIR)/bin/$(subst /,-,$(p))/vault-azure-csi-provider)

## push: push bin/image to IMAGE (default $(IMAGE_REPO):<appVersion>), with the Docker config's credentials
push:
	$(IMAGE_TOOL) push -layout $(CURDIR)/$(IMAGE_LAYOUT) -image $(IMAGE)

## registry: a registry in memory on 127.0.0.1:5000, to rehearse a release (make image push IMAGE=127.0.0.1:5000/vacp:$(VERSION))
registry:
	$(IMAGE_TOOL) registry -addr 127.0.0.1:5000

## version: the release version (the chart's appVersion) and the image make push makes
version:
	@echo "version $(VERSION) image $(IMAGE)"

CHART_OUT  := bin/charts
CHART_REPO ?= oci://ghcr.io/vaultazure/charts

## chart: the chart's archive (helm package) into bin/charts/
chart:
	cd test/manifests && $(GO) run ./cmd/chart package -chart $(CURDIR)/$(CHART) -out $(CURDIR)/$(CHART_OUT)

## chart-push: push that archive as an OCI artifact (helm push) to CHART_REPO (default $(CHART_REPO))
chart-push:
	cd test/manifests && $(GO) run ./cmd/chart push -archive $(CURDIR)/$(CHART_OUT)/vault-azure-csi-provider-$(VERSION).tgz -repo $(CHART_REPO)

## release: image and chart, pushed (IMAGE, CHART_REPO); see CONTRIBUTING.md "Releasing"
release: image push chart chart-push

## image-docker: the image with a Docker engine instead (one platform; buildx for more), from the Dockerfile
image-docker:
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMAGE) .

## image-deps: qemu-user-static from Debian, to run the arm64 binary in image-test (root; skipped when present)
image-deps:
	@if command -v qemu-aarch64-static >/dev/null || command -v qemu-aarch64 >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then echo "installing qemu-user-static (Debian)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static; \
	else echo "no qemu-user: the arm64 image is built but not run (install qemu-user-static)"; fi

## image-test: build both platforms' image, push it to a registry in memory, pull it back, run each binary's --version
image-test: image-deps
	cd deploy/image && $(GO) vet ./... && $(GO) test -race -count=1 ./...

clean:
	rm -rf bin demo-mount .cache/node
