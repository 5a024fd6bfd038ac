# vault-azure-csi-provider
GO      ?= go
BIN     := bin/vault-azure-csi-provider
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PROVIDER := PROVIDER_BIN=$(CURDIR)/$(BIN)

.PHONY: all build demo test unit e2e vet fmt-check bench clean fuzz manifests manifests-test image

all: build

## build: the provider binary (static, as in the image)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/vault-azure-csi-provider

## demo: embedded Vault + Azure emulator + provider + driver-like client; mounts into ./demo-mount
demo: build
	cd test && $(PROVIDER) $(GO) run ./cmd/demo -out $(CURDIR)/demo-mount -spc $(CURDIR)/deploy/examples/workload-identity.yaml

## test: formatting, vet, unit tests and end-to-end tests, all with -race
test: fmt-check vet unit fuzz e2e manifests-test

fmt-check:
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	cd test && $(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

## fuzz: SecretProviderClass parsing on generated input for FUZZTIME (seed corpus: provider/params/testdata/fuzz)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./provider/params

e2e: build
	cd test && $(PROVIDER) $(GO) test -race -count=1 -timeout 20m ./...

## bench: Mount latency, Vault and Azure requests per Mount, provider RSS, with and without caches (markdown table; BENCHFLAGS=-h for options); exits non-zero when a count target is missed
bench: build
	cd test && $(PROVIDER) $(GO) run ./cmd/bench $(BENCHFLAGS)

## manifests: regenerate deploy/vault-azure-csi-provider.yaml from the Helm chart (Helm v3 as a Go library)
manifests:
	cd test/manifests && $(GO) run ./cmd/render -chart $(CURDIR)/charts/vault-azure-csi-provider -out $(CURDIR)/deploy/vault-azure-csi-provider.yaml

## manifests-test: helm lint and render the chart, decode rendered and example manifests strictly, fail if deploy/ is stale
manifests-test: build
	cd test/manifests && $(GO) vet ./... && $(PROVIDER) $(GO) test -race -count=1 ./...

## image: the container image (needs a Docker engine); it runs make build inside, so the binary is the same
IMAGE ?= ghcr.io/vaultazure/vault-azure-csi-provider:$(VERSION)
image:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

clean:
	rm -rf bin demo-mount
