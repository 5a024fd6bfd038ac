# syntax=docker/dockerfile:1
# Image of vault-azure-csi-provider with a Docker engine: `make image-docker`.
# `make image` builds the same image for linux/amd64 and linux/arm64 without one (deploy/image).
# The binary is built by `make build`, exactly as CI builds it: static (CGO_ENABLED=0),
# -trimpath, stripped, version and commit injected with -X main.version / main.commit.

# Build on the builder's platform and cross-compile for the target (multi-arch with buildx).
FROM --platform=$BUILDPLATFORM golang:1.26.8 AS build
WORKDIR /src
ENV GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY Makefile ./
COPY cmd ./cmd
COPY auth ./auth
COPY provider ./provider
ARG VERSION=dev
ARG COMMIT=unknown
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH make build VERSION=$VERSION COMMIT=$COMMIT

# Static binary, no shell, no package manager. It runs as root without
# capabilities (see the chart): the driver's providers directory belongs to root.
FROM gcr.io/distroless/static-debian12
ARG VERSION=dev
LABEL org.opencontainers.image.title="vault-azure-csi-provider" \
      org.opencontainers.image.description="Secrets Store CSI Driver provider for HashiCorp Vault with Azure identities" \
      org.opencontainers.image.source="https://github.com/vaultazure/vault-azure-csi-provider" \
      org.opencontainers.image.version="$VERSION"
COPY --from=build /src/bin/vault-azure-csi-provider /bin/vault-azure-csi-provider
ENTRYPOINT ["/bin/vault-azure-csi-provider"]
