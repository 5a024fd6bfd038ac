# syntax=docker/dockerfile:1
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY auth ./auth
COPY provider ./provider
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/vault-azure-csi-provider ./cmd/vault-azure-csi-provider

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/vault-azure-csi-provider /bin/vault-azure-csi-provider
ENTRYPOINT ["/bin/vault-azure-csi-provider"]
