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
COPY --from=build /scim-operator /scim-operator
USER 65532:65532
ENTRYPOINT ["/scim-operator"]
