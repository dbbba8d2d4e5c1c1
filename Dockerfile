# Build: docker build -t rabbitscale .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/rabbitscale ./cmd/rabbitscale
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/rabbitscale-adapter ./cmd/rabbitscale-adapter

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rabbitscale /rabbitscale
# The external metrics adapter (deploy/adapter sets command: /rabbitscale-adapter).
COPY --from=build /out/rabbitscale-adapter /rabbitscale-adapter
USER 65532:65532
ENTRYPOINT ["/rabbitscale"]
