# Build the operator binary.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
COPY scimserver/ scimserver/
RUN CGO_ENABLED=0 go build -trimpath -ldflags=-s -o /scim-operator ./cmd/scim-operator

# A static binary on distroless: no shell, no package manager, non-root.
FROM gcr.io/distroless/static:nonroot
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="scim-operator" \
      org.opencontainers.image.description="SCIM 2.0 endpoint that turns identity-provider users and groups into Kubernetes access" \
      org.opencontainers.image.source="https://github.com/scim-operator/scim-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /scim-operator /scim-operator
USER 65532:65532
ENTRYPOINT ["/scim-operator"]
