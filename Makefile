# vault-azure-csi-provider
GO      ?= go
BIN     := bin/vault-azure-csi-provider
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
PROVIDER := PROVIDER_BIN=$(CURDIR)/$(BIN)

.PHONY: all build demo test unit e2e vet fmt-check bench clean

all: build

## build: the provider binary (static, as in the image)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/vault-azure-csi-provider

## demo: embedded Vault + Azure emulator + provider + driver-like client; mounts into ./demo-mount
demo: build
	cd test && $(PROVIDER) $(GO) run ./cmd/demo -out $(CURDIR)/demo-mount -spc $(CURDIR)/deploy/examples/workload-identity.yaml

## test: formatting, vet, unit tests and end-to-end tests, all with -race
test: fmt-check vet unit e2e

fmt-check:
	@out=$$(gofmt -l . ); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	cd test && $(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

e2e: build
	cd test && $(PROVIDER) $(GO) test -race -count=1 -timeout 20m ./...

clean:
	rm -rf bin demo-mount
